//! Correlator file names: `YYYY-MM-DDTHH:MM:SS_sbNN.hdf5` and `<name>_incomplete.hdf5`.

use std::path::{Path, PathBuf};

use dsa110_astro::ObsTime;

use crate::error::{IngestError, Result};

/// Number of subbands in an observation.
pub const NUM_SUBBANDS: u8 = dsa110_astro::N_SUBBANDS;

/// A parsed subband file name.
#[derive(Clone, Debug, PartialEq)]
pub struct SubbandFileName {
    /// The timestamp as written, `YYYY-MM-DDTHH:MM:SS` (UTC, the correlator's clock
    /// when it opened the file).
    pub timestamp_iso: String,
    /// The same instant as Unix seconds.
    pub obs_unix_s: f64,
    /// Subband index 0..=15 (sb00 is the highest frequency).
    pub subband: u8,
}

const SUFFIX: &str = ".hdf5";
const INCOMPLETE: &str = "_incomplete.hdf5";

fn file_name_of(name: &str) -> &str {
    Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(name)
}

/// Whether `name` (a file name or path) is a file the correlator is still writing.
pub fn is_incomplete_name(name: &str) -> bool {
    let base = file_name_of(name);
    match base.strip_suffix(INCOMPLETE) {
        Some(stem) => parse_stem(stem).is_ok(),
        None => false,
    }
}

/// Parse a complete subband file name (a bare name or a path; only the last
/// component is looked at).
pub fn parse_subband_filename(name: &str) -> Result<SubbandFileName> {
    let base = file_name_of(name);
    let bad = |reason: String| IngestError::BadFileName {
        path: PathBuf::from(name),
        reason,
    };
    if is_incomplete_name(base) {
        return Err(IngestError::Incomplete {
            path: PathBuf::from(name),
        });
    }
    let stem = base
        .strip_suffix(SUFFIX)
        .ok_or_else(|| bad(format!("{base:?} does not end in {SUFFIX}")))?;
    parse_stem(stem).map_err(bad)
}

fn parse_stem(stem: &str) -> std::result::Result<SubbandFileName, String> {
    let (ts, sb) = stem
        .rsplit_once("_sb")
        .ok_or_else(|| format!("{stem:?} has no _sbNN part"))?;
    if sb.len() != 2 || !sb.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("subband part {sb:?} is not two digits"));
    }
    let subband: u8 = sb
        .parse()
        .map_err(|_| format!("subband part {sb:?} is not a number"))?;
    if subband >= NUM_SUBBANDS {
        return Err(format!("subband {subband} is not in 00..15"));
    }
    // Exact shape: YYYY-MM-DDTHH:MM:SS
    let b = ts.as_bytes();
    let shape_ok = b.len() == 19
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(format!("timestamp {ts:?} is not YYYY-MM-DDTHH:MM:SS"));
    }
    let t = ObsTime::from_iso(ts).map_err(|e| format!("timestamp {ts:?}: {e}"))?;
    // from_iso accepts day 31 of any month; reject dates that do not round-trip.
    if t.to_iso_seconds() != ts {
        return Err(format!("timestamp {ts:?} is not a valid calendar time"));
    }
    Ok(SubbandFileName {
        timestamp_iso: ts.to_string(),
        obs_unix_s: t.unix_s().round(),
        subband,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_ok(name: &str, ts: &str, unix: f64, sb: u8) {
        let p = parse_subband_filename(name).unwrap();
        assert_eq!(p.timestamp_iso, ts);
        assert_eq!(p.obs_unix_s, unix);
        assert_eq!(p.subband, sb);
    }

    fn check_bad(name: &str, needle: &str) {
        match parse_subband_filename(name) {
            Err(IngestError::BadFileName { reason, path }) => {
                assert!(reason.contains(needle), "{name}: {reason}");
                assert_eq!(path, PathBuf::from(name));
            }
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn good_names() {
        check_ok(
            "2025-10-05T12:00:00_sb03.hdf5",
            "2025-10-05T12:00:00",
            1_759_665_600.0,
            3,
        );
        check_ok(
            "/data/incoming/2024-02-29T23:59:59_sb15.hdf5",
            "2024-02-29T23:59:59",
            1_709_251_199.0,
            15,
        );
        check_ok(
            "1970-01-01T00:00:00_sb00.hdf5",
            "1970-01-01T00:00:00",
            0.0,
            0,
        );
    }

    #[test]
    fn bad_names() {
        check_bad("2025-10-05T12:00:00_sb16.hdf5", "00..15");
        check_bad("2025-10-05T12:00:00_sb3.hdf5", "two digits");
        check_bad("2025-10-05T12:00:00_sb03.h5", "does not end");
        check_bad("2025-10-05 12:00:00_sb03.hdf5", "YYYY");
        check_bad("2025-10-05T12:00_sb03.hdf5", "YYYY");
        check_bad("2025-13-05T12:00:00_sb03.hdf5", "timestamp");
        check_bad("2025-02-30T12:00:00_sb03.hdf5", "calendar");
        check_bad("2025-10-05T25:00:00_sb03.hdf5", "timestamp");
        check_bad("2025-10-05T12:00:00.hdf5", "_sbNN");
        check_bad("2025-10-05T12:00:00_sbxx.hdf5", "two digits");
        check_bad("", "does not end");
        check_bad("2025-10-05T12:00:00_sb03.hdf5.bak", "does not end");
    }

    #[test]
    fn incomplete_names() {
        assert!(is_incomplete_name(
            "2025-10-05T12:00:00_sb03_incomplete.hdf5"
        ));
        assert!(is_incomplete_name(
            "/x/y/2025-10-05T12:00:00_sb15_incomplete.hdf5"
        ));
        assert!(!is_incomplete_name("2025-10-05T12:00:00_sb03.hdf5"));
        assert!(!is_incomplete_name("foo_incomplete.hdf5"));
        assert!(matches!(
            parse_subband_filename("2025-10-05T12:00:00_sb03_incomplete.hdf5"),
            Err(IngestError::Incomplete { .. })
        ));
    }
}

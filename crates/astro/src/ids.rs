//! The pipeline's shared vocabulary: an observation's id ([`GroupId`]), a subband's
//! index ([`SubbandIdx`]) and the number of subbands ([`N_SUBBANDS`]). Every crate that
//! names a group or a subband (ingest, queue, simulator, converter) uses these.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{civil_from_days, days_from_civil};

/// An id or index that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not a canonical `YYYY-MM-DDTHH:MM:SS` group id.
    #[error("invalid group id {0:?}: expected YYYY-MM-DDTHH:MM:SS")]
    InvalidGroupId(String),
    /// A value out of range.
    #[error("invalid {what}: {value}")]
    InvalidInput {
        /// What was expected.
        what: &'static str,
        /// The value given.
        value: String,
    },
}

/// Number of subbands the correlator writes per observation.
pub const N_SUBBANDS: u8 = 16;

/// Earliest representable instant (0000-01-01T00:00:00) in Unix seconds.
const MIN_UNIX_S: i64 = -62_167_219_200;
/// Latest representable instant (9999-12-31T23:59:59) in Unix seconds.
const MAX_UNIX_S: i64 = 253_402_300_799;

/// An observation's id: its UTC timestamp as `YYYY-MM-DDTHH:MM:SS`.
///
/// Only the canonical form is accepted, so lexicographic order of the strings
/// is time order, and `ORDER BY group_id` in SQL is oldest first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId {
    text: String,
    unix_s: i64,
}

impl GroupId {
    /// Parses a canonical `YYYY-MM-DDTHH:MM:SS` timestamp (no fraction, no
    /// zone, a real calendar date, seconds 00–59).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::InvalidGroupId(s.to_owned());
        let b = s.as_bytes();
        if b.len() != 19 {
            return Err(bad());
        }
        let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        for (i, c) in seps {
            if b[i] != c {
                return Err(bad());
            }
        }
        let num = |from: usize, to: usize| -> Result<i64, IdError> {
            let mut v = 0i64;
            for &c in &b[from..to] {
                if !c.is_ascii_digit() {
                    return Err(bad());
                }
                v = v * 10 + i64::from(c - b'0');
            }
            Ok(v)
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(bad());
        }
        let unix_s =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(GroupId {
            text: s.to_owned(),
            unix_s,
        })
    }

    /// The group id of an instant, rounded to the nearest whole second.
    /// Fails for non-finite times and years outside 0000–9999.
    pub fn from_unix_s(unix_s: f64) -> Result<Self, IdError> {
        let rounded = unix_s.round();
        if !rounded.is_finite() || rounded < MIN_UNIX_S as f64 || rounded > MAX_UNIX_S as f64 {
            return Err(IdError::InvalidInput {
                what: "observation time (Unix s)",
                value: unix_s.to_string(),
            });
        }
        Ok(Self::from_whole_seconds(rounded as i64))
    }

    /// Whole-second constructor; clamps into the representable range.
    pub fn from_whole_seconds(unix_s: i64) -> Self {
        let unix_s = unix_s.clamp(MIN_UNIX_S, MAX_UNIX_S);
        let days = unix_s.div_euclid(86_400);
        let sod = unix_s.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let text = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        );
        GroupId { text, unix_s }
    }

    /// The instant as Unix seconds.
    pub fn unix_s(&self) -> f64 {
        self.unix_s as f64
    }

    /// The instant as whole Unix seconds.
    pub fn unix_seconds(&self) -> i64 {
        self.unix_s
    }

    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for GroupId {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl FromStr for GroupId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        GroupId::parse(s)
    }
}

impl Serialize for GroupId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for GroupId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GroupId::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A subband index, 0–15 (`sb00` is the highest-frequency subband).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SubbandIdx(u8);

impl SubbandIdx {
    /// Checks `idx < 16`.
    pub fn new(idx: u8) -> Result<Self, IdError> {
        if idx < N_SUBBANDS {
            Ok(SubbandIdx(idx))
        } else {
            Err(IdError::InvalidInput {
                what: "subband index (0-15)",
                value: idx.to_string(),
            })
        }
    }

    /// Checked conversion from a database integer.
    pub fn from_i64(v: i64) -> Result<Self, IdError> {
        match u8::try_from(v) {
            Ok(b) => SubbandIdx::new(b),
            Err(_) => Err(IdError::InvalidInput {
                what: "subband index (0-15)",
                value: v.to_string(),
            }),
        }
    }

    /// The index.
    pub fn get(self) -> u8 {
        self.0
    }

    /// The file-name code, e.g. `sb05`.
    pub fn code(self) -> String {
        format!("sb{:02}", self.0)
    }

    /// All indices below `n` (at most 16).
    pub fn all_below(n: u8) -> impl Iterator<Item = SubbandIdx> {
        (0..n.min(N_SUBBANDS)).map(SubbandIdx)
    }
}

impl fmt::Display for SubbandIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sb{:02}", self.0)
    }
}

impl FromStr for SubbandIdx {
    type Err = IdError;
    /// Accepts `sb05` or `5`.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let digits = s.strip_prefix("sb").unwrap_or(s);
        let bad = || IdError::InvalidInput {
            what: "subband (sbNN or 0-15)",
            value: s.to_owned(),
        };
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let v: u8 = digits.parse().map_err(|_| bad())?;
        SubbandIdx::new(v).map_err(|_| bad())
    }
}

impl<'de> Deserialize<'de> for SubbandIdx {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = u8::deserialize(d)?;
        SubbandIdx::new(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_roundtrip(text: &str, unix_s: i64) {
        let g = GroupId::parse(text).unwrap();
        assert_eq!(g.unix_seconds(), unix_s, "{text}");
        assert_eq!(GroupId::from_unix_s(unix_s as f64).unwrap().as_str(), text);
    }

    #[test]
    fn group_id_known_answers() {
        check_roundtrip("1970-01-01T00:00:00", 0);
        check_roundtrip("2000-02-29T12:34:56", 951_827_696);
        check_roundtrip("2025-10-02T00:12:00", 1_759_363_920);
        check_roundtrip("1969-12-31T23:59:59", -1);
        check_roundtrip("9999-12-31T23:59:59", MAX_UNIX_S);
        check_roundtrip("0000-01-01T00:00:00", MIN_UNIX_S);
    }

    #[test]
    fn group_id_rounds_to_nearest_second() {
        assert_eq!(
            GroupId::from_unix_s(1_759_363_919.6).unwrap().as_str(),
            "2025-10-02T00:12:00"
        );
        assert_eq!(
            GroupId::from_unix_s(1_759_363_920.4).unwrap().as_str(),
            "2025-10-02T00:12:00"
        );
    }

    #[test]
    fn group_id_rejects_non_canonical() {
        for bad in [
            "",
            "2025-10-02 00:12:00",
            "2025-10-02T00:12:00Z",
            "2025-10-02T00:12:00.5",
            "2025-13-02T00:12:00",
            "2025-02-29T00:12:00",
            "2025-10-32T00:12:00",
            "2025-10-02T24:00:00",
            "2025-10-02T00:60:00",
            "2025-10-02T00:12:60",
            "2025-1-02T00:12:000",
            "+025-10-02T00:12:00",
            "2025-10-02T00:12:0\u{e9}",
        ] {
            assert!(
                matches!(GroupId::parse(bad), Err(IdError::InvalidGroupId(_))),
                "{bad:?}"
            );
        }
        assert!(GroupId::from_unix_s(f64::NAN).is_err());
        assert!(GroupId::from_unix_s(f64::INFINITY).is_err());
        assert!(GroupId::from_unix_s(1e15).is_err());
    }

    #[test]
    fn group_id_string_order_is_time_order() {
        let times = [
            -5_000_000_000.0,
            -1.0,
            0.0,
            59.0,
            60.0,
            1_759_363_920.0,
            2e11,
        ];
        let ids: Vec<GroupId> = times
            .iter()
            .map(|&t| GroupId::from_unix_s(t).unwrap())
            .collect();
        for w in ids.windows(2) {
            assert!(w[0].as_str() < w[1].as_str());
            assert!(w[0] < w[1]);
        }
    }

    #[test]
    fn every_day_of_four_centuries_roundtrips() {
        // 1900-01-01 .. 2300-01-01, one timestamp per day at 23:59:59.
        let start = GroupId::parse("1900-01-01T23:59:59")
            .unwrap()
            .unix_seconds();
        for day in 0..146_097 {
            let t = start + day * 86_400;
            let g = GroupId::from_unix_s(t as f64).unwrap();
            assert_eq!(GroupId::parse(g.as_str()).unwrap().unix_seconds(), t);
        }
    }

    #[test]
    fn subband_idx_bounds_and_codes() {
        assert_eq!(SubbandIdx::new(0).unwrap().code(), "sb00");
        assert_eq!(SubbandIdx::new(15).unwrap().to_string(), "sb15");
        assert!(SubbandIdx::new(16).is_err());
        assert_eq!("sb05".parse::<SubbandIdx>().unwrap().get(), 5);
        assert_eq!("7".parse::<SubbandIdx>().unwrap().get(), 7);
        for bad in ["sb16", "sb", "x", "sb-1", "300"] {
            assert!(bad.parse::<SubbandIdx>().is_err(), "{bad}");
        }
        assert!(SubbandIdx::from_i64(-1).is_err());
        assert_eq!(SubbandIdx::all_below(20).count(), 16);
    }

    #[test]
    fn serde_roundtrip_of_ids() {
        let g = GroupId::parse("2025-10-02T00:12:00").unwrap();
        let j = serde_json::to_string(&g).unwrap();
        assert_eq!(j, "\"2025-10-02T00:12:00\"");
        assert_eq!(serde_json::from_str::<GroupId>(&j).unwrap(), g);
        assert!(serde_json::from_str::<GroupId>("\"2025-10-02\"").is_err());
        assert!(serde_json::from_str::<SubbandIdx>("16").is_err());
    }
}

//! The layout of one observation group's Measurement Set, from plain inputs:
//! antennas from the file's names and positions, one spectral window per
//! subband in ascending frequency, the field, the observation and history.
//!
//! Nothing here reads a file: the caller passes what it read (this crate
//! knows no UVH5 type). [`group_ms_spec`] returns the [`MsSpec`] for
//! [`MsWriter::create`](crate::MsWriter::create) and a [`SpwLayout`] telling
//! which window holds which subband.

use crate::spec::{AntennaSpec, FieldSpec, HistoryEntry, MsSpec, SpwSpec};

/// Receptor angles of the DSA-110 feeds (X = 0, Y = π/2): pyuvdata reads
/// them as `x_orientation = "north"`.
pub const DSA110_FEED_ANGLES_RAD: [f64; 2] = [0.0, std::f64::consts::FRAC_PI_2];
/// Mount type of the DSA-110 dishes.
pub const DSA110_MOUNT: &str = "ALT-AZ";
/// JD of MJD 0.
const MJD_OFFSET: f64 = dsa110_astro::constants::MJD_OFFSET;

/// The ANTENNA `NAME` (and `STATION`) of the antenna with file name `raw`
/// at index `index` of the antenna table:
///
/// * a number, as the correlator writes (`"5"`, `" 17 "`), becomes the
///   station name `DSA-005`, `DSA-017` (the station table's names);
/// * an empty or blank name becomes `ANT<index>`;
/// * anything else is kept, trimmed (`"pad12"`, pyuvdata's own names).
pub fn ms_antenna_name(raw: &str, index: usize) -> String {
    let name = raw.trim();
    match name.parse::<u32>() {
        Ok(n) => format!("DSA-{n:03}"),
        Err(_) if name.is_empty() => format!("ANT{index}"),
        Err(_) => name.to_string(),
    }
}

/// The ANTENNA rows: one per position (`offsets_m`, ITRF offsets from the
/// array reference `array_itrf_m`, m), named by [`ms_antenna_name`] from
/// `names` (missing names count as blank), with the given diameters or the
/// DSA-110 dish's 4.65 m where there are none.
pub fn antenna_specs(
    names: &[String],
    offsets_m: &[[f64; 3]],
    diameters_m: Option<&[f64]>,
    array_itrf_m: [f64; 3],
) -> Vec<AntennaSpec> {
    offsets_m
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = ms_antenna_name(names.get(i).map_or("", String::as_str), i);
            AntennaSpec {
                station: name.clone(),
                name,
                itrf_m: [
                    array_itrf_m[0] + p[0],
                    array_itrf_m[1] + p[1],
                    array_itrf_m[2] + p[2],
                ],
                diameter_m: diameters_m
                    .and_then(|d| d.get(i).copied())
                    .unwrap_or(dsa110_astro::constants::DISH_DIAMETER_M),
                mount: DSA110_MOUNT.to_string(),
            }
        })
        .collect()
}

/// One subband's channels, in the file's order (ascending or descending).
#[derive(Clone, Debug, PartialEq)]
pub struct SubbandWindow {
    /// Subband index (0 = the highest frequencies for the correlator).
    pub subband: u8,
    /// Channel centres (Hz), any order.
    pub freqs_hz: Vec<f64>,
    /// Channel width (Hz, either sign).
    pub chan_width_hz: f64,
}

/// The spectral windows of a group: one per subband, ascending in frequency,
/// channels ascending within each (what [`MsSpec`] requires).
#[derive(Clone, Debug, PartialEq)]
pub struct SpwLayout {
    /// The windows, in MS order.
    spws: Vec<SpwSpec>,
    /// The subband of each window.
    subbands: Vec<u8>,
}

impl SpwLayout {
    /// Order the windows by their lowest frequency. A subband listed twice
    /// keeps its first entry. Windows are named `sbNN`.
    pub fn from_subbands(windows: Vec<SubbandWindow>) -> Self {
        let mut seen = Vec::with_capacity(windows.len());
        let mut pairs: Vec<(u8, SpwSpec)> = windows
            .into_iter()
            .filter(|w| {
                let new = !seen.contains(&w.subband);
                seen.push(w.subband);
                new
            })
            .map(|w| {
                let mut freqs_hz = w.freqs_hz;
                freqs_hz.sort_by(f64::total_cmp);
                (
                    w.subband,
                    SpwSpec {
                        name: format!("sb{:02}", w.subband),
                        freqs_hz,
                        chan_width_hz: w.chan_width_hz.abs(),
                    },
                )
            })
            .collect();
        pairs.sort_by(|a, b| {
            let lowest = |s: &SpwSpec| s.freqs_hz.first().copied().unwrap_or(f64::NEG_INFINITY);
            lowest(&a.1).total_cmp(&lowest(&b.1))
        });
        let (subbands, spws) = pairs.into_iter().unzip();
        Self { spws, subbands }
    }

    /// The window holding subband `subband`, if any.
    pub fn spw_of(&self, subband: u8) -> Option<usize> {
        self.subbands.iter().position(|&s| s == subband)
    }
    /// The subband in window `spw`, if any.
    pub fn subband_of(&self, spw: usize) -> Option<u8> {
        self.subbands.get(spw).copied()
    }
    /// The windows, in MS order.
    pub fn spws(&self) -> &[SpwSpec] {
        &self.spws
    }
    /// Number of windows.
    pub fn len(&self) -> usize {
        self.spws.len()
    }
    /// Whether there are no windows.
    pub fn is_empty(&self) -> bool {
        self.spws.is_empty()
    }
}

/// What the MS of one group is laid out from.
#[derive(Clone, Debug)]
pub struct GroupLayout<'a> {
    /// The group id (`YYYY-MM-DDTHH:MM:SS`); names the field `drift_<id>`.
    pub group_id: &'a str,
    /// ANTENNA rows (see [`antenna_specs`]).
    pub antennas: Vec<AntennaSpec>,
    /// One entry per subband the MS has, present or to be written flagged.
    pub windows: Vec<SubbandWindow>,
    /// AIPS polarisation codes, in data order.
    pub pols: Vec<i32>,
    /// The phase centre, ICRS (ra, dec) in rad.
    pub phase_centre_rad: (f64, f64),
    /// OBSERVATION `TELESCOPE_NAME`.
    pub telescope_name: String,
    /// Array reference position (ITRF, m).
    pub array_itrf_m: [f64; 3],
    /// Integration centres (UTC JD).
    pub times_jd_utc: &'a [f64],
    /// Integration time (s).
    pub int_time_s: f64,
    /// Baselines per integration.
    pub nbls: usize,
    /// Subband files the data came from (for HISTORY).
    pub n_files: usize,
    /// Application name and version (HISTORY `APPLICATION`).
    pub application: String,
    /// Command line (HISTORY `CLI_COMMAND`).
    pub command_line: String,
}

/// The [`MsSpec`] of a group and the window of each subband. The spec is not
/// checked here: [`MsWriter::create`](crate::MsWriter::create) refuses an
/// inconsistent one, naming the MS.
pub fn group_ms_spec(g: GroupLayout<'_>) -> (MsSpec, SpwLayout) {
    let layout = SpwLayout::from_subbands(g.windows);
    let half_s = g.int_time_s / 2.0;
    let mjd_s = |jd: f64| (jd - MJD_OFFSET) * dsa110_astro::constants::SECONDS_PER_DAY;
    let (first, last) = (
        g.times_jd_utc.first().copied().unwrap_or(MJD_OFFSET),
        g.times_jd_utc.last().copied().unwrap_or(MJD_OFFSET),
    );
    let (ra, dec) = g.phase_centre_rad;
    let spec = MsSpec {
        antennas: g.antennas,
        spws: layout.spws.clone(),
        pols: g.pols,
        feed_angles_rad: DSA110_FEED_ANGLES_RAD,
        field: FieldSpec {
            name: format!("drift_{}", g.group_id),
            ra_rad: ra,
            dec_rad: dec,
        },
        telescope_name: g.telescope_name,
        telescope_itrf_m: g.array_itrf_m,
        observer: "dsa110".to_string(),
        project: "dsa110-continuum".to_string(),
        time_range_mjd_s: (mjd_s(first) - half_s, mjd_s(last) + half_s),
        history: vec![HistoryEntry {
            message: format!(
                "converted group {} from {} subband files; phased to ICRS ({:.6}°, {:.6}°)",
                g.group_id,
                g.n_files,
                ra.to_degrees(),
                dec.to_degrees()
            ),
            application: g.application,
            cli_command: g.command_line,
        }],
        n_rows_per_spw: g.times_jd_utc.len() * g.nbls,
    };
    (spec, layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn antenna_names_follow_the_mapping_rules() {
        for (raw, index, want) in [
            ("5", 4, "DSA-005"),
            (" 17 ", 16, "DSA-017"),
            ("117", 116, "DSA-117"),
            ("", 3, "ANT3"),
            ("   ", 9, "ANT9"),
            ("pad12", 0, "pad12"),
            (" DSA-042 ", 1, "DSA-042"),
            ("-3", 2, "-3"),
        ] {
            assert_eq!(ms_antenna_name(raw, index), want, "{raw:?}");
        }
    }

    #[test]
    fn antennas_are_absolute_and_default_to_the_dsa110_dish() {
        let names = vec!["1".to_string(), String::new()];
        let offsets = [[1.0, 2.0, 3.0], [-4.0, 5.0, -6.0], [0.5, 0.0, 0.0]];
        let site = [-2_409_000.0, -4_478_000.0, 3_838_000.0];
        let ants = antenna_specs(&names, &offsets, None, site);
        assert_eq!(ants.len(), 3);
        assert_eq!(
            ants.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["DSA-001", "ANT1", "ANT2"]
        );
        assert_eq!(ants[1].itrf_m, [-2_409_004.0, -4_477_995.0, 3_837_994.0]);
        assert!(ants
            .iter()
            .all(|a| a.diameter_m == 4.65 && a.mount == "ALT-AZ"));
        assert!(ants.iter().all(|a| a.station == a.name));
        let with = antenna_specs(&names, &offsets, Some(&[6.0, 7.0]), site);
        assert_eq!(
            with.iter().map(|a| a.diameter_m).collect::<Vec<_>>(),
            [6.0, 7.0, 4.65]
        );
    }

    fn window(subband: u8, f0: f64) -> SubbandWindow {
        // the correlator's order: descending within a subband, sb00 highest
        SubbandWindow {
            subband,
            freqs_hz: (0..4).map(|j| f0 - j as f64 * 1e6).collect(),
            chan_width_hz: -1e6,
        }
    }

    #[test]
    fn windows_ascend_in_frequency_and_know_their_subband() {
        let layout = SpwLayout::from_subbands(vec![
            window(0, 1.50e9),
            window(2, 1.40e9),
            window(1, 1.45e9),
            window(2, 1.0e9), // listed twice: the first entry counts
        ]);
        assert_eq!(layout.len(), 3);
        assert_eq!(
            (
                layout.spw_of(2),
                layout.spw_of(1),
                layout.spw_of(0),
                layout.spw_of(3)
            ),
            (Some(0), Some(1), Some(2), None)
        );
        assert_eq!(layout.subband_of(0), Some(2));
        assert_eq!(layout.subband_of(3), None);
        let s = &layout.spws()[0];
        assert_eq!(s.name, "sb02");
        assert_eq!(s.freqs_hz, vec![1.397e9, 1.398e9, 1.399e9, 1.40e9]);
        assert_eq!(s.chan_width_hz, 1e6);
    }

    #[test]
    fn a_group_spec_passes_the_writers_checks() -> Result<(), crate::MsError> {
        let times = [2_460_950.5, 2_460_950.5 + 12.884902 / 86_400.0];
        let (spec, layout) = group_ms_spec(GroupLayout {
            group_id: "2025-10-02T00:12:00",
            antennas: antenna_specs(
                &["1".into(), "2".into()],
                &[[0.0; 3], [10.0, 0.0, 0.0]],
                None,
                [1.0, 2.0, 3.0],
            ),
            windows: vec![window(1, 1.45e9), window(0, 1.5e9)],
            pols: vec![-5, -6],
            phase_centre_rad: (1.0, 0.5),
            telescope_name: "OVRO_MMA".into(),
            array_itrf_m: [1.0, 2.0, 3.0],
            times_jd_utc: &times,
            int_time_s: 12.884902,
            nbls: 3,
            n_files: 2,
            application: "test 0.1".into(),
            command_line: "test --x".into(),
        });
        spec.validate(Path::new("test.ms"))?;
        assert_eq!(layout.spw_of(1), Some(0));
        assert_eq!(spec.spws, layout.spws());
        assert_eq!(spec.n_rows(), 2 * 2 * 3);
        assert_eq!(spec.field.name, "drift_2025-10-02T00:12:00");
        assert_eq!((spec.field.ra_rad, spec.field.dec_rad), (1.0, 0.5));
        let (t0, t1) = spec.time_range_mjd_s;
        assert!(
            (t0 - (60_950.0 * 86_400.0 - 12.884902 / 2.0)).abs() < 1e-5,
            "{t0}"
        );
        assert!((t1 - t0 - 2.0 * 12.884902).abs() < 1e-5, "{t1}");
        assert_eq!(spec.history.len(), 1);
        assert!(spec.history[0].message.contains("from 2 subband files"));
        assert!(spec.history[0].message.contains("57.295780°"));
        assert_eq!(spec.history[0].cli_command, "test --x");
        Ok(())
    }
}

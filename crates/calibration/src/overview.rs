//! A compact view of a solution set for plots (the dashboard's "solution plots"):
//! bandpass amplitude and phase against frequency, and gain amplitude and phase
//! against time, per antenna and receptor, in CASA's convention (the CPARAM that
//! `plotms`/`plotcal` would show for the same tables: the conjugate of this crate's
//! gains). Flagged solutions are `None` (JSON `null`), so that a plot leaves a gap
//! instead of drawing a zero.
//!
//! Amplitudes are rounded to 1e-5 and phases to 1e-3°, far below the solutions'
//! errors; a full group (96 antennas, 2 receptors, 768 channels, 16 × 24 gains) is
//! then about 3 MB of JSON.

use serde::Serialize;

use crate::solve::{CalSolutions, SolutionTable};

/// What a plot of one set needs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SolutionOverview {
    /// Receptor labels, in the solutions' receptor order.
    pub receptors: Vec<String>,
    /// Reference antenna (name).
    pub refant: String,
    /// Channel frequencies of the bandpass (MHz), ascending, all windows together.
    pub bandpass_freqs_mhz: Vec<f64>,
    /// Per window of the gains: its frequency and solution times.
    pub gain_windows: Vec<GainWindow>,
    /// Per antenna (ANTENNA row order), its solutions.
    pub antennas: Vec<AntennaSolutions>,
}

/// One window of the gain solutions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GainWindow {
    /// Mean frequency (MHz).
    pub freq_mhz: f64,
    /// Solution times (MJD, UTC).
    pub times_mjd: Vec<f64>,
}

/// One antenna's solutions; `None` where flagged or absent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AntennaSolutions {
    /// Name (`DSA-001`, …).
    pub name: String,
    /// `[receptor][channel]`, channels as in `bandpass_freqs_mhz`.
    pub bandpass_amp: Vec<Vec<Option<f64>>>,
    /// `[receptor][channel]` (degrees).
    pub bandpass_phase_deg: Vec<Vec<Option<f64>>>,
    /// `[receptor][window][time]`, windows as in `gain_windows`.
    pub gain_amp: Vec<Vec<Vec<Option<f64>>>>,
    /// `[receptor][window][time]` (degrees).
    pub gain_phase_deg: Vec<Vec<Vec<Option<f64>>>>,
}

/// `x` rounded to `decimals` decimal places (divided, not multiplied, by the power of
/// ten, so that the result prints as the short decimal it stands for).
fn round(x: f64, decimals: i32) -> f64 {
    let s = 10f64.powi(decimals);
    (x * s).round() / s
}

/// (amplitude, phase in degrees) of the CASA CPARAM of solution `(t, a, c, r)` of
/// `table` for antenna number `ant`, or `None` if flagged, absent or not finite.
fn casa_value(table: &SolutionTable, t: usize, ant: u32, c: usize, r: usize) -> Option<(f64, f64)> {
    let a = table.antenna_index(ant)?;
    if *table.flags.get((t, a, c, r))? {
        return None;
    }
    let g = table.gains.get((t, a, c, r))?.conj();
    let (amp, ph) = (f64::from(g.norm()), f64::from(g.arg()).to_degrees());
    (amp.is_finite() && ph.is_finite()).then(|| (round(amp, 5), round(ph, 3)))
}

/// The overview of `solutions`; `antenna_names[k]` names antenna number `k`
/// (numbers beyond the list are named `ANT<k>`), `receptors` labels the receptors.
pub fn solution_overview(
    solutions: &CalSolutions,
    antenna_names: &[String],
    receptors: &[&str],
) -> SolutionOverview {
    let name = |k: u32| {
        antenna_names
            .get(k as usize)
            .cloned()
            .unwrap_or_else(|| format!("ANT{k}"))
    };
    let nrec = solutions
        .bandpass
        .iter()
        .chain(&solutions.gains)
        .map(SolutionTable::nrec)
        .max()
        .unwrap_or(0);
    let mut ants: Vec<u32> = solutions
        .bandpass
        .iter()
        .chain(&solutions.gains)
        .flat_map(|t| t.antennas.iter().copied())
        .collect();
    ants.sort_unstable();
    ants.dedup();

    // bandpass channels of every window, ascending in frequency
    let mut chans: Vec<(f64, usize, usize)> = solutions
        .bandpass
        .iter()
        .enumerate()
        .flat_map(|(w, t)| t.freqs_hz.iter().enumerate().map(move |(c, f)| (*f, w, c)))
        .collect();
    chans.sort_by(|a, b| a.0.total_cmp(&b.0));

    let antennas = ants
        .iter()
        .map(|&ant| {
            let per_rec = |r: usize| -> (Vec<Option<f64>>, Vec<Option<f64>>) {
                chans
                    .iter()
                    .map(|&(_, w, c)| {
                        let v = casa_value(&solutions.bandpass[w], 0, ant, c, r);
                        (v.map(|v| v.0), v.map(|v| v.1))
                    })
                    .unzip()
            };
            let (bandpass_amp, bandpass_phase_deg): (Vec<_>, Vec<_>) =
                (0..nrec).map(per_rec).unzip();
            let gain = |r: usize, pick: fn((f64, f64)) -> f64| -> Vec<Vec<Option<f64>>> {
                solutions
                    .gains
                    .iter()
                    .map(|t| {
                        (0..t.times_jd_utc.len())
                            .map(|k| casa_value(t, k, ant, 0, r).map(pick))
                            .collect()
                    })
                    .collect()
            };
            AntennaSolutions {
                name: name(ant),
                bandpass_amp,
                bandpass_phase_deg,
                gain_amp: (0..nrec).map(|r| gain(r, |v| v.0)).collect(),
                gain_phase_deg: (0..nrec).map(|r| gain(r, |v| v.1)).collect(),
            }
        })
        .collect();

    SolutionOverview {
        receptors: (0..nrec)
            .map(|r| {
                receptors
                    .get(r)
                    .map_or_else(|| format!("R{r}"), |s| (*s).to_string())
            })
            .collect(),
        refant: name(solutions.refant),
        bandpass_freqs_mhz: chans.iter().map(|c| round(c.0 / 1e6, 6)).collect(),
        gain_windows: solutions
            .gains
            .iter()
            .map(|t| GainWindow {
                freq_mhz: round(
                    t.freqs_hz.iter().sum::<f64>() / t.freqs_hz.len().max(1) as f64 / 1e6,
                    6,
                ),
                times_mjd: t
                    .times_jd_utc
                    .iter()
                    .map(|jd| round(jd - 2_400_000.5, 9))
                    .collect(),
            })
            .collect(),
        antennas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solve::{JonesKind, QaReport};
    use ndarray::Array4;
    use num_complex::Complex32;

    fn table(kind: JonesKind, spw: usize, freqs: Vec<f64>, ntime: usize) -> SolutionTable {
        let dim = (ntime, 2, freqs.len(), 2);
        let mut gains = Array4::from_elem(dim, Complex32::new(1.0, 0.0));
        for ((t, a, c, r), g) in gains.indexed_iter_mut() {
            // amplitude 1 + 0.1 a + 0.01 c + 0.001 t, phase (10 r + c + t) degrees
            let amp = 1.0 + 0.1 * a as f32 + 0.01 * c as f32 + 0.001 * t as f32;
            let ph = ((10 * r + c + t) as f32).to_radians();
            *g = Complex32::from_polar(amp, ph);
        }
        let mut flags = Array4::from_elem(dim, false);
        flags[(0, 1, 0, 1)] = true;
        SolutionTable {
            kind,
            spw,
            times_jd_utc: (0..ntime)
                .map(|t| 2_460_000.5 + t as f64 / 86_400.0)
                .collect(),
            interval_s: 1.0,
            antennas: vec![3, 7],
            freqs_hz: freqs,
            gains,
            flags,
            snr: Array4::zeros(dim),
            param_err: Array4::zeros(dim),
            refant: 7,
        }
    }

    #[test]
    fn values_are_casas_cparam_in_frequency_order_with_gaps_where_flagged() {
        let qa = QaReport {
            median_snr_b: 0.0,
            median_snr_g: 0.0,
            flagged_fraction_b: 0.0,
            flagged_fraction_g: 0.0,
            amp_scatter_g: 0.0,
            phase_scatter_g_deg: 0.0,
            model_residual: None,
            passed: true,
            failures: vec![],
        };
        // window 0 lies above window 1 in frequency
        let sols = CalSolutions {
            bandpass: vec![
                table(JonesKind::B, 0, vec![1.5e9, 1.6e9], 1),
                table(JonesKind::B, 1, vec![1.3e9, 1.4e9], 1),
            ],
            gains: vec![table(JonesKind::G, 0, vec![1.55e9], 3)],
            refant: 7,
            qa,
        };
        let names: Vec<String> = (0..8).map(|k| format!("DSA-{k:03}")).collect();
        let o = solution_overview(&sols, &names, &["X", "Y"]);
        assert_eq!(o.refant, "DSA-007");
        assert_eq!(o.receptors, ["X", "Y"]);
        assert_eq!(o.bandpass_freqs_mhz, [1300.0, 1400.0, 1500.0, 1600.0]);
        assert_eq!(o.antennas.len(), 2);
        let a1 = &o.antennas[1];
        assert_eq!(a1.name, "DSA-007");
        // antenna row 1: amplitude 1.1 + 0.01 c; 1300 MHz is channel 0 of window 1
        let amp = a1.bandpass_amp[0]
            .iter()
            .map(|v| v.unwrap())
            .collect::<Vec<_>>();
        assert_eq!(amp, [1.1, 1.11, 1.1, 1.11]);
        // CASA's CPARAM is the conjugate: phase −(10 r + c)
        assert_eq!(a1.bandpass_phase_deg[0][1], Some(-1.0));
        assert_eq!(a1.bandpass_phase_deg[1][1], Some(-11.0));
        // flagged: (time 0, antenna row 1, channel 0, receptor 1) of each window
        assert_eq!(a1.bandpass_amp[1][0], None);
        assert_eq!(a1.bandpass_amp[1][2], None);
        assert_eq!(a1.bandpass_phase_deg[1][2], None);
        assert!(a1.bandpass_amp[1][3].is_some());
        // gains: [receptor][window][time]
        assert_eq!(o.gain_windows[0].freq_mhz, 1550.0);
        assert_eq!(o.gain_windows[0].times_mjd.len(), 3);
        assert!((o.gain_windows[0].times_mjd[2] - (60_000.0 + 2.0 / 86_400.0)).abs() < 1e-8);
        assert_eq!(
            o.antennas[0].gain_amp[0][0],
            vec![Some(1.0), Some(1.001), Some(1.002)]
        );
        assert_eq!(o.antennas[0].gain_phase_deg[1][0][2], Some(-12.0));
        assert_eq!(a1.gain_amp[1][0][0], None);
    }
}

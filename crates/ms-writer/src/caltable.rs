//! CASA calibration tables (`B Jones` bandpasses and `G Jones` complex
//! gains) written from plain arrays and read back — ours or CASA's.
//!
//! A table holds, per spectral window, solutions on a grid of solution
//! times × antennas, each a `[nchan, nrec]` cell (CASA's `CPARAM`, with
//! `nrec` receptors — 2 for X/Y feeds — and `nchan = 1` for `G Jones`). Gains
//! are corruptions, CASA's convention: `V_ij = g_i conj(g_j) M_ij` on the MS
//! DATA column, and `applycal` divides them out.
//!
//! What is written is what CASA 6.7's `bandpass`/`gaincal` write and what
//! its `applycal` needs (checked by removing one item at a time; see
//! RUST-ECOSYSTEM.md): `table.info` type `Calibration` with subType `B Jones`
//! or `G Jones`; keywords `ParType = "Complex"`, `MSName`, `VisCal`,
//! `PolBasis = "unknown"`; subtables ANTENNA, FIELD, SPECTRAL_WINDOW and
//! OBSERVATION copied from the MS (so CHAN_FREQ matches it for B; for G each
//! window becomes the one channel the solution covers, as `gaincal` writes
//! it, which `applycal` requires) and an empty HISTORY; main columns TIME (MEASINFO epoch UTC, s), FIELD_ID,
//! SPECTRAL_WINDOW_ID, ANTENNA1, ANTENNA2 (the reference antenna, −1 if
//! none), INTERVAL (s), SCAN_NUMBER, OBSERVATION_ID, and variable-shape
//! CPARAM, PARAMERR, FLAG, SNR and WEIGHT (WEIGHT left undefined, as CASA
//! leaves it). The table is written under a temporary name beside the
//! destination and renamed.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array4};
use num_complex::Complex32;
use rubbl_casatables::{GlueDataType as T, Table, TableOpenMode};

use crate::desc::{col, create_table, ColDef, Meas, Shape};
use crate::error::CasaContext;
use crate::MsError;

/// The Jones matrix type of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CalType {
    /// `B Jones`: a per-channel bandpass.
    Bandpass,
    /// `G Jones`: a complex gain per solution time, one channel.
    Gain,
}

impl CalType {
    /// The `table.info` subType and `VisCal` keyword (`"B Jones"`, `"G Jones"`).
    pub fn sub_type(self) -> &'static str {
        match self {
            CalType::Bandpass => "B Jones",
            CalType::Gain => "G Jones",
        }
    }

    fn from_sub_type(s: &str) -> Option<Self> {
        match s.trim() {
            "B Jones" => Some(CalType::Bandpass),
            "G Jones" => Some(CalType::Gain),
            _ => None,
        }
    }
}

/// The solutions of one spectral window on a `times × antennas` grid.
#[derive(Clone, Debug, PartialEq)]
pub struct CalSolutions {
    /// SPECTRAL_WINDOW_ID of the MS.
    pub spw: usize,
    /// Solution times (MJD seconds, UTC), ascending.
    pub times_mjd_s: Vec<f64>,
    /// INTERVAL of each solution (s; CASA writes 0).
    pub interval_s: f64,
    /// Gains (corruptions) `[ntime, nant, nchan, nrec]`; `nchan = 1` for G.
    pub gains: Array4<Complex32>,
    /// PARAMERR, same shape.
    pub errors: Array4<f32>,
    /// FLAG (true: no valid solution), same shape.
    pub flags: Array4<bool>,
    /// SNR, same shape.
    pub snr: Array4<f32>,
}

/// A `B Jones` or `G Jones` calibration table.
#[derive(Clone, Debug, PartialEq)]
pub struct CalTable {
    /// B or G.
    pub cal_type: CalType,
    /// The `MSName` keyword (the MS the solutions came from).
    pub ms_name: String,
    /// The reference antenna (ANTENNA2 of every row; `None` writes −1). The
    /// reader returns the first row's.
    pub ref_antenna: Option<usize>,
    /// FIELD_ID of every row.
    pub field_id: i32,
    /// SCAN_NUMBER of every row (the reader returns the first row's).
    pub scan_number: i32,
    /// Per spectral window, ascending `spw`.
    pub solutions: Vec<CalSolutions>,
}

const SC: Shape = Shape::Scalar;
const VAR: Shape = Shape::Var(None);

const MAIN_COLUMNS: [ColDef; 13] = [
    col("TIME", T::TpDouble, SC).units(&["s"]).meas(Meas::Epoch),
    col("FIELD_ID", T::TpInt, SC),
    col("SPECTRAL_WINDOW_ID", T::TpInt, SC),
    col("ANTENNA1", T::TpInt, SC),
    col("ANTENNA2", T::TpInt, SC),
    col("INTERVAL", T::TpDouble, SC).units(&["s"]),
    col("SCAN_NUMBER", T::TpInt, SC),
    col("OBSERVATION_ID", T::TpInt, SC),
    col("CPARAM", T::TpComplex, VAR),
    col("PARAMERR", T::TpFloat, VAR),
    col("FLAG", T::TpBool, VAR),
    col("SNR", T::TpFloat, VAR),
    col("WEIGHT", T::TpFloat, VAR),
];

/// Turn each window of a copied SPECTRAL_WINDOW into the single channel a
/// `G Jones` solution covers, as CASA's `gaincal` writes it: NUM_CHAN 1,
/// CHAN_FREQ the mean frequency, CHAN_WIDTH, EFFECTIVE_BW and RESOLUTION the
/// summed widths. (CASA's `applycal` refuses a G table whose windows keep
/// the MS's channels: "shape [4, nchan] differs from [4, 1]".)
fn one_channel_windows(t: &mut Table, path: &Path) -> Result<(), MsError> {
    for row in 0..t.n_rows() {
        let freqs: Vec<f64> = t
            .get_cell_as_vec("CHAN_FREQ", row)
            .casa(path, || format!("read CHAN_FREQ[{row}]"))?;
        let widths: Vec<f64> = t
            .get_cell_as_vec("CHAN_WIDTH", row)
            .casa(path, || format!("read CHAN_WIDTH[{row}]"))?;
        let n = freqs.len().max(1) as f64;
        let mean = vec![freqs.iter().sum::<f64>() / n];
        let width = vec![widths.iter().map(|w| w.abs()).sum::<f64>()];
        t.put_cell("CHAN_FREQ", row, &mean)
            .casa(path, || format!("write CHAN_FREQ[{row}]"))?;
        for col in ["CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"] {
            t.put_cell(col, row, &width)
                .casa(path, || format!("write {col}[{row}]"))?;
        }
        t.put_cell("NUM_CHAN", row, &1i32)
            .casa(path, || format!("write NUM_CHAN[{row}]"))?;
    }
    Ok(())
}

/// A float cell of a calibration table as `[nchan, nrec]`.
fn shaped_f32(
    t: &mut Table,
    path: &Path,
    name: &str,
    row: usize,
    nchan: usize,
    nrec: usize,
) -> Result<Array2<f32>, MsError> {
    let v: Vec<f32> = t
        .get_cell_as_vec(name, row as u64)
        .casa(path, || format!("read {name}[{row}]"))?;
    let n = v.len();
    Array2::from_shape_vec((nchan, nrec), v).map_err(|_| MsError::Format {
        path: path.to_path_buf(),
        reason: format!("row {row}: {name} has {n} values, not [{nchan}, {nrec}]"),
    })
}

/// One `[nchan, nrec]` cell of a `[time, ant, nchan, nrec]` array.
fn cell<T: Clone>(x: &Array4<T>, t: usize, a: usize) -> Array2<T> {
    x.slice(ndarray::s![t, a, .., ..]).to_owned()
}

/// Subtables copied from the MS (rows and all); HISTORY is copied empty.
const COPIED_SUBTABLES: [&str; 4] = ["ANTENNA", "FIELD", "SPECTRAL_WINDOW", "OBSERVATION"];

impl CalTable {
    fn invalid(path: &Path, reason: String) -> MsError {
        MsError::InvalidSpec {
            path: path.to_path_buf(),
            reason,
        }
    }

    /// Check that every window's arrays agree with each other.
    fn validate(&self, path: &Path) -> Result<(), MsError> {
        for s in &self.solutions {
            let dim = s.gains.dim();
            if dim.0 != s.times_mjd_s.len() {
                return Err(Self::invalid(
                    path,
                    format!(
                        "spw {}: {} solution times but gains for {}",
                        s.spw,
                        s.times_mjd_s.len(),
                        dim.0
                    ),
                ));
            }
            if s.errors.dim() != dim || s.flags.dim() != dim || s.snr.dim() != dim {
                return Err(Self::invalid(
                    path,
                    format!(
                        "spw {}: gains, errors, flags and snr differ in shape",
                        s.spw
                    ),
                ));
            }
            if self.cal_type == CalType::Gain && dim.2 != 1 {
                return Err(Self::invalid(
                    path,
                    format!("spw {}: G Jones has one channel, not {}", s.spw, dim.2),
                ));
            }
        }
        Ok(())
    }

    /// Write the table at `path` (which must not exist), copying ANTENNA,
    /// FIELD, SPECTRAL_WINDOW and OBSERVATION from the MS at `ms`. The table
    /// is built as `<path>.tmp-<pid>` and renamed; on failure the temporary
    /// is removed.
    pub fn write(&self, path: &Path, ms: &Path) -> Result<(), MsError> {
        self.validate(path)?;
        if path.symlink_metadata().is_ok() {
            return Err(MsError::Exists {
                path: path.to_path_buf(),
            });
        }
        let nspw_ms = Table::open(ms.join("SPECTRAL_WINDOW"), TableOpenMode::Read)
            .casa(&ms.join("SPECTRAL_WINDOW"), || "open".into())?
            .n_rows() as usize;
        if let Some(s) = self.solutions.iter().find(|s| s.spw >= nspw_ms) {
            return Err(MsError::SpwOutOfRange {
                path: ms.to_path_buf(),
                spw: s.spw,
                nspw: nspw_ms,
            });
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        if tmp.symlink_metadata().is_ok() {
            std::fs::remove_dir_all(&tmp).map_err(|source| MsError::Io {
                path: tmp.clone(),
                source,
            })?;
        }
        let result = self.write_at(&tmp, ms).and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|source| MsError::Io {
                path: path.to_path_buf(),
                source,
            })
        });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    fn write_at(&self, path: &Path, ms: &Path) -> Result<(), MsError> {
        let nrows: usize = self
            .solutions
            .iter()
            .map(|s| s.times_mjd_s.len() * s.gains.dim().1)
            .sum();
        let mut table = create_table(path, &MAIN_COLUMNS, nrows)?;
        // scalar columns in bulk, cells one by one (tables are small)
        let (mut time, mut spw, mut ant1) = (Vec::new(), Vec::new(), Vec::new());
        let mut interval = Vec::new();
        let mut row = 0u64;
        for s in &self.solutions {
            let (ntime, nant, _, _) = s.gains.dim();
            for t in 0..ntime {
                for a in 0..nant {
                    time.push(s.times_mjd_s[t]);
                    interval.push(s.interval_s);
                    spw.push(s.spw as i32);
                    ant1.push(a as i32);
                    table
                        .put_cell("CPARAM", row, &cell(&s.gains, t, a))
                        .casa(path, || format!("write CPARAM[{row}]"))?;
                    table
                        .put_cell("PARAMERR", row, &cell(&s.errors, t, a))
                        .casa(path, || format!("write PARAMERR[{row}]"))?;
                    table
                        .put_cell("FLAG", row, &cell(&s.flags, t, a))
                        .casa(path, || format!("write FLAG[{row}]"))?;
                    table
                        .put_cell("SNR", row, &cell(&s.snr, t, a))
                        .casa(path, || format!("write SNR[{row}]"))?;
                    row += 1;
                }
            }
        }
        let n = time.len();
        let refant = self.ref_antenna.map_or(-1, |a| a as i32);
        let put_i32 = |tb: &mut Table, name: &str, v: &[i32]| {
            tb.put_column_range_scalar(name, 0, v)
                .casa(path, || format!("write {name}"))
        };
        if n > 0 {
            table
                .put_column_range_scalar("TIME", 0, &time)
                .casa(path, || "write TIME".into())?;
            table
                .put_column_range_scalar("INTERVAL", 0, &interval)
                .casa(path, || "write INTERVAL".into())?;
            put_i32(&mut table, "FIELD_ID", &vec![self.field_id; n])?;
            put_i32(&mut table, "SPECTRAL_WINDOW_ID", &spw)?;
            put_i32(&mut table, "ANTENNA1", &ant1)?;
            put_i32(&mut table, "ANTENNA2", &vec![refant; n])?;
            put_i32(&mut table, "SCAN_NUMBER", &vec![self.scan_number; n])?;
            put_i32(&mut table, "OBSERVATION_ID", &vec![0; n])?;
        }
        let kw = |tb: &mut Table, name: &str, value: &str| {
            tb.put_keyword(name, &value.to_string())
                .casa(path, || format!("set keyword {name}"))
        };
        kw(&mut table, "ParType", "Complex")?;
        kw(&mut table, "MSName", &self.ms_name)?;
        kw(&mut table, "VisCal", self.cal_type.sub_type())?;
        kw(&mut table, "PolBasis", "unknown")?;
        for name in COPIED_SUBTABLES.iter().chain(&["HISTORY"]) {
            let src = ms.join(name);
            let dst = path.join(name);
            let dst_s = dst
                .to_str()
                .ok_or_else(|| Self::invalid(path, "path is not UTF-8".into()))?;
            let mut from = Table::open(&src, TableOpenMode::Read).casa(&src, || "open".into())?;
            from.deep_copy_no_rows(dst_s).casa(&src, || {
                format!("copy the description to {}", dst.display())
            })?;
            let mut to =
                Table::open(&dst, TableOpenMode::ReadWrite).casa(&dst, || "open".into())?;
            if *name != "HISTORY" {
                from.copy_rows_to(&mut to)
                    .casa(&src, || format!("copy rows to {}", dst.display()))?;
            }
            if *name == "SPECTRAL_WINDOW" && self.cal_type == CalType::Gain {
                one_channel_windows(&mut to, &dst)?;
            }
            table
                .put_table_keyword(name, to)
                .casa(path, || format!("link subtable {name}"))?;
        }
        drop(table);
        let info = path.join("table.info");
        std::fs::write(
            &info,
            format!(
                "Type = Calibration\nSubType = {}\n\n",
                self.cal_type.sub_type()
            ),
        )
        .map_err(|source| MsError::Io { path: info, source })?;
        Ok(())
    }

    /// Read a `B Jones` or `G Jones` table (ours or CASA's). Rows are
    /// gathered per spectral window onto its solution times × the ANTENNA
    /// subtable's antennas; a (time, antenna) with no row reads as gain 1,
    /// flagged.
    pub fn read(path: &Path) -> Result<Self, MsError> {
        let format = |reason: String| MsError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let info = path.join("table.info");
        let info_text = std::fs::read_to_string(&info).map_err(|source| MsError::Io {
            path: info.clone(),
            source,
        })?;
        let field = |key: &str| {
            info_text
                .lines()
                .find_map(|l| {
                    l.strip_prefix(key)
                        .map(|v| v.trim().trim_start_matches('=').trim())
                })
                .unwrap_or("")
                .to_string()
        };
        if field("Type") != "Calibration" {
            return Err(format(format!(
                "table.info type is {:?}, not \"Calibration\"",
                field("Type")
            )));
        }
        let sub = field("SubType");
        let cal_type = CalType::from_sub_type(&sub).ok_or_else(|| {
            format(format!(
                "calibration subType {sub:?} is not B Jones or G Jones"
            ))
        })?;
        let nant = {
            let p = path.join("ANTENNA");
            Table::open(&p, TableOpenMode::Read)
                .casa(&p, || "open".into())?
                .n_rows() as usize
        };
        let num_chan: Vec<usize> = {
            let p = path.join("SPECTRAL_WINDOW");
            let mut sw = Table::open(&p, TableOpenMode::Read).casa(&p, || "open".into())?;
            let n: Vec<i32> = sw
                .get_col_as_vec("NUM_CHAN")
                .casa(&p, || "read column NUM_CHAN".into())?;
            n.into_iter()
                .map(|x| usize::try_from(x).unwrap_or(0))
                .collect()
        };
        let mut t = Table::open(path, TableOpenMode::Read).casa(path, || "open".into())?;
        let mut kws = t
            .get_keyword_record()
            .casa(path, || "read keywords".into())?;
        let par_type: String = kws
            .get_field("ParType")
            .casa(path, || "read keyword ParType".into())?;
        if par_type != "Complex" {
            return Err(format(format!("ParType {par_type:?} is not \"Complex\"")));
        }
        let ms_name: String = kws.get_field("MSName").unwrap_or_default();
        let n = t.n_rows() as usize;
        let col_f64 = |t: &mut Table, name: &str| -> Result<Vec<f64>, MsError> {
            t.get_col_as_vec(name)
                .casa(path, || format!("read column {name}"))
        };
        let col_i32 = |t: &mut Table, name: &str| -> Result<Vec<i32>, MsError> {
            t.get_col_as_vec(name)
                .casa(path, || format!("read column {name}"))
        };
        let time = col_f64(&mut t, "TIME")?;
        let interval = col_f64(&mut t, "INTERVAL")?;
        let spw = col_i32(&mut t, "SPECTRAL_WINDOW_ID")?;
        let ant1 = col_i32(&mut t, "ANTENNA1")?;
        let ant2 = col_i32(&mut t, "ANTENNA2")?;
        let field_id = col_i32(&mut t, "FIELD_ID")?;
        let scan = col_i32(&mut t, "SCAN_NUMBER")?;

        let mut spws: Vec<usize> = Vec::new();
        for (r, &s) in spw.iter().enumerate() {
            let s = usize::try_from(s)
                .map_err(|_| format(format!("row {r}: SPECTRAL_WINDOW_ID {s}")))?;
            if !spws.contains(&s) {
                spws.push(s);
            }
        }
        spws.sort_unstable();
        let mut solutions = Vec::new();
        for &s in &spws {
            let rows: Vec<usize> = (0..n).filter(|&r| spw[r] as usize == s).collect();
            let mut times: Vec<f64> = rows.iter().map(|&r| time[r]).collect();
            times.sort_by(f64::total_cmp);
            times.dedup();
            // cells are [nchan, nrec]: one channel for G, the window's for B
            let nchan = match cal_type {
                CalType::Gain => 1,
                CalType::Bandpass => *num_chan.get(s).ok_or_else(|| {
                    format(format!("SPECTRAL_WINDOW_ID {s} has no SPECTRAL_WINDOW row"))
                })?,
            };
            let first: Vec<Complex32> = t
                .get_cell_as_vec("CPARAM", rows[0] as u64)
                .casa(path, || format!("read CPARAM[{}]", rows[0]))?;
            if nchan == 0 || first.is_empty() || first.len() % nchan != 0 {
                return Err(format(format!(
                    "row {}: CPARAM has {} values for {nchan} channels",
                    rows[0],
                    first.len()
                )));
            }
            let nrec = first.len() / nchan;
            let dim = (times.len(), nant, nchan, nrec);
            let mut sol = CalSolutions {
                spw: s,
                times_mjd_s: times.clone(),
                interval_s: interval[rows[0]],
                gains: Array4::from_elem(dim, Complex32::new(1.0, 0.0)),
                errors: Array4::zeros(dim),
                flags: Array4::from_elem(dim, true),
                snr: Array4::zeros(dim),
            };
            for &r in &rows {
                let a = usize::try_from(ant1[r])
                    .ok()
                    .filter(|&a| a < nant)
                    .ok_or_else(|| format(format!("row {r}: ANTENNA1 {} of {nant}", ant1[r])))?;
                let ti = times
                    .binary_search_by(|x| x.total_cmp(&time[r]))
                    .map_err(|_| format(format!("row {r}: time not found")))?;
                let shaped = |v: Vec<_>, name: &str| {
                    Array2::from_shape_vec((nchan, nrec), v)
                        .map_err(|_| format(format!("row {r}: {name} is not [{nchan}, {nrec}]")))
                };
                let g = shaped(
                    t.get_cell_as_vec("CPARAM", r as u64)
                        .casa(path, || format!("read CPARAM[{r}]"))?,
                    "CPARAM",
                )?;
                let e = shaped_f32(&mut t, path, "PARAMERR", r, nchan, nrec)?;
                let q = shaped_f32(&mut t, path, "SNR", r, nchan, nrec)?;
                let f: Vec<bool> = t
                    .get_cell_as_vec("FLAG", r as u64)
                    .casa(path, || format!("read FLAG[{r}]"))?;
                let f = Array2::from_shape_vec((nchan, nrec), f)
                    .map_err(|_| format(format!("row {r}: FLAG is not [{nchan}, {nrec}]")))?;
                sol.gains.slice_mut(ndarray::s![ti, a, .., ..]).assign(&g);
                sol.errors.slice_mut(ndarray::s![ti, a, .., ..]).assign(&e);
                sol.flags.slice_mut(ndarray::s![ti, a, .., ..]).assign(&f);
                sol.snr.slice_mut(ndarray::s![ti, a, .., ..]).assign(&q);
            }
            solutions.push(sol);
        }
        Ok(CalTable {
            cal_type,
            ms_name,
            ref_antenna: ant2.first().and_then(|&a| usize::try_from(a).ok()),
            field_id: field_id.first().copied().unwrap_or(0),
            scan_number: scan.first().copied().unwrap_or(0),
            solutions,
        })
    }
}

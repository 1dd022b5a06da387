//! [`read_ms`]: a Measurement Set back into [`VisBlock`]s, one per spectral
//! window, in the VisBlock (UVH5) convention.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dsa110_astro::{PhaseCentre, VisBlock};
use ndarray::{Array2, Array3};
use num_complex::Complex32;
use rubbl_casatables::{CasaScalarData, Table, TableOpenMode};

use crate::error::CasaContext;
use crate::spec::{corr_to_aips, AntennaSpec, FieldSpec, SpwSpec};
use crate::writer::mjd_s_to_jd;
use crate::MsError;

/// One spectral window of an MS.
#[derive(Clone, Debug)]
pub struct MsSpw {
    /// The window as described by SPECTRAL_WINDOW.
    pub spw: SpwSpec,
    /// Its rows (channels as stored, i.e. ascending for our MSs).
    pub block: VisBlock,
}

/// What [`read_ms`] returns.
#[derive(Clone, Debug)]
pub struct MsContents {
    /// Per spectral window (SPECTRAL_WINDOW order) that has rows.
    pub spws: Vec<MsSpw>,
    /// The ANTENNA table.
    pub antennas: Vec<AntennaSpec>,
    /// FIELD row 0 (J2000).
    pub field: FieldSpec,
    /// AIPS polarisation codes of POLARIZATION row 0.
    pub pols: Vec<i32>,
    /// OBSERVATION `TELESCOPE_NAME`.
    pub telescope_name: String,
}

struct Tab {
    table: Table,
    path: PathBuf,
}

impl Tab {
    fn open(path: PathBuf) -> Result<Self, MsError> {
        let table = Table::open(&path, TableOpenMode::Read).casa(&path, || "open".into())?;
        Ok(Self { table, path })
    }
    fn nrows(&self) -> usize {
        self.table.n_rows() as usize
    }
    fn col<V: CasaScalarData>(&mut self, name: &str) -> Result<Vec<V>, MsError> {
        self.table
            .get_col_as_vec(name)
            .casa(&self.path, || format!("read column {name}"))
    }
    fn cell<V: CasaScalarData>(&mut self, name: &str, row: usize) -> Result<Vec<V>, MsError> {
        self.table
            .get_cell_as_vec(name, row as u64)
            .casa(&self.path, || format!("read {name}[{row}]"))
    }
    fn format(&self, reason: String) -> MsError {
        MsError::Format {
            path: self.path.clone(),
            reason,
        }
    }
}

/// Read a whole MS: metadata and, per spectral window, a [`VisBlock`] with
/// `uvw = −UVW`, `data = conj(DATA)`, `nsamples = WEIGHT_SPECTRUM` (or
/// `WEIGHT` broadcast over channels if absent), channels as stored.
///
/// Each window's rows must form a full (time × baseline) grid with the same
/// baselines at every time; they may be stored in any order. Times are sorted;
/// baselines keep the order of the window's first integration.
pub fn read_ms(path: &Path) -> Result<MsContents, MsError> {
    let antennas = read_antennas(path)?;
    let field = read_field(path)?;
    let pols = read_pols(path)?;
    let spw_specs = read_spws(path)?;
    let ddid_to_spw = read_ddids(path)?;
    let telescope_name = {
        let mut t = Tab::open(path.join("OBSERVATION"))?;
        t.col::<String>("TELESCOPE_NAME")?
            .into_iter()
            .next()
            .unwrap_or_default()
    };

    let mut main = Tab::open(path.to_path_buf())?;
    let time = main.col::<f64>("TIME")?;
    let exposure = main.col::<f64>("EXPOSURE")?;
    let ant1 = main.col::<i32>("ANTENNA1")?;
    let ant2 = main.col::<i32>("ANTENNA2")?;
    let ddid = main.col::<i32>("DATA_DESC_ID")?;
    let has_wspec = main
        .table
        .column_names()
        .casa(path, || "list columns".into())?
        .iter()
        .any(|c| c == "WEIGHT_SPECTRUM");

    // rows of each window
    let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); spw_specs.len()];
    for (r, &d) in ddid.iter().enumerate() {
        let spw = usize::try_from(d)
            .ok()
            .and_then(|d| ddid_to_spw.get(d).copied())
            .filter(|&s| s < spw_specs.len())
            .ok_or_else(|| main.format(format!("row {r} has DATA_DESC_ID {d} with no window")))?;
        rows_of[spw].push(r);
    }

    let phase_centre = PhaseCentre::Icrs {
        name: field.name.clone(),
        ra_rad: field.ra_rad,
        dec_rad: field.dec_rad,
    };
    let npol = pols.len();
    let mut spws = Vec::new();
    for (s, rows) in rows_of.iter().enumerate() {
        if rows.is_empty() {
            continue;
        }
        let spec = &spw_specs[s];
        let nchan = spec.nchan();
        // time grid
        let mut times: Vec<f64> = rows.iter().map(|&r| time[r]).collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        let t_index: HashMap<u64, usize> = times
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_bits(), i))
            .collect();
        // baselines in first-integration order
        let t_first = times[0];
        let mut bl_index: HashMap<(i32, i32), usize> = HashMap::new();
        let (mut a1v, mut a2v) = (Vec::new(), Vec::new());
        for &r in rows.iter().filter(|&&r| time[r] == t_first) {
            let key = (ant1[r], ant2[r]);
            if bl_index.contains_key(&key) {
                return Err(main.format(format!("spw {s}: baseline {key:?} repeated at one time")));
            }
            bl_index.insert(key, a1v.len());
            a1v.push(ant1[r] as u32);
            a2v.push(ant2[r] as u32);
        }
        let nbls = a1v.len();
        if nbls * times.len() != rows.len() {
            return Err(main.format(format!(
                "spw {s}: {} rows do not form {} times × {nbls} baselines",
                rows.len(),
                times.len()
            )));
        }
        let nrows = rows.len();
        let mut uvw = Array2::<f64>::zeros((nrows, 3));
        let mut data = Array3::<Complex32>::zeros((nrows, nchan, npol));
        let mut flags = Array3::<bool>::from_elem((nrows, nchan, npol), false);
        let mut nsamples = Array3::<f32>::zeros((nrows, nchan, npol));
        let mut seen = vec![false; nrows];
        let cell_len = nchan * npol;
        for &r in rows {
            let bl = bl_index.get(&(ant1[r], ant2[r])).copied().ok_or_else(|| {
                main.format(format!(
                    "spw {s}: baseline ({}, {}) missing from the first integration",
                    ant1[r], ant2[r]
                ))
            })?;
            let t = t_index[&time[r].to_bits()];
            let out = t * nbls + bl;
            if seen[out] {
                return Err(main.format(format!(
                    "spw {s}: duplicate row for time {t}, baseline {bl}"
                )));
            }
            seen[out] = true;
            let u = main.cell::<f64>("UVW", r)?;
            let d = main.cell::<Complex32>("DATA", r)?;
            let f = main.cell::<bool>("FLAG", r)?;
            let w = if has_wspec {
                main.cell::<f32>("WEIGHT_SPECTRUM", r)?
            } else {
                let w = main.cell::<f32>("WEIGHT", r)?;
                (0..nchan).flat_map(|_| w.iter().copied()).collect()
            };
            if u.len() != 3 || d.len() != cell_len || f.len() != cell_len || w.len() != cell_len {
                return Err(main.format(format!(
                    "row {r}: cells do not have shape [{nchan}, {npol}]"
                )));
            }
            for k in 0..3 {
                uvw[[out, k]] = -u[k];
            }
            let (dd, ff, ww) = (
                data.index_axis_mut(ndarray::Axis(0), out),
                flags.index_axis_mut(ndarray::Axis(0), out),
                nsamples.index_axis_mut(ndarray::Axis(0), out),
            );
            // row-major [nchan, npol] cells
            for ((o, i), ((fo, fi), (wo, wi))) in dd
                .into_iter()
                .zip(&d)
                .zip(ff.into_iter().zip(&f).zip(ww.into_iter().zip(&w)))
            {
                *o = i.conj();
                *fo = *fi;
                *wo = *wi;
            }
        }
        let block = VisBlock {
            times_jd_utc: times.iter().map(|&t| mjd_s_to_jd(t)).collect(),
            int_time_s: exposure[rows[0]],
            ant1: a1v,
            ant2: a2v,
            freqs_hz: spec.freqs_hz.clone(),
            chan_width_hz: spec.chan_width_hz,
            pols: pols.clone(),
            uvw_m: uvw,
            data,
            flags,
            nsamples,
            phase_centre: phase_centre.clone(),
        };
        spws.push(MsSpw {
            spw: spec.clone(),
            block,
        });
    }
    Ok(MsContents {
        spws,
        antennas,
        field,
        pols,
        telescope_name,
    })
}

pub(crate) fn read_antennas(ms: &Path) -> Result<Vec<AntennaSpec>, MsError> {
    let mut t = Tab::open(ms.join("ANTENNA"))?;
    let names = t.col::<String>("NAME")?;
    let stations = t.col::<String>("STATION")?;
    let diam = t.col::<f64>("DISH_DIAMETER")?;
    let mounts = t.col::<String>("MOUNT")?;
    let mut out = Vec::with_capacity(t.nrows());
    for i in 0..t.nrows() {
        let p = t.cell::<f64>("POSITION", i)?;
        if p.len() != 3 {
            return Err(t.format(format!("POSITION[{i}] has {} elements", p.len())));
        }
        out.push(AntennaSpec {
            name: names[i].clone(),
            station: stations[i].clone(),
            itrf_m: [p[0], p[1], p[2]],
            diameter_m: diam[i],
            mount: mounts[i].clone(),
        });
    }
    Ok(out)
}

pub(crate) fn read_field(ms: &Path) -> Result<FieldSpec, MsError> {
    let mut t = Tab::open(ms.join("FIELD"))?;
    if t.nrows() == 0 {
        return Err(t.format("FIELD has no rows".into()));
    }
    let names = t.col::<String>("NAME")?;
    let dir = t.cell::<f64>("PHASE_DIR", 0)?;
    if dir.len() != 2 {
        return Err(t.format(format!(
            "PHASE_DIR has {} values (polynomial phase centres are unsupported)",
            dir.len()
        )));
    }
    Ok(FieldSpec {
        name: names[0].clone(),
        ra_rad: dir[0],
        dec_rad: dir[1],
    })
}

pub(crate) fn read_pols(ms: &Path) -> Result<Vec<i32>, MsError> {
    let mut t = Tab::open(ms.join("POLARIZATION"))?;
    if t.nrows() != 1 {
        return Err(t.format(format!(
            "{} POLARIZATION rows (exactly one is supported)",
            t.nrows()
        )));
    }
    let types = t.cell::<i32>("CORR_TYPE", 0)?;
    types
        .iter()
        .map(|&c| corr_to_aips(c).ok_or_else(|| t.format(format!("CORR_TYPE {c} is not linear"))))
        .collect()
}

pub(crate) fn read_spws(ms: &Path) -> Result<Vec<SpwSpec>, MsError> {
    let mut t = Tab::open(ms.join("SPECTRAL_WINDOW"))?;
    let names = t.col::<String>("NAME")?;
    let mut out = Vec::with_capacity(t.nrows());
    for (i, name) in names.into_iter().enumerate() {
        let freqs_hz = t.cell::<f64>("CHAN_FREQ", i)?;
        let widths = t.cell::<f64>("CHAN_WIDTH", i)?;
        out.push(SpwSpec {
            name,
            freqs_hz,
            chan_width_hz: widths.first().map_or(0.0, |w| w.abs()),
        });
    }
    Ok(out)
}

pub(crate) fn read_ddids(ms: &Path) -> Result<Vec<usize>, MsError> {
    let mut t = Tab::open(ms.join("DATA_DESCRIPTION"))?;
    let spw = t.col::<i32>("SPECTRAL_WINDOW_ID")?;
    let pol = t.col::<i32>("POLARIZATION_ID")?;
    if pol.iter().any(|&p| p != 0) {
        return Err(t.format("DATA_DESCRIPTION refers to a second polarisation setup".into()));
    }
    Ok(spw
        .iter()
        .map(|&s| usize::try_from(s).unwrap_or(usize::MAX))
        .collect())
}

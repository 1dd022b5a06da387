//! The fast metadata peek: everything in `Header` plus the shapes, types and
//! chunking of the `Data` datasets, without reading any visibilities.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use dsa110_astro::PhaseCentre;
use hdf5::types::{FloatSize, TypeDescriptor};

use crate::error::{IngestError, Result};
use crate::h5::{float_width, Ds, H5File, Want};

/// Width of a floating-point dataset as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatWidth {
    /// 32-bit (the correlator's `uvw_array`, `visdata`, `nsamples`).
    F32,
    /// 64-bit (pyuvdata's `uvw_array`).
    F64,
}

impl FloatWidth {
    fn of(s: FloatSize) -> Self {
        match s {
            FloatSize::U4 => FloatWidth::F32,
            _ => FloatWidth::F64,
        }
    }
    /// Bytes per value.
    pub fn bytes(self) -> usize {
        match self {
            FloatWidth::F32 => 4,
            FloatWidth::F64 => 8,
        }
    }
}

/// Shape convention of `Data/visdata`, `flags` and `nsamples`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisLayout {
    /// `(Nblts, 1, Nfreqs, Npols)` with `freq_array` `(1, Nfreqs)`: the correlator and
    /// pyuvdata < 3.
    WithSpwAxis,
    /// `(Nblts, Nfreqs, Npols)` with `freq_array` `(Nfreqs,)`: pyuvdata ≥ 3.
    NoSpwAxis,
}

/// How the `flags` dataset stores booleans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagStorage {
    /// h5py's bool: an enum on int8 with FALSE = 0, TRUE = 1.
    BoolEnum,
    /// A plain 8-bit integer (non-zero = flagged).
    Int8,
}

/// Storage facts of one `Data` dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct DataStorage {
    /// Shape as stored.
    pub shape: Vec<usize>,
    /// Chunk shape, if chunked.
    pub chunks: Option<Vec<usize>>,
    /// Whether any filter (LZF, deflate, ...) is applied.
    pub filtered: bool,
}

/// Telescope facts from the header.
#[derive(Clone, Debug, PartialEq)]
pub struct TelescopeInfo {
    /// `telescope_name` (`OVRO_MMA` for the correlator).
    pub name: String,
    /// `instrument` (`DSA`), if present.
    pub instrument: Option<String>,
    /// Geodetic latitude (deg).
    pub latitude_deg: f64,
    /// Longitude (deg, east positive).
    pub longitude_deg: f64,
    /// Height (m).
    pub altitude_m: f64,
}

/// Who wrote the file, as far as the header tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFlavour {
    /// The DSA-110 correlator (or its simulator): no phase-centre catalogue,
    /// `phase_type = drift` with `extra_keywords/phase_center_dec`.
    Correlator,
    /// Anything else UVH5 (pyuvdata's own output).
    Uvh5,
}

/// Everything [`peek`] learns about a subband file.
#[derive(Clone, Debug, PartialEq)]
pub struct SubbandMeta {
    /// The file.
    pub path: PathBuf,
    /// Size of the file when it was opened (bytes).
    pub file_bytes: u64,
    /// Who wrote it.
    pub flavour: FileFlavour,
    /// `Header/Ntimes`.
    pub ntimes: usize,
    /// `Header/Nbls`.
    pub nbls: usize,
    /// `Header/Nblts`.
    pub nblts: usize,
    /// `Header/Nfreqs`.
    pub nfreqs: usize,
    /// `Header/Npols`.
    pub npols: usize,
    /// `Header/Nspws` (always 1 here).
    pub nspws: usize,
    /// `Header/Nants_data`.
    pub nants_data: usize,
    /// `Header/Nants_telescope`.
    pub nants_telescope: usize,
    /// Unique integration centres (UTC JD), in file order.
    pub times_jd_utc: Vec<f64>,
    /// Integration time (s), from the first blt.
    pub int_time_s: f64,
    /// Channel centres (Hz) as stored.
    pub freqs_hz: Vec<f64>,
    /// Channel width (Hz), from the first channel.
    pub chan_width_hz: f64,
    /// Polarisation codes.
    pub pols: Vec<i32>,
    /// `Header/phase_type` if present (`drift`, `phased`), else `None` (pyuvdata ≥ 3).
    pub phase_type: Option<String>,
    /// Phasing of the data.
    pub phase_centre: PhaseCentre,
    /// `extra_keywords/phase_center_dec` (rad) if present: the correlator's pointing.
    pub pointing_dec_rad: Option<f64>,
    /// First antenna of each baseline of the first integration, as an index into the
    /// antenna table (`antenna_numbers[ant1[b]]` is the antenna number in the file).
    pub ant1: Vec<u32>,
    /// Second antenna of each baseline (index into the antenna table).
    pub ant2: Vec<u32>,
    /// `antenna_names`.
    pub antenna_names: Vec<String>,
    /// `antenna_numbers`.
    pub antenna_numbers: Vec<i64>,
    /// `antenna_positions`: ITRF offsets from the telescope location (m).
    pub antenna_positions_m: Vec<[f64; 3]>,
    /// `antenna_diameters` (m), if present.
    pub antenna_diameters_m: Option<Vec<f64>>,
    /// Telescope name and location.
    pub telescope: TelescopeInfo,
    /// Stored width of `uvw_array`.
    pub uvw_width: FloatWidth,
    /// Stored width of the `visdata` compound's members.
    pub vis_width: FloatWidth,
    /// Stored width of `nsamples`.
    pub nsamples_width: FloatWidth,
    /// How `flags` stores booleans.
    pub flag_storage: FlagStorage,
    /// Whether `Data` arrays carry the spw axis.
    pub vis_layout: VisLayout,
    /// `Data/visdata` storage.
    pub visdata: DataStorage,
    /// `Data/flags` storage.
    pub flags: DataStorage,
    /// `Data/nsamples` storage.
    pub nsamples: DataStorage,
}

impl SubbandMeta {
    /// Bytes of one integration's visibilities in memory (`Complex32`).
    pub fn vis_bytes_per_time(&self) -> u64 {
        (self.nbls * self.nfreqs * self.npols * 8) as u64
    }

    /// Integrations per `Data/visdata` chunk when chunks hold whole integrations.
    pub fn times_per_chunk(&self) -> Option<usize> {
        let rows = *self.visdata.chunks.as_ref()?.first()?;
        if self.nbls > 0 && rows >= self.nbls && rows % self.nbls == 0 {
            Some(rows / self.nbls)
        } else {
            None
        }
    }

    /// A block length (integrations) for [`crate::SubbandReader::blocks`] whose
    /// visibilities fit in about `target_bytes`, rounded down to whole chunks when the
    /// chunks hold whole integrations. At least 1.
    pub fn suggested_block_times(&self, target_bytes: u64) -> usize {
        let per = self.vis_bytes_per_time().max(1);
        let mut nt = usize::try_from(target_bytes / per)
            .unwrap_or(usize::MAX)
            .max(1);
        if let Some(tpc) = self.times_per_chunk() {
            if nt >= tpc {
                nt -= nt % tpc;
            }
        }
        nt.min(self.ntimes.max(1))
    }
}

/// Bytes of the file's visibilities once read (`Nblts × Nfreqs × Npols × 8`, the
/// size of `Complex32`; equal to the stored size for the correlator's complex64).
pub fn subband_visibility_bytes(meta: &SubbandMeta) -> u64 {
    meta.nblts as u64 * meta.nfreqs as u64 * meta.npols as u64 * 8
}

/// Read a file's metadata without touching the visibilities.
pub fn peek(path: &Path) -> Result<SubbandMeta> {
    let f = H5File::open(path)?;
    peek_open(&f)
}

/// Tolerance for "same integration" in `time_array` (days): 1 ms.
const SAME_TIME_D: f64 = 1e-3 / 86_400.0;

/// Antenna number → index in the antenna table.
struct AntennaIndex {
    /// `(number, index)` sorted by number.
    sorted: Vec<(i64, u32)>,
    /// Index by `number − first`, `u32::MAX` for none, when the span is small.
    dense: Option<(i64, Vec<u32>)>,
}

impl AntennaIndex {
    /// Largest number span given a dense table.
    const MAX_DENSE_SPAN: i64 = 1 << 16;

    fn new(sorted: Vec<(i64, u32)>) -> Self {
        let dense = match (sorted.first(), sorted.last()) {
            (Some(&(lo, _)), Some(&(hi, _))) if hi.saturating_sub(lo) < Self::MAX_DENSE_SPAN => {
                let mut table = vec![u32::MAX; (hi - lo + 1) as usize];
                for &(n, i) in &sorted {
                    table[(n - lo) as usize] = i;
                }
                Some((lo, table))
            }
            _ => None,
        };
        Self { sorted, dense }
    }

    fn get(&self, number: i64) -> Option<u32> {
        match &self.dense {
            Some((lo, table)) => usize::try_from(number.checked_sub(*lo)?)
                .ok()
                .and_then(|k| table.get(k))
                .copied()
                .filter(|&i| i != u32::MAX),
            None => self
                .sorted
                .binary_search_by_key(&number, |&(n, _)| n)
                .ok()
                .map(|k| self.sorted[k].1),
        }
    }
}

pub(crate) fn peek_open(f: &H5File) -> Result<SubbandMeta> {
    let path = f.path.clone();
    let hdr = f.group("Header")?;
    let data = f.group("Data")?;
    let h = |name: &str| f.dataset(&hdr, "Header", name);

    // ---- sizes
    let ntimes = h("Ntimes")?.scalar_count()?;
    let nbls = h("Nbls")?.scalar_count()?;
    let nblts = h("Nblts")?.scalar_count()?;
    let nfreqs = h("Nfreqs")?.scalar_count()?;
    let npols = h("Npols")?.scalar_count()?;
    let nspws = h("Nspws")?.scalar_count()?;
    let nants_data = h("Nants_data")?.scalar_count()?;
    let nants_telescope = h("Nants_telescope")?.scalar_count()?;

    let inconsistent = |dataset: &str, reason: String| IngestError::Inconsistent {
        path: path.clone(),
        dataset: dataset.to_string(),
        reason,
    };
    if nspws != 1 {
        return Err(IngestError::Unsupported {
            path: path.clone(),
            dataset: "Header/Nspws".into(),
            reason: format!("Nspws = {nspws}; only single-spw files are read"),
        });
    }

    // ---- time
    let time_ds = h("time_array")?;
    let time_array = time_ds.read_f64s(Want::Float)?;
    if time_array.is_empty() {
        return Err(IngestError::EmptyDataset {
            path: path.clone(),
            dataset: time_ds.name.clone(),
        });
    }
    if nbls.checked_mul(ntimes) != Some(nblts) {
        return Err(inconsistent(
            "Header/Nblts",
            format!("Nblts = {nblts} but Nbls × Ntimes = {nbls} × {ntimes}"),
        ));
    }
    if nbls == 0 {
        return Err(IngestError::EmptyDataset {
            path: path.clone(),
            dataset: "Header/Nbls".into(),
        });
    }
    expect_len(&time_ds, time_array.len(), nblts, "Nblts")?;
    if let Some(i) = time_array.iter().position(|t| !t.is_finite()) {
        return Err(IngestError::NonFinite {
            path: path.clone(),
            dataset: time_ds.name.clone(),
            index: i,
        });
    }
    let int_ds = h("integration_time")?;
    let int_time = int_ds.read_f64s(Want::Number)?;
    if int_time.len() != 1 {
        expect_len(&int_ds, int_time.len(), nblts, "Nblts (or 1)")?;
    }

    // ---- frequencies
    let freq_ds = h("freq_array")?;
    let fshape = freq_ds.shape()?;
    if fshape != [1, nfreqs] && fshape != [nfreqs] {
        return Err(freq_ds.shape_err(format!("(1, {nfreqs}) or ({nfreqs},)"), fshape));
    }
    let freqs_hz = freq_ds.read_f64s(Want::Float)?;
    let cw_ds = h("channel_width")?;
    let cw = cw_ds.read_f64s(Want::Number)?;
    if cw.len() != 1 {
        expect_len(&cw_ds, cw.len(), nfreqs, "Nfreqs (or 1)")?;
    }

    // ---- polarisations
    let pol_ds = h("polarization_array")?;
    let pols_raw = pol_ds.read_i64s()?;
    expect_len(&pol_ds, pols_raw.len(), npols, "Npols")?;
    let mut pols = Vec::with_capacity(npols);
    for &p in &pols_raw {
        pols.push(i32::try_from(p).map_err(|_| IngestError::BadPolarization {
            path: path.clone(),
            dataset: pol_ds.name.clone(),
            code: p,
        })?);
    }

    // ---- antennas
    let num_ds = h("antenna_numbers")?;
    let antenna_numbers = num_ds.read_i64s()?;
    expect_len(
        &num_ds,
        antenna_numbers.len(),
        nants_telescope,
        "Nants_telescope",
    )?;
    let names_ds = h("antenna_names")?;
    let antenna_names = names_ds.read_strings()?;
    expect_len(
        &names_ds,
        antenna_names.len(),
        nants_telescope,
        "Nants_telescope",
    )?;
    let pos_ds = h("antenna_positions")?;
    let pshape = pos_ds.shape()?;
    if pshape != [nants_telescope, 3] {
        return Err(pos_ds.shape_err(format!("({nants_telescope}, 3)"), pshape));
    }
    let pos = pos_ds.read_f64s(Want::Number)?;
    let antenna_positions_m: Vec<[f64; 3]> =
        pos.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    let antenna_diameters_m = match f.opt_dataset(&hdr, "Header", "antenna_diameters")? {
        Some(d) => {
            let v = d.read_f64s(Want::Number)?;
            if v.len() != 1 {
                expect_len(&d, v.len(), nants_telescope, "Nants_telescope (or 1)")?;
            }
            Some(v)
        }
        None => None,
    };
    // antenna number → index: a dense table when the numbers span a small range
    // (always, for real arrays), else binary search; a hash per row costs ~10×
    // more over the 10^5 rows of a file
    let mut sorted: Vec<(i64, u32)> = Vec::with_capacity(antenna_numbers.len());
    for (i, &n) in antenna_numbers.iter().enumerate() {
        let idx = u32::try_from(i)
            .map_err(|_| inconsistent(&num_ds.name, "more than 2^32 antennas".to_string()))?;
        sorted.push((n, idx));
    }
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(inconsistent(
            &num_ds.name,
            format!("antenna number {} appears twice", w[0].0),
        ));
    }
    let index_of = AntennaIndex::new(sorted);

    // ---- baselines
    let a1_ds = h("ant_1_array")?;
    let a2_ds = h("ant_2_array")?;
    let a1_raw = a1_ds.read_i64s()?;
    let a2_raw = a2_ds.read_i64s()?;
    expect_len(&a1_ds, a1_raw.len(), nblts, "Nblts")?;
    expect_len(&a2_ds, a2_raw.len(), nblts, "Nblts")?;
    let map_ants = |ds: &Ds<'_>, raw: &[i64]| -> Result<Vec<u32>> {
        raw.iter()
            .enumerate()
            .map(|(row, &a)| {
                index_of
                    .get(a)
                    .ok_or_else(|| IngestError::AntennaOutOfRange {
                        path: path.clone(),
                        dataset: ds.name.clone(),
                        row,
                        antenna: a,
                    })
            })
            .collect()
    };
    let a1 = map_ants(&a1_ds, &a1_raw)?;
    let a2 = map_ants(&a2_ds, &a2_raw)?;
    let times_jd_utc = check_rectangular(&path, &time_array, &a1, &a2, nbls, ntimes)?;
    let ant1 = a1[..nbls].to_vec();
    let ant2 = a2[..nbls].to_vec();
    let distinct: HashSet<u32> = ant1.iter().chain(ant2.iter()).copied().collect();
    if distinct.len() != nants_data {
        return Err(inconsistent(
            "Header/Nants_data",
            format!(
                "Nants_data = {nants_data} but the baselines use {} antennas",
                distinct.len()
            ),
        ));
    }

    // ---- uvw
    let uvw_ds = h("uvw_array")?;
    let ushape = uvw_ds.shape()?;
    if ushape != [nblts, 3] {
        return Err(uvw_ds.shape_err(format!("({nblts}, 3)"), ushape));
    }
    let ut = uvw_ds.descriptor()?;
    let uvw_width = float_width(&ut)
        .map(FloatWidth::of)
        .ok_or_else(|| uvw_ds.dtype_err("float32 or float64", &ut))?;

    // ---- telescope
    let telescope = TelescopeInfo {
        name: h("telescope_name")?.read_string()?,
        instrument: match f.opt_dataset(&hdr, "Header", "instrument")? {
            Some(d) => Some(d.read_string()?),
            None => None,
        },
        latitude_deg: h("latitude")?.scalar_f64(Want::Number)?,
        longitude_deg: h("longitude")?.scalar_f64(Want::Number)?,
        altitude_m: h("altitude")?.scalar_f64(Want::Number)?,
    };

    // ---- phasing
    let (phase_type, phase_centre, pointing_dec_rad, flavour) = read_phasing(f, &hdr, nblts)?;

    // ---- data datasets
    let vis_ds = f.dataset(&data, "Data", "visdata")?;
    let flags_ds = f.dataset(&data, "Data", "flags")?;
    let ns_ds = f.dataset(&data, "Data", "nsamples")?;
    let with_spw = vec![nblts, 1, nfreqs, npols];
    let no_spw = vec![nblts, nfreqs, npols];
    let vshape = vis_ds.shape()?;
    let vis_layout = if vshape == with_spw {
        VisLayout::WithSpwAxis
    } else if vshape == no_spw {
        VisLayout::NoSpwAxis
    } else {
        return Err(vis_ds.shape_err(
            format!("({nblts}, 1, {nfreqs}, {npols}) or ({nblts}, {nfreqs}, {npols})"),
            vshape,
        ));
    };
    let want_shape = match vis_layout {
        VisLayout::WithSpwAxis => with_spw,
        VisLayout::NoSpwAxis => no_spw,
    };
    let want_str = format!("{want_shape:?} (as Data/visdata)");
    for ds in [&flags_ds, &ns_ds] {
        let s = ds.shape()?;
        if s != want_shape {
            return Err(ds.shape_err(want_str.clone(), s));
        }
    }
    let vt = vis_ds.descriptor()?;
    let vis_width = complex_width(&vt)
        .ok_or_else(|| vis_ds.dtype_err("complex compound {r, i} of float32 or float64", &vt))?;
    let ft = flags_ds.descriptor()?;
    let flag_storage = match ft {
        TypeDescriptor::Boolean => FlagStorage::BoolEnum,
        TypeDescriptor::Integer(hdf5::types::IntSize::U1)
        | TypeDescriptor::Unsigned(hdf5::types::IntSize::U1) => FlagStorage::Int8,
        _ => return Err(flags_ds.dtype_err("bool", &ft)),
    };
    let nt = ns_ds.descriptor()?;
    let nsamples_width = float_width(&nt)
        .map(FloatWidth::of)
        .ok_or_else(|| ns_ds.dtype_err("float32 or float64", &nt))?;

    Ok(SubbandMeta {
        path: path.clone(),
        file_bytes: f.file_len,
        flavour,
        ntimes,
        nbls,
        nblts,
        nfreqs,
        npols,
        nspws,
        nants_data,
        nants_telescope,
        times_jd_utc,
        int_time_s: int_time.first().copied().unwrap_or(f64::NAN),
        freqs_hz,
        chan_width_hz: cw.first().copied().unwrap_or(f64::NAN),
        pols,
        phase_type,
        phase_centre,
        pointing_dec_rad,
        ant1,
        ant2,
        antenna_names,
        antenna_numbers,
        antenna_positions_m,
        antenna_diameters_m,
        telescope,
        uvw_width,
        vis_width,
        nsamples_width,
        flag_storage,
        vis_layout,
        visdata: storage(&vis_ds)?,
        flags: storage(&flags_ds)?,
        nsamples: storage(&ns_ds)?,
    })
}

fn storage(ds: &Ds<'_>) -> Result<DataStorage> {
    Ok(DataStorage {
        shape: ds.shape()?,
        chunks: ds.ds.chunk(),
        filtered: !ds.ds.filters().is_empty(),
    })
}

fn complex_width(t: &TypeDescriptor) -> Option<FloatWidth> {
    let TypeDescriptor::Compound(c) = t else {
        return None;
    };
    let mut fields: Vec<_> = c.fields.iter().collect();
    fields.sort_by_key(|f| f.index);
    match fields.as_slice() {
        [r, i] if r.name == "r" && i.name == "i" && r.ty == i.ty => {
            float_width(&r.ty).map(FloatWidth::of)
        }
        _ => None,
    }
}

fn expect_len(ds: &Ds<'_>, got: usize, want: usize, what: &str) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(IngestError::Inconsistent {
            path: ds.path().to_path_buf(),
            dataset: ds.name.clone(),
            reason: format!("length {got}, expected {what} = {want}"),
        })
    }
}

/// Check that every integration lists the same baselines in the same order, at one
/// time, with times increasing; return the unique times.
fn check_rectangular(
    path: &Path,
    time: &[f64],
    a1: &[u32],
    a2: &[u32],
    nbls: usize,
    ntimes: usize,
) -> Result<Vec<f64>> {
    let err = |dataset: &str, reason: String| IngestError::NotRectangular {
        path: path.to_path_buf(),
        dataset: dataset.to_string(),
        reason,
    };
    let mut times = Vec::with_capacity(ntimes);
    for t in 0..ntimes {
        let rows = t * nbls..(t + 1) * nbls;
        let t0 = time[rows.start];
        if let Some(k) = time[rows.clone()]
            .iter()
            .position(|&x| (x - t0).abs() > SAME_TIME_D)
        {
            return Err(err(
                "Header/time_array",
                format!(
                    "row {} has time {} but integration {t} started at {t0}",
                    rows.start + k,
                    time[rows.start + k]
                ),
            ));
        }
        if let Some(&prev) = times.last() {
            if t0 - prev <= SAME_TIME_D {
                return Err(err(
                    "Header/time_array",
                    format!("integration {t} at {t0} does not follow {prev}"),
                ));
            }
        }
        times.push(t0);
        if t > 0 {
            for (name, arr) in [("Header/ant_1_array", a1), ("Header/ant_2_array", a2)] {
                if let Some(k) = (0..nbls).find(|&b| arr[rows.start + b] != arr[b]) {
                    return Err(err(
                        name,
                        format!(
                            "row {} (integration {t}, baseline {k}) differs from integration 0",
                            rows.start + k
                        ),
                    ));
                }
            }
        }
    }
    // the first integration must not list a baseline twice
    let mut seen = HashSet::with_capacity(nbls);
    for b in 0..nbls {
        if !seen.insert((a1[b], a2[b])) {
            return Err(err(
                "Header/ant_1_array",
                format!("baseline {b} repeats an earlier baseline of integration 0"),
            ));
        }
    }
    Ok(times)
}

/// Phase type, phase centre, pointing dec and flavour.
fn read_phasing(
    f: &H5File,
    hdr: &hdf5::Group,
    nblts: usize,
) -> Result<(Option<String>, PhaseCentre, Option<f64>, FileFlavour)> {
    let path = &f.path;
    let unsupported = |dataset: &str, reason: String| IngestError::Unsupported {
        path: path.clone(),
        dataset: dataset.to_string(),
        reason,
    };
    let phase_type = match f.opt_dataset(hdr, "Header", "phase_type")? {
        Some(d) => Some(d.read_string()?),
        None => None,
    };
    let pointing_dec_rad = match f.opt_group(hdr, "Header", "extra_keywords")? {
        Some(ek) => match f.opt_dataset(&ek, "Header/extra_keywords", "phase_center_dec")? {
            Some(d) => Some(d.scalar_f64(Want::Number)?),
            None => None,
        },
        None => None,
    };

    if let Some(cat) = f.opt_group(hdr, "Header", "phase_center_catalog")? {
        let id = match f.opt_dataset(hdr, "Header", "phase_center_id_array")? {
            Some(d) => {
                let ids = d.read_i64s()?;
                expect_len(&d, ids.len(), nblts, "Nblts")?;
                let first = ids.first().copied().unwrap_or(0);
                if ids.iter().any(|&x| x != first) {
                    return Err(unsupported(
                        &d.name,
                        "more than one phase centre in the file".into(),
                    ));
                }
                Some(first)
            }
            None => None,
        };
        let pc = read_catalog(f, &cat, id)?;
        return Ok((phase_type, pc, pointing_dec_rad, FileFlavour::Uvh5));
    }

    let Some(pt) = phase_type.clone() else {
        return Err(IngestError::MissingDataset {
            path: path.clone(),
            dataset: "Header/phase_type (or Header/phase_center_catalog)".into(),
        });
    };
    match pt.as_str() {
        "drift" => match pointing_dec_rad {
            Some(dec_rad) => Ok((
                phase_type,
                PhaseCentre::MeridianDrift { dec_rad },
                pointing_dec_rad,
                FileFlavour::Correlator,
            )),
            None => Ok((
                phase_type,
                PhaseCentre::Unprojected,
                None,
                FileFlavour::Uvh5,
            )),
        },
        "phased" => {
            let h = |n: &str| f.dataset(hdr, "Header", n);
            let ra_rad = h("phase_center_ra")?.scalar_f64(Want::Number)?;
            let dec_rad = h("phase_center_dec")?.scalar_f64(Want::Number)?;
            let name = match f.opt_dataset(hdr, "Header", "object_name")? {
                Some(d) => d.read_string()?,
                None => String::new(),
            };
            Ok((
                phase_type,
                PhaseCentre::Icrs {
                    name,
                    ra_rad,
                    dec_rad,
                },
                pointing_dec_rad,
                FileFlavour::Uvh5,
            ))
        }
        other => Err(unsupported(
            "Header/phase_type",
            format!("phase_type {other:?} (expected drift or phased)"),
        )),
    }
}

/// One entry of pyuvdata's `Header/phase_center_catalog` (group per id).
fn read_catalog(f: &H5File, cat: &hdf5::Group, id: Option<i64>) -> Result<PhaseCentre> {
    let path = &f.path;
    let cname = "Header/phase_center_catalog";
    let members = cat
        .member_names()
        .map_err(|e| crate::h5::h5_err(path, cname, &e))?;
    let key = match id {
        Some(id) => id.to_string(),
        None if members.len() == 1 => members[0].clone(),
        None => {
            return Err(IngestError::MissingDataset {
                path: path.clone(),
                dataset: "Header/phase_center_id_array".into(),
            })
        }
    };
    let Some(entry) = f.opt_group(cat, cname, &key)? else {
        return Err(IngestError::Unsupported {
            path: path.clone(),
            dataset: format!("{cname}/{key}"),
            reason: "catalogue entry missing or in the old JSON layout".into(),
        });
    };
    let ename = format!("{cname}/{key}");
    let e = |n: &str| f.dataset(&entry, &ename, n);
    let cat_type = e("cat_type")?.read_string()?;
    let name = match f.opt_dataset(&entry, &ename, "cat_name")? {
        Some(d) => d.read_string()?,
        None => String::new(),
    };
    match cat_type.as_str() {
        "unprojected" => Ok(PhaseCentre::Unprojected),
        "sidereal" => {
            let frame = match f.opt_dataset(&entry, &ename, "cat_frame")? {
                Some(d) => d.read_string()?,
                None => "icrs".to_string(),
            };
            if !matches!(frame.as_str(), "icrs" | "fk5" | "gcrs") {
                return Err(IngestError::Unsupported {
                    path: path.clone(),
                    dataset: format!("{ename}/cat_frame"),
                    reason: format!("sidereal frame {frame:?} (expected icrs)"),
                });
            }
            let ra_rad = e("cat_lon")?.scalar_f64(Want::Number)?;
            let dec_rad = e("cat_lat")?.scalar_f64(Want::Number)?;
            Ok(PhaseCentre::Icrs {
                name,
                ra_rad,
                dec_rad,
            })
        }
        other => Err(IngestError::Unsupported {
            path: path.clone(),
            dataset: format!("{ename}/cat_type"),
            reason: format!("phase-centre type {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::AntennaIndex;

    #[test]
    fn antenna_index_dense_and_sparse_agree() {
        let numbers = [(3i64, 0u32), (7, 1), (117, 2)];
        let dense = AntennaIndex::new(numbers.to_vec());
        assert!(dense.dense.is_some());
        let far = [(-5i64, 0u32), (7, 1), (1 << 40, 2)];
        let sparse = AntennaIndex::new(far.to_vec());
        assert!(sparse.dense.is_none());
        assert_eq!(dense.get(7), Some(1));
        assert_eq!(dense.get(117), Some(2));
        assert_eq!(dense.get(3), Some(0));
        for missing in [-1, 0, 4, 118, i64::MIN, i64::MAX] {
            assert_eq!(dense.get(missing), None, "{missing}");
        }
        assert_eq!(sparse.get(-5), Some(0));
        assert_eq!(sparse.get(1 << 40), Some(2));
        assert_eq!(sparse.get(6), None);
        assert!(AntennaIndex::new(Vec::new()).get(0).is_none());
    }
}

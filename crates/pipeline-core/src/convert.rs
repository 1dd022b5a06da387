//! Conversion: the 16 subband files of one observation → one Measurement Set.
//!
//! Each subband is read once, streamed in blocks of integrations (about 8 MB
//! of visibilities, so memory stays near 100 MB and the allocator reuses the
//! blocks' pages), rephased and written once. A reader thread reads with
//! libhdf5 and converts each block in one parallel pass (rephasing fused with
//! the MS convention: [`MsBlock::from_vis_with`]); the calling thread owns
//! casacore, which is not `Send`, and only writes.
//!
//! The correlator fringe-stops integration k at its own meridian,
//! p_k = (HA 0, Dec δ of date); we move every integration to one ICRS phase
//! centre P — the meridian at the group's mid-time at the pointing
//! declination — so that WSClean and CASA image all 24 integrations:
//!
//! `V′ = V · exp(+2πi f/c · b·(p_k − P_k))` and `uvw′ = basis_k(P) · b`,
//!
//! with b the baseline in the site's local equatorial frame from the antenna
//! positions (not the file's float32 UVWs), and P_k, basis_k from
//! [`SkyFrame`] (apparent place with aberration, precession, nutation, Earth
//! rotation and polar motion as the EOP given). The MS is written under a
//! temporary name in the output directory and renamed when complete; a missing
//! subband becomes a fully flagged spectral window.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use dsa110_astro::constants::C_M_S;
use dsa110_astro::{
    direction_from_hadec, itrf_to_local, Eop, PhaseCentre, Site, SkyFrame, VisBlock,
};
use dsa110_hdf5_ingest::{
    expected_subband_freqs_hz, validate, IngestError, SubbandMeta, SubbandReader,
};
use dsa110_ms_writer::{
    AntennaSpec, FieldSpec, HistoryEntry, MsBlock, MsError, MsSpec, MsWriter, SpwSpec,
};
use ndarray::Array2;
use num_complex::Complex32;
use rayon::prelude::*;

/// Target size of one streamed block of visibilities (bytes of `visdata`).
const BLOCK_TARGET_BYTES: u64 = 8 * 1024 * 1024;
/// Times within this many days are the same integration (≈ 9 ms).
const TIME_TOLERANCE_DAYS: f64 = 1e-7;

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A subband file is unreadable or invalid (the error names the file).
    #[error(transparent)]
    Input {
        /// The reader's error (names the file and dataset).
        source: IngestError,
    },
    /// A subband file disagrees with the others of its group.
    #[error("subband file {path} does not match the rest of group {group_id}: {reason}")]
    Inconsistent {
        /// The group.
        group_id: String,
        /// The odd file out.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// No subband file of the group could be used.
    #[error("group {group_id} has no subband files")]
    NoFiles {
        /// The group.
        group_id: String,
    },
    /// Writing the Measurement Set failed.
    #[error("writing {}: {source}", .source.path().display())]
    Output {
        /// The writer's error.
        #[source]
        source: MsError,
    },
    /// The final product exists already.
    #[error("{path} exists already; refusing to overwrite a finished product")]
    Exists {
        /// The final path.
        path: PathBuf,
    },
    /// A filesystem operation on the output failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Astrometry failed (invalid time or position in the file).
    #[error("group {group_id}: {source}")]
    Astro {
        /// The group.
        group_id: String,
        /// The cause.
        #[source]
        source: dsa110_astro::AstroError,
    },
    /// The reader thread stopped unexpectedly.
    #[error("group {group_id}: the subband reader thread stopped unexpectedly")]
    ReaderLost {
        /// The group.
        group_id: String,
    },
}

impl ConvertError {
    /// Whether trying the same group again could succeed (I/O trouble, a file
    /// still changing, a full disk), as opposed to bad input.
    pub fn is_retryable(&self) -> bool {
        match self {
            ConvertError::Input { source } => source.is_retryable(),
            ConvertError::Output { source } => source.is_retryable(),
            ConvertError::Io { .. } | ConvertError::ReaderLost { .. } => true,
            ConvertError::Inconsistent { .. }
            | ConvertError::NoFiles { .. }
            | ConvertError::Exists { .. }
            | ConvertError::Astro { .. } => false,
        }
    }

    /// A short machine-readable kind for the queue's `error` column.
    pub fn kind(&self) -> &'static str {
        match self {
            ConvertError::Input { .. } => "invalid_input",
            ConvertError::Inconsistent { .. } => "inconsistent_group",
            ConvertError::NoFiles { .. } => "no_files",
            ConvertError::Output { .. } => "write_failed",
            ConvertError::Exists { .. } => "product_exists",
            ConvertError::Io { .. } => "io_error",
            ConvertError::Astro { .. } => "astrometry",
            ConvertError::ReaderLost { .. } => "reader_lost",
        }
    }
}

/// Validated conversion parameters.
#[derive(Clone, Debug)]
pub struct ConvertParams {
    /// Directory of the final `<group_id>.ms`.
    pub output_dir: PathBuf,
    /// Subbands a complete group has (16); the rest are written flagged.
    pub expected_subbands: u8,
    /// Earth-orientation parameters for the astrometry.
    pub eop: Eop,
    /// Replace an existing final product instead of failing.
    pub overwrite: bool,
    /// Application name and version for HISTORY.
    pub application: String,
    /// Command line for HISTORY.
    pub command_line: String,
}

/// One group to convert.
#[derive(Clone, Debug)]
pub struct GroupInput {
    /// The group id, `YYYY-MM-DDTHH:MM:SS`.
    pub group_id: String,
    /// The files present, by subband index.
    pub files: Vec<(u8, PathBuf)>,
}

/// Seconds spent in each part of a conversion.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ConvertTimings {
    /// Validating and reading the subband files (reader thread, HDF5).
    pub load_s: f64,
    /// Rephasing, recomputing UVWs and converting to the MS convention
    /// (reader thread, overlapping the writes).
    pub phase_s: f64,
    /// Writing the Measurement Set (including create and close).
    pub write_s: f64,
    /// Wall time of the whole conversion.
    pub total_s: f64,
}

/// What a conversion produced.
#[derive(Clone, Debug)]
pub struct ConversionReport {
    /// The final Measurement Set.
    pub ms_path: PathBuf,
    /// Spectral windows written (present + flagged).
    pub n_spw: usize,
    /// Main-table rows.
    pub n_rows: usize,
    /// Subbands written fully flagged because their file was missing.
    pub missing_subbands: Vec<u8>,
    /// Bytes of subband files read.
    pub input_bytes: u64,
    /// Size of the MS on disk.
    pub output_bytes: u64,
    /// Phase centre (ICRS, rad).
    pub phase_centre_rad: (f64, f64),
    /// First and last integration centres (MJD, UTC).
    pub time_range_mjd: (f64, f64),
    /// Timings.
    pub timings: ConvertTimings,
}

/// The geometry shared by every subband of a group.
struct Geometry {
    /// Per baseline, the local-frame baseline vector (m).
    baselines: Vec<[f64; 3]>,
    /// Per time, per baseline: new uvw (m).
    uvw: Array2<[f64; 3]>,
    /// Per time, per baseline: w_old − w_new (m), the rephasing delay.
    delay_m: Array2<f64>,
}

/// Convert one group (see the module docs). Blocking; run it on a blocking thread.
pub fn convert_group(
    input: &GroupInput,
    params: &ConvertParams,
) -> Result<ConversionReport, ConvertError> {
    let started = Instant::now();
    let gid = input.group_id.clone();
    let mut timings = ConvertTimings::default();

    // 1. validate every file (header + last chunk) and check they agree
    let t = Instant::now();
    let mut files = input.files.clone();
    files.sort_by_key(|(sb, _)| *sb);
    files.dedup_by_key(|(sb, _)| *sb);
    // in parallel (libhdf5 calls take turns, the checks around them need not);
    // the error reported is the lowest subband's, whatever finished first
    let verdicts: Vec<_> = files
        .par_iter()
        .map(|(sb, path)| validate(path, Some(*sb)).map(|meta| (*sb, meta)))
        .collect();
    let metas = verdicts
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ConvertError::Input { source })?;
    let Some((_, reference)) = metas.first() else {
        return Err(ConvertError::NoFiles { group_id: gid });
    };
    for (_, m) in &metas[1..] {
        check_consistent(&gid, reference, m)?;
    }
    let reference = reference.clone();
    timings.load_s += t.elapsed().as_secs_f64();

    // 2. geometry: site, antennas, phase centre, per-(time, baseline) uvw and delays
    let t = Instant::now();
    let site = Site::from_deg(
        reference.telescope.latitude_deg,
        reference.telescope.longitude_deg,
        reference.telescope.altitude_m,
    );
    let astro = |source| ConvertError::Astro {
        group_id: gid.clone(),
        source,
    };
    let site_itrf = site.itrf_m().map_err(astro)?;
    let (centre, geometry) = group_geometry(&reference, &site, &params.eop).map_err(astro)?;
    timings.phase_s += t.elapsed().as_secs_f64();

    // 3. layout of the MS
    let (spec, spw_of_subband) = ms_spec(
        &input.group_id,
        &reference,
        &metas,
        params,
        site_itrf,
        centre,
    );
    let missing: Vec<u8> = (0..params.expected_subbands)
        .filter(|sb| !metas.iter().any(|(s, _)| s == sb))
        .collect();

    // 4. temporary path, clean leftovers of crashed runs
    let final_path = params.output_dir.join(format!("{}.ms", input.group_id));
    if final_path.exists() && !params.overwrite {
        return Err(ConvertError::Exists { path: final_path });
    }
    std::fs::create_dir_all(&params.output_dir).map_err(|source| ConvertError::Io {
        op: "create directory",
        path: params.output_dir.clone(),
        source,
    })?;
    remove_stale_temporaries(&params.output_dir, &input.group_id);
    let tmp_path =
        params
            .output_dir
            .join(format!("{}.ms.tmp-{}", input.group_id, std::process::id()));

    let result = write_ms(
        &gid,
        &tmp_path,
        &spec,
        &metas,
        &spw_of_subband,
        &missing,
        &reference,
        &geometry,
        &mut timings,
    );
    let n_rows = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp_path);
            return Err(e);
        }
    };

    // 5. publish: rename the finished MS into place
    if final_path.exists() {
        std::fs::remove_dir_all(&final_path).map_err(|source| ConvertError::Io {
            op: "remove old product",
            path: final_path.clone(),
            source,
        })?;
    }
    std::fs::rename(&tmp_path, &final_path).map_err(|source| ConvertError::Io {
        op: "rename into place",
        path: final_path.clone(),
        source,
    })?;
    timings.total_s = started.elapsed().as_secs_f64();
    let times = &reference.times_jd_utc;
    let mjd = |jd: f64| jd - dsa110_astro::constants::MJD_OFFSET;
    Ok(ConversionReport {
        output_bytes: dir_size(&final_path),
        ms_path: final_path,
        n_spw: spec.spws.len(),
        n_rows,
        missing_subbands: missing,
        input_bytes: metas.iter().map(|(_, m)| m.file_bytes).sum(),
        phase_centre_rad: centre,
        time_range_mjd: (
            mjd(times.first().copied().unwrap_or(0.0)),
            mjd(times.last().copied().unwrap_or(0.0)),
        ),
        timings,
    })
}

/// A block read and converted by the reader thread: (spectral window, first
/// row, rows in the MS convention), or the error.
type ReadItem = Result<(usize, usize, MsBlock), ConvertError>;

/// Seconds the reader thread spent reading (HDF5) and converting (rephasing,
/// MS convention).
#[derive(Default)]
struct ReaderTimes {
    load_s: f64,
    phase_s: f64,
}

#[allow(clippy::too_many_arguments)]
fn write_ms(
    gid: &str,
    tmp_path: &Path,
    spec: &MsSpec,
    metas: &[(u8, SubbandMeta)],
    spw_of_subband: &[(u8, usize)],
    missing: &[u8],
    reference: &SubbandMeta,
    geometry: &Geometry,
    timings: &mut ConvertTimings,
) -> Result<usize, ConvertError> {
    let t = Instant::now();
    let mut writer =
        MsWriter::create(tmp_path, spec).map_err(|source| ConvertError::Output { source })?;
    timings.write_s += t.elapsed().as_secs_f64();
    let spw_for = |sb: u8| {
        spw_of_subband
            .iter()
            .find(|(s, _)| *s == sb)
            .map(|(_, w)| *w)
            .unwrap_or(0)
    };

    // The reader thread streams each subband's blocks in spw order, rephases
    // them and puts them in the MS convention (one pass over the data); this
    // thread only talks to casacore. The channel holds one block in flight.
    let jobs: Vec<(usize, &Path, usize)> = {
        let mut j: Vec<_> = metas
            .iter()
            .map(|(sb, m)| {
                (
                    spw_for(*sb),
                    m.path.as_path(),
                    m.suggested_block_times(BLOCK_TARGET_BYTES),
                )
            })
            .collect();
        j.sort_by_key(|(w, _, _)| *w);
        j
    };
    let nbls = reference.nbls;
    let (tx, rx) = mpsc::sync_channel::<ReadItem>(1);
    let (outcome, reader_times) = std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name(format!("read-{gid}"))
            .spawn_scoped(scope, move || {
                read_and_convert(gid, &jobs, geometry, nbls, &tx)
            });
        let reader = match reader {
            Ok(r) => r,
            Err(source) => {
                let err = ConvertError::Io {
                    op: "spawn reader thread for",
                    path: tmp_path.to_path_buf(),
                    source,
                };
                return (Err(err), None);
            }
        };
        let mut outcome: Result<(), ConvertError> = Ok(());
        for item in rx.iter() {
            let (spw, row0, block) = match item {
                Ok(x) => x,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            let t = Instant::now();
            if let Err(source) = writer.write_ms_block(spw, row0, &block) {
                outcome = Err(ConvertError::Output { source });
                break;
            }
            timings.write_s += t.elapsed().as_secs_f64();
        }
        drop(rx); // a reader blocked on a full channel now stops
        (outcome, reader.join().ok())
    });
    let reader_times = reader_times.ok_or_else(|| ConvertError::ReaderLost {
        group_id: gid.to_string(),
    })?;
    timings.load_s += reader_times.load_s;
    timings.phase_s += reader_times.phase_s;
    outcome?;

    // missing subbands: flagged windows with the group's times, baselines and uvws
    if !missing.is_empty() {
        let t = Instant::now();
        let template = flagged_template(reference, geometry);
        for sb in missing {
            writer
                .write_flagged(spw_for(*sb), 0, &template)
                .map_err(|source| ConvertError::Output { source })?;
        }
        timings.write_s += t.elapsed().as_secs_f64();
    }
    let t = Instant::now();
    let summary = writer
        .finish()
        .map_err(|source| ConvertError::Output { source })?;
    timings.write_s += t.elapsed().as_secs_f64();
    Ok(summary.n_rows)
}

/// The reader thread: read every job's subband in blocks of `nt` integrations,
/// rephase and convert each, and send it. Stops at the first error (sent) or
/// when the receiver hangs up.
fn read_and_convert(
    gid: &str,
    jobs: &[(usize, &Path, usize)],
    geometry: &Geometry,
    nbls: usize,
    tx: &mpsc::SyncSender<ReadItem>,
) -> ReaderTimes {
    let mut times = ReaderTimes::default();
    for &(spw, path, nt) in jobs {
        let t = Instant::now();
        let reader = match SubbandReader::open(path) {
            Ok(r) => r,
            Err(source) => {
                let _ = tx.send(Err(ConvertError::Input { source }));
                return times;
            }
        };
        times.load_s += t.elapsed().as_secs_f64();
        let ntimes = reader.meta().ntimes;
        let mut t0 = 0;
        while t0 < ntimes {
            let n = nt.max(1).min(ntimes - t0);
            let t = Instant::now();
            let block = reader.read_times(t0, n);
            times.load_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let item = match block {
                Ok(b) => to_ms_block(b, geometry, t0)
                    .map(|m| (spw, t0 * nbls, m))
                    .map_err(|source| ConvertError::Astro {
                        group_id: gid.to_string(),
                        source,
                    }),
                Err(source) => Err(ConvertError::Input { source }),
            };
            times.phase_s += t.elapsed().as_secs_f64();
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                return times;
            }
            t0 += n;
        }
    }
    times
}

/// Rephase a block (new UVWs, `V · exp(+2πi f/c · delay)`) while converting
/// it to the MS convention. `t_index0` is the block's first integration
/// within the group.
fn to_ms_block(
    block: VisBlock,
    geometry: &Geometry,
    t_index0: usize,
) -> Result<MsBlock, dsa110_astro::AstroError> {
    let nbls = block.nbls().max(1);
    let npol = block.npol().max(1);
    let freqs = block.freqs_hz.clone();
    let nchan = freqs.len();
    let (f0, df) = (
        freqs.first().copied().unwrap_or(0.0),
        if nchan > 1 { freqs[1] - freqs[0] } else { 0.0 },
    );
    let equispaced = freqs
        .iter()
        .enumerate()
        .all(|(j, f)| (f - (f0 + j as f64 * df)).abs() < 1e-3);
    let two_pi_over_c = std::f64::consts::TAU / C_M_S;
    MsBlock::from_vis_with(block, |row, vis, uvw| {
        let (t, b) = (t_index0 + row / nbls, row % nbls);
        let (Some(new), Some(&delay)) = (geometry.uvw.get((t, b)), geometry.delay_m.get((t, b)))
        else {
            return; // the reader's blocks always lie within the group
        };
        uvw.copy_from_slice(new);
        let phase_per_hz = two_pi_over_c * delay;
        if phase_per_hz == 0.0 {
            return;
        }
        // exp(iφ f_j) by recurrence over equispaced channels
        let mut rot = num_complex::Complex64::from_polar(1.0, phase_per_hz * f0);
        let step = num_complex::Complex64::from_polar(1.0, phase_per_hz * df);
        for (j, chan) in vis.chunks_mut(npol).enumerate() {
            if !equispaced {
                rot = num_complex::Complex64::from_polar(1.0, phase_per_hz * freqs[j]);
            }
            let r = Complex32::new(rot.re as f32, rot.im as f32);
            for v in chan {
                *v *= r;
            }
            rot *= step;
        }
    })
}

/// The ICRS phase centre and per-(time, baseline) geometry of a group.
fn group_geometry(
    meta: &SubbandMeta,
    site: &Site,
    eop: &Eop,
) -> Result<((f64, f64), Geometry), dsa110_astro::AstroError> {
    use dsa110_astro::ObsTime;
    let times = &meta.times_jd_utc;
    let t_first = times.first().copied().unwrap_or(0.0);
    let t_last = times.last().copied().unwrap_or(t_first);
    let t_mid = ObsTime::from_jd_utc(0.5 * (t_first + t_last))?;
    // the old phase centre of each integration, as a local-frame direction
    let old_centre = |frame: &SkyFrame| -> [f64; 3] {
        match &meta.phase_centre {
            PhaseCentre::MeridianDrift { dec_rad } => direction_from_hadec(0.0, *dec_rad),
            PhaseCentre::Icrs {
                ra_rad, dec_rad, ..
            } => frame.direction_local(*ra_rad, *dec_rad),
            PhaseCentre::Unprojected => direction_from_hadec(0.0, site.lat_rad),
        }
    };
    let mid_frame = SkyFrame::new(&t_mid, site, eop)?;
    let centre = match &meta.phase_centre {
        PhaseCentre::Icrs {
            ra_rad, dec_rad, ..
        } => (*ra_rad, *dec_rad),
        _ => mid_frame.local_to_icrs(old_centre(&mid_frame)),
    };

    let baselines: Vec<[f64; 3]> = meta
        .ant1
        .iter()
        .zip(&meta.ant2)
        .map(|(&a1, &a2)| {
            let p1 = meta
                .antenna_positions_m
                .get(a1 as usize)
                .copied()
                .unwrap_or([0.0; 3]);
            let p2 = meta
                .antenna_positions_m
                .get(a2 as usize)
                .copied()
                .unwrap_or([0.0; 3]);
            itrf_to_local([p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]], site.lon_rad)
        })
        .collect();
    let nt = times.len();
    let nb = baselines.len();
    let mut uvw = Array2::from_elem((nt, nb), [0.0; 3]);
    let mut delay_m = Array2::zeros((nt, nb));
    for (k, &jd) in times.iter().enumerate() {
        let frame = SkyFrame::new(&ObsTime::from_jd_utc(jd)?, site, eop)?;
        let basis = frame.uvw_basis(centre.0, centre.1);
        let p_old = old_centre(&frame);
        for (b, bl) in baselines.iter().enumerate() {
            let new = basis.project(*bl);
            let w_old = bl[0] * p_old[0] + bl[1] * p_old[1] + bl[2] * p_old[2];
            uvw[(k, b)] = new;
            delay_m[(k, b)] = w_old - new[2];
        }
    }
    Ok((
        centre,
        Geometry {
            baselines,
            uvw,
            delay_m,
        },
    ))
}

/// A block with the group's times, baselines and new UVWs (no visibilities
/// needed) for writing a flagged spectral window.
fn flagged_template(meta: &SubbandMeta, geometry: &Geometry) -> VisBlock {
    let nt = meta.times_jd_utc.len();
    let nb = geometry.baselines.len();
    let mut uvw = Array2::zeros((nt * nb, 3));
    for ((t, b), v) in geometry.uvw.indexed_iter() {
        for c in 0..3 {
            uvw[(t * nb + b, c)] = v[c];
        }
    }
    VisBlock {
        times_jd_utc: meta.times_jd_utc.clone(),
        int_time_s: meta.int_time_s,
        ant1: meta.ant1.clone(),
        ant2: meta.ant2.clone(),
        freqs_hz: Vec::new(),
        chan_width_hz: meta.chan_width_hz,
        pols: meta.pols.clone(),
        uvw_m: uvw,
        data: ndarray::Array3::zeros((0, 0, 0)),
        flags: ndarray::Array3::from_elem((0, 0, 0), true),
        nsamples: ndarray::Array3::zeros((0, 0, 0)),
        phase_centre: meta.phase_centre.clone(),
    }
}

fn check_consistent(gid: &str, a: &SubbandMeta, b: &SubbandMeta) -> Result<(), ConvertError> {
    let bad = |reason: String| ConvertError::Inconsistent {
        group_id: gid.to_string(),
        path: b.path.clone(),
        reason,
    };
    if (a.ntimes, a.nbls, a.nfreqs) != (b.ntimes, b.nbls, b.nfreqs) {
        return Err(bad(format!(
            "shape (Ntimes, Nbls, Nfreqs) = ({}, {}, {}), {} has ({}, {}, {})",
            b.ntimes,
            b.nbls,
            b.nfreqs,
            a.path.display(),
            a.ntimes,
            a.nbls,
            a.nfreqs
        )));
    }
    if a.pols != b.pols {
        return Err(bad(format!("polarisations {:?} vs {:?}", b.pols, a.pols)));
    }
    if a.ant1 != b.ant1 || a.ant2 != b.ant2 {
        return Err(bad("baseline order differs".into()));
    }
    if a.times_jd_utc
        .iter()
        .zip(&b.times_jd_utc)
        .any(|(x, y)| (x - y).abs() > TIME_TOLERANCE_DAYS)
    {
        return Err(bad("integration times differ".into()));
    }
    if a.phase_centre != b.phase_centre {
        return Err(bad(format!(
            "phase centre {:?} vs {:?}",
            b.phase_centre, a.phase_centre
        )));
    }
    if a.antenna_positions_m.len() != b.antenna_positions_m.len()
        || a.antenna_positions_m
            .iter()
            .zip(&b.antenna_positions_m)
            .any(|(p, q)| (0..3).any(|c| (p[c] - q[c]).abs() > 1e-3))
    {
        return Err(bad("antenna positions differ".into()));
    }
    Ok(())
}

/// The MS layout, and the spectral window of each subband index.
fn ms_spec(
    group_id: &str,
    reference: &SubbandMeta,
    metas: &[(u8, SubbandMeta)],
    params: &ConvertParams,
    site_itrf: [f64; 3],
    centre: (f64, f64),
) -> (MsSpec, Vec<(u8, usize)>) {
    let antennas = reference
        .antenna_positions_m
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let raw = reference.antenna_names.get(i).cloned().unwrap_or_default();
            let name = match raw.trim().parse::<u32>() {
                Ok(n) => format!("DSA-{n:03}"),
                Err(_) if raw.trim().is_empty() => format!("ANT{i}"),
                Err(_) => raw.trim().to_string(),
            };
            AntennaSpec {
                station: name.clone(),
                name,
                itrf_m: [
                    site_itrf[0] + p[0],
                    site_itrf[1] + p[1],
                    site_itrf[2] + p[2],
                ],
                diameter_m: reference
                    .antenna_diameters_m
                    .as_ref()
                    .and_then(|d| d.get(i).copied())
                    .unwrap_or(dsa110_astro::constants::DISH_DIAMETER_M),
                mount: "ALT-AZ".to_string(),
            }
        })
        .collect();
    // every expected subband gets a window; absent ones use the nominal frequencies
    let mut windows: Vec<(u8, SpwSpec)> = (0..params.expected_subbands.max(1))
        .filter_map(|sb| {
            let freqs = match metas.iter().find(|(s, _)| *s == sb) {
                Some((_, m)) => m.freqs_hz.clone(),
                None => expected_subband_freqs_hz(sb, reference.nfreqs)?,
            };
            let mut asc = freqs;
            asc.sort_by(f64::total_cmp);
            Some((
                sb,
                SpwSpec {
                    name: format!("sb{sb:02}"),
                    freqs_hz: asc,
                    chan_width_hz: reference.chan_width_hz.abs(),
                },
            ))
        })
        .collect();
    // present subbands outside 0..expected (unusual) still get their window
    for (sb, m) in metas {
        if !windows.iter().any(|(s, _)| s == sb) {
            let mut asc = m.freqs_hz.clone();
            asc.sort_by(f64::total_cmp);
            windows.push((
                *sb,
                SpwSpec {
                    name: format!("sb{sb:02}"),
                    freqs_hz: asc,
                    chan_width_hz: m.chan_width_hz.abs(),
                },
            ));
        }
    }
    windows.sort_by(|a, b| {
        let fa = a.1.freqs_hz.first().copied().unwrap_or(0.0);
        let fb = b.1.freqs_hz.first().copied().unwrap_or(0.0);
        fa.total_cmp(&fb)
    });
    let spw_of_subband = windows
        .iter()
        .enumerate()
        .map(|(w, (sb, _))| (*sb, w))
        .collect();
    let times = &reference.times_jd_utc;
    let half = reference.int_time_s / 2.0;
    let mjd_s = |jd: f64| (jd - dsa110_astro::constants::MJD_OFFSET) * 86_400.0;
    let spec = MsSpec {
        antennas,
        spws: windows.into_iter().map(|(_, s)| s).collect(),
        pols: reference.pols.clone(),
        feed_angles_rad: [0.0, std::f64::consts::FRAC_PI_2],
        field: FieldSpec {
            name: format!("drift_{group_id}"),
            ra_rad: centre.0,
            dec_rad: centre.1,
        },
        telescope_name: reference.telescope.name.clone(),
        telescope_itrf_m: site_itrf,
        observer: "dsa110".to_string(),
        project: "dsa110-continuum".to_string(),
        time_range_mjd_s: (
            mjd_s(times.first().copied().unwrap_or(0.0)) - half,
            mjd_s(times.last().copied().unwrap_or(0.0)) + half,
        ),
        history: vec![HistoryEntry {
            message: format!(
                "converted group {group_id} from {} subband files; phased to ICRS ({:.6}°, {:.6}°)",
                metas.len(),
                centre.0.to_degrees(),
                centre.1.to_degrees()
            ),
            application: params.application.clone(),
            cli_command: params.command_line.clone(),
        }],
        n_rows_per_spw: reference.ntimes * reference.nbls,
    };
    (spec, spw_of_subband)
}

fn remove_stale_temporaries(dir: &Path, group_id: &str) {
    let prefix = format!("{group_id}.ms.tmp-");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Total size of the files under a directory (bytes).
pub fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

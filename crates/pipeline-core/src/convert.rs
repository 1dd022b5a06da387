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
//! `SkyFrame` (apparent place with aberration, precession, nutation, Earth
//! rotation and polar motion as the EOP given). The MS is written under a
//! temporary name in the output directory and renamed when complete; a missing
//! subband becomes a fully flagged spectral window.
//!
//! The science lives in the libraries: the geometry and the per-row rephasing
//! in [`dsa110_astro::rephase`], the MS layout (antennas, windows, field,
//! history) in [`dsa110_ms_writer::group_ms_spec`]. This module reads,
//! checks that the files of a group agree, runs the reader and writer
//! threads, maps errors and publishes the product. Data that do not fit the
//! group (an antenna outside the antenna table, a block outside the group's
//! integrations or baselines, a subband without a window) fail the group with
//! an error naming the file or subband; nothing is written against a made-up
//! position or into another window.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use dsa110_astro::{
    AstroError, Eop, EopProvider, EopStatus, GeometryInput, GroupGeometry, Site, VisBlock,
};
use dsa110_hdf5_ingest::{
    expected_subband_freqs_hz, validate, IngestError, SubbandMeta, SubbandReader,
};
use dsa110_ms_writer::{
    antenna_specs, group_ms_spec, GroupLayout, MsBlock, MsError, MsSpec, MsWriter, SpwLayout,
    SubbandWindow,
};
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
    /// A file's data do not fit the group's geometry: a baseline names an
    /// antenna the antenna table does not have, or a block lies outside the
    /// group's integrations or baselines.
    #[error("group {group_id}: {path} does not fit the group's geometry")]
    Geometry {
        /// The group.
        group_id: String,
        /// The file concerned.
        path: PathBuf,
        /// What does not fit (names the antenna, baseline or integrations).
        #[source]
        source: AstroError,
    },
    /// A missing subband has no spectral window: its nominal frequencies are
    /// unknown for this number of channels, so it cannot be written flagged.
    #[error(
        "group {group_id}: subband {subband} is missing and its nominal frequencies are \
         unknown for {nfreqs} channels per subband, so it has no spectral window"
    )]
    UnknownWindow {
        /// The group.
        group_id: String,
        /// The subband without a window.
        subband: u8,
        /// Channels per subband in the group's files.
        nfreqs: usize,
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
            | ConvertError::Astro { .. }
            | ConvertError::Geometry { .. }
            | ConvertError::UnknownWindow { .. } => false,
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
            ConvertError::Geometry { .. } => "bad_geometry",
            ConvertError::UnknownWindow { .. } => "unknown_spw",
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
    /// Earth-orientation parameters for the astrometry: an IERS table interpolated at
    /// the group's mid-time, fixed values, or none (zero, a sub-arcsecond error).
    pub eop: Arc<EopProvider>,
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
    /// The Earth-orientation values used, and where they came from.
    pub eop: (Eop, EopStatus),
}

/// Space reserved for an MS beyond its visibilities (subtables, table headers).
const MS_OVERHEAD_BYTES: u64 = 4 << 20;

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
    let mid_jd = reference
        .times_jd_utc
        .get(reference.times_jd_utc.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    let (eop, eop_status) = params.eop.eop_for(mid_jd);
    if eop_status.is_degraded() {
        tracing::warn!(group_id = %gid, status = ?eop_status,
            "no IERS Earth-orientation values for this date: UT1-UTC and polar motion taken \
             as zero (positions off by up to ~1 arcsec); give --eop-table or DSA110_IERS_TABLE");
    }
    let geometry = GroupGeometry::new(
        &GeometryInput {
            times_jd_utc: &reference.times_jd_utc,
            ant1: &reference.ant1,
            ant2: &reference.ant2,
            antenna_positions_m: &reference.antenna_positions_m,
            phase_centre: &reference.phase_centre,
        },
        &site,
        &eop,
    )
    .map_err(|source| geometry_error(&gid, &reference.path, source))?;
    let centre = geometry.centre_rad();
    timings.phase_s += t.elapsed().as_secs_f64();

    // 3. layout of the MS
    let missing: Vec<u8> = (0..params.expected_subbands)
        .filter(|sb| !metas.iter().any(|(s, _)| s == sb))
        .collect();
    let (spec, spws) = ms_spec(
        &gid, &reference, &metas, &missing, params, site_itrf, centre,
    )?;

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
    // an earlier attempt at this group on this host (we hold the group, so no live
    // process of this host writes it); other hosts' temporaries are left alone
    let final_name = format!("{}.ms", input.group_id);
    crate::temporaries::remove_dead(&params.output_dir, Some(&final_name), true);
    let tmp_path = crate::temporaries::temporary_path(&params.output_dir, &final_name);
    // the space the MS will take (the inputs' visibilities, flags and weights, missing
    // subbands included, plus subtables), reserved before casacore writes a byte
    let per_file = metas.iter().map(|(_, m)| m.file_bytes).sum::<u64>() / metas.len().max(1) as u64;
    let estimate =
        per_file * u64::from(params.expected_subbands.max(1)) / 4 * 5 + MS_OVERHEAD_BYTES;
    crate::temporaries::reserve_space(&params.output_dir, &final_name, estimate).map_err(
        |source| ConvertError::Io {
            op: "reserving space for",
            path: final_path.clone(),
            source,
        },
    )?;

    let result = write_ms(
        &gid,
        &tmp_path,
        &spec,
        &metas,
        &spws,
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
        eop: (eop, eop_status),
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
    spws: &SpwLayout,
    missing: &[u8],
    reference: &SubbandMeta,
    geometry: &GroupGeometry,
    timings: &mut ConvertTimings,
) -> Result<usize, ConvertError> {
    let t = Instant::now();
    let mut writer =
        MsWriter::create(tmp_path, spec).map_err(|source| ConvertError::Output { source })?;
    timings.write_s += t.elapsed().as_secs_f64();
    // every subband has a window (`ms_spec` made one for each), never a default one
    let spw_for = |sb: u8| {
        spws.spw_of(sb).ok_or(ConvertError::UnknownWindow {
            group_id: gid.to_string(),
            subband: sb,
            nfreqs: reference.nfreqs,
        })
    };

    // The reader thread streams each subband's blocks in spw order, rephases
    // them and puts them in the MS convention (one pass over the data); this
    // thread only talks to casacore. The channel holds one block in flight.
    let jobs: Vec<(usize, &Path, usize)> = {
        let mut j = metas
            .iter()
            .map(|(sb, m)| {
                Ok((
                    spw_for(*sb)?,
                    m.path.as_path(),
                    m.suggested_block_times(BLOCK_TARGET_BYTES),
                ))
            })
            .collect::<Result<Vec<_>, ConvertError>>()?;
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
                .write_flagged(spw_for(*sb)?, 0, &template)
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
    geometry: &GroupGeometry,
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
                Ok(b) => to_ms_block(gid, path, b, geometry, t0).map(|m| (spw, t0 * nbls, m)),
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
/// it to the MS convention, in one pass over its rows. `t_index0` is the
/// block's first integration within the group; a block that does not lie
/// within the group is an error, never written unphased.
fn to_ms_block(
    gid: &str,
    path: &Path,
    block: VisBlock,
    geometry: &GroupGeometry,
    t_index0: usize,
) -> Result<MsBlock, ConvertError> {
    let rephaser = geometry
        .rephaser(&block, t_index0)
        .map_err(|source| geometry_error(gid, path, source))?;
    let ms = MsBlock::from_vis_with(block, |row, vis, uvw| rephaser.apply(row, vis, uvw)).map_err(
        |source| ConvertError::Astro {
            group_id: gid.to_string(),
            source,
        },
    )?;
    rephaser
        .finish()
        .map_err(|source| geometry_error(gid, path, source))?;
    Ok(ms)
}

/// An error of the group's geometry: an invalid time is astrometry (as
/// before), anything else a file that does not fit its group.
fn geometry_error(gid: &str, path: &Path, source: AstroError) -> ConvertError {
    match source {
        AstroError::InvalidTime { .. } => ConvertError::Astro {
            group_id: gid.to_string(),
            source,
        },
        source => ConvertError::Geometry {
            group_id: gid.to_string(),
            path: path.to_path_buf(),
            source,
        },
    }
}

/// A block with the group's times, baselines and new UVWs (no visibilities
/// needed) for writing a flagged spectral window.
fn flagged_template(meta: &SubbandMeta, geometry: &GroupGeometry) -> VisBlock {
    VisBlock {
        times_jd_utc: meta.times_jd_utc.clone(),
        int_time_s: meta.int_time_s,
        ant1: meta.ant1.clone(),
        ant2: meta.ant2.clone(),
        freqs_hz: Vec::new(),
        chan_width_hz: meta.chan_width_hz,
        pols: meta.pols.clone(),
        uvw_m: geometry.uvw_rows_m(),
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

/// The MS layout, and the spectral window of each subband: every present
/// subband, and every missing one below `expected_subbands` with its nominal
/// frequencies (an error if they are unknown for the files' channel count).
fn ms_spec(
    gid: &str,
    reference: &SubbandMeta,
    metas: &[(u8, SubbandMeta)],
    missing: &[u8],
    params: &ConvertParams,
    site_itrf: [f64; 3],
    centre: (f64, f64),
) -> Result<(MsSpec, SpwLayout), ConvertError> {
    let mut windows: Vec<SubbandWindow> = metas
        .iter()
        .map(|(sb, m)| SubbandWindow {
            subband: *sb,
            freqs_hz: m.freqs_hz.clone(),
            chan_width_hz: m.chan_width_hz,
        })
        .collect();
    for &sb in missing {
        let freqs_hz =
            expected_subband_freqs_hz(sb, reference.nfreqs).ok_or(ConvertError::UnknownWindow {
                group_id: gid.to_string(),
                subband: sb,
                nfreqs: reference.nfreqs,
            })?;
        windows.push(SubbandWindow {
            subband: sb,
            freqs_hz,
            chan_width_hz: reference.chan_width_hz,
        });
    }
    Ok(group_ms_spec(GroupLayout {
        group_id: gid,
        antennas: antenna_specs(
            &reference.antenna_names,
            &reference.antenna_positions_m,
            reference.antenna_diameters_m.as_deref(),
            site_itrf,
        ),
        windows,
        pols: reference.pols.clone(),
        phase_centre_rad: centre,
        telescope_name: reference.telescope.name.clone(),
        array_itrf_m: site_itrf,
        times_jd_utc: &reference.times_jd_utc,
        int_time_s: reference.int_time_s,
        nbls: reference.nbls,
        n_files: metas.len(),
        application: params.application.clone(),
        command_line: params.command_line.clone(),
    }))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use dsa110_astro::constants::channel_freq_hz;
    use dsa110_astro::PhaseCentre;
    use dsa110_hdf5_ingest::{
        DataStorage, FileFlavour, FlagStorage, FloatWidth, TelescopeInfo, VisLayout,
    };
    use ndarray::{Array2, Array3};
    use num_complex::Complex32;

    const ANTENNAS_M: [[f64; 3]; 3] = [[0.0; 3], [900.0, -400.0, 200.0], [-1500.0, 2100.0, -300.0]];

    /// The header of a correlator file of 4 integrations of 3 antennas'
    /// 6 baselines and `nfreqs` channels.
    fn meta(nfreqs: usize) -> SubbandMeta {
        let storage = DataStorage {
            shape: vec![24, 1, nfreqs, 2],
            chunks: None,
            filtered: false,
        };
        let t0 = 2_460_950.5;
        SubbandMeta {
            path: PathBuf::from("/data/2025-10-02T00:12:00_sb03.hdf5"),
            file_bytes: 1,
            flavour: FileFlavour::Correlator,
            ntimes: 4,
            nbls: 6,
            nblts: 24,
            nfreqs,
            npols: 2,
            nspws: 1,
            nants_data: 3,
            nants_telescope: 3,
            times_jd_utc: (0..4)
                .map(|k| t0 + k as f64 * 12.884_902 / 86_400.0)
                .collect(),
            int_time_s: 12.884_902,
            freqs_hz: (0..nfreqs).map(|j| channel_freq_hz(3, j)).collect(),
            chan_width_hz: -244_140.625,
            pols: vec![-5, -6],
            phase_type: Some("drift".into()),
            phase_centre: PhaseCentre::MeridianDrift { dec_rad: 0.9 },
            pointing_dec_rad: Some(0.9),
            ant1: vec![0, 0, 0, 1, 1, 2],
            ant2: vec![0, 1, 2, 1, 2, 2],
            antenna_names: vec!["1".into(), "2".into(), "3".into()],
            antenna_numbers: vec![0, 1, 2],
            antenna_positions_m: ANTENNAS_M.to_vec(),
            antenna_diameters_m: None,
            telescope: TelescopeInfo {
                name: "OVRO_MMA".into(),
                instrument: Some("DSA".into()),
                latitude_deg: dsa110_astro::constants::DSA110_LAT_DEG,
                longitude_deg: dsa110_astro::constants::DSA110_LON_DEG,
                altitude_m: dsa110_astro::constants::DSA110_ALT_M,
            },
            uvw_width: FloatWidth::F32,
            vis_width: FloatWidth::F32,
            nsamples_width: FloatWidth::F32,
            flag_storage: FlagStorage::BoolEnum,
            vis_layout: VisLayout::WithSpwAxis,
            visdata: storage.clone(),
            flags: storage.clone(),
            nsamples: storage,
        }
    }

    fn geometry(m: &SubbandMeta) -> Result<GroupGeometry, AstroError> {
        GroupGeometry::new(
            &GeometryInput {
                times_jd_utc: &m.times_jd_utc,
                ant1: &m.ant1,
                ant2: &m.ant2,
                antenna_positions_m: &m.antenna_positions_m,
                phase_centre: &m.phase_centre,
            },
            &Site::dsa110(),
            &Eop::default(),
        )
    }

    /// Integrations `t0..t0 + nt` of the file, every visibility 1.
    fn ones(m: &SubbandMeta, t0: usize, nt: usize) -> VisBlock {
        let shape = (nt * m.nbls, m.nfreqs, m.npols);
        VisBlock {
            times_jd_utc: m.times_jd_utc[t0..t0 + nt].to_vec(),
            int_time_s: m.int_time_s,
            ant1: m.ant1.clone(),
            ant2: m.ant2.clone(),
            freqs_hz: m.freqs_hz.clone(),
            chan_width_hz: m.chan_width_hz.abs(),
            pols: m.pols.clone(),
            uvw_m: Array2::zeros((shape.0, 3)),
            data: Array3::from_elem(shape, Complex32::new(1.0, 0.0)),
            flags: Array3::from_elem(shape, false),
            nsamples: Array3::from_elem(shape, 1.0),
            phase_centre: m.phase_centre.clone(),
        }
    }

    /// The fused pass rephases each row of a block that starts mid-group
    /// with its own integration's geometry: the same MS rows as rephasing
    /// row by row first (new uvw, `rephase_row` with delay(t, b)) and
    /// converting after.
    #[test]
    fn blocks_are_rephased_at_their_place_in_the_group() {
        let m = meta(8);
        let g = geometry(&m).unwrap();
        let (t0, nt) = (2, 2);
        let fused = to_ms_block("g", &m.path, ones(&m, t0, nt), &g, t0).unwrap();

        let mut want = ones(&m, t0, nt);
        let channels = dsa110_astro::Channels::new(&m.freqs_hz);
        assert!(channels.is_equispaced());
        let mut max_delay: f64 = 0.0;
        for row in 0..nt * m.nbls {
            let (t, b) = (t0 + row / m.nbls, row % m.nbls);
            let uvw = g.uvw_m(t, b).unwrap();
            want.uvw_m.row_mut(row).assign(&ndarray::arr1(&uvw));
            let delay_m = g.delay_m(t, b).unwrap();
            max_delay = max_delay.max(delay_m.abs());
            let mut vis = want.data.slice_mut(ndarray::s![row, .., ..]);
            dsa110_astro::rephase_row(vis.as_slice_mut().unwrap(), 2, &channels, delay_m);
        }
        assert!(
            max_delay > 1.0,
            "the test needs real rephasing, max delay {max_delay} m"
        );
        assert_eq!(fused, MsBlock::from_vis(want).unwrap());
        let unphased = MsBlock::from_vis(ones(&m, t0, nt)).unwrap();
        assert_ne!(fused, unphased);
    }

    #[test]
    fn a_block_outside_the_group_fails_naming_the_file() {
        let m = meta(8);
        let g = geometry(&m).unwrap();
        let e = to_ms_block("g", &m.path, ones(&m, 2, 2), &g, 3).unwrap_err();
        assert!(
            matches!(
                &e,
                ConvertError::Geometry { path, source: AstroError::OutsideGroup { first_integration: 3, end_integration: 5, .. }, .. }
                    if path == &m.path
            ),
            "{e:?}"
        );
        assert_eq!(e.kind(), "bad_geometry");
        assert!(!e.is_retryable());
        assert!(
            e.to_string().contains("2025-10-02T00:12:00_sb03.hdf5"),
            "{e}"
        );
    }

    #[test]
    fn an_antenna_outside_the_table_fails_naming_the_file_and_antenna() {
        let mut m = meta(8);
        m.ant2[5] = 3;
        let e = geometry(&m)
            .map_err(|source| geometry_error("g", &m.path, source))
            .unwrap_err();
        assert!(e.to_string().contains("_sb03.hdf5"), "{e}");
        let cause = std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            cause.contains("antenna index 3") && cause.contains("baseline 5"),
            "{cause}"
        );
        // an invalid time stays an astrometry error
        let e = geometry_error(
            "g",
            &m.path,
            AstroError::InvalidTime {
                what: "t",
                value: "x".into(),
            },
        );
        assert_eq!(e.kind(), "astrometry");
    }

    #[test]
    fn every_subband_gets_its_own_window_or_the_group_fails() {
        let params = ConvertParams {
            output_dir: PathBuf::from("/nonexistent"),
            expected_subbands: 16,
            eop: Arc::new(EopProvider::Fixed(Eop::default())),
            overwrite: false,
            application: "test".into(),
            command_line: "test".into(),
        };
        let m = meta(8);
        let metas = vec![(3u8, m.clone())];
        let missing: Vec<u8> = (0..16).filter(|&sb| sb != 3).collect();
        let (spec, spws) =
            ms_spec("g", &m, &metas, &missing, &params, [0.0; 3], (1.0, 0.5)).unwrap();
        assert_eq!(spec.spws.len(), 16);
        // sb15 is the lowest band, sb00 the highest
        assert_eq!(
            (spws.spw_of(15), spws.spw_of(3), spws.spw_of(0)),
            (Some(0), Some(12), Some(15))
        );
        assert_eq!(spec.antennas[2].name, "DSA-003");
        // 5 channels: the missing subbands' nominal frequencies are unknown
        let m = meta(5);
        let metas = vec![(3u8, m.clone())];
        let e = ms_spec("g", &m, &metas, &missing, &params, [0.0; 3], (1.0, 0.5)).unwrap_err();
        assert!(
            matches!(
                e,
                ConvertError::UnknownWindow {
                    subband: 0,
                    nfreqs: 5,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.kind(), "unknown_spw");
    }
}

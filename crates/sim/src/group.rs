//! Writing a whole group: compute in parallel (rayon), write from one thread.
//!
//! A producer thread computes one file's integrations at a time (in parallel over
//! integrations) and hands them to the calling thread through a channel of depth 1,
//! so the next file is computed while the current one is written (hdf5-metno
//! serialises every libhdf5 call, so one writer thread is the fastest).
//!
//! Every file is written as `<stem>_incomplete.hdf5` and renamed to `<stem>.hdf5`
//! when closed, in both modes, so a watcher never sees a final name on a partial
//! file. [`simulate_group_like_correlator`] additionally writes the subbands in a
//! seeded shuffled order, flushes after every integration (a reader of the
//! `_incomplete` file sees it grow) and can sleep between integrations.
//!
//! Caveat for callers that spawn processes: libhdf5 opens files without
//! `O_CLOEXEC` and `flock`s them, so a child forked while a file is being written
//! inherits the descriptor and its exclusive lock for its whole life (other opens
//! of the file then fail with "unable to lock file"). Do not fork while simulating
//! (the integration tests serialise this with a lock).

use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::config::{CorrelatorMode, SimConfig};
use crate::gains::write_npy;
use crate::model::{compute_chunk, Chunk, FileEntry, Plan};
use crate::truth::{gains_path, truth_path, Truth};
use crate::uvh5::Uvh5Writer;
use crate::{seed_for, SimError};

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSummary {
    /// Group id (nominal start, `YYYY-MM-DDTHH:MM:SS`).
    pub group_id: String,
    /// Final paths of the subband files, in the order of `SimConfig::subbands`.
    pub files: Vec<PathBuf>,
    /// The truth JSON.
    pub truth_path: PathBuf,
    /// The gains `.npy`.
    pub gains_path: PathBuf,
    /// Bytes written (subband files + truth + gains).
    pub bytes_written: u64,
    /// Seconds preparing (array, sky, gains, truth).
    pub prepare_s: f64,
    /// Seconds of wall time spent computing visibilities (overlaps writing).
    pub compute_s: f64,
    /// Seconds of wall time spent in the writer (HDF5 calls, rename, sleeps).
    pub write_s: f64,
    /// Total wall time.
    pub total_s: f64,
}

/// Simulate one group: all files of `cfg.subbands`, in subband order, as fast as possible.
pub fn simulate_group(cfg: &SimConfig) -> Result<GroupSummary, SimError> {
    run(cfg, None)
}

/// Simulate one group the way the correlator writes it (see the module docs).
pub fn simulate_group_like_correlator(
    cfg: &SimConfig,
    mode: &CorrelatorMode,
) -> Result<GroupSummary, SimError> {
    run(cfg, Some(mode))
}

fn run(cfg: &SimConfig, mode: Option<&CorrelatorMode>) -> Result<GroupSummary, SimError> {
    let t0 = Instant::now();
    let plan = Plan::new(cfg)?;
    let out_dir = plan.out_dir.clone();
    std::fs::create_dir_all(&out_dir).map_err(|source| SimError::Io {
        path: out_dir.clone(),
        source,
    })?;
    let _span = tracing::info_span!("simulate_group", group_id = %plan.group_id).entered();
    let gpath = gains_path(&out_dir, &plan.group_id);
    let tpath = truth_path(&out_dir, &plan.group_id);
    let mut bytes = write_npy(&gpath, &plan.gains)?;
    bytes += Truth::from_plan(&plan).write(&tpath)?;

    let mut order: Vec<usize> = (0..plan.files.len()).collect();
    if mode.is_some_and(|m| m.shuffle_subbands) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed_for(cfg.seed, &[0x0D]));
        order.shuffle(&mut rng);
    }
    let delay = mode.map(|m| m.delay_per_integration);
    let prepare_s = t0.elapsed().as_secs_f64();

    let (tx, rx) = sync_channel::<(usize, Vec<Chunk>, Duration)>(1);
    let plan_ref = &plan;
    let order_ref = &order;
    let mut compute = Duration::ZERO;
    let mut write = Duration::ZERO;
    std::thread::scope(|scope| -> Result<(), SimError> {
        scope.spawn(move || {
            for &fi in order_ref {
                let t = Instant::now();
                let sb = plan_ref.files[fi].subband;
                let chunks: Vec<Chunk> = (0..plan_ref.times.len())
                    .into_par_iter()
                    .map(|k| compute_chunk(plan_ref, sb, k))
                    .collect();
                if tx.send((fi, chunks, t.elapsed())).is_err() {
                    break; // the writer failed and hung up
                }
            }
        });
        for (fi, chunks, c) in rx {
            compute += c;
            let t = Instant::now();
            let n = write_file(plan_ref, &plan_ref.files[fi], &chunks, delay)?;
            bytes += n;
            write += t.elapsed();
            tracing::debug!(file = %plan_ref.files[fi].stem, bytes = n, "subband written");
        }
        Ok(())
    })?;

    let files = plan
        .files
        .iter()
        .map(|f| out_dir.join(f.file_name()))
        .collect();
    let summary = GroupSummary {
        group_id: plan.group_id.clone(),
        files,
        truth_path: tpath,
        gains_path: gpath,
        bytes_written: bytes,
        prepare_s,
        compute_s: compute.as_secs_f64(),
        write_s: write.as_secs_f64(),
        total_s: t0.elapsed().as_secs_f64(),
    };
    tracing::info!(
        bytes = summary.bytes_written,
        total_s = summary.total_s,
        "group simulated"
    );
    Ok(summary)
}

/// Write one subband file via its `_incomplete` name; returns its size.
fn write_file(
    plan: &Plan,
    entry: &FileEntry,
    chunks: &[Chunk],
    correlator_delay: Option<Duration>,
) -> Result<u64, SimError> {
    let tmp = plan.out_dir.join(entry.incomplete_name());
    let fin = plan.out_dir.join(entry.file_name());
    let result = (|| {
        let mut w = Uvh5Writer::create(&tmp, plan, entry.subband)?;
        for (k, chunk) in chunks.iter().enumerate() {
            w.append(chunk, plan.times_jd[k], plan.cfg.int_time_s())?;
            if let Some(d) = correlator_delay {
                w.flush()?;
                if !d.is_zero() {
                    std::thread::sleep(d);
                }
            }
        }
        w.close()
    })();
    if let Err(e) = result {
        // best effort: do not leave a partial file behind
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &fin).map_err(|source| SimError::Io {
        path: fin.clone(),
        source,
    })?;
    std::fs::metadata(&fin)
        .map(|m| m.len())
        .map_err(|source| SimError::Io { path: fin, source })
}

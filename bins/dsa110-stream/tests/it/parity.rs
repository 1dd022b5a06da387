//! The daemon and the fallback converter drive the same stage runner: on the same input
//! they must leave the same rows and the same products, including for a group with an
//! invalid file (which neither opens in its own process).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use dsa110_pipeline_core::legacy::{self, LegacyConfig, LegacyParams};
use dsa110_sim::Scale;

use crate::common::*;

/// Rows of one query, as text, with the test's root directory replaced by `<root>`.
fn rows(db: &Path, root: &Path, sql: &str) -> Vec<Vec<String>> {
    let c = read_db(db);
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    let root = root.to_string_lossy().into_owned();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| {
                let v: rusqlite::types::Value = r.get(i).unwrap();
                let text = match v {
                    rusqlite::types::Value::Null => "NULL".to_string(),
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Real(f) => format!("{f:.9}"),
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Blob(b) => format!("{b:?}"),
                };
                text.replace(&root, "<root>")
            })
            .collect())
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// What a run left: the rows that say what happened, and every product file with its
/// size (the MS HISTORY, which names the application, aside).
fn outcome(root: &Path, db: &Path, output: &Path) -> BTreeMap<&'static str, Vec<Vec<String>>> {
    let mut m = BTreeMap::new();
    m.insert(
        "processing_queue",
        rows(
            db,
            root,
            "SELECT group_id, state, processing_stage, error, retry_count, expected_subbands, \
             has_calibrator, excluded_files FROM processing_queue ORDER BY group_id",
        ),
    );
    m.insert(
        "subband_files",
        rows(
            db,
            root,
            "SELECT group_id, subband_idx, path FROM subband_files ORDER BY group_id, subband_idx",
        ),
    );
    m.insert(
        "ms_index",
        rows(
            db,
            root,
            "SELECT path, group_id, start_mjd, end_mjd, mid_mjd, ra_deg, dec_deg, n_spw, n_rows, \
             n_missing_subbands, status FROM ms_index ORDER BY path",
        ),
    );
    m.insert(
        "group_stages",
        rows(
            db,
            root,
            "SELECT group_id, stage, status, attempts, error FROM group_stages \
             WHERE stage = 'conversion' ORDER BY group_id, stage",
        ),
    );
    m.insert(
        "hdf5_files",
        rows(
            db,
            root,
            "SELECT path, group_id, subband_num, timestamp_mjd, file_size_bytes, ra_deg, dec_deg \
             FROM hdf5_files ORDER BY path",
        ),
    );
    m.insert(
        "invalid files",
        rows(
            db,
            root,
            "SELECT path, reason FROM invalid_files ORDER BY path",
        ),
    );
    let mut files = Vec::new();
    list_files(output, output, &mut files);
    m.insert("products", files);
    m
}

fn list_files(base: &Path, dir: &Path, out: &mut Vec<Vec<String>>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
        if rel.contains("/HISTORY") {
            continue;
        }
        if p.is_dir() {
            list_files(base, &p, out);
        } else {
            out.push(vec![rel, std::fs::metadata(&p).unwrap().len().to_string()]);
        }
    }
}

#[test]
fn daemon_and_fallback_leave_the_same_rows_and_products() {
    // one input, copied to both: a full group, and a group whose sb03 is truncated
    let staged = Dirs::new();
    let mut files = write_staged(&sim_config(
        Scale::Tiny,
        &staged.staging(),
        0.0,
        1,
        &all_subbands(),
    ));
    let bad = write_staged(&sim_config(
        Scale::Tiny,
        &staged.staging(),
        309.0,
        2,
        &all_subbands(),
    ));
    truncate_to_half(&bad[3]);
    files.extend(bad.iter().cloned());

    let daemon_dirs = Dirs::new();
    let fallback_dirs = Dirs::new();
    for d in [&daemon_dirs, &fallback_dirs] {
        for f in &files {
            std::fs::copy(f, d.input().join(f.file_name().unwrap())).unwrap();
        }
    }

    // the daemon, until idle
    // (the conversion compared: the daemon's science stages that would change the MS or
    // add products are off; with no calibration set the apply stage writes nothing)
    let mut daemon = Daemon::start(
        &daemon_dirs,
        &["--exit-when-idle", "--no-flagging", "--no-imaging"],
    );
    let status = daemon.wait_exit(Duration::from_secs(180));
    assert!(status.success(), "{status}\n{}", daemon.stderr());

    // the fallback, one pass, through the library (the same code as the binary)
    let cfg = LegacyConfig {
        input_dir: fallback_dirs.input(),
        output_dir: fallback_dirs.output(),
        queue_db: fallback_dirs.db(),
        expected_subbands: 16,
        chunk_minutes: 5.0,
        once: true,
        poll_interval_s: 0.5,
        min_subbands: 12,
        partial_timeout_s: 2.0,
        retry_limit: 3,
        settle_s: 0.0,
        eop: None,
        eop_table: None,
        command_line: "parity test".into(),
        validator_exe: Some(EXE.into()),
    };
    let summary = legacy::run(
        &LegacyParams::new(cfg).unwrap(),
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
    // the group with a truncated file is converted without it (15 ≥ --min-subbands)
    assert_eq!(summary.completed, 2, "{summary:?}");
    assert_eq!(summary.failed, 0, "{summary:?}");

    let a = outcome(daemon_dirs.root(), &daemon_dirs.db(), &daemon_dirs.output());
    let b = outcome(
        fallback_dirs.root(),
        &fallback_dirs.db(),
        &fallback_dirs.output(),
    );
    // the premises: something happened, and the invalid file was caught as invalid
    assert_eq!(a["ms_index"].len(), 2, "{a:#?}");
    assert!(!a["products"].is_empty());
    assert_eq!(a["invalid files"].len(), 1, "{a:#?}");
    let bad_name = bad[3].file_name().unwrap().to_str().unwrap();
    assert!(
        a["processing_queue"]
            .iter()
            .any(|r| r[1] == "completed" && r[7].contains(bad_name)),
        "{a:#?}"
    );
    for (table, rows) in &a {
        assert_eq!(
            rows, &b[table],
            "{table}: daemon (left) vs fallback (right)"
        );
    }
}

//! Per-stage state: resume at the failed stage, one-transaction completion,
//! ownership, skip and re-run on demand.

use std::path::{Path, PathBuf};

use dsa110_queue::{
    FailOutcome, Failure, GroupId, GroupState, ImageRecord, ImageType, MsRecord, PerformanceRecord,
    Product, Queue, QueueError, RetryPolicy, SolveResult, StageDone, StageStatus, SubbandIdx,
    STAGE_DONE, STAGE_QUEUED,
};

use crate::T0;

const W: &str = "node1:100";
const OTHER: &str = "node2:200";
const POLICY: RetryPolicy = RetryPolicy {
    retry_limit: 3,
    backoff_s: 10.0,
    max_backoff_s: 100.0,
};

fn fresh() -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path().join("q.sqlite3")).unwrap();
    (dir, q)
}

/// A one-subband group observed at `obs`, pending.
fn pending_group(q: &Queue, obs: f64) -> GroupId {
    let g = GroupId::from_unix_s(obs).unwrap();
    q.register_file(
        format!("/in/{g}_sb00.hdf5"),
        SubbandIdx::new(0).unwrap(),
        obs,
        1,
        obs,
    )
    .unwrap();
    assert_eq!(q.group(&g).unwrap().unwrap().state, GroupState::Pending);
    g
}

fn held_group(q: &Queue, obs: f64, now: f64) -> GroupId {
    let g = pending_group(q, obs);
    let got = q.acquire_next(W, now).unwrap().unwrap();
    assert_eq!(got.group_id, g);
    g
}

fn ms(g: &GroupId) -> MsRecord {
    MsRecord {
        path: PathBuf::from(format!("/out/{g}.ms")),
        group_id: g.clone(),
        created_at: T0,
        start_mjd: Some(60950.0),
        end_mjd: Some(60950.003),
        mid_mjd: Some(60950.0015),
        ra_deg: Some(150.0),
        dec_deg: Some(37.0),
        n_spw: Some(16),
        n_rows: Some(111_744),
        n_missing_subbands: Some(0),
        size_bytes: Some(1 << 30),
        status: "converted".into(),
    }
}

fn image(g: &GroupId, path: &str) -> ImageRecord {
    ImageRecord {
        id: None,
        path: PathBuf::from(path),
        ms_path: Some(PathBuf::from(format!("/out/{g}.ms"))),
        group_id: Some(g.clone()),
        created_at: T0,
        image_type: ImageType::Image,
        beam_major_arcsec: Some(17.0),
        beam_minor_arcsec: Some(15.0),
        beam_pa_deg: Some(3.0),
        noise_jy: Some(1e-3),
        dynamic_range: Some(500.0),
        pbcor: Some(false),
        center_ra_deg: Some(150.0),
        center_dec_deg: Some(37.0),
        imsize_x: Some(4096),
        imsize_y: Some(4096),
        cellsize_arcsec: Some(3.0),
        freq_ghz: Some(1.405),
        bandwidth_mhz: Some(187.5),
        integration_sec: Some(309.0),
        mid_mjd: Some(60950.0015),
    }
}

fn perf(g: &GroupId) -> PerformanceRecord {
    PerformanceRecord {
        group_id: g.clone(),
        load_time_s: Some(1.0),
        phase_time_s: Some(2.0),
        write_time_s: Some(3.0),
        total_time_s: Some(6.0),
        writer_type: Some("rust".into()),
        recorded_at: T0,
    }
}

fn done<'a>(products: &'a [Product], complete_group: bool) -> StageDone<'a> {
    StageDone {
        duration_s: 2.5,
        products,
        performance: None,
        complete_group,
    }
}

fn status_of(q: &Queue, g: &GroupId, stage: &str) -> Option<StageStatus> {
    q.stages(g)
        .unwrap()
        .into_iter()
        .find(|s| s.stage == stage)
        .map(|s| s.status)
}

fn not_owner<T: std::fmt::Debug>(r: Result<T, QueueError>) {
    assert!(matches!(r, Err(QueueError::NotOwner { .. })), "{r:?}");
}

#[test]
fn failed_second_stage_resumes_with_the_first_still_done() {
    let (_d, q) = fresh();
    let g = held_group(&q, T0, T0 + 1.0);
    q.begin_stage(&g, "convert", W, T0 + 2.0).unwrap();
    let products = [Product::Ms(ms(&g))];
    q.finish_stage(&g, "convert", W, &done(&products, false), T0 + 10.0)
        .unwrap();
    q.begin_stage(&g, "flag", W, T0 + 11.0).unwrap();
    assert_eq!(
        q.group(&g).unwrap().unwrap().processing_stage.as_deref(),
        Some("flag")
    );
    let failure = Failure {
        error: "io",
        message: "flagging /out/x.ms: disk went away",
        retryable: true,
    };
    let out = q
        .fail_stage(&g, "flag", W, &failure, &POLICY, T0 + 12.0)
        .unwrap();
    assert_eq!(
        out,
        FailOutcome::Retrying {
            retry_count: 1,
            next_attempt_at: T0 + 22.0
        }
    );
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Pending);
    assert_eq!(rec.processing_stage.as_deref(), Some(STAGE_QUEUED));
    let stages = q.stages(&g).unwrap();
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0].stage, "convert");
    assert_eq!(stages[0].status, StageStatus::Done);
    assert_eq!(stages[0].duration_s, Some(2.5));
    assert_eq!(stages[0].finished_at, Some(T0 + 10.0));
    assert_eq!(stages[1].stage, "flag");
    assert_eq!(stages[1].status, StageStatus::Failed);
    assert_eq!(
        stages[1].error.as_deref(),
        Some("io: flagging /out/x.ms: disk went away")
    );
    let ms_status = q
        .ms_status(Path::new(&format!("/out/{g}.ms")))
        .unwrap()
        .unwrap();
    assert_eq!(ms_status.stage.as_deref(), Some("flag"));
    assert_eq!(ms_status.stage_status.as_deref(), Some("failed"));

    // Not before the backoff; then the group comes back with "convert" done.
    assert!(q.acquire_next(W, T0 + 20.0).unwrap().is_none());
    let again = q.acquire_next(OTHER, T0 + 30.0).unwrap().unwrap();
    assert_eq!(again.group_id, g);
    let todo: Vec<String> = q
        .stages(&g)
        .unwrap()
        .into_iter()
        .filter(|s| !s.status.is_finished())
        .map(|s| s.stage)
        .collect();
    assert_eq!(todo, ["flag"]);
    q.begin_stage(&g, "flag", OTHER, T0 + 31.0).unwrap();
    let flag = &q.stages(&g).unwrap()[1];
    assert_eq!((flag.status, flag.attempts), (StageStatus::Running, 2));
    assert_eq!(flag.error, None);
    assert_eq!(flag.owner.as_deref(), Some(OTHER));
    q.finish_stage(&g, "flag", OTHER, &done(&[], true), T0 + 40.0)
        .unwrap();
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Completed);
    assert_eq!(rec.processing_stage.as_deref(), Some(STAGE_DONE));
    assert_eq!(rec.retry_count, 1);
    assert_eq!(rec.owner, None);
    assert_eq!(rec.finished_at, Some(T0 + 40.0));
    let attempts: Vec<u32> = q.stages(&g).unwrap().iter().map(|s| s.attempts).collect();
    assert_eq!(attempts, [1, 2]);
}

#[test]
fn final_stage_failure_fails_the_group_as_fail_does() {
    let (_d, q) = fresh();
    let g = held_group(&q, T0, T0 + 1.0);
    q.begin_stage(&g, "convert", W, T0 + 2.0).unwrap();
    let failure = Failure {
        error: "corrupt_file",
        message: "/in/x_sb00.hdf5: bad header",
        retryable: false,
    };
    let out = q
        .fail_stage(&g, "convert", W, &failure, &POLICY, T0 + 3.0)
        .unwrap();
    assert_eq!(out, FailOutcome::Failed { retry_count: 0 });
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Failed);
    assert_eq!(
        rec.error.as_deref(),
        Some("corrupt_file: /in/x_sb00.hdf5: bad header")
    );
    assert_eq!(status_of(&q, &g, "convert"), Some(StageStatus::Failed));
}

#[test]
fn finish_stage_records_products_stage_performance_and_completion_together() {
    let (_d, q) = fresh();
    let g = held_group(&q, T0, T0 + 1.0);
    q.begin_stage(&g, "image", W, T0 + 2.0).unwrap();
    let products = [
        Product::Ms(ms(&g)),
        Product::Image(image(&g, "/out/x-image.fits")),
    ];
    let p = perf(&g);
    let d = StageDone {
        duration_s: 8.0,
        products: &products,
        performance: Some(&p),
        complete_group: true,
    };
    q.finish_stage(&g, "image", W, &d, T0 + 10.0).unwrap();
    assert_eq!(q.ms_for_group(&g).unwrap(), [ms(&g)]);
    let imgs = q.images_for_group(&g).unwrap();
    assert_eq!(imgs.len(), 1);
    assert_eq!(
        ImageRecord {
            id: None,
            ..imgs[0].clone()
        },
        image(&g, "/out/x-image.fits")
    );
    assert_eq!(q.performance(&g).unwrap(), Some(p));
    assert_eq!(status_of(&q, &g, "image"), Some(StageStatus::Done));
    assert_eq!(q.group(&g).unwrap().unwrap().state, GroupState::Completed);
    let st = q
        .ms_status(Path::new(&format!("/out/{g}.ms")))
        .unwrap()
        .unwrap();
    assert_eq!(st.stage.as_deref(), Some("image"));
    assert_eq!(st.stage_status.as_deref(), Some("done"));
}

/// Asserts that nothing of an aborted `finish_stage` is visible.
fn assert_nothing_recorded(q: &Queue, g: &GroupId) {
    assert!(q.ms_for_group(g).unwrap().is_empty());
    assert!(q.images_for_group(g).unwrap().is_empty());
    assert_eq!(q.performance(g).unwrap(), None);
    assert_eq!(status_of(q, g, "convert"), Some(StageStatus::Running));
    let rec = q.group(g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::InProgress);
    assert_eq!(rec.owner.as_deref(), Some(W));
    assert_eq!(rec.processing_stage.as_deref(), Some("convert"));
}

#[test]
fn finish_stage_is_atomic_when_a_later_product_fails() {
    let (_d, q) = fresh();
    let g = held_group(&q, T0, T0 + 1.0);
    q.begin_stage(&g, "convert", W, T0 + 2.0).unwrap();
    // The MS and the image are inserted first; the solve of an unknown set
    // fails inside the same transaction.
    let products = [
        Product::Ms(ms(&g)),
        Product::Image(image(&g, "/out/x-image.fits")),
        Product::CalSolved {
            set_name: "never-begun".into(),
            result: SolveResult {
                valid_start_mjd: 1.0,
                valid_end_mjd: 2.0,
                refant: None,
                qa_json: None,
            },
        },
    ];
    let p = perf(&g);
    let d = StageDone {
        duration_s: 1.0,
        products: &products,
        performance: Some(&p),
        complete_group: true,
    };
    let err = q.finish_stage(&g, "convert", W, &d, T0 + 5.0).unwrap_err();
    assert!(
        matches!(
            &err,
            QueueError::NotFound {
                what: "calibration set",
                ..
            }
        ),
        "{err:?}"
    );
    assert_nothing_recorded(&q, &g);
}

#[test]
fn finish_stage_is_atomic_when_the_group_update_violates_a_constraint() {
    let (_d, q) = fresh();
    let g = held_group(&q, T0, T0 + 1.0);
    q.begin_stage(&g, "convert", W, T0 + 2.0).unwrap();
    // Inject a failure at the very last statement (group → completed),
    // after the products, the performance row and the stage row were written.
    let c = rusqlite::Connection::open(q.path()).unwrap();
    c.execute_batch(
        "CREATE TRIGGER refuse_completion BEFORE UPDATE OF state ON processing_queue \
         WHEN NEW.state = 'completed' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    let products = [
        Product::Ms(ms(&g)),
        Product::Image(image(&g, "/out/x-image.fits")),
    ];
    let p = perf(&g);
    let d = StageDone {
        duration_s: 1.0,
        products: &products,
        performance: Some(&p),
        complete_group: true,
    };
    let err = q.finish_stage(&g, "convert", W, &d, T0 + 5.0).unwrap_err();
    match &err {
        QueueError::Sqlite { op, source, .. } => {
            assert_eq!(*op, "finish_stage");
            assert!(source.is_constraint(), "{source:?}");
            assert!(!err.is_retryable());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_nothing_recorded(&q, &g);
    // Without the injected failure the same call succeeds.
    c.execute_batch("DROP TRIGGER refuse_completion;").unwrap();
    q.finish_stage(&g, "convert", W, &d, T0 + 6.0).unwrap();
    assert_eq!(q.group(&g).unwrap().unwrap().state, GroupState::Completed);
    assert_eq!(q.ms_for_group(&g).unwrap().len(), 1);
}

#[test]
fn stage_operations_check_ownership() {
    let (_d, q) = fresh();
    let g = held_group(&q, T0, T0 + 1.0);
    let products = [Product::Ms(ms(&g))];
    not_owner(q.begin_stage(&g, "convert", OTHER, T0 + 2.0));
    not_owner(q.finish_stage(&g, "convert", OTHER, &done(&products, true), T0 + 2.0));
    not_owner(q.skip_stage(&g, "convert", OTHER, "no", T0 + 2.0));
    let failure = Failure {
        error: "x",
        message: "y",
        retryable: true,
    };
    not_owner(q.fail_stage(&g, "convert", OTHER, &failure, &POLICY, T0 + 2.0));
    // Nothing was written by the refused calls.
    assert!(q.stages(&g).unwrap().is_empty());
    assert!(q.ms_for_group(&g).unwrap().is_empty());
    assert_eq!(q.group(&g).unwrap().unwrap().state, GroupState::InProgress);

    // A group that is not in progress is held by nobody.
    let pending = pending_group(&q, T0 + 1000.0);
    not_owner(q.begin_stage(&pending, "convert", W, T0 + 2.0));
    // A completed group neither.
    q.finish_stage(&g, "convert", W, &done(&products, true), T0 + 3.0)
        .unwrap();
    not_owner(q.finish_stage(&g, "convert", W, &done(&products, true), T0 + 4.0));
    let unknown = GroupId::parse("2030-01-01T00:00:00").unwrap();
    assert!(matches!(
        q.begin_stage(&unknown, "convert", W, T0),
        Err(QueueError::UnknownGroup(_))
    ));
    assert!(matches!(
        q.stages(&unknown),
        Err(QueueError::UnknownGroup(_))
    ));
    assert!(matches!(
        q.begin_stage(&g, "", W, T0),
        Err(QueueError::InvalidInput { .. })
    ));
}

#[test]
fn skip_then_reset_reruns_only_the_listed_stages() {
    let (_d, q) = fresh();
    let g = held_group(&q, T0, T0 + 1.0);
    q.begin_stage(&g, "convert", W, T0 + 2.0).unwrap();
    q.finish_stage(&g, "convert", W, &done(&[], false), T0 + 3.0)
        .unwrap();
    q.skip_stage(&g, "calibrate", W, "no valid calibration set", T0 + 4.0)
        .unwrap();
    q.begin_stage(&g, "image", W, T0 + 5.0).unwrap();
    assert!(matches!(
        q.reset_stages(&g, &["image"], T0 + 5.5),
        Err(QueueError::WrongState { .. })
    ));
    q.finish_stage(&g, "image", W, &done(&[], true), T0 + 6.0)
        .unwrap();
    let cal = &q.stages(&g).unwrap()[1];
    assert_eq!(cal.status, StageStatus::Skipped);
    assert_eq!(cal.error.as_deref(), Some("no valid calibration set"));
    assert!(cal.status.is_finished());

    q.reset_stages(&g, &["calibrate", "image"], T0 + 100.0)
        .unwrap();
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Pending);
    assert_eq!(rec.processing_stage.as_deref(), Some(STAGE_QUEUED));
    assert_eq!(rec.finished_at, None);
    let st: Vec<(String, StageStatus, u32)> = q
        .stages(&g)
        .unwrap()
        .into_iter()
        .map(|s| (s.stage, s.status, s.attempts))
        .collect();
    assert_eq!(
        st,
        [
            ("convert".to_string(), StageStatus::Done, 1),
            ("calibrate".to_string(), StageStatus::Pending, 0),
            ("image".to_string(), StageStatus::Pending, 1),
        ]
    );
    // A pending group stays pending; a new stage name creates a pending row.
    q.reset_stages(&g, &["photometry"], T0 + 101.0).unwrap();
    assert_eq!(q.group(&g).unwrap().unwrap().state, GroupState::Pending);
    assert_eq!(status_of(&q, &g, "photometry"), Some(StageStatus::Pending));
    let back = q.acquire_next(W, T0 + 102.0).unwrap().unwrap();
    assert_eq!(back.group_id, g);
}

#[test]
fn reset_of_a_failed_group_keeps_its_retry_count() {
    let (_d, q) = fresh();
    let g = held_group(&q, T0, T0 + 1.0);
    q.begin_stage(&g, "convert", W, T0 + 2.0).unwrap();
    let retryable = Failure {
        error: "io",
        message: "transient",
        retryable: true,
    };
    q.fail_stage(&g, "convert", W, &retryable, &POLICY, T0 + 3.0)
        .unwrap();
    q.acquire_next(W, T0 + 100.0).unwrap().unwrap();
    q.begin_stage(&g, "convert", W, T0 + 101.0).unwrap();
    let fatal = Failure {
        retryable: false,
        ..retryable
    };
    q.fail_stage(&g, "convert", W, &fatal, &POLICY, T0 + 102.0)
        .unwrap();
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!((rec.state, rec.retry_count), (GroupState::Failed, 1));

    q.reset_stages(&g, &["convert"], T0 + 200.0).unwrap();
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Pending);
    assert_eq!(rec.retry_count, 1);
    assert_eq!(
        (rec.error, rec.error_message, rec.next_attempt_at),
        (None, None, None)
    );
    assert_eq!(status_of(&q, &g, "convert"), Some(StageStatus::Pending));

    // A collecting group is left as it is.
    let c = GroupId::from_unix_s(T0 + 5000.0).unwrap();
    q.register_file(
        "/in/c_sb00.hdf5",
        SubbandIdx::new(0).unwrap(),
        T0 + 5000.0,
        2,
        T0,
    )
    .unwrap();
    q.reset_stages(&c, &["convert"], T0 + 8.0).unwrap();
    assert_eq!(q.group(&c).unwrap().unwrap().state, GroupState::Collecting);
    assert_eq!(status_of(&q, &c, "convert"), Some(StageStatus::Pending));
}

#[test]
fn recovery_release_and_requeue_update_stage_rows() {
    let (_d, q) = fresh();
    let g = held_group(&q, T0, T0 + 1.0);
    q.begin_stage(&g, "convert", W, T0 + 2.0).unwrap();
    q.release(&g, W, T0 + 3.0).unwrap();
    assert_eq!(status_of(&q, &g, "convert"), Some(StageStatus::Pending));

    q.acquire_next(W, T0 + 4.0).unwrap().unwrap();
    q.begin_stage(&g, "convert", W, T0 + 5.0).unwrap();
    let rec = q.recover_stale(|o| o != W, 600.0, 3, T0 + 6.0).unwrap();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].stage.as_deref(), Some("convert"));
    let s = &q.stages(&g).unwrap()[0];
    assert_eq!(s.status, StageStatus::Failed);
    assert!(
        s.error
            .as_deref()
            .unwrap_or("")
            .starts_with("worker_lost: "),
        "{s:?}"
    );

    q.acquire_next(W, T0 + 7.0).unwrap().unwrap();
    q.begin_stage(&g, "convert", W, T0 + 8.0).unwrap();
    q.finish_stage(&g, "convert", W, &done(&[], true), T0 + 9.0)
        .unwrap();
    q.enqueue_group_for_conversion(&g, T0 + 10.0).unwrap();
    assert_eq!(status_of(&q, &g, "convert"), Some(StageStatus::Pending));
    assert_eq!(q.stages(&g).unwrap()[0].attempts, 3);
}

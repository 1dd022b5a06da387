//! The stage runner on a real (tiny, simulated) group: a stage after conversion that
//! fails once is resumed on the retry without converting again; products, stage rows
//! and the group's state are recorded as the runner promises.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use dsa110_astro::{Eop, EopProvider, ObsTime};
use dsa110_pipeline_core::convert::ConvertParams;
use dsa110_pipeline_core::intake::{FileOutcome, Intake, IntakeParams};
use dsa110_pipeline_core::process::now_unix_s;
use dsa110_pipeline_core::runner::{GroupOutcome, NoObserver, Runner};
use dsa110_pipeline_core::stage::{
    ConversionStage, GroupWork, ProductKind, Stage, StageContext, StageError, StageOutput,
};
use dsa110_queue::{FailOutcome, GroupState, Queue, RetryPolicy, StageStatus};
use dsa110_sim::{simulate_group, Scale, SimConfig};

/// Counts the runs of the stage it wraps.
#[derive(Debug)]
struct Counting<S> {
    inner: S,
    runs: Arc<AtomicU32>,
}

impl<S: Stage> Stage for Counting<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn needs(&self) -> &'static [ProductKind] {
        self.inner.needs()
    }
    fn produces(&self) -> &'static [ProductKind] {
        self.inner.produces()
    }
    fn run(&self, ctx: &StageContext, work: &GroupWork) -> Result<StageOutput, StageError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.run(ctx, work)
    }
}

/// A second stage that needs the MS, checks it is there, and fails its first run.
#[derive(Debug, Default)]
struct FlakyAfterConversion {
    runs: AtomicU32,
}

impl Stage for FlakyAfterConversion {
    fn name(&self) -> &'static str {
        "inspection"
    }
    fn needs(&self) -> &'static [ProductKind] {
        &[ProductKind::MeasurementSet]
    }
    fn produces(&self) -> &'static [ProductKind] {
        &[]
    }
    fn run(&self, _ctx: &StageContext, work: &GroupWork) -> Result<StageOutput, StageError> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        let ms = work.ms_path.as_ref().expect("the runner hands over the MS");
        assert!(ms.join("table.dat").is_file(), "{}", ms.display());
        if n == 0 {
            return Err(StageError::Crashed {
                stage: "inspection",
                reason: "first attempt fails (test)".into(),
            });
        }
        Ok(StageOutput::default())
    }
}

fn register_group(queue: &Queue, input: &Path) {
    let mut cfg = SimConfig::for_scale(Scale::Tiny, input);
    cfg.start = ObsTime::from_iso("2025-10-02T00:12:00").unwrap();
    let files = simulate_group(&cfg).unwrap().files;
    let mut intake = Intake::new();
    let params = IntakeParams {
        expected_subbands: 16,
        settle_s: 0.0,
        eop: Arc::new(EopProvider::Fixed(Eop::default())),
    };
    for f in &files {
        let outcome = intake
            .consider(queue, f, &params, now_unix_s() + 10.0)
            .unwrap();
        assert!(
            matches!(outcome, FileOutcome::Registered(_)),
            "{f:?}: {outcome:?}"
        );
    }
}

#[test]
fn a_second_stage_that_fails_resumes_there_without_converting_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in"), tmp.path().join("ms"));
    std::fs::create_dir_all(&input).unwrap();
    let queue = Queue::open(tmp.path().join("q.sqlite3")).unwrap();
    register_group(&queue, &input);

    let conversions = Arc::new(AtomicU32::new(0));
    let flaky = Arc::new(FlakyAfterConversion::default());
    let retry = RetryPolicy {
        retry_limit: 3,
        backoff_s: 0.0,
        ..RetryPolicy::default()
    };
    let runner = Runner::new(
        vec![
            Arc::new(Counting {
                inner: ConversionStage,
                runs: Arc::clone(&conversions),
            }) as Arc<dyn Stage>,
            flaky.clone() as Arc<dyn Stage>,
        ],
        StageContext {
            queue: queue.clone(),
            convert: Arc::new(ConvertParams {
                output_dir: output.clone(),
                expected_subbands: 16,
                eop: Arc::new(EopProvider::Fixed(Eop::default())),
                overwrite: false,
                application: "test".into(),
                command_line: "test".into(),
            }),
        },
        retry,
    )
    .unwrap();

    // attempt 1: conversion done, the second stage fails, the group goes back to pending
    let group = queue.acquire_next("test:1", now_unix_s()).unwrap().unwrap();
    let gid = group.group_id.clone();
    let outcome = runner.run_group("test:1", group, &NoObserver).unwrap();
    let GroupOutcome::Failed {
        stage,
        outcome: fail,
        ..
    } = outcome
    else {
        panic!("the first attempt must fail: {outcome:?}");
    };
    assert_eq!(stage, Some("inspection"));
    assert!(matches!(fail, FailOutcome::Retrying { .. }), "{fail:?}");
    let rec = queue.group(&gid).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Pending);
    let stages: Vec<(String, StageStatus)> = queue
        .stages(&gid)
        .unwrap()
        .into_iter()
        .map(|r| (r.stage, r.status))
        .collect();
    assert_eq!(
        stages,
        [
            ("conversion".to_string(), StageStatus::Done),
            ("inspection".to_string(), StageStatus::Failed)
        ]
    );
    assert_eq!(queue.ms_for_group(&gid).unwrap().len(), 1, "MS recorded");
    assert_eq!(conversions.load(Ordering::SeqCst), 1);

    // attempt 2: resumes at the failed stage; the conversion does not run again
    let group = queue
        .acquire_next("test:2", now_unix_s() + 1.0)
        .unwrap()
        .unwrap();
    assert_eq!(group.group_id, gid);
    let outcome = runner.run_group("test:2", group, &NoObserver).unwrap();
    let GroupOutcome::Completed { outputs } = outcome else {
        panic!("the retry must complete: {outcome:?}");
    };
    let ran: Vec<&str> = outputs.iter().map(|(s, _)| *s).collect();
    assert_eq!(ran, ["inspection"], "only the failed stage ran");
    assert_eq!(conversions.load(Ordering::SeqCst), 1, "not converted again");
    assert_eq!(flaky.runs.load(Ordering::SeqCst), 2);
    let rec = queue.group(&gid).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Completed);
    assert!(queue
        .stages(&gid)
        .unwrap()
        .iter()
        .all(|r| r.status == StageStatus::Done));
    assert_eq!(queue.ms_for_group(&gid).unwrap().len(), 1, "one MS row");
}

#[test]
fn a_plan_whose_stage_needs_what_nothing_makes_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let queue = Queue::open(tmp.path().join("q.sqlite3")).unwrap();
    let err = Runner::new(
        vec![Arc::new(FlakyAfterConversion::default())],
        StageContext {
            queue,
            convert: Arc::new(ConvertParams {
                output_dir: tmp.path().into(),
                expected_subbands: 16,
                eop: Arc::new(EopProvider::Fixed(Eop::default())),
                overwrite: false,
                application: "test".into(),
                command_line: String::new(),
            }),
        },
        RetryPolicy::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("inspection"), "{err}");
}

//! Intake: a validator that cannot give a verdict is retried, with a limit.

use std::path::Path;

use dsa110_astro::{Eop, EopProvider};
use dsa110_pipeline_core::intake::{
    FileOutcome, FileValidator, Intake, IntakeParams, ValidatorError, Verdict,
    MAX_VALIDATOR_FAILURES,
};
use dsa110_queue::Queue;

/// Fails `fail_first` times, then says valid.
#[derive(Debug)]
struct Flaky {
    fail_first: u32,
    calls: std::sync::atomic::AtomicU32,
}

impl FileValidator for Flaky {
    fn validate(&self, path: &Path, _subband: u8, _eop: &Eop) -> Result<Verdict, ValidatorError> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < self.fail_first {
            return Err(ValidatorError {
                path: path.to_path_buf(),
                reason: "validator killed by SIGKILL (test)".into(),
            });
        }
        Ok(Verdict::Valid {
            ra_deg: None,
            dec_deg: None,
        })
    }
}

fn setup(fail_first: u32) -> (tempfile::TempDir, Queue, Intake, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let queue = Queue::open(tmp.path().join("q.sqlite3")).unwrap();
    let file = tmp.path().join("2025-10-02T00:12:00_sb03.hdf5");
    std::fs::write(&file, b"not looked at by this validator").unwrap();
    let intake = Intake::with_validator(Box::new(Flaky {
        fail_first,
        calls: 0.into(),
    }));
    (tmp, queue, intake, file)
}

fn params() -> IntakeParams {
    IntakeParams {
        expected_subbands: 16,
        settle_s: 0.0,
        eop: std::sync::Arc::new(EopProvider::Fixed(Eop::default())),
    }
}

fn now() -> f64 {
    dsa110_pipeline_core::process::now_unix_s() + 10.0
}

#[test]
fn a_transient_validator_failure_is_retried_and_the_file_registered() {
    let (_tmp, queue, mut intake, file) = setup(MAX_VALIDATOR_FAILURES - 1);
    let mut t = now();
    for _ in 0..MAX_VALIDATOR_FAILURES - 1 {
        let o = intake.consider(&queue, &file, &params(), t).unwrap();
        assert!(matches!(o, FileOutcome::NotSettled), "{o:?}");
        // before the back-off has passed the file is not tried again (no attempt used)
        let o = intake.consider(&queue, &file, &params(), t + 0.5).unwrap();
        assert!(matches!(o, FileOutcome::NotSettled), "{o:?}");
        t += 100.0;
    }
    let o = intake.consider(&queue, &file, &params(), t).unwrap();
    assert!(matches!(o, FileOutcome::Registered(_)), "{o:?}");
    assert_eq!(queue.invalid_reason(&file).unwrap(), None);
}

#[test]
fn a_validator_that_never_answers_ends_with_the_file_invalid_and_the_cause_named() {
    let (_tmp, queue, mut intake, file) = setup(u32::MAX);
    let mut t = now();
    for _ in 0..MAX_VALIDATOR_FAILURES - 1 {
        let o = intake.consider(&queue, &file, &params(), t).unwrap();
        assert!(matches!(o, FileOutcome::NotSettled), "{o:?}");
        t += 100.0;
    }
    let o = intake.consider(&queue, &file, &params(), t).unwrap();
    let FileOutcome::Invalid { reason, .. } = o else {
        panic!("recorded invalid after the limit: {o:?}");
    };
    assert!(reason.contains("SIGKILL"), "{reason}");
    assert!(
        reason.contains(&format!("{MAX_VALIDATOR_FAILURES} validation attempts")),
        "{reason}"
    );
    let stored = queue.invalid_reason(&file).unwrap().unwrap();
    assert!(stored.contains("SIGKILL"), "{stored}");
}

/// A directory named like a subband file and an `_sb99` name are reported (recorded in
/// `invalid_files` with the reason) once, instead of being skipped silently or rescanned
/// as unsettled forever; an unrelated name is still ignored.
#[test]
fn unusable_subband_names_are_recorded_once_with_the_reason() {
    let (tmp, queue, mut intake, _file) = setup(0);
    let dir = tmp.path().join("2025-10-02T00:12:00_sb04.hdf5");
    std::fs::create_dir(&dir).unwrap();
    let sb99 = tmp.path().join("2025-10-02T00:12:00_sb99.hdf5");
    std::fs::write(&sb99, b"x").unwrap();
    let other = tmp.path().join("notes.txt");
    std::fs::write(&other, b"x").unwrap();

    for (path, needle) in [(&dir, "is a directory"), (&sb99, "subband 99")] {
        let o = intake.consider(&queue, path, &params(), now()).unwrap();
        let FileOutcome::Unusable { reason } = o else {
            panic!("{}: {o:?}", path.display());
        };
        assert!(reason.contains(needle), "{reason}");
        assert_eq!(o_metric(&reason), Some("rejected"));
        let stored = queue.invalid_reason(path).unwrap().unwrap();
        assert!(stored.contains(needle), "{stored}");
        // reported once
        let again = intake.consider(&queue, path, &params(), now()).unwrap();
        assert!(matches!(again, FileOutcome::Unchanged), "{again:?}");
    }
    let o = intake.consider(&queue, &other, &params(), now()).unwrap();
    assert!(matches!(o, FileOutcome::Ignored), "{o:?}");
}

fn o_metric(reason: &str) -> Option<&'static str> {
    FileOutcome::Unusable {
        reason: reason.to_owned(),
    }
    .metric_outcome()
}

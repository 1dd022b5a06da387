//! Validating subband files in a child process.
//!
//! libhdf5 1.10 can crash (SIGSEGV) on some corrupted metadata, which no Rust code can
//! catch. The daemon therefore never opens a new file in its own process before it has
//! been validated: [`ChildValidator`] re-executes the daemon's binary with the hidden
//! arguments [`VALIDATE_FILE_FLAG`] `PATH --subband N --eop=DUT1,XP,YP`; the child runs
//! [`run_validation`], writes one JSON [`Verdict`] line on stdout and exits 0. A child
//! that crashes (SIGSEGV, SIGABRT, …) makes the file invalid ("validator crashed (signal
//! 11, SIGSEGV)"). A child killed by SIGKILL (the OOM killer), one that hangs past the
//! timeout (and is killed), and an I/O error reading the file give no verdict: the intake
//! tries the file again later, a bounded number of times.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dsa110_astro::Eop;

use crate::intake::{validate_here, FileValidator, ValidatorError, Verdict};

/// The hidden option that puts the daemon's binary in validator mode.
pub const VALIDATE_FILE_FLAG: &str = "--validate-file";

/// Longest a validator child may run before the file counts as invalid.
pub const VALIDATOR_TIMEOUT: Duration = Duration::from_secs(120);

/// Validates in a child process (see the module docs).
#[derive(Debug, Clone)]
pub struct ChildValidator {
    exe: PathBuf,
    timeout: Duration,
}

impl ChildValidator {
    /// A validator running `exe` (normally `std::env::current_exe()`), killing children
    /// that take longer than `timeout`.
    pub fn new(exe: impl Into<PathBuf>, timeout: Duration) -> Self {
        Self {
            exe: exe.into(),
            timeout,
        }
    }
}

/// `UT1-UTC_s,xp_arcsec,yp_arcsec`, the format of the binaries' `--eop` option.
pub fn format_eop(eop: &Eop) -> String {
    let arcsec = dsa110_astro::constants::ARCSEC;
    format!(
        "{},{},{}",
        eop.dut1_s,
        eop.xp_rad / arcsec,
        eop.yp_rad / arcsec
    )
}

/// The child's side: validate `path` in this process and return the JSON line to print.
pub fn run_validation(path: &Path, subband: u8, eop: &Eop) -> String {
    let verdict = validate_here(path, subband, eop);
    serde_json::to_string(&verdict).unwrap_or_else(|e| {
        format!(r#"{{"status":"invalid","reason":"cannot encode the verdict: {e}"}}"#)
    })
}

impl FileValidator for ChildValidator {
    fn validate(&self, path: &Path, subband: u8, eop: &Eop) -> Result<Verdict, ValidatorError> {
        let err = |reason: String| ValidatorError {
            path: path.to_path_buf(),
            reason,
        };
        let mut child = Command::new(&self.exe)
            .arg(VALIDATE_FILE_FLAG)
            .arg(path)
            .arg("--subband")
            .arg(subband.to_string())
            // `--eop=…` in one argument: a negative UT1-UTC must not read as a flag
            .arg(format!("--eop={}", format_eop(eop)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| err(format!("cannot start {}: {e}", self.exe.display())))?;
        // Output is one short line; read it on threads so a chatty child cannot block.
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let out_reader = std::thread::spawn(move || read_all(stdout));
        let err_reader = std::thread::spawn(move || read_all(stderr));
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(err(format!("waiting for the validator: {e}"))),
            }
        };
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        let Some(status) = status else {
            // a hang may be the file system's (a stalled NFS mount) as well as the file's
            return Err(err(format!(
                "validator did not finish within {:.0} s and was killed",
                self.timeout.as_secs_f64()
            )));
        };
        if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
            let name = signal_name(signal);
            if signal == 9 {
                // SIGKILL comes from outside (the OOM killer, an operator), not from the file
                return Err(err(format!(
                    "validator killed by signal {signal} ({name}; out of memory?)"
                )));
            }
            return Ok(Verdict::Invalid {
                reason: format!(
                    "{}: validator crashed (signal {signal}, {name}) reading the file",
                    path.display()
                ),
            });
        }
        let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
        match line.map(serde_json::from_str::<Verdict>) {
            Some(Ok(verdict)) if status.success() => crate::intake::no_retry_verdict(path, verdict),
            _ => Err(err(format!(
                "validator exited with {status} without a verdict: {}",
                stderr.trim()
            ))),
        }
    }
}

/// The conventional name of a signal number (those a crashing or killed child gets).
fn signal_name(signal: i32) -> &'static str {
    match signal {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        _ => "signal",
    }
}

fn read_all(r: Option<impl Read>) -> String {
    let mut s = String::new();
    if let Some(mut r) = r {
        let _ = r.read_to_string(&mut s);
    }
    s
}

/// The validator child's whole job (`<binary> --validate-file PATH [--subband N]`): one
/// JSON verdict line on stdout; returns the exit status (0; 2 when the subband cannot be
/// told from the name; 1 when stdout fails). A crash is the parent's verdict.
pub fn child_main(path: &Path, subband: Option<u8>, eop: &Eop) -> u8 {
    use std::io::Write;
    let subband = match subband {
        Some(s) => s,
        None => {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            match crate::intake::subband_of_name(name) {
                Some(s) => s,
                None => return 2,
            }
        }
    };
    let line = run_validation(path, subband, eop);
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eop_round_trips_through_the_option_format() {
        let eop = Eop {
            dut1_s: -0.125,
            xp_rad: 0.25 * dsa110_astro::constants::ARCSEC,
            yp_rad: 0.5 * dsa110_astro::constants::ARCSEC,
        };
        assert_eq!(format_eop(&eop), "-0.125,0.25,0.5");
    }

    #[test]
    fn verdicts_serialise_with_a_status_tag() {
        let v = Verdict::Invalid {
            reason: "x: truncated".into(),
        };
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(s, r#"{"status":"invalid","reason":"x: truncated"}"#);
        assert_eq!(serde_json::from_str::<Verdict>(&s).unwrap(), v);
    }

    #[test]
    fn a_child_killed_by_a_signal_makes_the_file_invalid() {
        // `sh -c 'kill -SEGV $$'` stands in for a validator that crashes.
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("crash.sh");
        std::fs::write(&script, "#!/bin/sh\nkill -SEGV $$\n").unwrap();
        let mut perm = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&script, perm).unwrap();
        let v = ChildValidator::new(&script, Duration::from_secs(10));
        let verdict = v
            .validate(Path::new("/in/x_sb01.hdf5"), 1, &Eop::default())
            .unwrap();
        match verdict {
            Verdict::Invalid { reason } => {
                assert!(
                    reason.contains("validator crashed (signal 11, SIGSEGV)"),
                    "{reason}"
                );
                assert!(reason.contains("/in/x_sb01.hdf5"), "{reason}");
            }
            v => panic!("{v:?}"),
        }
    }

    fn script(dir: &Path, body: &str) -> PathBuf {
        let script = dir.join("validator.sh");
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
        let mut perm = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&script, perm).unwrap();
        script
    }

    #[test]
    fn sigkill_a_hang_and_a_read_error_are_no_verdict_to_be_retried() {
        let dir = tempfile::tempdir().unwrap();
        let file = Path::new("/in/x_sb01.hdf5");
        // the OOM killer's SIGKILL
        let v = ChildValidator::new(script(dir.path(), "kill -KILL $$"), Duration::from_secs(10));
        let e = v.validate(file, 1, &Eop::default()).unwrap_err();
        assert!(e.to_string().contains("killed by signal 9 (SIGKILL"), "{e}");
        // a hang past the timeout
        let v = ChildValidator::new(script(dir.path(), "sleep 5"), Duration::from_millis(300));
        let e = v.validate(file, 1, &Eop::default()).unwrap_err();
        assert!(e.to_string().contains("did not finish within"), "{e}");
        // a child that could not read the file (an I/O error) says so: no verdict
        let retry =
            r#"echo '{"status":"retry","reason":"x: I/O error: Permission denied (os error 13)"}'"#;
        let v = ChildValidator::new(script(dir.path(), retry), Duration::from_secs(10));
        let e = v.validate(file, 1, &Eop::default()).unwrap_err();
        assert!(e.to_string().contains("Permission denied"), "{e}");
    }

    #[test]
    fn a_missing_validator_is_not_a_verdict() {
        let v = ChildValidator::new("/nonexistent/validator", Duration::from_secs(1));
        let e = v
            .validate(Path::new("/in/x_sb01.hdf5"), 1, &Eop::default())
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/validator"), "{e}");
    }
}

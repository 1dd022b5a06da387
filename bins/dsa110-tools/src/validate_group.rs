//! `dsa110-tools validate-group GROUP_ID --queue-db DB`: the operators' check
//! for corrupt files in one group (the guide's `validate_group_files`).
//!
//! The group's files come from the queue (`subband_files`); each is validated
//! now, as intake validates it (header and the last chunk of every dataset),
//! in a child process (`dsa110-tools validate-file-child`, hidden) because
//! libhdf5 1.10 can crash on corrupted metadata: a crash costs one file's
//! verdict ("validator crashed (signal 11)"), not the report. The reason the
//! queue recorded at intake (`invalid_files`) is shown beside a file's verdict.
//!
//! Exit status: 0 every file valid; 1 at least one invalid (or missing from
//! disk); 2 usage (malformed group id, no such database, unknown group);
//! 3 the check itself failed (database unreadable).

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use dsa110_queue::{GroupId, Queue, N_SUBBANDS};
use serde_json::{json, Value};

/// Name of the hidden subcommand that validates one file and prints a verdict.
pub const CHILD_SUBCOMMAND: &str = "validate-file-child";

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per file, for people.
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `validate-group`.
#[derive(Debug, clap::Args)]
pub struct ValidateGroupArgs {
    /// The group id (observation timestamp `YYYY-MM-DDTHH:MM:SS`).
    pub group_id: String,
    /// The queue database (SQLite), opened read-only.
    #[arg(long)]
    pub queue_db: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Seconds a file's validation may take before it counts as invalid.
    #[arg(long, default_value_t = 120.0)]
    pub timeout_s: f64,
    /// Validate in this process instead of one child process per file
    /// (faster, but a libhdf5 crash on a corrupt file ends the command).
    #[arg(long)]
    pub in_process: bool,
}

/// Arguments of the hidden per-file validator.
#[derive(Debug, clap::Args)]
pub struct ChildArgs {
    /// The file.
    pub path: PathBuf,
    /// Its subband index.
    #[arg(long)]
    pub subband: u8,
}

/// One file's verdict.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// It passed validation.
    Valid,
    /// It did not, and why (the whole error chain).
    Invalid(String),
}

/// One file of the group.
#[derive(Clone, Debug)]
pub struct FileReport {
    /// Subband index.
    pub subband: u8,
    /// Path as registered in the queue.
    pub path: PathBuf,
    /// Today's verdict.
    pub verdict: Verdict,
    /// The reason recorded at intake in `invalid_files`, if any.
    pub recorded_invalid: Option<String>,
}

/// The result for one group.
#[derive(Clone, Debug)]
pub struct GroupReport {
    /// The group.
    pub group_id: String,
    /// Its queue state.
    pub state: String,
    /// Its files, by subband.
    pub files: Vec<FileReport>,
    /// Expected subbands with no file registered.
    pub missing_subbands: Vec<u8>,
}

impl GroupReport {
    /// Number of invalid files.
    pub fn n_invalid(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::Invalid(_)))
            .count()
    }

    /// Number of valid files.
    pub fn n_valid(&self) -> usize {
        self.files.len() - self.n_invalid()
    }

    /// The text report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "group {} ({}): {} valid, {} invalid, {} missing",
            self.group_id,
            self.state,
            self.n_valid(),
            self.n_invalid(),
            self.missing_subbands.len()
        );
        for f in &self.files {
            match &f.verdict {
                Verdict::Valid => {
                    let _ = writeln!(s, "valid    sb{:02}  {}", f.subband, f.path.display());
                }
                Verdict::Invalid(reason) => {
                    // the reason usually starts with the path: say it once
                    let path = f.path.display().to_string();
                    let reason = reason
                        .strip_prefix(&path)
                        .and_then(|r| r.strip_prefix(": "))
                        .unwrap_or(reason);
                    let _ = writeln!(s, "INVALID  sb{:02}  {path}: {reason}", f.subband);
                }
            }
            if let Some(r) = &f.recorded_invalid {
                let _ = writeln!(s, "         (recorded invalid at intake: {r})");
            }
        }
        for sb in &self.missing_subbands {
            let _ = writeln!(s, "missing  sb{sb:02}");
        }
        s
    }

    /// The JSON report.
    pub fn to_json(&self) -> Value {
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| {
                let (valid, reason) = match &f.verdict {
                    Verdict::Valid => (true, None),
                    Verdict::Invalid(r) => (false, Some(r.clone())),
                };
                json!({
                    "subband": f.subband,
                    "path": f.path.display().to_string(),
                    "valid": valid,
                    "reason": reason,
                    "recorded_invalid": f.recorded_invalid,
                })
            })
            .collect();
        json!({
            "group_id": self.group_id,
            "state": self.state,
            "n_valid": self.n_valid(),
            "n_invalid": self.n_invalid(),
            "missing_subbands": self.missing_subbands,
            "files": files,
        })
    }
}

/// Why the check could not be made.
#[derive(Debug)]
pub enum CheckError {
    /// The operator's input is wrong (exit status 2).
    Usage(anyhow::Error),
    /// The check itself failed (exit status 3).
    Failed(anyhow::Error),
}

/// The error and its causes, each once: a cause whose text the message
/// already contains (errors that still print their source) is not repeated.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

/// Validates one file in this process.
pub fn validate_in_process(path: &Path, subband: u8) -> Verdict {
    match dsa110_hdf5_ingest::validate(path, Some(subband)) {
        Ok(_) => Verdict::Valid,
        Err(e) => Verdict::Invalid(error_chain(&e)),
    }
}

/// Validates one file in a child process running `exe validate-file-child`.
pub fn validate_in_child(exe: &Path, path: &Path, subband: u8, timeout: Duration) -> Verdict {
    let spawned = Command::new(exe)
        .arg(CHILD_SUBCOMMAND)
        .arg(path)
        .arg("--subband")
        .arg(subband.to_string())
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Verdict::Invalid(format!("cannot start the validator {}: {e}", exe.display()))
        }
    };
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let out_reader = std::thread::spawn(move || read_all(stdout));
    let err_reader = std::thread::spawn(move || read_all(stderr));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "validator did not finish within {:.0} s (killed)",
                    timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break Err(format!("waiting for the validator: {e}")),
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let status = match status {
        Ok(s) => s,
        Err(reason) => return Verdict::Invalid(reason),
    };
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return Verdict::Invalid(format!(
            "validator crashed (signal {signal}) reading the file"
        ));
    }
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    let parsed = line.and_then(|l| serde_json::from_str::<Value>(l).ok());
    match parsed {
        Some(v) if status.success() && v["valid"] == Value::Bool(true) => Verdict::Valid,
        Some(v) if status.success() => Verdict::Invalid(
            v["reason"]
                .as_str()
                .unwrap_or("invalid (no reason given)")
                .to_string(),
        ),
        _ => Verdict::Invalid(format!(
            "validator exited with {status} without a verdict: {}",
            stderr.trim()
        )),
    }
}

fn read_all(r: Option<impl Read>) -> String {
    let mut s = String::new();
    if let Some(mut r) = r {
        let _ = r.read_to_string(&mut s);
    }
    s
}

/// The check: the group's files from the queue, each validated by `validate`.
pub fn check_group(
    queue_db: &Path,
    group: &str,
    validate: &dyn Fn(&Path, u8) -> Verdict,
) -> Result<GroupReport, CheckError> {
    let group_id = GroupId::parse(group).map_err(|e| {
        CheckError::Usage(anyhow::anyhow!(
            "{group:?} is not a group id (YYYY-MM-DDTHH:MM:SS): {}",
            error_chain(&e)
        ))
    })?;
    if !queue_db.is_file() {
        return Err(CheckError::Usage(anyhow::anyhow!(
            "no queue database at {}",
            queue_db.display()
        )));
    }
    let failed = |what: &str, e: dsa110_queue::QueueError| {
        CheckError::Failed(anyhow::anyhow!(
            "{what} {}: {}",
            queue_db.display(),
            error_chain(&e)
        ))
    };
    let queue = Queue::open_readonly(queue_db).map_err(|e| failed("cannot open", e))?;
    let record = queue
        .group(&group_id)
        .map_err(|e| failed("cannot read the group from", e))?
        .ok_or_else(|| {
            CheckError::Usage(anyhow::anyhow!(
                "unknown group {group_id}: not in the queue {}",
                queue_db.display()
            ))
        })?;
    let mut registered = queue
        .group_files(&group_id)
        .map_err(|e| failed("cannot list the group's files in", e))?;
    registered.sort_by_key(|f| f.subband);
    let mut files = Vec::with_capacity(registered.len());
    for f in &registered {
        let sb = f.subband.get();
        let recorded_invalid = queue
            .invalid_reason(&f.path)
            .map_err(|e| failed("cannot read invalid_files in", e))?;
        files.push(FileReport {
            subband: sb,
            path: f.path.clone(),
            verdict: validate(&f.path, sb),
            recorded_invalid,
        });
    }
    let expected = record
        .expected_subbands
        .and_then(|n| u8::try_from(n).ok())
        .unwrap_or(N_SUBBANDS);
    let missing_subbands = (0..expected)
        .filter(|sb| !files.iter().any(|f| f.subband == *sb))
        .collect();
    Ok(GroupReport {
        group_id: group_id.to_string(),
        state: record.state.as_str().to_string(),
        files,
        missing_subbands,
    })
}

/// `validate-group`: prints the report and returns the exit status.
#[allow(clippy::print_stdout)]
pub fn run(args: &ValidateGroupArgs) -> ExitCode {
    let exe = std::env::current_exe();
    let timeout = Duration::from_secs_f64(args.timeout_s.clamp(1.0, 86_400.0));
    let in_process = args.in_process;
    let validate = move |path: &Path, sb: u8| -> Verdict {
        if in_process {
            return validate_in_process(path, sb);
        }
        match &exe {
            Ok(exe) => validate_in_child(exe, path, sb, timeout),
            Err(e) => Verdict::Invalid(format!("cannot find this executable to re-run: {e}")),
        }
    };
    match check_group(&args.queue_db, &args.group_id, &validate) {
        Ok(report) => {
            match args.format {
                Format::Text => print!("{}", report.to_text()),
                Format::Json => println!("{}", report.to_json()),
            }
            if report.n_invalid() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(CheckError::Usage(e)) => {
            tracing::error!("{e:#}");
            ExitCode::from(2)
        }
        Err(CheckError::Failed(e)) => {
            tracing::error!("{e:#}");
            ExitCode::from(3)
        }
    }
}

/// The hidden child: validate one file, print `{"valid":…,"reason":…}`, exit 0.
#[allow(clippy::print_stdout)]
pub fn run_child(args: &ChildArgs) -> ExitCode {
    let v = match validate_in_process(&args.path, args.subband) {
        Verdict::Valid => json!({"valid": true}),
        Verdict::Invalid(reason) => json!({"valid": false, "reason": reason}),
    };
    println!("{v}");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error, bool);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if self.1 {
                write!(f, "reading x.hdf5: {}", self.0)
            } else {
                write!(f, "reading x.hdf5")
            }
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn error_chain_shows_each_cause_once() {
        let io = || std::io::Error::other("No space left on device");
        assert_eq!(
            error_chain(&Outer(io(), false)),
            "reading x.hdf5: No space left on device"
        );
        assert_eq!(
            error_chain(&Outer(io(), true)),
            "reading x.hdf5: No space left on device"
        );
    }

    #[test]
    fn report_counts_and_formats() {
        let r = GroupReport {
            group_id: "2025-10-02T00:12:00".into(),
            state: "failed".into(),
            files: vec![
                FileReport {
                    subband: 0,
                    path: "a_sb00.hdf5".into(),
                    verdict: Verdict::Valid,
                    recorded_invalid: None,
                },
                FileReport {
                    subband: 1,
                    path: "a_sb01.hdf5".into(),
                    verdict: Verdict::Invalid("truncated".into()),
                    recorded_invalid: Some("truncated".into()),
                },
            ],
            missing_subbands: vec![2],
        };
        assert_eq!((r.n_valid(), r.n_invalid()), (1, 1));
        let t = r.to_text();
        assert!(t.starts_with("group 2025-10-02T00:12:00 (failed): 1 valid, 1 invalid, 1 missing"));
        assert!(t.contains("INVALID  sb01  a_sb01.hdf5: truncated"), "{t}");
        assert!(t.contains("missing  sb02"), "{t}");
        let j = r.to_json();
        assert_eq!(j["files"][1]["valid"], false);
        assert_eq!(j["missing_subbands"][0], 2);
    }
}

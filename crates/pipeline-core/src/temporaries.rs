//! Temporary product names and their clean-up.
//!
//! Every product is written under a temporary name in its final directory and renamed
//! into place when complete: `<final_name>.tmp-<host>-<pid>`. The host is part of the
//! name because several hosts may share an output directory (and a queue): a clean-up
//! only ever removes a temporary whose owner it can prove dead, that is one written on
//! this host by a process that no longer runs. Another host's temporary is left alone,
//! whatever its age: its owner may be alive.

use std::path::{Path, PathBuf};

use crate::process::{host_name, pid_alive};

/// The temporary path this process uses for `final_name` in `dir`.
pub fn temporary_path(dir: &Path, final_name: &str) -> PathBuf {
    dir.join(format!(
        "{final_name}.tmp-{}-{}",
        host_name(),
        std::process::id()
    ))
}

/// Checks that `bytes` can still be written in `dir` before a product is written there, by
/// reserving them: a temporary file (named as [`temporary_path`] names it, so a crash
/// leaves nothing a clean-up would not remove) is allocated with `fallocate` and removed
/// at once. A full disk is then an ordinary error carrying the OS's own message ("No
/// space left on device") before casacore starts writing — casacore aborts the process
/// when a write fails deep in its storage managers. A filesystem without `fallocate`
/// counts as having the space.
///
/// # Errors
/// The OS's error when the space is not there (or the file cannot be created).
pub fn reserve_space(dir: &Path, final_name: &str, bytes: u64) -> std::io::Result<()> {
    let path = temporary_path(dir, &format!("{final_name}.reserve"));
    let file = std::fs::File::create(&path)?;
    let res = rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, bytes);
    drop(file);
    let _ = std::fs::remove_file(&path);
    match res {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => Ok(()),
        Err(e) => Err(std::io::Error::from(e)),
    }
}

/// A temporary product name, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Temporary {
    /// The product's final name (e.g. `<group>.ms`).
    pub final_name: String,
    /// The host that writes it; `None` for names of earlier versions (`.tmp-<pid>`),
    /// which were only ever written by a single host.
    pub host: Option<String>,
    /// The writing process.
    pub pid: u32,
}

impl Temporary {
    /// Parses a file name; `None` when it is not a temporary product name.
    pub fn parse(name: &str) -> Option<Self> {
        let (final_name, owner) = name.split_once(".tmp-")?;
        if final_name.is_empty() {
            return None;
        }
        let (host, pid) = match owner.rsplit_once('-') {
            Some((host, pid)) if !host.is_empty() => (Some(host.to_string()), pid),
            Some(_) => return None,
            None => (None, owner),
        };
        let pid = pid.parse().ok()?;
        Some(Self {
            final_name: final_name.to_string(),
            host,
            pid,
        })
    }

    /// Whether its writer is provably gone: written on this host (`host`) by a process
    /// that is not running, or by this very process when `own_pid_is_dead` (at start,
    /// a leftover with our pid is a previous process that had the same pid).
    pub fn owner_is_dead(&self, host: &str, own_pid_is_dead: bool) -> bool {
        if self.host.as_deref().is_some_and(|h| h != host) {
            return false;
        }
        if self.pid == std::process::id() {
            return own_pid_is_dead;
        }
        !pid_alive(self.pid)
    }
}

/// Removes the temporaries in `dir` whose writer is provably gone (see
/// [`Temporary::owner_is_dead`]), only those of `final_name` when given. Returns the
/// removed paths; failures to remove are logged, never fatal (the next clean-up tries
/// again).
pub fn remove_dead(dir: &Path, final_name: Option<&str>, own_pid_is_dead: bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let host = host_name();
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(t) = Temporary::parse(&name) else {
            continue;
        };
        if final_name.is_some_and(|f| f != t.final_name) {
            continue;
        }
        if !t.owner_is_dead(&host, own_pid_is_dead) {
            if t.host.as_deref().is_some_and(|h| h != host) {
                tracing::info!(path = %e.path().display(),
                    "leaving a temporary product of another host alone (its writer may be alive)");
            }
            continue;
        }
        match std::fs::remove_dir_all(e.path()).or_else(|err| {
            if err.kind() == std::io::ErrorKind::NotADirectory {
                std::fs::remove_file(e.path())
            } else {
                Err(err)
            }
        }) {
            Ok(()) => {
                tracing::info!(path = %e.path().display(),
                    "removed the temporary product of a stopped process");
                removed.push(e.path());
            }
            Err(err) => tracing::warn!(path = %e.path().display(),
                "cannot remove a stale temporary product: {err}"),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_with_host_and_pid() {
        let p = temporary_path(Path::new("/out"), "2025-10-02T00:12:00.ms");
        let name = p.file_name().unwrap().to_str().unwrap();
        let t = Temporary::parse(name).unwrap();
        assert_eq!(t.final_name, "2025-10-02T00:12:00.ms");
        assert_eq!(t.host.as_deref(), Some(host_name().as_str()));
        assert_eq!(t.pid, std::process::id());
        // hosts may contain dashes; old names have no host
        let t = Temporary::parse("g.ms.tmp-dsa-node-3-4242").unwrap();
        assert_eq!((t.host.as_deref(), t.pid), (Some("dsa-node-3"), 4242));
        let t = Temporary::parse("g.ms.tmp-4242").unwrap();
        assert_eq!((t.host, t.pid), (None, 4242));
        for bad in [
            "g.ms",
            "g.ms.tmp-",
            "g.ms.tmp-host-x",
            ".tmp-1",
            "g.ms.tmp--5",
        ] {
            assert_eq!(Temporary::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_provably_dead_local_writers_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_name();
        // a pid that cannot be running: beyond pid_max
        let dead = 4_194_304 + 17;
        let me = std::process::id();
        let names = [
            format!("a.ms.tmp-{host}-{dead}"),     // dead, this host: removed
            format!("b.ms.tmp-{dead}"),            // dead, old format: removed
            format!("c.ms.tmp-other-host-{dead}"), // another host: kept
            format!("d.ms.tmp-{host}-{me}"),       // ourselves: kept unless told
            format!("e.ms.tmp-{host}-1"),          // init: alive, kept
            "f.ms".to_string(),                    // a product: kept
        ];
        for n in &names {
            std::fs::create_dir(dir.path().join(n)).unwrap();
        }
        let mut removed: Vec<String> = remove_dead(dir.path(), None, false)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        removed.sort();
        assert_eq!(removed, [names[0].clone(), names[1].clone()]);
        // restricted to one product, our own pid counted dead (start-up)
        let removed = remove_dead(dir.path(), Some("c.ms"), true);
        assert!(removed.is_empty(), "{removed:?}");
        let removed = remove_dead(dir.path(), Some("d.ms"), true);
        assert_eq!(removed.len(), 1);
        for kept in &names[2..] {
            if !kept.starts_with("d.") {
                assert!(dir.path().join(kept).exists(), "{kept}");
            }
        }
    }
}

//! Who processes a group: owner ids (`host:pid[:wN]`), whether an owner is alive, and the
//! clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Current Unix time (s).
pub fn now_unix_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// This host's name (`/proc/sys/kernel/hostname`, else `localhost`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// UTC Julian Date of a Unix time (s).
pub fn unix_s_to_jd(unix_s: f64) -> f64 {
    use dsa110_astro::constants::{SECONDS_PER_DAY, UNIX_EPOCH_JD};
    UNIX_EPOCH_JD + unix_s / SECONDS_PER_DAY
}

/// Unix time (s) of an MJD (UTC), the inverse of [`unix_s_to_jd`] on MJDs.
pub fn mjd_to_unix_s(mjd: f64) -> f64 {
    use dsa110_astro::constants::{MJD_OFFSET, SECONDS_PER_DAY, UNIX_EPOCH_JD};
    (mjd + MJD_OFFSET - UNIX_EPOCH_JD) * SECONDS_PER_DAY
}

/// This process's queue owner id, `host:pid`.
pub fn owner_id() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

/// The owner id of worker `n` of this process, `host:pid:wN` (several workers of one
/// process must not share an owner id).
pub fn worker_owner_id(n: usize) -> String {
    format!("{}:w{n}", owner_id())
}

/// `(host, pid)` of an owner id `host:pid` or `host:pid:suffix`.
pub fn parse_owner(owner: &str) -> Option<(&str, u32)> {
    let mut parts = owner.splitn(3, ':');
    let host = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    Some((host, pid))
}

/// Whether the owner `host:pid[:suffix]` is alive, as far as this host can tell: an
/// owner on this host is alive iff its pid exists; owners on other hosts are
/// assumed alive (their heartbeat age decides). Unparsable owners are dead.
pub fn owner_alive(owner: &str) -> bool {
    let Some((host, pid)) = parse_owner(owner) else {
        return false;
    };
    if host != host_name() {
        return true;
    }
    pid_alive(pid)
}

/// Whether process `pid` of this host is running: it exists and is not a zombie (a
/// killed process whose parent has not reaped it yet holds nothing any more).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S …": the state follows the last ')' (comm may contain spaces/parens).
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X" | "x"))
}

/// Ends this process at once with `code`, without the `atexit` handlers and C++ static
/// destructors that a normal exit runs.
///
/// For a stop that leaves an abandoned group's stage running on another thread: a normal
/// exit tears down HDF5 (its library shutdown is an `atexit` handler) and casacore's
/// static objects while that thread may still be inside them, and the C heap is corrupted
/// (glibc aborts with "corrupted double-linked list" and the exit status is SIGABRT).
/// What the daemon logged is already with the kernel: its stderr and log-file writers
/// are unbuffered; stdout is flushed here.
#[allow(unsafe_code)]
pub fn exit_leaving_threads(code: i32) -> ! {
    let _ = std::io::Write::flush(&mut std::io::stdout());
    // SAFETY: `_exit` has no preconditions; it ends the process without returning.
    unsafe { libc::_exit(code) }
}

/// `mi_option_purge_decommits`: its place in mimalloc 3's `mi_option_e` (mimalloc.h;
/// libmimalloc-sys names no constant for it). Checked against the linked library's
/// major version by [`mimalloc_reset_on_purge`].
const MI_OPTION_PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

/// For binaries whose global allocator is mimalloc: memory it purges (freed blocks it
/// gives back after 10 ms) is *reset* (`MADV_FREE`: the kernel takes the pages back
/// only under memory pressure, and a page reused before that is not faulted in and
/// cleared again) instead of *decommitted* (`MADV_DONTNEED`: every reuse is a fresh
/// page fault and a cleared page). Each stage of a group frees and allocates hundreds
/// of MB to GBs (the imaging's visibilities, band grids and images); on this VM a
/// fresh page costs about 1 s a GB, and the first grid pass of a group took 1.0 s to
/// fault its band grids in. Daemon chain (`cargo xtask bench chain`'s script),
/// interleaved: target group imaging 42.3 → 36.7 s (and 38.5 s in a second run),
/// chain 55.2 → 51.3 s; peak RSS 3.6 → 4.6 GB, the difference pages the kernel may
/// reclaim at any time (counted in RSS until it does; `LazyFree` in /proc/meminfo).
///
/// Returns false, changing nothing, when the linked mimalloc is not major version 3
/// (whose option numbering [`MI_OPTION_PURGE_DECOMMITS`] follows).
#[allow(unsafe_code)]
pub fn mimalloc_reset_on_purge() -> bool {
    // SAFETY: `mi_version` and `mi_option_set` only read and write mimalloc's option
    // table (atomics); any option number and value are accepted.
    unsafe {
        if libmimalloc_sys::mi_version() / 10_000 != 3 {
            return false;
        }
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DECOMMITS, 0);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn mimalloc_purge_resets_instead_of_decommitting() {
        // SAFETY: reads mimalloc's option table.
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DECOMMITS) };
        assert_eq!(before, 1, "mimalloc's default purge_decommits is 1");
        assert!(
            mimalloc_reset_on_purge(),
            "the linked mimalloc is not version 3"
        );
        // SAFETY: as above.
        let after = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DECOMMITS) };
        assert_eq!(after, 0);
    }

    #[test]
    fn owner_ids_with_and_without_worker_suffix() {
        let me = owner_id();
        assert!(owner_alive(&me), "{me}");
        assert!(owner_alive(&worker_owner_id(2)));
        assert_eq!(parse_owner("host-a:123:w1"), Some(("host-a", 123)));
        assert_eq!(parse_owner("host-a:123"), Some(("host-a", 123)));
        assert_eq!(parse_owner("host-a"), None);
        assert!(!owner_alive("garbage"));
        // another host: assumed alive
        assert!(owner_alive("some-other-host-xyz:1:w1"));
        // a pid that cannot exist on this host
        let dead = format!("{}:4294967295:w1", host_name());
        assert!(!owner_alive(&dead));
    }
}

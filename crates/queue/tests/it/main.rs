//! Integration tests of `dsa110-queue` (one binary, several modules).
//!
//! * `model` — property test of the state machine against an in-memory model;
//! * `concurrency` — several processes and threads sharing one database file;
//! * `locking` — behaviour while another connection holds the write lock;
//! * `stages` — per-stage state, resume, one-transaction completion;
//! * `registry` — the product registry, the calibration fence and jobs.

// `cfg(test)` marks the helpers in these modules as test code for clippy's
// `allow-unwrap-in-tests` (integration tests are always built with cfg(test)).
#[cfg(test)]
mod concurrency;
#[cfg(test)]
mod locking;
#[cfg(test)]
mod model;
#[cfg(test)]
mod registry;
#[cfg(test)]
mod stages;

/// 2025-10-02T00:12:00 in Unix seconds.
pub const T0: f64 = 1_759_363_920.0;

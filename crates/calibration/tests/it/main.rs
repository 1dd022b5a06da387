//! Integration tests of dsa110-calibration.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::needless_range_loop
)]

mod aoflagger;
mod apply;
mod catalog;
mod common;
mod flagger;
mod model;
#[cfg(feature = "ms")]
mod ms;
mod perf;
mod solver;
mod transit;

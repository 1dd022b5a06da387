//! Integration tests of dsa110-pipeline-core's stage runner (one test binary).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod intake;
mod runner;

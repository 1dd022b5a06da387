//! Integration tests of dsa110-pipeline-core (one test binary, per STYLE.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod exposition;
mod http;
mod ops;
mod prometheus_server;

//! Integration tests of dsa110-stream (one test binary, per STYLE.md): the real binary
//! is spawned with `--monitoring` on a free port and short intervals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_guide;
mod cli;
mod common;
mod e2e;
mod faults;
mod parity;
mod prometheus_server;
mod science;

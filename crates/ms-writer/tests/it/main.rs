//! Integration tests of dsa110-ms-writer: round trip through our reader,
//! python-casacore and pyuvdata reading our MS, WSClean imaging a synthetic
//! point source (the end-to-end sign convention), and typed errors.
//!
//! The Python-based tests need the interop venv (`DSA110_PYTHON` or
//! `<workspace>/target/interop-venv/bin/python`) and fail without it; the
//! WSClean test needs `wsclean` on PATH.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::needless_range_loop
)]

mod casacore_py;
mod common;
mod errors;
mod pyuvdata_py;
mod roundtrip;
mod wsclean;

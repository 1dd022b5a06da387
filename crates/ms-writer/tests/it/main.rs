//! Integration tests of dsa110-ms-writer: round trip through our reader,
//! python-casacore and pyuvdata reading our MS, WSClean imaging a synthetic
//! point source (the end-to-end sign convention), typed errors, `MsTable`
//! (metadata, calibration columns, chunked reads and writes; a full-size
//! group in an ignored test), and calibration tables with CASA itself
//! (`applycal` on ours, our reader on CASA's `bandpass`/`gaincal` output).
//!
//! The Python-based tests need the interop venv (`DSA110_PYTHON` or
//! `<workspace>/target/interop-venv/bin/python`) and fail without it; the
//! WSClean test needs `wsclean` on PATH; the CASA test needs casatools,
//! casatasks and casadata in the venv (HOME is pointed at a CASA config of
//! this checkout: `dsa110_test_support::casa_python`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::needless_range_loop
)]

mod access;
mod casa;
mod casacore_py;
mod common;
mod errors;
mod pyuvdata_py;
mod roundtrip;
mod wsclean;

//! Integration tests of dsa110-legacy-convert: the real binary on simulated
//! groups, checked with sqlite3, python-casacore, pyuvdata and WSClean. Tests
//! that need Python use `$DSA110_PYTHON` or `<workspace>/target/interop-venv/bin/python`
//! and fail (not skip) when it is missing (`cargo xtask setup` installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod flow;
mod interop;
mod wsclean;

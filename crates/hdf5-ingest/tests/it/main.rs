//! Integration tests of dsa110-hdf5-ingest (one binary). Test files are generated at
//! test time by `tests/make_test_files.py` with h5py and pyuvdata.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broken;
mod common;
mod fuzz;
mod roundtrip;
mod sim_files;

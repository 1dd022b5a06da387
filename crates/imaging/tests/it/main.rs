//! Integration tests of dsa110-imaging.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod bda;
mod beamfit;
mod clean;
mod common;
#[cfg(feature = "ms")]
mod fidelity;
mod gridding;
#[cfg(feature = "ms")]
mod msio;
mod pbcor;
mod products;
mod weighting;
#[cfg(feature = "ms")]
mod wsclean;

//! Integration tests of dsa110-astro: known answers computed by pyerfa,
//! astropy and pyuvdata (`fixtures/astro/make_known_answers.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eop;
mod known_answers;

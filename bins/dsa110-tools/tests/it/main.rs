//! Integration tests of dsa110-tools, run as the operator runs it (the built
//! binary): `validate-group` on simulated groups registered in a queue, and
//! the science commands (`flag`, `calibrate`, `image`, `photometry`,
//! `lightcurve`, `mosaic`) on a small simulated calibrator group, a queue
//! filled with photometry rows and synthetic images.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod lightcurve;
mod mosaic;
mod science;
mod validate_group;

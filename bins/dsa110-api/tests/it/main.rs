//! Integration tests of `dsa110-api`: the real binary on a fixture database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod browser;
mod common;
mod errors;
mod fuzz;
mod guide;
mod openapi;
mod ops;
mod products;

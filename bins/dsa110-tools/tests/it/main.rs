//! Integration tests of dsa110-tools: `validate-group` on simulated groups
//! registered in a queue, run as the operator runs it (the built binary).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod validate_group;

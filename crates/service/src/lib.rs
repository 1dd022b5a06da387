//! What every dsa110 binary shares to be operated: the metric catalogue, the disk guard,
//! and (feature `server`, on by default) the `/health` `/ready` `/metrics` HTTP server,
//! the Prometheus recorder and systemd notifications.
//!
//! - [`metrics`]: the one metric catalogue (names, help, bounded label enums, typed
//!   recording helpers through the `metrics` facade) and, with `server`, the Prometheus
//!   recorder;
//! - [`disk`]: free space (`statvfs`, GB = 10⁹ bytes), thresholds, and the guard that
//!   pauses processing below 10 GB;
//! - [`monitoring`] (`server`): the HTTP server, component liveness and systemd
//!   notifications.
//!
//! What it does not do: it links no native library (no libhdf5, casacore or cfitsio) and
//! knows nothing of the queue, the files or the science: the daemon feeds it through
//! [`monitoring::StatusSource`]. The fallback converter takes it without `server`, so it
//! links neither axum nor the Prometheus exporter.

pub mod disk;
pub mod error;
pub mod metrics;
#[cfg(feature = "server")]
pub mod monitoring;

pub use error::MonitoringError;

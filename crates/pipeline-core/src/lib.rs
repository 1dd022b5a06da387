//! The streaming pipeline's service layer: watcher, worker, stages, configuration,
//! monitoring and disk checks, on tokio. Science and file formats live in the L0/L1 crates;
//! this crate drives them and reports on them.
//!
//! Monitoring part:
//! - [`metrics`]: the one metric catalogue (names, help, typed recording helpers) and the
//!   Prometheus recorder;
//! - [`disk`]: free space (`statvfs`, GB = 10⁹ bytes), thresholds, and the guard that
//!   pauses processing below 10 GB;
//! - [`monitoring`]: the `/health`, `/ready`, `/metrics` HTTP server, liveness, and systemd
//!   notifications.
//!
//! Conversion part:
//! - [`convert`]: one group of subband files → one Measurement Set (streamed, rephased);
//! - [`intake`]: a file in the input directory → a queue entry (settling, validation, index);
//! - [`process`]: one acquired group → converted and recorded, or failed with a reason;
//! - [`legacy`]: the fallback converter's loop (`dsa110-legacy-convert`).
//!
//! Streaming daemon part (`dsa110-stream`):
//! - [`config`]: options → checked parameters (errors name the option);
//! - [`watcher`]: inotify + periodic scans of the input directory → intake;
//! - [`validate_child`]: file validation in a child process (libhdf5 may crash);
//! - [`stage`]: the [`stage::Stage`] trait and its adapters (conversion);
//! - `science` (feature `science`): flagging, calibration solve/apply, imaging,
//!   photometry and mosaic stages over the science crates;
//! - [`worker`]: disk check, partial promotion, oldest group first, stage runner with
//!   span/timing/metrics/retry, heartbeats, graceful stop;
//! - [`daemon`]: start-up, recovery, signals, systemd, monitoring wiring.
//!
//! What it does not do: it never installs a tracing subscriber (binaries do).

pub mod config;
pub mod convert;
#[cfg(feature = "daemon")]
pub mod daemon;
pub mod error;
pub mod intake;
#[cfg(feature = "daemon")]
pub mod jobs;
pub mod legacy;
pub mod process;
pub mod runner;
#[cfg(feature = "science")]
pub mod science;
pub mod stage;
pub mod temporaries;
pub mod validate_child;
#[cfg(feature = "daemon")]
pub mod watcher;
#[cfg(feature = "daemon")]
pub mod worker;

#[cfg(feature = "daemon")]
pub use dsa110_service::monitoring;
pub use dsa110_service::{disk, metrics};

pub use error::PipelineError;

//! `dsa110-api`: the DSA-110 pipeline's REST API and web dashboard.
//!
//! What it does: serves the queue database (groups, jobs, calibration sets,
//! images, mosaics, photometry) as JSON under `/api/v1` (and `/api/mosaic`),
//! product files (FITS, PNG previews, CSV light curves), `/api/v1/health`,
//! `/metrics`, `/api/openapi.json`, a docs page and the dashboard at `/`.
//! Writes (triggering a conversion, cancelling a job, asking for a mosaic)
//! need a bearer token and only *record* work: a `jobs` row, and for
//! conversions the groups marked `pending`; `dsa110-stream` executes jobs.
//!
//! What it does not do: convert, image or read HDF5/Measurement Sets — it
//! links neither libhdf5 nor casacore (checked by `cargo xtask check-deps`).

pub mod auth;
pub mod conversion;
pub mod error;
pub mod params;
pub mod products;
pub mod routes;
pub mod state;
pub mod system;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use dsa110_queue::Queue;

pub use state::{ApiParams, AppState};

/// Builds the application on an open queue (no socket).
pub fn app(queue: Queue, params: ApiParams) -> Result<axum::Router> {
    let state = AppState {
        queue,
        params: Arc::new(params),
        metrics: Arc::default(),
        limiter: Arc::default(),
        lightcurves: Arc::default(),
        db_slots: Arc::new(tokio::sync::Semaphore::new(state::DB_POOL_SIZE as usize)),
    };
    routes::router(state).map_err(anyhow::Error::msg)
}

/// Serves until SIGINT/SIGTERM.
pub async fn serve(listen: SocketAddr, router: axum::Router) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr().context("local address")?;
    tracing::info!(address = %local, "dsa110-api listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server failed")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

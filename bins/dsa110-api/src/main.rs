//! `dsa110-api`: parse arguments, set up logging, open the queue, serve.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use dsa110_api::auth::{read_token_file, split_list, Tokens};
use dsa110_api::ApiParams;
use dsa110_queue::{Queue, QueueOptions};

/// mimalloc rather than glibc's malloc: under load (50 clients) a sixth of the
/// server's CPU went to glibc's allocator (`malloc`, `_int_malloc`,
/// `malloc_consolidate`, `_int_free`); see `cargo xtask bench api`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// REST API and web dashboard of the DSA-110 streaming pipeline.
///
/// Write tokens come from DSA110_API_TOKENS (comma-separated) and/or
/// --token-file; read-only tokens from DSA110_API_READ_TOKENS and/or
/// --read-token-file. Without any write token, every write is refused (401).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The pipeline's SQLite queue database (created if absent).
    #[arg(long, default_value = "state/db/pipeline.sqlite3")]
    queue_db: PathBuf,
    /// Address and port to listen on.
    #[arg(long, default_value = "0.0.0.0:8000")]
    listen: SocketAddr,
    /// Product root: files outside it are never served, and a conversion's
    /// `output_dir` must lie inside it. Also the disk checked by /api/v1/health.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// File of write tokens, one per line (`#` comments).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// File of read-only tokens, one per line.
    #[arg(long)]
    read_token_file: Option<PathBuf>,
    /// Reads need a token too (read-only or write); health, metrics and the pages stay open.
    #[arg(long)]
    require_read_token: bool,
    /// An origin allowed to call the API from a browser (CORS); repeatable.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Writes allowed per token per minute.
    #[arg(long, default_value_t = 30)]
    writes_per_minute: u32,
    /// Largest request body, bytes.
    #[arg(long, default_value_t = 65_536)]
    max_body_bytes: usize,
    /// Log level (overridden by RUST_LOG).
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Also append logs to this file.
    #[arg(long)]
    log_file: Option<PathBuf>,
}

fn init_logging(args: &Args) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&args.log_level))
        .with_context(|| format!("invalid --log-level {:?}", args.log_level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match &args.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?;
            let file = std::sync::Mutex::new(file);
            let both = tracing_subscriber::fmt::writer::MakeWriterExt::and(std::io::stderr, file);
            builder.with_ansi(false).with_writer(both).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

fn tokens(env_var: &str, file: Option<&PathBuf>) -> Result<Vec<String>> {
    let mut out = std::env::var(env_var)
        .map(|v| split_list(&v))
        .unwrap_or_default();
    if let Some(f) = file {
        out.extend(
            read_token_file(f)
                .with_context(|| format!("cannot read token file {}", f.display()))?,
        );
    }
    Ok(out)
}

/// How the API opens the queue: more pooled connections than a daemon needs
/// (every request reads, many at once; reads never wait for the daemon's writes
/// in WAL mode), and the file read through a memory map, because light curves
/// and listings touch rows spread over many pages.
fn queue_options() -> QueueOptions {
    QueueOptions {
        pool_size: dsa110_api::state::DB_POOL_SIZE,
        mmap_size_bytes: 1 << 30,
        ..QueueOptions::default()
    }
}

fn run(args: Args) -> Result<()> {
    init_logging(&args)?;
    let write = tokens("DSA110_API_TOKENS", args.token_file.as_ref())?;
    let read = tokens("DSA110_API_READ_TOKENS", args.read_token_file.as_ref())?;
    if args.writes_per_minute == 0 {
        bail!("--writes-per-minute must be at least 1");
    }
    if args.max_body_bytes < 1024 {
        bail!("--max-body-bytes must be at least 1024");
    }
    let output_dir = match &args.output_dir {
        Some(d) => Some(
            std::fs::canonicalize(d)
                .with_context(|| format!("--output-dir {} does not exist", d.display()))?,
        ),
        None => None,
    };
    let token_set = Tokens::new(&write, &read);
    let (nw, nr) = token_set.counts();
    if nw == 0 {
        tracing::warn!(
            "no write tokens (DSA110_API_TOKENS / --token-file): every write will be refused"
        );
    }
    if args.require_read_token && nw + nr == 0 {
        bail!("--require-read-token needs at least one token");
    }
    let queue = Queue::open_with(&args.queue_db, queue_options())
        .with_context(|| format!("cannot open the queue database {}", args.queue_db.display()))?;
    tracing::info!(queue_db = %args.queue_db.display(), write_tokens = nw, read_tokens = nr, "queue open");
    let params = ApiParams {
        output_dir,
        tokens: token_set,
        require_read_token: args.require_read_token,
        cors_origins: args.cors_origins.clone(),
        writes_per_minute: args.writes_per_minute,
        max_body_bytes: args.max_body_bytes,
    };
    let router = dsa110_api::app(queue, params)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(dsa110_api::serve(args.listen, router))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be set up (bad --log-file): write the chain to stderr directly.
            let _ = writeln!(std::io::stderr(), "dsa110-api: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

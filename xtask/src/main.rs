//! `cargo xtask <command>`: setup, test, demo, simulate and benchmarks.
//!
//! Every command that needs system packages or the Python interop tools runs
//! `setup` first (idempotent: it only installs what is missing).

mod bench;
mod bench_api;
mod bench_calibrate;
mod bench_image;
mod demo;
mod deps;
mod setup;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Developer tasks for dsa110-stream")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the Debian packages the build and tests need, and the Python interop venv.
    Setup,
    /// fmt --check, clippy -D warnings, the dependency rules, and every test
    /// (including the interop tests).
    Test,
    /// Check the layering rules of ARCHITECTURE.md on the workspace's manifests.
    CheckDeps,
    /// Run the daemon on generated data until the queue is idle, and show what came out.
    Demo {
        /// Where to put the demo's input, outputs and queue database.
        #[arg(long, default_value = "target/demo")]
        dir: String,
        /// Simulation scale of the demo groups.
        #[arg(long, default_value = "tiny")]
        scale: String,
    },
    /// Write one simulated observation group (16 subband files + truth).
    Simulate {
        /// Arguments passed to `dsa110-tools simulate` (see `--help` there).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmarks: `ingest`, `convert`, `stream`, `ms-access`, `photometry`, `calibrate`,
    /// `image` or `api`.
    Bench {
        /// Which benchmark.
        which: String,
        /// Extra arguments for the benchmark.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Setup => setup::run(),
        Cmd::Test => test(),
        Cmd::CheckDeps => deps::run(),
        Cmd::Demo { dir, scale } => demo(&dir, &scale),
        Cmd::Simulate { args } => {
            setup::ensure()?;
            let tools = util::build_bin("dsa110-tools", "dsa110-tools")?;
            let mut full = vec!["simulate".to_string()];
            full.extend(args);
            util::run(util::cmd(&tools).args(&full))
        }
        Cmd::Bench { which, args } if which == "api" => {
            let _ = args;
            bench_api::run()
        }
        Cmd::Bench { which, args } if which == "image" => bench_image::run(&args),
        Cmd::Bench { which, args } => {
            setup::ensure()?;
            bench::run(&which, &args)
        }
    }
}

fn test() -> Result<()> {
    setup::ensure()?;
    let cargo = util::cargo();
    util::step("cargo fmt --check");
    util::run(util::cmd(&cargo).args(["fmt", "--all", "--", "--check"]))?;
    util::step("cargo clippy (warnings are errors)");
    util::run(util::cmd(&cargo).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    util::step("dependency rules (ARCHITECTURE.md)");
    deps::run()?;
    util::step("cargo test (unit, integration and interop tests)");
    util::run(
        util::cmd(&cargo)
            .args(["test", "--workspace", "--no-fail-fast"])
            .env("DSA110_PYTHON", setup::python()),
    )
}

fn demo(dir: &str, scale: &str) -> Result<()> {
    setup::ensure()?;
    let root = util::workspace_root();
    let dir = root.join(dir);
    let tools = util::build_bin("dsa110-tools", "dsa110-tools")?;
    util::step(&format!(
        "simulating observation groups into {}",
        dir.display()
    ));
    util::run(
        util::cmd(&tools)
            .args(["demo-data", "--scale", scale, "--dir"])
            .arg(&dir),
    )?;
    let daemon = util::build_bin("dsa110-stream", "dsa110-stream")?;
    let port = demo::free_port()?;
    util::step(&format!(
        "running the daemon (dsa110-stream --monitoring --health-port {port} --exit-when-idle) until the queue is idle"
    ));
    let seen = demo::run_daemon(&daemon, &dir, port)?;
    util::step(&format!("dsa110-stream exited with {}", seen.status));
    demo::print_monitoring(&seen);
    util::run(util::cmd(&tools).args(["demo-report", "--dir"]).arg(&dir))?;
    if !seen.status.success() {
        anyhow::bail!("dsa110-stream exited with {}", seen.status);
    }
    Ok(())
}

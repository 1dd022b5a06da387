//! Simulate one group and report the timing.
//!
//! `cargo run -p dsa110-sim --release --example simulate -- <tiny|small|full> <out_dir> [correlator]`

// A command-line tool: reporting on stderr is its job.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;

use dsa110_sim::{
    simulate_group, simulate_group_like_correlator, CorrelatorMode, Scale, SimConfig,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(scale), Some(out)) = (args.get(1).and_then(|s| Scale::parse(s)), args.get(2)) else {
        eprintln!("usage: simulate <tiny|small|full> <out_dir> [correlator]");
        return ExitCode::from(2);
    };
    let cfg = SimConfig::for_scale(scale, out);
    let result = if args.get(3).is_some_and(|a| a == "correlator") {
        simulate_group_like_correlator(&cfg, &CorrelatorMode::default())
    } else {
        simulate_group(&cfg)
    };
    match result {
        Ok(s) => {
            eprintln!(
                "group {}: {} files, {:.1} MB in {:.2} s (prepare {:.2} s, compute {:.2} s, write {:.2} s) = {:.0} MB/s",
                s.group_id,
                s.files.len(),
                s.bytes_written as f64 / 1e6,
                s.total_s,
                s.prepare_s,
                s.compute_s,
                s.write_s,
                s.bytes_written as f64 / 1e6 / s.total_s
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

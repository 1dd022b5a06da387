//! `cargo xtask bench calibrate [--quick] [--nants N] [--ntimes N] [--nchan N] [--seed N] [--skip-casa]`:
//! flag + solve + write tables + apply on a simulated calibrator group, ours
//! against CASA's (flagdata tfcrop, bandpass, gaincal, applycal) on the same MS
//! with the same model, in the same run; AOFlagger's default strategy against
//! our flagger; and both solution sets against the simulator's truth beside the
//! error the thermal noise predicts.
//!
//! The group (a 3C286 transit at the real SEFD, the simulator's random gains and
//! bandpasses, no RFI) is simulated once and converted once
//! (`dsa110-legacy-convert`, in the simulator's Earth-orientation frame), cached
//! under `target/bench/calibrate/<size>/` (the subband files are removed once
//! converted). Every run copies that MS for each contender in turn (ours,
//! AOFlagger's, CASA's), counts its flags and removes it (a full-size copy is
//! 2.2 GB, CASA's grows to ~5 GB, and the disk is shared). Each
//! contender runs as a child of a small Python harness that reports its wall
//! time, CPU time and peak RSS (`wait4`'s `ru_maxrss`). Ours is one
//! process, `dsa110-tools calibrate MS --flag --solve --apply --out DIR` (flag,
//! model, solve, write the tables and apply in one run over the MS; its
//! flagger's own time is in its summary); CASA's is one Python process running
//! the four tasks. CASA solves against MODEL_DATA written by `dsa110-tools calibrate
//! --model` (the model our solver uses: the calibrator with the Airy beam per
//! integration and frequency); that step is timed but not counted in CASA's
//! total (CASA's `setjy` would be). CASA uses our solver's reference antenna.
//!
//! The comparison (`bench_calibrate_compare.py`, which writes the noise formula
//! down) runs in the interop venv (casatools reads both sides' tables).
//! Python: `$DSA110_PYTHON`, else the workspace's interop venv; CASA runs with
//! `HOME` set to a directory of the bench holding a `.casa/config.py` that
//! points at that venv's casadata (offline, no update), so the user's own
//! `~/.casa` is not read by the bench's CASA. (The workspace setup the bench runs
//! first does write `~/.casa/config.py`, for the test suite's CASA checks, as
//! `cargo xtask setup` always does.)
//!
//! `--quick`: 24 antennas, 8 integrations, 12 channels per subband (a smoke
//! test of a minute or two); the default is the full size (96 antennas, 24
//! integrations, 48 channels × 16 subbands), the one to report.
//! `--skip-casa` (for iterating on our side only, not a result to report):
//! ours alone, compared with the truth; no AOFlagger, no CASA.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::util::{self, step};

const CASA_PY: &str = include_str!("bench_calibrate_casa.py");
const COMPARE_PY: &str = include_str!("bench_calibrate_compare.py");

/// Run a list of steps, each a child process; per step: wall and CPU seconds,
/// peak RSS (`wait4`), exit status and the end of its stdout.
const STEPS_PY: &str = r#"
import json, os, subprocess, sys, tempfile, time
out = []
for s in json.loads(sys.argv[1]):
    env = dict(os.environ, **s.get("env", {}))
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen(s["argv"], stdout=fo, stderr=fe, env=env, cwd=s.get("cwd"))
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = code = os.waitstatus_to_exitcode(status)
        fo.seek(0); fe.seek(0)
        so = fo.read().decode(errors="replace"); se = fe.read().decode(errors="replace")
    if code not in s.get("ok", [0]):
        sys.stderr.write(se[-8000:])
        sys.exit(f"step {s['name']} exited with {code}")
    out.append({"name": s["name"], "wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime,
                "peak_rss_bytes": ru.ru_maxrss * 1024, "exit": code, "stdout": so[-20000:]})
print(json.dumps(out))
"#;

/// CASA 6.7's time and peak RSS for a full 3C286 group on this machine,
/// measured before this bench existed (issue 10): printed for scale only.
const ISSUE_CASA_S: f64 = 420.0;
const TARGET_SPEEDUP: f64 = 20.0;
const TARGET_RSS_BYTES: f64 = 2e9;

/// Size of the simulated group.
#[derive(Debug, Clone, Copy)]
struct Size {
    nants: usize,
    ntimes: usize,
    nchan: usize,
    seed: u64,
    /// `--skip-casa`: ours alone (no AOFlagger, no CASA), for iterating on
    /// our side; the comparison with the truth still runs.
    skip_casa: bool,
}

impl Size {
    fn tag(self) -> String {
        format!(
            "a{}-t{}-c{}-s{}",
            self.nants, self.ntimes, self.nchan, self.seed
        )
    }
    fn is_full(self) -> bool {
        (self.nants, self.ntimes, self.nchan) == (96, 24, 48)
    }
}

fn parse(args: &[String]) -> Result<Size> {
    let mut size = Size {
        nants: 96,
        ntimes: 24,
        nchan: 48,
        seed: 11,
        skip_casa: false,
    };
    let mut it = args.iter();
    let num = |v: Option<&String>, what: &str| -> Result<usize> {
        v.with_context(|| format!("{what} needs a number"))?
            .parse()
            .with_context(|| format!("{what} needs a number"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {
                size.nants = 24;
                size.ntimes = 8;
                size.nchan = 12;
            }
            "--nants" => size.nants = num(it.next(), "--nants")?,
            "--ntimes" => size.ntimes = num(it.next(), "--ntimes")?,
            "--nchan" => size.nchan = num(it.next(), "--nchan")?,
            "--seed" => size.seed = num(it.next(), "--seed")? as u64,
            "--skip-casa" => size.skip_casa = true,
            other => bail!(
                "unknown option {other:?} for bench calibrate: expected --quick, --nants N, \
                 --ntimes N, --nchan N, --seed N or --skip-casa"
            ),
        }
    }
    Ok(size)
}

fn python() -> PathBuf {
    std::env::var_os("DSA110_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(crate::setup::python)
}

/// A HOME for CASA whose `.casa/config.py` points at the venv's casadata.
fn casa_home(dir: &Path, python: &Path) -> Result<PathBuf> {
    let text = dsa110_test_support::casa_config(python).map_err(anyhow::Error::msg)?;
    let home = dir.join("casa-home");
    std::fs::create_dir_all(home.join(".casa"))?;
    std::fs::write(home.join(".casa").join("config.py"), text)?;
    Ok(home)
}

fn hdf5_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "hdf5"))
                .count()
        })
        .unwrap_or(0)
}

/// The simulated group's truth and its MS, made once per size. The subband
/// files are removed once converted (the truth file and gains stay): the
/// disk is shared, and a run needs room for two more copies of the MS.
fn group_and_ms(tools: &Path, conv: &Path, size: Size, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let group = dir.join("group");
    let conv_dir = dir.join("converted");
    let stamp = conv_dir.join("converted.ok");
    let simulate = || -> Result<()> {
        let _ = std::fs::remove_dir_all(dir);
        step(&format!(
            "simulating a 3C286 calibrator group: {} antennas, {} integrations, {} channels × 16 \
             subbands, noise at the real SEFD",
            size.nants, size.ntimes, size.nchan
        ));
        let t = std::time::Instant::now();
        util::run(
            util::cmd(tools)
                .args(["simulate", "--scale", "full", "--calibrator", "3C286"])
                .args(["--nants", &size.nants.to_string()])
                .args(["--ntimes", &size.ntimes.to_string()])
                .args(["--nchan", &size.nchan.to_string()])
                .args(["--seed", &size.seed.to_string(), "--noise-scale", "1"])
                .arg("--out")
                .arg(&group),
        )?;
        step(&format!("simulated in {:.1} s", t.elapsed().as_secs_f64()));
        Ok(())
    };
    if util::find_with_suffix(&group, "_truth.json").is_err() {
        simulate()?;
    }
    let truth = util::find_with_suffix(&group, "_truth.json")?;
    // The simulator's sky frame: UT1 − UTC from the truth, no polar motion.
    // The converter must phase the data in that frame; with the IERS table it
    // would use today's real values and the simulated source would sit ~1″
    // from where the converter (and hence both models) put it.
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&truth)?)
        .with_context(|| format!("reading {}", truth.display()))?;
    let eop = format!(
        "{},0,0",
        t["config"]["dut1_s"]
            .as_f64()
            .context("no config.dut1_s in the truth file")?
    );
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(eop.as_str()) {
        if hdf5_count(&group) != 16 {
            simulate()?;
        }
        let _ = std::fs::remove_dir_all(&conv_dir);
        std::fs::create_dir_all(&conv_dir)?;
        step("converting the group to a Measurement Set (once)");
        util::run(
            util::cmd(conv)
                .arg("--input-dir")
                .arg(&group)
                .arg("--output-dir")
                .arg(conv_dir.join("ms"))
                .arg("--queue-db")
                .arg(conv_dir.join("queue.sqlite3"))
                .arg("--once")
                .arg("--eop")
                .arg(&eop)
                .env("RUST_LOG", "warn"),
        )?;
        std::fs::write(&stamp, &eop)?;
        for e in std::fs::read_dir(&group)?.filter_map(|e| e.ok()) {
            if e.path().extension().is_some_and(|x| x == "hdf5") {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    let ms = util::find_with_suffix(&conv_dir.join("ms"), ".ms")?;
    Ok((util::find_with_suffix(&group, "_truth.json")?, ms))
}

/// Bytes used under `path` and bytes free on its file system (`du`, `df`).
fn disk(path: &Path) -> Result<(u64, u64)> {
    let used = util::output(Command::new("du").arg("-sb").arg(path))?;
    let used = used
        .split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .context("du's output")?;
    Ok((used, util::free_bytes(path)?))
}

fn steps(python: &Path, steps: &Value) -> Result<Vec<Value>> {
    let out = util::output(
        Command::new(python)
            .arg("-c")
            .arg(STEPS_PY)
            .arg(steps.to_string()),
    )?;
    let v: Value = serde_json::from_str(out.trim()).context("the step harness's report")?;
    v.as_array()
        .cloned()
        .context("the step harness reported no steps")
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(to);
    util::run(Command::new("cp").arg("-a").arg(from).arg(to))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn stdout_json(step: &Value) -> Result<Value> {
    let s = step["stdout"].as_str().unwrap_or("");
    serde_json::from_str(s.trim()).with_context(|| {
        format!(
            "step {} printed no JSON: {s:?}",
            step["name"].as_str().unwrap_or("?")
        )
    })
}

fn sum(steps: &[Value], key: &str) -> f64 {
    steps.iter().map(|s| f(&s[key])).sum()
}

fn max_rss(steps: &[Value]) -> f64 {
    steps
        .iter()
        .map(|s| f(&s["peak_rss_bytes"]))
        .fold(0.0, f64::max)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `cargo xtask bench calibrate`.
pub fn run(args: &[String]) -> Result<()> {
    let size = parse(args)?;
    let python = python();
    let tools = util::build_bin("dsa110-tools", "dsa110-tools")?;
    let conv = util::build_bin("dsa110-legacy-convert", "dsa110-legacy-convert")?;
    let dir = util::workspace_root()
        .join("target")
        .join("bench")
        .join("calibrate")
        .join(size.tag());
    let (truth, base_ms) = group_and_ms(&tools, &conv, size, &dir)?;
    let work = dir.join("run");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    // one copy at a time: the largest is CASA's, with MODEL_DATA and
    // CORRECTED_DATA added (each a little under DATA's size)
    let (ms_bytes, free) = disk(&base_ms)?;
    let need = ms_bytes * 5 / 2 + (1 << 30);
    if free < need {
        bail!(
            "{:.1} GB free under {}: a run needs about {:.1} GB (copies of a {:.1} GB MS, one at \
             a time); free some space",
            free as f64 / 1e9,
            work.display(),
            need as f64 / 1e9,
            ms_bytes as f64 / 1e9
        );
    }
    let casa_py = work.join("bench_calibrate_casa.py");
    let compare_py = work.join("bench_calibrate_compare.py");
    std::fs::write(&casa_py, CASA_PY)?;
    std::fs::write(&compare_py, COMPARE_PY)?;
    let home = casa_home(&dir, &python)?;
    let (ours_ms, casa_ms, aof_ms) = (
        work.join("ours.ms"),
        work.join("casa.ms"),
        work.join("aoflagger.ms"),
    );
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let tools_s = s(&tools);
    let quiet = json!({"RUST_LOG": "warn"});
    // the flagged fraction of an MS's cross-correlations, then the MS removed
    let flagged_then_remove = |ms: &Path| -> Result<f64> {
        let out = util::output(
            Command::new(&python)
                .arg(&compare_py)
                .arg("--flagged-fraction")
                .arg(ms)
                .env("HOME", &home)
                .current_dir(&work),
        )?;
        let frac: f64 = out.trim().parse().context("the flagged fraction")?;
        std::fs::remove_dir_all(ms).with_context(|| format!("removing {}", ms.display()))?;
        Ok(frac)
    };
    let fresh_copy = |to: &Path| -> Result<()> {
        copy_dir(&base_ms, to)?;
        util::run(&mut Command::new("sync"))
    };

    let ours_tables = work.join("tables-ours");
    let (our_b, our_g) = (ours_tables.join("ours.bcal"), ours_tables.join("ours.gcal"));
    fresh_copy(&ours_ms)?;
    step(&format!(
        "ours: flag + solve + write tables + apply (load average {})",
        loadavg()
    ));
    let ours = steps(
        &python,
        // one process, one run over the MS: flag, solve, write the tables, apply
        // (exit 1 = solved, written and applied, QA failed: still compared and reported)
        &json!([
            {"name": "flag+solve+write+apply",
             "argv": [tools_s, "calibrate", s(&ours_ms), "--flag", "--solve", "--apply", "--out", s(&ours_tables)],
             "env": quiet, "ok": [0, 1]},
        ]),
    )?;
    let solve_json = stdout_json(&ours[0])?;
    let refant = solve_json["refant"]
        .as_u64()
        .context("our solve reported no reference antenna")?;
    let refant_name = solve_json["refant_name"]
        .as_str()
        .context("our solve reported no reference antenna name")?
        .to_string();
    if size.skip_casa {
        return ours_only(
            size,
            &python,
            &compare_py,
            &home,
            &work,
            &dir,
            (&tools_s, &ours_ms, &truth),
            (&ours, &solve_json, refant, &our_b, &our_g),
        );
    }
    let ours_flagged = flagged_then_remove(&ours_ms)?;

    fresh_copy(&aof_ms)?;
    step(&format!(
        "AOFlagger (default strategy) on a copy (load average {})",
        loadavg()
    ));
    let aof = steps(
        &python,
        &json!([{"name": "aoflagger", "argv": ["aoflagger", s(&aof_ms)], "cwd": s(&work)}]),
    )?;
    let aof_flagged = flagged_then_remove(&aof_ms)?;

    fresh_copy(&casa_ms)?;
    step("MODEL_DATA for CASA: dsa110-tools calibrate --model (not counted in CASA's time)");
    let model = steps(
        &python,
        &json!([{"name": "model", "argv": [tools_s, "calibrate", s(&casa_ms), "--model"], "env": quiet}]),
    )?;
    let (casa_b, casa_g) = (work.join("casa.bcal"), work.join("casa.gcal"));
    step(&format!(
        "CASA: flagdata tfcrop + bandpass + gaincal + applycal, refant {refant_name} \
         (load average {})",
        loadavg()
    ));
    let casa = steps(
        &python,
        &json!([{"name": "casa", "argv": [s(&python), s(&casa_py), s(&casa_ms), s(&casa_b), s(&casa_g), refant_name],
                 "env": {"HOME": s(&home)}, "cwd": s(&work)}]),
    )?;
    let casa_tasks = stdout_json(&casa[0])?;

    step("comparing both solution sets with the simulator's truth");
    let cmp_cfg = json!({
        "truth": s(&truth),
        "model_ms": s(&casa_ms),
        "sets": {"ours": [s(&our_b), s(&our_g)], "casa": [s(&casa_b), s(&casa_g)]},
        "flagged_fraction": {"ours": ours_flagged, "aoflagger": aof_flagged},
        "flag_ms": {"casa": s(&casa_ms)},
        "refant": refant,
    });
    let out = util::output(
        Command::new(&python)
            .arg(&compare_py)
            .arg(cmp_cfg.to_string())
            .env("HOME", &home)
            .current_dir(&work),
    )?;
    let cmp: Value = serde_json::from_str(out.trim()).context("the comparison's report")?;
    std::fs::remove_dir_all(&casa_ms).with_context(|| format!("removing {}", casa_ms.display()))?;
    let report = json!({
        "size": {"nants": size.nants, "ntimes": size.ntimes, "nchan_per_subband": size.nchan,
                 "seed": size.seed, "full": size.is_full()},
        "ours": ours, "model": model, "casa": casa, "casa_tasks": casa_tasks, "aoflagger": aof,
        "our_solve": solve_json, "comparison": cmp,
    });
    let report_path = dir.join("report.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)?;
    print_table(size, &ours, &casa, &casa_tasks, &aof, &model, &cmp);
    step(&format!(
        "full report: {} (tables in {}; the MS copies are removed)",
        report_path.display(),
        work.display()
    ));
    Ok(())
}

/// `--skip-casa`: MODEL_DATA written into our copy (for the noise prediction),
/// our solutions compared with the truth, our figures printed; no AOFlagger,
/// no CASA.
#[allow(clippy::too_many_arguments, clippy::print_stdout)]
fn ours_only(
    size: Size,
    python: &Path,
    compare_py: &Path,
    home: &Path,
    work: &Path,
    dir: &Path,
    (tools, ms, truth): (&str, &Path, &Path),
    (ours, solve_json, refant, our_b, our_g): (&[Value], &Value, u64, &Path, &Path),
) -> Result<()> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    step("MODEL_DATA into our copy, for the noise prediction (--skip-casa)");
    let model = steps(
        python,
        &json!([{"name": "model", "argv": [tools, "calibrate", s(ms), "--model"], "env": {"RUST_LOG": "warn"}}]),
    )?;
    let cmp_cfg = json!({
        "truth": s(truth),
        "model_ms": s(ms),
        "sets": {"ours": [s(our_b), s(our_g)]},
        "flagged_fraction": {},
        "flag_ms": {"ours": s(ms)},
        "refant": refant,
    });
    let out = util::output(
        Command::new(python)
            .arg(compare_py)
            .arg(cmp_cfg.to_string())
            .env("HOME", home)
            .current_dir(work),
    )?;
    let cmp: Value = serde_json::from_str(out.trim()).context("the comparison's report")?;
    std::fs::remove_dir_all(ms).with_context(|| format!("removing {}", ms.display()))?;
    let report = json!({
        "size": {"nants": size.nants, "ntimes": size.ntimes, "nchan_per_subband": size.nchan,
                 "seed": size.seed, "full": size.is_full(), "skip_casa": true},
        "ours": ours, "model": model, "our_solve": solve_json, "comparison": cmp,
    });
    let report_path = dir.join("report-ours.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)?;
    let o = &cmp["ours"];
    println!(
        "\nbench calibrate --skip-casa: {} antennas, {} integrations, {} windows × {} channels",
        size.nants, cmp["n_integrations"], cmp["n_windows"], cmp["n_channels_per_window"]
    );
    println!(
        "ours: {:.2} s wall, {:.1} s CPU, peak RSS {:.0} MB; amplitude rms {:.3} % (predicted {:.3} %), \
         phase rms {:.3}° (predicted {:.3}°), flagged {:.3} %",
        sum(ours, "wall_s"),
        sum(ours, "cpu_s"),
        max_rss(ours) / 1e6,
        100.0 * f(&o["amp_rms_frac"]),
        100.0 * f(&o["predicted_amp_rms_frac"]),
        f(&o["phase_rms_deg"]),
        f(&o["predicted_phase_rms_deg"]),
        100.0 * f(&cmp["flagged_fraction"]["ours"]),
    );
    for st in ours.iter().chain(&model) {
        println!(
            "  {:<12} {:>9.2} s wall {:>9.1} s CPU {:>7.0} MB",
            st["name"].as_str().unwrap_or("?"),
            f(&st["wall_s"]),
            f(&st["cpu_s"]),
            f(&st["peak_rss_bytes"]) / 1e6
        );
    }
    step(&format!("report: {}", report_path.display()));
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_table(
    size: Size,
    ours: &[Value],
    casa: &[Value],
    casa_tasks: &Value,
    aof: &[Value],
    model: &[Value],
    cmp: &Value,
) {
    let (o, c) = (&cmp["ours"], &cmp["casa"]);
    let ours_wall = sum(ours, "wall_s");
    let casa_wall = sum(casa, "wall_s");
    let (ours_rss, casa_rss) = (max_rss(ours), max_rss(casa));
    println!(
        "\nbench calibrate: 3C286 transit, {} antennas ({} active), {} integrations, {} windows × {} channels, \
         SEFD {:.0} Jy (σ = {:.3} Jy per part per visibility, Δν = {:.0} Hz, τ = {:.3} s); refant {}",
        size.nants,
        cmp["n_active_antennas"],
        cmp["n_integrations"],
        cmp["n_windows"],
        cmp["n_channels_per_window"],
        f(&cmp["sefd_jy"]),
        f(&cmp["sigma_cross_jy"]),
        f(&cmp["channel_width_hz"]),
        f(&cmp["int_time_s"]),
        cmp["refant_name"].as_str().unwrap_or("?"),
    );
    println!(
        "model amplitude (3C286 × beam): {:.2}–{:.2} Jy (rms {:.2})",
        f(&cmp["model_amp_jy"]["min"]),
        f(&cmp["model_amp_jy"]["max"]),
        f(&cmp["model_amp_jy"]["rms"])
    );
    println!(
        "\n{:<8} {:>9} {:>9} {:>10} {:>11} {:>11} {:>11} {:>11} {:>9}",
        "",
        "wall s",
        "CPU s",
        "peak RSS",
        "amp rms %",
        "pred amp %",
        "phase rms°",
        "pred phase°",
        "flagged %"
    );
    for (name, st, v, flag) in [
        ("ours", ours, o, &cmp["flagged_fraction"]["ours"]),
        ("CASA", casa, c, &cmp["flagged_fraction"]["casa"]),
    ] {
        println!(
            "{:<8} {:>9.2} {:>9.1} {:>7.0} MB {:>11.3} {:>11.3} {:>11.3} {:>11.3} {:>9.2}",
            name,
            sum(st, "wall_s"),
            sum(st, "cpu_s"),
            max_rss(st) / 1e6,
            100.0 * f(&v["amp_rms_frac"]),
            100.0 * f(&v["predicted_amp_rms_frac"]),
            f(&v["phase_rms_deg"]),
            f(&v["predicted_phase_rms_deg"]),
            100.0 * f(flag),
        );
    }
    println!(
        "\nper (antenna, channel, pol) rms over the integrations ÷ its predicted rms, median and 95th percentile \
         (pure noise drawn with the predicted B and G variances gives amplitude {:.2}, {:.2}; phase {:.2}, {:.2}):",
        f(&o["per_cell_amp_frac"]["noise_only_ratio_median"]),
        f(&o["per_cell_amp_frac"]["noise_only_ratio_p95"]),
        f(&o["per_cell_phase_deg"]["noise_only_ratio_median"]),
        f(&o["per_cell_phase_deg"]["noise_only_ratio_p95"]),
    );
    for (name, v) in [("ours", o), ("CASA", c)] {
        println!(
            "  {name:<5} amplitude {:.2}, {:.2}; phase {:.2}, {:.2}; mean amplitude error {:+.3} %; \
             worst antenna phase rms {:.3}°; solutions compared {}, flagged or missing {}",
            f(&v["per_cell_amp_frac"]["ratio_to_predicted_median"]),
            f(&v["per_cell_amp_frac"]["ratio_to_predicted_p95"]),
            f(&v["per_cell_phase_deg"]["ratio_to_predicted_median"]),
            f(&v["per_cell_phase_deg"]["ratio_to_predicted_p95"]),
            100.0 * f(&v["amp_mean_frac"]),
            f(&v["worst_antenna_phase_rms_deg"]),
            v["n_compared"],
            v["n_flagged_or_missing"],
        );
    }
    println!("\nsteps:");
    for st in ours.iter().chain(model).chain(casa).chain(aof) {
        println!(
            "  {:<12} {:>9.2} s wall {:>9.1} s CPU {:>7.0} MB",
            st["name"].as_str().unwrap_or("?"),
            f(&st["wall_s"]),
            f(&st["cpu_s"]),
            f(&st["peak_rss_bytes"]) / 1e6
        );
    }
    if let Some(m) = casa_tasks.as_object() {
        let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {:.1}", f(v))).collect();
        println!("  CASA tasks (s): {}", parts.join(", "));
    }
    let speedup = casa_wall / ours_wall;
    println!(
        "\nspeed: CASA {casa_wall:.1} s / ours {ours_wall:.2} s = {speedup:.1}× (target ≥ {TARGET_SPEEDUP:.0}×: {}); \
         peak RSS ours {:.0} MB (target ≤ {:.0} MB: {}), CASA {:.0} MB",
        if speedup >= TARGET_SPEEDUP { "met" } else { "NOT met" },
        ours_rss / 1e6,
        TARGET_RSS_BYTES / 1e6,
        if ours_rss <= TARGET_RSS_BYTES { "met" } else { "NOT met" },
        casa_rss / 1e6,
    );
    if !size.is_full() {
        println!(
            "(not the full size: issue 10 quotes CASA at about {ISSUE_CASA_S:.0} s for a full group)"
        );
    }
    // our flagger runs inside the one process: its own time from the summary
    let summary = ours.first().and_then(|s| stdout_json(s).ok());
    let our_flag = summary
        .as_ref()
        .map_or(f64::NAN, |j| f(&j["timings"]["flag_s"]));
    let our_flag_frac = summary
        .as_ref()
        .map_or(f64::NAN, |j| f(&j["flagged"]["fraction"]));
    let aof_wall = sum(aof, "wall_s");
    println!(
        "flagging: AOFlagger {aof_wall:.2} s ({:.3} % of cross-correlation samples flagged), ours {our_flag:.2} s \
         ({:.3} % flagged): AOFlagger / ours = {:.1}×; CASA tfcrop {:.1} s",
        100.0 * f(&cmp["flagged_fraction"]["aoflagger"]),
        100.0 * our_flag_frac,
        aof_wall / our_flag,
        f(&casa_tasks["flagdata_tfcrop_s"]),
    );
}

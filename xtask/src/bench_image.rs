//! `cargo xtask bench image`: one simulated group imaged by us (`dsa110-tools image`)
//! and by WSClean 3.1 (`-use-wgridder -j 2`) with the same parameters, in the same
//! run: wall time, peak RSS and the flux of every injected source each recovers.
//!
//! The group is simulated once (unit gains, so DATA needs no calibration; thermal
//! noise at the real SEFD) into `target/bench/image-<scale>/` and converted to a
//! Measurement Set by `dsa110-legacy-convert`; both are reused by later runs.
//! Every contender runs as the child of a small Python harness that reports its
//! wall time and peak RSS (`ru_maxrss`), so both are measured alike; the input MS
//! is read once untimed first so both read it from the page cache.
//!
//! Fluxes: the peak within ±3 pixels of each source's true position (the WCS of
//! our image; both images share the grid) in the apparent image, divided by our
//! primary beam at that pixel (WSClean has no DSA-110 beam), against the truth
//! file's flux at the band centre (its spectral index applied).
//!
//! Options: `--scale tiny|small|full` (default full: 96 antennas, 24 × 768),
//! `--size N` (default 4096), `--niter N` (default 100000), `--reps N` (default 1),
//! `--skip-wsclean`, `--baseline-averaging WL` (default 1.5, the daemon's default: our
//! imaging is also run with baseline-dependent averaging of that extent; 0 skips it).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::util::{self, step};

const FLUX_PY: &str = r#"
# argv: truth.json our-prefix wsclean-prefix-or-"-"
import json, sys, numpy as np, warnings
from astropy.io import fits
from astropy.wcs import WCS
warnings.filterwarnings("ignore")
truth = json.load(open(sys.argv[1]))
ours, wsc = sys.argv[2], sys.argv[3]
def load(p):
    with fits.open(p) as h:
        return h[0].data.squeeze().astype(np.float64), h[0].header
img, hdr = load(ours + "-image.fits")
pb, _ = load(ours + "-pb.fits")
wcs = WCS(hdr).celestial
fc = hdr.get("CRVAL3", 1.4e9)
def robust_rms(a):
    a = a[np.isfinite(a)]
    return 1.4826 * np.median(np.abs(a - np.median(a)))
out = {"freq_hz": fc, "ours": {"rms_jy": robust_rms(load(ours + "-residual.fits")[0])}, "sources": []}
wimg = None
if wsc != "-":
    wimg = load(wsc + "-image.fits")[0]
    out["wsclean"] = {"rms_jy": robust_rms(load(wsc + "-residual.fits")[0])}
n = img.shape[0]
for s in truth["sources"]:
    x, y = wcs.world_to_pixel_values(s["ra_deg"], s["dec_deg"])
    x, y = int(round(float(x))), int(round(float(y)))
    if not (3 <= x < n - 3 and 3 <= y < n - 3):
        continue
    want = s["flux_jy"] * (fc / 1.4e9) ** s["spectral_index"]
    def peak(a):
        box = a[y - 3:y + 4, x - 3:x + 4]
        j = np.unravel_index(np.nanargmax(box), box.shape)
        return float(box[j]), float(pb[y - 3 + j[0], x - 3 + j[1]])
    r = {"name": s["name"], "x": x, "y": y, "true_jy": want}
    a, b = peak(img)
    r["ours_apparent_jy"], r["pb"], r["ours_jy"] = a, b, a / b
    if wimg is not None:
        a, b = peak(wimg)
        r["wsclean_apparent_jy"], r["wsclean_jy"] = a, a / b
    out["sources"].append(r)
print(json.dumps(out))
"#;

struct Opts {
    scale: String,
    size: usize,
    niter: usize,
    reps: usize,
    wsclean: bool,
    /// Also image with baseline-dependent averaging of this extent (λ; 0: not).
    bda_wl: f64,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        scale: "full".into(),
        size: 4096,
        niter: 100_000,
        reps: 1,
        wsclean: true,
        bda_wl: 1.5,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--scale" => o.scale = val()?.clone(),
            "--size" => o.size = val()?.parse().context("--size needs a number")?,
            "--niter" => o.niter = val()?.parse().context("--niter needs a number")?,
            "--reps" => o.reps = val()?.parse::<usize>().context("--reps needs a number")?,
            "--skip-wsclean" => o.wsclean = false,
            "--baseline-averaging" => {
                o.bda_wl = val()?
                    .parse()
                    .context("--baseline-averaging needs a number of wavelengths")?
            }
            other => bail!(
                "unknown option {other:?} of bench image: --scale tiny|small|full, --size N, \
                 --niter N, --reps N, --skip-wsclean, --baseline-averaging WL"
            ),
        }
    }
    if !["tiny", "small", "full"].contains(&o.scale.as_str()) {
        bail!("--scale {:?}: expected tiny, small or full", o.scale);
    }
    if o.size < 16 || !o.size.is_multiple_of(2) {
        bail!("--size {} must be even and at least 16", o.size);
    }
    if !(o.bda_wl.is_finite() && o.bda_wl >= 0.0) {
        bail!(
            "--baseline-averaging {} must be a number of wavelengths >= 0",
            o.bda_wl
        );
    }
    o.reps = o.reps.max(1);
    Ok(o)
}

/// The interpreter with numpy/astropy: `DSA110_PYTHON` if set, else the xtask's venv
/// (installed by `setup` when missing).
fn python() -> Result<PathBuf> {
    match std::env::var_os("DSA110_PYTHON") {
        Some(p) => Ok(PathBuf::from(p)),
        None => {
            crate::setup::ensure()?;
            Ok(crate::setup::python())
        }
    }
}

/// The simulated group's MS and truth file (simulated and converted once).
fn group_ms(tools: &Path, conv: &Path, scale: &str) -> Result<(PathBuf, PathBuf)> {
    let dir = util::workspace_root()
        .join("target")
        .join("bench")
        .join(format!("image-{scale}"));
    let hdf5 = dir.join("hdf5");
    let ms_dir = dir.join("ms");
    let have_ms = util::find_with_suffix(&ms_dir, ".ms");
    let have_truth = util::find_with_suffix(&dir, "truth.json");
    if let (Ok(ms), Ok(truth)) = (have_ms, have_truth) {
        return Ok((ms, truth));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&hdf5)?;
    step(&format!(
        "simulating a {scale} group (unit gains, thermal noise) into {}",
        hdf5.display()
    ));
    util::run(
        util::cmd(tools)
            .args(["simulate", "--scale", scale, "--unit-gains", "--seed", "11"])
            .arg("--out")
            .arg(&hdf5),
    )?;
    // the truth and gains files stay out of the converter's way
    for e in std::fs::read_dir(&hdf5)?.filter_map(|e| e.ok()) {
        if e.path().extension().is_none_or(|x| x != "hdf5") {
            std::fs::rename(e.path(), dir.join(e.file_name()))?;
        }
    }
    step("converting it to a Measurement Set (dsa110-legacy-convert --once)");
    util::run(
        util::cmd(conv)
            .arg("--input-dir")
            .arg(&hdf5)
            .arg("--output-dir")
            .arg(&ms_dir)
            .arg("--queue-db")
            .arg(dir.join("queue.sqlite3"))
            .arg("--once"),
    )?;
    let ms = util::find_with_suffix(&ms_dir, ".ms").context("after the conversion")?;
    let truth = util::find_with_suffix(&dir, "truth.json")?;
    Ok((ms, truth))
}

struct Run {
    wall_s: Vec<f64>,
    cpu_s: Vec<f64>,
    load: Vec<f64>,
    peak_rss_bytes: f64,
    stdout: String,
}

fn measure(py: &Path, argv: &[String], reps: usize) -> Result<Run> {
    let mut r = Run {
        wall_s: Vec::new(),
        cpu_s: Vec::new(),
        load: Vec::new(),
        peak_rss_bytes: 0.0,
        stdout: String::new(),
    };
    for _ in 0..reps {
        let out = util::output(
            Command::new(py)
                .arg("-c")
                .arg(crate::bench::MEASURE_PY)
                .args(argv),
        )?;
        let m: Value = serde_json::from_str(out.trim())?;
        r.wall_s.push(m["wall_s"].as_f64().unwrap_or(f64::NAN));
        r.cpu_s.push(m["cpu_s"].as_f64().unwrap_or(f64::NAN));
        r.load.push(m["load"].as_f64().unwrap_or(f64::NAN));
        r.peak_rss_bytes = r
            .peak_rss_bytes
            .max(m["peak_rss_bytes"].as_f64().unwrap_or(0.0));
        r.stdout = m["stdout"].as_str().unwrap_or_default().to_string();
    }
    Ok(r)
}

/// [`FLUX_PY`]'s measurement of our products `ours` (and WSClean's `wsclean`).
fn fluxes(py: &Path, truth: &Path, ours: &Path, wsclean: Option<&Path>) -> Result<Value> {
    let out = util::output(
        Command::new(py)
            .arg("-c")
            .arg(FLUX_PY)
            .arg(truth)
            .arg(ours)
            .arg(wsclean.map_or_else(|| "-".into(), |p| p.as_os_str().to_owned())),
    )?;
    Ok(serde_json::from_str(out.trim())?)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Run the benchmark.
#[allow(clippy::print_stdout)]
pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let py = python()?;
    let tools = util::build_bin("dsa110-tools", "dsa110-tools")?;
    let conv = util::build_bin("dsa110-legacy-convert", "dsa110-legacy-convert")?;
    let (ms, truth) = group_ms(&tools, &conv, &o.scale)?;
    let out = util::workspace_root()
        .join("target")
        .join("bench")
        .join(format!("image-{}", o.scale))
        .join(format!("out-{}", o.size));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let s = |x: &dyn AsRef<std::ffi::OsStr>| x.as_ref().to_string_lossy().into_owned();
    let size = o.size.to_string();
    let niter = o.niter.to_string();
    let ours_name = out.join("ours");
    let wsc_name = out.join("wsclean");
    let ours: Vec<String> = vec![
        s(&tools),
        "image".into(),
        s(&ms),
        "--out".into(),
        s(&ours_name),
        "--size".into(),
        size.clone(),
        "--scale".into(),
        "3asec".into(),
        "--weight".into(),
        "briggs 0".into(),
        "--niter".into(),
        niter.clone(),
        "--auto-threshold".into(),
        "1".into(),
        "--column".into(),
        "DATA".into(),
        "--no-png".into(),
    ];
    let wsc: Vec<String> = [
        "wsclean",
        "-quiet",
        "-use-wgridder",
        "-j",
        "2",
        "-size",
        &size,
        &size,
        "-scale",
        "3asec",
        "-weight",
        "briggs",
        "0",
        "-auto-threshold",
        "1",
        "-niter",
        &niter,
        "-mgain",
        "0.8",
        "-data-column",
        "DATA",
        "-name",
        &s(&wsc_name),
        &s(&ms),
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    // the MS into the page cache, untimed
    util::run(Command::new("sh").arg("-c").arg(format!(
        "find '{}' -type f -exec cat {{}} + > /dev/null",
        ms.display()
    )))?;
    step(&format!(
        "imaging {} ({}² at 3″, Briggs 0, auto-threshold 1, niter {}) with dsa110-tools image, {} run(s)",
        ms.display(),
        o.size,
        o.niter,
        o.reps
    ));
    let a = measure(&py, &ours, o.reps)?;
    let ours_json: Value = serde_json::from_str(a.stdout.trim()).unwrap_or(Value::Null);
    // the same with baseline-dependent averaging (the daemon's default)
    let bda_name = out.join("ours-bda");
    let bda = if o.bda_wl > 0.0 {
        step(&format!(
            "the same with --baseline-averaging {} (the daemon's default)",
            o.bda_wl
        ));
        let mut argv = ours.clone();
        if let Some(i) = argv.iter().position(|x| *x == s(&ours_name)) {
            argv[i] = s(&bda_name);
        }
        argv.extend(["--baseline-averaging".into(), o.bda_wl.to_string()]);
        let r = measure(&py, &argv, o.reps)?;
        let j: Value = serde_json::from_str(r.stdout.trim()).unwrap_or(Value::Null);
        let fl = fluxes(&py, &truth, &bda_name, None)?;
        Some((r, j, fl))
    } else {
        None
    };
    let b = if o.wsclean {
        step("the same with wsclean -use-wgridder -j 2");
        Some(measure(&py, &wsc, o.reps)?)
    } else {
        None
    };
    let fl = fluxes(
        &py,
        &truth,
        &ours_name,
        b.as_ref().map(|_| wsc_name.as_path()),
    )?;

    let nvis = ours_json["n_vis"].as_f64().unwrap_or(f64::NAN);
    println!(
        "\nbench image: {} group, {:.1} M unflagged visibilities, {}² × 3″, Briggs 0, auto-threshold 1, niter {}",
        o.scale,
        nvis / 1e6,
        o.size,
        o.niter
    );
    println!(
        "{:<26} {:>10} {:>8} {:>6} {:>12} {:>12} {:>8} {:>8}  runs (s)",
        "contender", "median s", "CPU s", "load", "Mvis/s", "peak RSS MB", "rms mJy", "iters"
    );
    let row = |name: &str, r: &Run, rms: f64, iters: String| {
        let m = median(&r.wall_s);
        println!(
            "{:<26} {:>10.1} {:>8.1} {:>6.1} {:>12.2} {:>12.0} {:>8.3} {:>8}  {:?}",
            name,
            m,
            median(&r.cpu_s),
            median(&r.load),
            nvis / 1e6 / m,
            r.peak_rss_bytes / 1e6,
            rms * 1e3,
            iters,
            r.wall_s
                .iter()
                .map(|w| (w * 10.0).round() / 10.0)
                .collect::<Vec<_>>()
        );
    };
    row(
        "dsa110-tools image",
        &a,
        fl["ours"]["rms_jy"].as_f64().unwrap_or(f64::NAN),
        format!("{}", ours_json["n_iter"]),
    );
    if let Some((r, j, fl)) = &bda {
        row(
            &format!("… --baseline-averaging {}", o.bda_wl),
            r,
            fl["ours"]["rms_jy"].as_f64().unwrap_or(f64::NAN),
            format!("{}", j["n_iter"]),
        );
    }
    if let Some(b) = &b {
        row(
            "wsclean -use-wgridder -j 2",
            b,
            fl["wsclean"]["rms_jy"].as_f64().unwrap_or(f64::NAN),
            "-".into(),
        );
        println!(
            "speed-up ours vs WSClean: {:.2}× (target ≥ 3); peak RSS ratio {:.2}",
            median(&b.wall_s) / median(&a.wall_s),
            a.peak_rss_bytes / b.peak_rss_bytes.max(1.0)
        );
        if let Some((r, _, _)) = &bda {
            println!(
                "speed-up ours with baseline averaging vs WSClean: {:.2}×",
                median(&b.wall_s) / median(&r.wall_s)
            );
        }
    }
    if let Some((_, j, _)) = &bda {
        println!(
            "baseline averaging {} λ: {} → {} visibilities gridded; stages (s): {}; {} major cycles",
            o.bda_wl, j["n_vis_read"], j["n_vis"], j["timings"], j["n_major"]
        );
    }
    println!(
        "our stages (s): {}; {} major cycles, {} w-planes",
        ours_json["timings"], ours_json["n_major"], ours_json["n_wplanes"]
    );
    println!(
        "\n{:<8} {:>6} {:>6} {:>6} {:>10} {:>10} {:>8} {:>10} {:>8} {:>10} {:>8}",
        "source",
        "x",
        "y",
        "pb",
        "true Jy",
        "ours Jy",
        "err %",
        "WSClean Jy",
        "err %",
        "BDA Jy",
        "err %"
    );
    let bda_src = |name: &str| -> f64 {
        bda.as_ref()
            .and_then(|(_, _, fl)| {
                fl["sources"]
                    .as_array()?
                    .iter()
                    .find(|r| r["name"].as_str() == Some(name))?["ours_jy"]
                    .as_f64()
            })
            .unwrap_or(f64::NAN)
    };
    // the largest |error| so far; NaN (a run skipped or a source not measured)
    // stays NaN: f64::max would drop it and report 0 %
    let wmax = |a: f64, b: f64| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            a.max(b.abs())
        }
    };
    let mut worst: (f64, f64) = (0.0, 0.0);
    let mut worst_bda = 0.0f64;
    for r in fl["sources"].as_array().into_iter().flatten() {
        let t = r["true_jy"].as_f64().unwrap_or(f64::NAN);
        let us = r["ours_jy"].as_f64().unwrap_or(f64::NAN);
        let ws = r["wsclean_jy"].as_f64().unwrap_or(f64::NAN);
        let bd = bda_src(r["name"].as_str().unwrap_or("?"));
        let (eu, ew, eb) = (
            100.0 * (us / t - 1.0),
            100.0 * (ws / t - 1.0),
            100.0 * (bd / t - 1.0),
        );
        worst = (wmax(worst.0, eu), wmax(worst.1, ew));
        worst_bda = wmax(worst_bda, eb);
        println!(
            "{:<8} {:>6} {:>6} {:>6.3} {:>10.4} {:>10.4} {:>8.2} {:>10.4} {:>8.2} {:>10.4} {:>8.2}",
            r["name"].as_str().unwrap_or("?"),
            r["x"],
            r["y"],
            r["pb"].as_f64().unwrap_or(f64::NAN),
            t,
            us,
            eu,
            ws,
            ew,
            bd,
            eb
        );
    }
    let pct = |v: f64| {
        if v.is_nan() {
            "not measured".to_string()
        } else {
            format!("{v:.2} %")
        }
    };
    println!(
        "largest |flux error|: ours {}, with baseline averaging {}, WSClean {} \
         (peak within ±3 px ÷ our primary beam)",
        pct(worst.0),
        pct(worst_bda),
        pct(worst.1)
    );
    Ok(())
}

//! The dashboard in headless Chromium (Debian `chromium`): it loads without
//! console errors and shows the database's queue counts, an image preview and a
//! light curve; screenshots are saved under the target directory.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

fn chromium(args: &[String]) -> (String, String) {
    let out = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            "--window-size=1280,2400",
        ])
        .args(args)
        .output()
        .expect("chromium (Debian `chromium`; run `cargo xtask setup`)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Console messages Chromium logged for the page (`CONSOLE` lines), errors only.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .filter(|l| l.contains("ERROR") || l.contains("Uncaught") || l.contains("error"))
        .collect()
}

#[test]
fn the_dashboard_shows_the_database_in_chromium() {
    let f = fixture();
    let s = start(&f, &[]);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dsa110-api-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let url = format!("http://127.0.0.1:{}/", s.port);

    let (dom, stderr) = chromium(&["--dump-dom".into(), url.clone()]);
    assert!(
        dom.contains("data-loaded=\"1\""),
        "the page's scripts did not finish:\n{stderr}\n{dom}"
    );
    assert_eq!(console_errors(&stderr), Vec::<&str>::new(), "{stderr}");
    for (state, n) in [
        ("collecting", 1),
        ("pending", 1),
        ("in_progress", 1),
        ("completed", 1),
        ("failed", 1),
    ] {
        assert!(
            dom.contains(&format!("id=\"count-{state}\" data-count=\"{n}\"")),
            "{state} count missing:\n{dom}"
        );
    }
    for g in [COMPLETED, PENDING, FAILED, COLLECTING, IN_PROGRESS] {
        assert!(dom.contains(g), "group {g} not listed");
    }
    assert!(
        dom.contains("sb03: truncated dataset visdata"),
        "the failed group's error is shown"
    );
    assert!(
        dom.contains(&format!("/api/v1/images/{}/png", f.image_id)),
        "image preview"
    );
    // the preview on disk loaded; the image outside --output-dir has none (403)
    assert_eq!(
        dom.matches("class=\"preview\"").count(),
        1,
        "one preview loaded:\n{dom}"
    );
    assert_eq!(
        dom.matches("<div>no preview</div>").count(),
        1,
        "one image without preview:\n{dom}"
    );
    assert!(dom.contains("2025-10-02T00:00:10 image"), "image caption");
    assert_eq!(
        dom.matches("class=\"lc-point\"").count(),
        5,
        "five light-curve points"
    );
    assert!(dom.contains(CAL_SET), "calibration set listed");
    // the active set's solution plots: bandpass and gain, amplitude and phase, one
    // line per receptor, for the first antenna that is not the reference
    assert_eq!(
        dom.matches("class=\"sol-series\"").count(),
        8,
        "four solution plots of two receptors:\n{dom}"
    );
    assert!(dom.contains("reference antenna pad103"), "{dom}");
    assert!(
        dom.contains("<option value=\"pad104\">pad104</option>"),
        "{dom}"
    );

    let shot = shots.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let (_, stderr) = chromium(&[format!("--screenshot={}", shot.display()), url]);
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 1000)
            .unwrap_or(false),
        "no screenshot: {stderr}"
    );

    let docs = format!("http://127.0.0.1:{}/api/docs", s.port);
    let (dom, stderr) = chromium(&["--dump-dom".into(), docs.clone()]);
    assert_eq!(console_errors(&stderr), Vec::<&str>::new(), "{stderr}");
    assert!(
        dom.contains("/api/v1/conversion/convert") && !dom.contains("loading…"),
        "{dom}"
    );
    let shot = shots.join("docs.png");
    let _ = chromium(&[format!("--screenshot={}", shot.display()), docs]);
    assert!(shot.exists());
}

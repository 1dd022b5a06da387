//! The IERS table reader against astropy's reading of the same files
//! (`fixtures/eop/`, extracts of astropy-iers-data's `finals2000A.all`).

use std::path::{Path, PathBuf};
use std::process::Command;

use dsa110_astro::constants::ARCSEC;
use dsa110_astro::eop_table::EopFlag;
use dsa110_astro::{
    Eop, EopLookupError, EopOrigin, EopProvider, EopSearch, EopSource, EopStatus, EopTable,
    EopTableError,
};
use serde_json::Value;

const MJD_OFFSET: f64 = 2_400_000.5;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/eop")
        .join(name)
}

use dsa110_test_support::python;

/// astropy's values for `table` at UTC Julian Dates (jd1, jd2): IERS_A read
/// from the same file (no download, no eopc04 substitution).
fn astropy_iers_a(table: &Path, jds: &[(f64, f64)]) -> Vec<(f64, f64, f64)> {
    const SCRIPT: &str = r#"
import json, os, sys, tempfile
import numpy as np
from astropy.utils import iers
iers.conf.auto_download = False
# astropy's IERS_A cannot read a table without predictions (it indexes the
# first 'P' row), so the real 2026-11-01 predicted row of the same
# finals2000A.all is appended: it lies after every instant asked for.
P_ROW = "2611 1 61345.00 P  0.137214 0.002230  0.317419 0.002100  P-0.0547996 0.0009344                 P     0.235    0.128     0.239    0.160" + " " * 53
with open(sys.argv[1]) as f:
    text = f.read().rstrip("\n") + "\n" + P_ROW + "\n"
fd, path = tempfile.mkstemp(suffix=".all")
with os.fdopen(fd, "w") as f:
    f.write(text)
t = iers.IERS_A.read(path)
os.unlink(path)
jd = np.array(json.loads(sys.argv[2]))
ut1 = t.ut1_utc(jd[:, 0], jd[:, 1]).to_value("s")
x, y = t.pm_xy(jd[:, 0], jd[:, 1])
print(json.dumps([[a, b, c] for a, b, c in zip(ut1.tolist(), x.to_value("arcsec").tolist(), y.to_value("arcsec").tolist())]))
"#;
    let arg = serde_json::to_string(&jds.iter().map(|&(a, b)| [a, b]).collect::<Vec<_>>()).unwrap();
    let out = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(table)
        .arg(arg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "astropy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_f64().unwrap(),
                r[1].as_f64().unwrap(),
                r[2].as_f64().unwrap(),
            )
        })
        .collect()
}

fn check_against_astropy(table_file: &Path, jds: &[(f64, f64)]) {
    let table = EopTable::load(table_file).unwrap();
    let want = astropy_iers_a(table_file, jds);
    for (&(jd1, jd2), &(ut1, x, y)) in jds.iter().zip(&want) {
        let got = table.at_jd(jd1 + jd2).unwrap();
        let (gx, gy) = (got.xp_rad / ARCSEC, got.yp_rad / ARCSEC);
        assert!(
            (got.dut1_s - ut1).abs() < 1e-6,
            "JD {jd1}+{jd2}: UT1-UTC {} vs astropy {ut1}",
            got.dut1_s
        );
        assert!(
            (gx - x).abs() < 1e-6 && (gy - y).abs() < 1e-6,
            "JD {jd1}+{jd2}: pm ({gx}, {gy})″ vs astropy ({x}, {y})″"
        );
    }
}

#[test]
fn parses_the_2025_fixture() {
    let t = EopTable::load(&fixture("finals2000A_2025H1.all")).unwrap();
    assert_eq!(t.rows().len(), 181);
    let span = t.span();
    assert_eq!((span.first_mjd, span.last_mjd), (60676.0, 60856.0));
    let r0 = t.rows()[0];
    // 2025-01-01: Bulletin B values (bytes 135-165), as astropy prefers them
    assert_eq!(r0.dut1_s, 0.0463221);
    assert_eq!((r0.xp_arcsec, r0.yp_arcsec), (0.144124, 0.305086));
    assert_eq!(r0.ut1_flag, EopFlag::BulletinB);
    assert_eq!(t.first_predicted_mjd(), None);
}

#[test]
fn interpolation_equals_astropy_iers_a_at_2025_instants() {
    // a dozen instants in 2025 H1, at awkward fractions of the day
    let jds: Vec<(f64, f64)> = [
        (60676.0, 0.0),
        (60676.0, 0.123_456_789),
        (60690.0, 0.5),
        (60701.0, 0.999_9),
        (60720.0, 0.333_333_333),
        (60745.0, 0.75),
        (60760.0, 0.010_416_666),
        (60777.0, 0.614_2),
        (60800.0, 0.25),
        (60812.0, 0.871_2),
        (60840.0, 0.432_1),
        (60855.0, 0.999_999),
    ]
    .iter()
    .map(|&(mjd, f)| (mjd + MJD_OFFSET, f))
    .collect();
    check_against_astropy(&fixture("finals2000A_2025H1.all"), &jds);
}

#[test]
fn leap_second_handled_as_astropy_does() {
    // the leap second at the end of 2016-12-31 (MJD 57753 → 57754): UT1-UTC
    // jumps from −0.41 s to +0.59 s in the table
    let file = fixture("finals2000A_leap2016.all");
    let t = EopTable::load(&file).unwrap();
    let before = t.at(57753.0).unwrap().dut1_s;
    let after = t.at(57754.0).unwrap().dut1_s;
    assert!(before < -0.4 && after > 0.58, "{before} {after}");
    // inside the interval the value stays continuous with the first row (no
    // half-second blend), as astropy's whole-second correction makes it
    let mid = t.at(57753.5).unwrap().dut1_s;
    assert!((mid - before).abs() < 0.001, "mid {mid} before {before}");
    let jds: Vec<(f64, f64)> = [
        57752.5, 57753.0, 57753.25, 57753.5, 57753.999, 57754.0, 57754.5,
    ]
    .iter()
    .map(|&m: &f64| (MJD_OFFSET + m.floor(), m - m.floor()))
    .collect();
    check_against_astropy(&file, &jds);
}

#[test]
fn out_of_range_error_names_the_span() {
    let t = EopTable::load(&fixture("finals2000A_2025H1.all")).unwrap();
    let e = t.at(60900.0).unwrap_err();
    assert!(matches!(e, EopLookupError::OutOfRange { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("60676") && msg.contains("60856") && msg.contains("2025-06-30"),
        "{msg}"
    );
    assert!(t.at(60600.0).is_err());
    // the provider falls back to zero and says why
    let p = EopProvider::Table {
        table: t,
        source: EopSource {
            origin: EopOrigin::Explicit,
            path: fixture("finals2000A_2025H1.all"),
        },
    };
    let (eop, status) = p.eop_for(60900.0 + MJD_OFFSET);
    assert_eq!(eop, Eop::default());
    assert!(matches!(status, EopStatus::OutsideTable { span } if span.last_mjd == 60856.0));
    let (eop, status) = p.eop_for(60700.0 + MJD_OFFSET);
    assert_eq!(status, EopStatus::FromTable { predicted: false });
    assert!(eop.dut1_s > 0.01, "{eop:?}");
}

#[test]
fn corrupted_line_names_file_and_line() {
    let text = std::fs::read_to_string(fixture("finals2000A_2025H1.all")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // line 50: the UT1-UTC (Bulletin A, bytes 59-68) overwritten
    lines[49].replace_range(58..68, "0.0x12345 ");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("eop-corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("finals2000A.all");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let e = EopTable::load(&path).unwrap_err();
    assert!(matches!(e, EopTableError::Field { line: 50, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string())
            && msg.contains("line 50")
            && msg.contains("UT1_UTC_A"),
        "{msg}"
    );
    // a missing file: the path, and the OS's reason as the source
    let missing = dir.join("absent.all");
    let e = EopTable::load(&missing).unwrap_err();
    assert!(e.to_string().contains("absent.all"));
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn discovery_order_and_failures() {
    let good = fixture("finals2000A_2025H1.all");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("eop-discovery");
    std::fs::create_dir_all(&dir).unwrap();
    let absent = dir.join("absent.all");
    let search =
        |explicit: Option<&PathBuf>, env: Option<&PathBuf>, astropy: Vec<PathBuf>| EopSearch {
            explicit: explicit.cloned(),
            env: env.cloned(),
            astropy,
            system: Some(absent.clone()),
        };
    // explicit first, then environment, then astropy, then the system path
    let (_, s) = search(Some(&good), Some(&absent), vec![]).load().unwrap();
    assert_eq!(s.origin, EopOrigin::Explicit);
    let (_, s) = search(None, Some(&good), vec![absent.clone()])
        .load()
        .unwrap();
    assert_eq!(s.origin, EopOrigin::Environment);
    let (t, s) = search(None, None, vec![absent.clone(), good.clone()])
        .load()
        .unwrap();
    assert_eq!(
        (s.origin, s.path.as_path()),
        (EopOrigin::AstropyIersData, good.as_path())
    );
    assert_eq!(t.rows().len(), 181);
    let mut sys = search(None, None, vec![absent.clone()]);
    sys.system = Some(good.clone());
    assert_eq!(sys.load().unwrap().1.origin, EopOrigin::System);
    // a path the operator gave must exist: no silent fallback
    let e = search(Some(&absent), None, vec![good.clone()])
        .load()
        .unwrap_err();
    assert!(matches!(e, EopTableError::Io { .. }), "{e:?}");
    let e = search(None, Some(&absent), vec![good.clone()])
        .load()
        .unwrap_err();
    assert!(matches!(e, EopTableError::Io { .. }), "{e:?}");
    // nothing anywhere: NotFound listing what was searched
    let e = search(None, None, vec![dir.join("a.all")])
        .load()
        .unwrap_err();
    assert!(e.is_not_found());
    let msg = e.to_string();
    assert!(msg.contains("a.all") && msg.contains("absent.all"), "{msg}");
}

#[test]
fn default_search_finds_the_interop_venv_astropy_table() {
    // what `cargo xtask setup` installs: astropy-iers-data's finals2000A.all
    let search = EopSearch::from_environment(None);
    let found: Vec<_> = search.astropy.iter().filter(|p| p.is_file()).collect();
    assert!(
        found
            .iter()
            .any(|p| p.ends_with("astropy_iers_data/data/finals2000A.all")),
        "no astropy-iers-data table among {:?}",
        search.astropy
    );
    assert_eq!(
        search.system.as_deref(),
        Some(Path::new(dsa110_astro::eop_table::SYSTEM_IERS_TABLE))
    );
    // and with no explicit path and no environment variable it is loaded
    let no_env = EopSearch {
        env: None,
        ..search
    };
    let (table, source) = no_env.load().unwrap();
    assert_eq!(source.origin, EopOrigin::AstropyIersData);
    let (eop, status) = EopProvider::Table { table, source }.eop_for(60800.0 + MJD_OFFSET);
    assert_eq!(status, EopStatus::FromTable { predicted: false });
    assert!(eop.dut1_s.abs() > 0.01 && eop.dut1_s.abs() < 0.9);
}

/// astropy's default (`IERS_Auto`: the bundled finals2000A.all with the
/// Bulletin B values replaced by eopc04, offline) at UTC Julian Dates.
fn astropy_iers_auto(jds: &[(f64, f64)]) -> Vec<(f64, f64, f64)> {
    const SCRIPT: &str = r#"
import json, sys
import numpy as np
from astropy.utils import iers
iers.conf.auto_download = False
iers.conf.auto_max_age = None
t = iers.IERS_Auto.open()
jd = np.array(json.loads(sys.argv[1]))
ut1 = t.ut1_utc(jd[:, 0], jd[:, 1]).to_value("s")
x, y = t.pm_xy(jd[:, 0], jd[:, 1])
print(json.dumps([[a, b, c] for a, b, c in zip(ut1.tolist(), x.to_value("arcsec").tolist(), y.to_value("arcsec").tolist())]))
"#;
    let arg = serde_json::to_string(&jds.iter().map(|&(a, b)| [a, b]).collect::<Vec<_>>()).unwrap();
    let out = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(arg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "astropy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_f64().unwrap(),
                r[1].as_f64().unwrap(),
                r[2].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn default_table_equals_astropy_default_iers_auto() {
    // what a user of pyuvdata/astropy gets by default, offline: the table
    // discovery finds (astropy-iers-data's finals2000A.all with eopc04 beside it)
    let search = EopSearch {
        explicit: None,
        env: None,
        ..EopSearch::from_environment(None)
    };
    let (table, source) = search.load().unwrap();
    assert_eq!(source.origin, EopOrigin::AstropyIersData);
    assert!(
        table
            .eopc04_path()
            .is_some_and(|p| p.ends_with("eopc04.1962-now")),
        "{:?}",
        table.eopc04_path()
    );
    // 2025 (C04 values), 2026 after the last Bulletin B row (Bulletin A) and
    // one predicted date
    let jds: Vec<(f64, f64)> = [
        60676.3, 60700.9, 60706.6, 60707.2, 61072.4, 60731.0, 60760.5, 60790.25, 60820.7, 60850.1,
        60880.6, 60912.45, 60950.5, 60980.01, 61010.8, 61300.5, 61320.3, 61360.5,
    ]
    .iter()
    .map(|&m: &f64| (MJD_OFFSET + m.floor(), m - m.floor()))
    .collect();
    let want = astropy_iers_auto(&jds);
    let mut worst = (0.0_f64, 0.0_f64);
    for (&(jd1, jd2), &(ut1, x, y)) in jds.iter().zip(&want) {
        let got = table.at_jd(jd1 + jd2).unwrap();
        let dt = (got.dut1_s - ut1).abs();
        let dp = (got.xp_rad / ARCSEC - x)
            .abs()
            .max((got.yp_rad / ARCSEC - y).abs());
        worst = (worst.0.max(dt), worst.1.max(dp));
        assert!(
            dt < 1e-9 && dp < 1e-9,
            "JD {jd1}+{jd2}: UT1-UTC {} vs {ut1}, pm ({}, {})″ vs ({x}, {y})″",
            got.dut1_s,
            got.xp_rad / ARCSEC,
            got.yp_rad / ARCSEC
        );
    }
    eprintln!(
        "worst difference from IERS_Auto: {:.2e} s, {:.2e}″",
        worst.0, worst.1
    );
}

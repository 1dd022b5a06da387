use std::f64::consts::{PI, TAU};
use std::path::PathBuf;

use dsa110_astro::apparent::wrap_pi;
use dsa110_astro::constants::ARCSEC;
use dsa110_astro::{
    apparent_to_icrs, icrs_to_apparent, icrs_to_hadec, itrf_to_local, last_rad, ApparentRaDec, Eop,
    ObsTime, Site, SkyFrame,
};
use serde_json::Value;

/// 0.1″, the tolerance; we in fact agree to ~1 mas.
const TOL: f64 = 0.1 * ARCSEC;

fn fixture() -> Value {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/astro/known_answers.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("missing {k}"))
}

fn site(fx: &Value) -> Site {
    let s = &fx["site"];
    Site::from_deg(f(s, "lat_deg"), f(s, "lon_deg"), f(s, "alt_m"))
}

fn check_angle(what: &str, got: f64, want: f64, scale: f64) {
    let d = wrap_pi(got - want) * scale;
    assert!(
        d.abs() < TOL,
        "{what}: got {got}, want {want}, diff {:.4}″",
        d / ARCSEC
    );
}

#[test]
fn time_scales_and_sidereal_time() {
    let fx = fixture();
    let site = site(&fx);
    for ep in fx["epochs"].as_array().unwrap() {
        let iso = ep["iso"].as_str().unwrap();
        let t = ObsTime::from_iso(iso).unwrap();
        assert!((t.jd_utc() - f(ep, "jd_utc")).abs() < 1e-9, "{iso} jd");
        let tt_utc = (t.tt_jd2().0 + t.tt_jd2().1 - t.jd_utc()) * 86_400.0;
        assert!(
            (tt_utc - f(ep, "tt_minus_utc_s")).abs() < 1e-3,
            "{iso} TT-UTC {tt_utc}"
        );
        let gast = dsa110_astro::gast_rad(&t, 0.0);
        check_angle(
            &format!("{iso} GAST vs erfa"),
            gast,
            f(ep, "gast_rad_erfa"),
            1.0,
        );
        let last = last_rad(&t, 0.0, site.lon_rad);
        check_angle(
            &format!("{iso} LAST vs astropy"),
            last,
            f(ep, "last_rad_astropy"),
            1.0,
        );
        assert!((0.0..TAU).contains(&last));
    }
}

#[test]
fn icrs_to_apparent_matches_erfa_and_astropy() {
    let fx = fixture();
    for ep in fx["epochs"].as_array().unwrap() {
        let iso = ep["iso"].as_str().unwrap();
        let t = ObsTime::from_iso(iso).unwrap();
        for s in ep["sources"].as_array().unwrap() {
            let name = format!("{iso} {}", s["name"]);
            let app = icrs_to_apparent(f(s, "ra_rad"), f(s, "dec_rad"), &t);
            let cosd = app.dec_rad.cos();
            for lib in ["erfa", "astropy"] {
                check_angle(
                    &format!("{name} ra ({lib})"),
                    app.ra_rad,
                    f(s, &format!("app_ra_rad_{lib}")),
                    cosd,
                );
                check_angle(
                    &format!("{name} dec ({lib})"),
                    app.dec_rad,
                    f(s, &format!("app_dec_rad_{lib}")),
                    1.0,
                );
            }
            // and back (erfa atic13's inverse)
            let (ra, dec) = apparent_to_icrs(
                ApparentRaDec {
                    ra_rad: f(s, "app_ra_rad_erfa"),
                    dec_rad: f(s, "app_dec_rad_erfa"),
                },
                &t,
            );
            check_angle(&format!("{name} inverse ra"), ra, f(s, "ra_rad"), cosd);
            check_angle(&format!("{name} inverse dec"), dec, f(s, "dec_rad"), 1.0);
        }
    }
}

#[test]
fn hour_angle_is_last_minus_apparent_ra() {
    let fx = fixture();
    let site = site(&fx);
    for ep in fx["epochs"].as_array().unwrap() {
        let t = ObsTime::from_iso(ep["iso"].as_str().unwrap()).unwrap();
        for s in ep["sources"].as_array().unwrap() {
            let (ha, dec) = icrs_to_hadec(f(s, "ra_rad"), f(s, "dec_rad"), &t, &site, 0.0);
            let want = f(ep, "last_rad_astropy") - f(s, "app_ra_rad_astropy");
            check_angle("HA", ha, want, dec.cos());
            assert!(ha > -PI && ha <= PI);
        }
    }
}

#[test]
fn uvw_matches_pyuvdata_to_a_millimetre() {
    let mut worst: f64 = 0.0;
    let fx = fixture();
    let site = site(&fx);
    let u = &fx["uvw"];
    let pos: Vec<[f64; 3]> = u["antenna_positions_itrf_offsets_m"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let v: Vec<f64> = p
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            [v[0], v[1], v[2]]
        })
        .collect();
    let idx = |k: &str| -> Vec<usize> {
        u[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect()
    };
    let (a1, a2) = (idx("ant1"), idx("ant2"));
    for case in u["cases"].as_array().unwrap() {
        let t = ObsTime::from_iso(case["iso"].as_str().unwrap()).unwrap();
        let eop = Eop {
            dut1_s: f(case, "dut1_s"),
            xp_rad: f(case, "xp_rad"),
            yp_rad: f(case, "yp_rad"),
        };
        let basis = SkyFrame::new(&t, &site, &eop)
            .unwrap()
            .uvw_basis(f(case, "ra_rad"), f(case, "dec_rad"));
        for (k, want) in case["uvw_m"].as_array().unwrap().iter().enumerate() {
            let b_itrf = [
                pos[a2[k]][0] - pos[a1[k]][0],
                pos[a2[k]][1] - pos[a1[k]][1],
                pos[a2[k]][2] - pos[a1[k]][2],
            ];
            let got = basis.project(itrf_to_local(b_itrf, site.lon_rad));
            for c in 0..3 {
                let w = want[c].as_f64().unwrap();
                worst = worst.max((got[c] - w).abs());
                assert!(
                    (got[c] - w).abs() < 1e-3,
                    "{} {} EOP {} baseline {k} comp {c}: got {} want {w}",
                    case["iso"],
                    case["source"],
                    case["eop"],
                    got[c]
                );
            }
        }
    }
    // measured: ≤ 3 µm on a 2.6 km baseline (≲ 0.2 mas); the issue asks for 1 mm
    assert!(
        worst < 1e-5,
        "worst UVW difference from pyuvdata {worst:.3e} m"
    );
}

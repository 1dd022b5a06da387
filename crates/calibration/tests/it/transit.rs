//! Transit detection.

use dsa110_astro::{ObsTime, Site};
use dsa110_calibration::transit::transit_time_jd;
use dsa110_calibration::{find_transits, BeamGeometry, Catalog};

/// GMST (rad) from the IAU 1982 expression (an independent check, ±1 s).
fn gmst_rad(jd_ut1: f64) -> f64 {
    let d = jd_ut1 - 2_451_545.0;
    let t = d / 36_525.0;
    let deg = 280.460_618_37 + 360.985_647_366_29 * d + 0.000_387_933 * t * t;
    deg.rem_euclid(360.0).to_radians()
}

#[test]
fn three_c286_is_found_at_its_transit_and_not_three_hours_later() {
    let cat = Catalog::built_in();
    let c286 = cat.get("3C286").unwrap().clone();
    let beam = BeamGeometry::dsa110(30.5092f64.to_radians());
    let guess = ObsTime::from_iso("2025-10-02T00:00:00").unwrap().jd_utc();
    let tr = transit_time_jd(&c286, guess, &beam).unwrap();
    // independent check: at transit, LST (GMST + longitude) ≈ RA (precession
    // since J2000 moves RA by ~0.3°, so allow 1°)
    let lst = gmst_rad(tr) + Site::dsa110().lon_rad;
    let dha = (lst - c286.ra_deg.to_radians() + std::f64::consts::PI)
        .rem_euclid(std::f64::consts::TAU)
        - std::f64::consts::PI;
    assert!(
        dha.abs().to_degrees() < 1.0,
        "HA at transit {}°",
        dha.to_degrees()
    );
    assert!((tr - guess).abs() <= 0.5 + 1e-6, "nearest transit");
    // a group of 24 × 12.88 s centred on the transit
    let half = 12.0 * 12.884_902 / 86_400.0;
    let found = find_transits(&cat, tr - half, tr + half, &beam).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].calibrator.name, "3C286");
    assert!(found[0].transit_in_group);
    assert!((found[0].transit_jd_utc - tr).abs() * 86_400.0 < 1.0);
    assert!(
        found[0].min_offset_rad.to_degrees() < 0.5,
        "{}",
        found[0].min_offset_rad.to_degrees()
    );
    // three hours later: nothing
    let later = tr + 3.0 / 24.0;
    assert!(find_transits(&cat, later - half, later + half, &beam)
        .unwrap()
        .is_empty());
    // 20 minutes before the group (offset ≈ 4.3°): not in the half-power beam
    let early = tr - 1200.0 / 86_400.0;
    assert!(find_transits(&cat, early - half, early + half, &beam)
        .unwrap()
        .is_empty());
    // a group ending 3 minutes before transit still sees it (offset ≈ 0.65°)
    let g_end = tr - 180.0 / 86_400.0;
    let f = find_transits(&cat, g_end - 2.0 * half, g_end, &beam).unwrap();
    assert_eq!(f.len(), 1);
    assert!(!f[0].transit_in_group);
    // another pointing declination: not found
    let beam2 = BeamGeometry::dsa110(54.57f64.to_radians());
    assert!(find_transits(&cat, tr - half, tr + half, &beam2)
        .unwrap()
        .iter()
        .all(|t| t.calibrator.name != "3C286"));
}

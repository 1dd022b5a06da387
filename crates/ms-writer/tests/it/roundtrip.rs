//! Write an MS and read it back with `read_ms`: everything must match exactly.

use dsa110_astro::{PhaseCentre, VisBlock};
use dsa110_ms_writer::read_ms;

use crate::common::small_ms;

pub fn assert_block_eq(got: &VisBlock, want: &VisBlock, what: &str) {
    assert_eq!(
        got.times_jd_utc.len(),
        want.times_jd_utc.len(),
        "{what}: ntimes"
    );
    for (g, w) in got.times_jd_utc.iter().zip(&want.times_jd_utc) {
        assert!((g - w).abs() < 1e-10, "{what}: time {g} != {w}");
    }
    assert_eq!(got.int_time_s, want.int_time_s, "{what}: int_time_s");
    assert_eq!(got.ant1, want.ant1, "{what}: ant1");
    assert_eq!(got.ant2, want.ant2, "{what}: ant2");
    assert_eq!(got.freqs_hz, want.freqs_hz, "{what}: freqs");
    assert_eq!(got.chan_width_hz, want.chan_width_hz, "{what}: chan width");
    assert_eq!(got.pols, want.pols, "{what}: pols");
    assert_eq!(got.uvw_m, want.uvw_m, "{what}: uvw");
    assert_eq!(got.data, want.data, "{what}: data");
    assert_eq!(got.flags, want.flags, "{what}: flags");
    assert_eq!(got.nsamples, want.nsamples, "{what}: nsamples");
}

#[test]
fn round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let ms = dir.path().join("rt.ms");
    let small = small_ms(&ms);
    let got = read_ms(&ms).unwrap();

    assert_eq!(got.antennas, small.spec.antennas);
    assert_eq!(got.field, small.spec.field);
    assert_eq!(got.pols, small.spec.pols);
    assert_eq!(got.telescope_name, "OVRO_MMA");
    assert_eq!(got.spws.len(), 3);
    for (s, (g, want)) in got.spws.iter().zip(&small.expected).enumerate() {
        assert_eq!(g.spw, small.spec.spws[s], "spw {s} spec");
        assert_eq!(
            g.block.phase_centre,
            PhaseCentre::Icrs {
                name: small.spec.field.name.clone(),
                ra_rad: small.spec.field.ra_rad,
                dec_rad: small.spec.field.dec_rad
            }
        );
        assert_block_eq(&g.block, want, &format!("spw {s}"));
    }
}

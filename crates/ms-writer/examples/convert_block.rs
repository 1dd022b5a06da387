//! Time MsBlock::from_vis on a DSA-110-sized block (hand-run profiling aid).
#![allow(clippy::unwrap_used, clippy::print_stdout)]
use dsa110_astro::{PhaseCentre, VisBlock};
use dsa110_ms_writer::MsBlock;
use ndarray::{Array2, Array3};
use num_complex::Complex32;
use std::time::Instant;

fn main() {
    let (nbls, nt, nchan, npol) = (4656usize, 9usize, 48usize, 2usize);
    let nrows = nbls * nt;
    let mk = || VisBlock {
        times_jd_utc: vec![2_460_000.5; nt],
        int_time_s: 12.9,
        ant1: (0..nbls as u32).collect(),
        ant2: (0..nbls as u32).collect(),
        freqs_hz: (0..nchan).map(|c| 1.5e9 - c as f64 * 244e3).collect(),
        chan_width_hz: 244e3,
        pols: vec![-5, -6],
        uvw_m: Array2::from_elem((nrows, 3), 1.0),
        data: Array3::from_elem((nrows, nchan, npol), Complex32::new(1.0, 2.0)),
        flags: Array3::from_elem((nrows, nchan, npol), false),
        nsamples: Array3::from_elem((nrows, nchan, npol), 1.0),
        phase_centre: PhaseCentre::Unprojected,
    };
    for _ in 0..5 {
        let b = mk();
        let t = Instant::now();
        let m = MsBlock::from_vis(b).unwrap();
        let dt = t.elapsed().as_secs_f64();
        println!(
            "{nrows} rows: {:.1} ms = {:.2} GB/s of DATA",
            dt * 1e3,
            (nrows * nchan * npol * 8) as f64 / dt / 1e9
        );
        std::hint::black_box(m);
    }
}

//! Shared helpers: the interop Python, the station table, realistic UVWs and
//! random blocks.

use std::path::{Path, PathBuf};
use std::process::Command;

use dsa110_astro::{
    itrf_to_local, read_station_csv, uvw_basis_icrs, ObsTime, PhaseCentre, Site, VisBlock,
};
use dsa110_ms_writer::{jd_to_mjd_s, AntennaSpec, FieldSpec, HistoryEntry, MsSpec, SpwSpec};
use ndarray::{Array2, Array3};
use num_complex::Complex32;
use serde_json::Value;

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub use dsa110_test_support::{casa_python, python};

/// Run `tests/py/<script> args…` and parse its stdout as JSON.
/// A JSON array of numbers as `f64`s.
pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// A JSON array of strings.
pub fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// A JSON array of non-negative integers.
pub fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

pub fn run_py(script: &str, args: &[&Path]) -> serde_json::Value {
    let out = Command::new(python())
        .arg(crate_dir().join("tests/py").join(script))
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

pub fn site() -> Site {
    Site::dsa110()
}

/// All 117 DSA-110 stations as MS antennas.
pub fn all_antennas() -> Vec<AntennaSpec> {
    let csv = crate_dir().join("../../fixtures/stations/DSA110_Station_Coordinates.csv");
    let stations = read_station_csv(&csv)
        .unwrap_or_else(|e| panic!("read the station table {}: {e}", csv.display()));
    assert_eq!(stations.len(), 117);
    stations
        .iter()
        .map(|s| AntennaSpec {
            name: s.name.clone(),
            station: s.name.clone(),
            itrf_m: s.site.itrf_m().expect("itrf"),
            diameter_m: 4.65,
            mount: "ALT-AZ".into(),
        })
        .collect()
}

/// Small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Baselines (with autos) among `ants`, ant1 ≤ ant2.
pub fn baselines(ants: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let (mut a1, mut a2) = (Vec::new(), Vec::new());
    for (i, &x) in ants.iter().enumerate() {
        for &y in &ants[i..] {
            a1.push(x);
            a2.push(y);
        }
    }
    (a1, a2)
}

/// UVW (UVH5 convention, `pos(ant2) − pos(ant1)`) of every row for a
/// phase centre at ICRS (`ra`, `dec`), with the local-frame baseline vectors
/// and bases per time for synthesising visibilities.
pub fn uvws(
    antennas: &[AntennaSpec],
    times_jd: &[f64],
    a1: &[u32],
    a2: &[u32],
    ra: f64,
    dec: f64,
) -> Array2<f64> {
    let site = site();
    let nbls = a1.len();
    let mut uvw = Array2::zeros((times_jd.len() * nbls, 3));
    for (t, &jd) in times_jd.iter().enumerate() {
        let ot = ObsTime::from_jd_utc(jd).expect("time");
        let basis = uvw_basis_icrs(ra, dec, &ot, &site, 0.0).expect("uvw basis");
        for b in 0..nbls {
            let p1 = antennas[a1[b] as usize].itrf_m;
            let p2 = antennas[a2[b] as usize].itrf_m;
            let local = itrf_to_local([p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]], site.lon_rad);
            let u = basis.project(local);
            for k in 0..3 {
                uvw[[t * nbls + b, k]] = u[k];
            }
        }
    }
    uvw
}

/// A block with random data, flags (~10 %) and nsamples, realistic UVWs;
/// autocorrelations' parallel-hand data are real (as pyuvdata requires).
#[allow(clippy::too_many_arguments)]
pub fn random_block(
    rng: &mut Rng,
    antennas: &[AntennaSpec],
    times_jd: &[f64],
    ants: &[u32],
    freqs_hz: &[f64],
    chan_width_hz: f64,
    pols: &[i32],
    field: &FieldSpec,
) -> VisBlock {
    let (a1, a2) = baselines(ants);
    let nbls = a1.len();
    let nrows = nbls * times_jd.len();
    let (nchan, npol) = (freqs_hz.len(), pols.len());
    let uvw_m = uvws(antennas, times_jd, &a1, &a2, field.ra_rad, field.dec_rad);
    let mut data = Array3::<Complex32>::zeros((nrows, nchan, npol));
    let mut flags = Array3::<bool>::from_elem((nrows, nchan, npol), false);
    let mut nsamples = Array3::<f32>::zeros((nrows, nchan, npol));
    for r in 0..nrows {
        let auto = a1[r % nbls] == a2[r % nbls];
        for c in 0..nchan {
            for (p, &pol) in pols.iter().enumerate() {
                let re = (rng.uniform() * 2.0 - 1.0) as f32;
                let im = if auto && (pol == -5 || pol == -6) {
                    0.0
                } else {
                    (rng.uniform() * 2.0 - 1.0) as f32
                };
                data[[r, c, p]] = Complex32::new(if auto { re.abs() + 1.0 } else { re }, im);
                flags[[r, c, p]] = rng.uniform() < 0.1;
                nsamples[[r, c, p]] = (0.25 + 0.75 * rng.uniform()) as f32;
            }
        }
    }
    VisBlock {
        times_jd_utc: times_jd.to_vec(),
        int_time_s: 12.884_901_888,
        ant1: a1,
        ant2: a2,
        freqs_hz: freqs_hz.to_vec(),
        chan_width_hz,
        pols: pols.to_vec(),
        uvw_m,
        data,
        flags,
        nsamples,
        phase_centre: PhaseCentre::Icrs {
            name: field.name.clone(),
            ra_rad: field.ra_rad,
            dec_rad: field.dec_rad,
        },
    }
}

/// Integration centres (JD) starting at `jd0`, `int_s` apart.
pub fn times(jd0: f64, n: usize, int_s: f64) -> Vec<f64> {
    (0..n).map(|i| jd0 + i as f64 * int_s / 86_400.0).collect()
}

/// A spec for `spws` over `antennas`, covering `times_jd`.
pub fn spec(
    antennas: Vec<AntennaSpec>,
    spws: Vec<SpwSpec>,
    pols: Vec<i32>,
    field: FieldSpec,
    times_jd: &[f64],
    int_s: f64,
    n_rows_per_spw: usize,
) -> MsSpec {
    let t0 = jd_to_mjd_s(times_jd[0]) - 0.5 * int_s;
    let t1 = jd_to_mjd_s(*times_jd.last().unwrap_or(&times_jd[0])) + 0.5 * int_s;
    MsSpec {
        antennas,
        spws,
        pols,
        feed_angles_rad: [std::f64::consts::FRAC_PI_2, 0.0],
        field,
        telescope_name: "OVRO_MMA".into(),
        telescope_itrf_m: site().itrf_m().expect("site"),
        observer: "dsa110-ms-writer tests".into(),
        project: "test".into(),
        time_range_mjd_s: (t0, t1),
        history: vec![HistoryEntry {
            message: "written by the dsa110-ms-writer integration tests".into(),
            application: format!("dsa110-ms-writer {}", env!("CARGO_PKG_VERSION")),
            cli_command: "cargo test -p dsa110-ms-writer".into(),
        }],
        n_rows_per_spw,
    }
}

/// Ascending channel frequencies.
pub fn freqs(f0: f64, df: f64, n: usize) -> Vec<f64> {
    (0..n).map(|c| f0 + c as f64 * df).collect()
}

/// A field at transit (approximately) of the site at `jd`, Dec 37°.
pub fn transit_field(jd: f64, name: &str) -> FieldSpec {
    let ot = ObsTime::from_jd_utc(jd).expect("time");
    let last = dsa110_astro::last_rad(&ot, 0.0, site().lon_rad);
    FieldSpec {
        name: name.into(),
        ra_rad: last.rem_euclid(std::f64::consts::TAU),
        dec_rad: 37.0f64.to_radians(),
    }
}

/// A block's arrays with channels reversed (what the MS holds for a
/// descending block).
pub fn reversed(block: &VisBlock) -> VisBlock {
    let mut b = block.clone();
    b.freqs_hz.reverse();
    b.data.invert_axis(ndarray::Axis(1));
    b.flags.invert_axis(ndarray::Axis(1));
    b.nsamples.invert_axis(ndarray::Axis(1));
    b.data = b.data.as_standard_layout().to_owned();
    b.flags = b.flags.as_standard_layout().to_owned();
    b.nsamples = b.nsamples.as_standard_layout().to_owned();
    b
}

/// A small three-window MS used by several tests: window 0 written from a
/// descending block, window 1 from two ascending half blocks, window 2 missing
/// (flagged). Returns the spec and the expected per-window blocks (channels
/// ascending; window 2 = the template).
pub struct SmallMs {
    pub spec: MsSpec,
    pub expected: Vec<VisBlock>,
}

pub fn small_ms(path: &Path) -> SmallMs {
    use dsa110_ms_writer::MsWriter;
    let antennas = all_antennas();
    let ants = [0u32, 1, 23, 57, 110];
    let jd0 = 2_460_676.5 + 0.3;
    let int_s = 12.884_901_888;
    let t = times(jd0, 3, int_s);
    let field = transit_field(t[1], "test_field");
    let pols = vec![-5, -6];
    let df = 244_140.625;
    let spws: Vec<SpwSpec> = (0..3)
        .map(|s| SpwSpec {
            name: format!("sb{:02}", 15 - s),
            freqs_hz: freqs(1.30e9 + s as f64 * 4.0 * df, df, 4),
            chan_width_hz: df,
        })
        .collect();
    let nbls = ants.len() * (ants.len() + 1) / 2;
    let spec = spec(
        antennas.clone(),
        spws.clone(),
        pols.clone(),
        field.clone(),
        &t,
        int_s,
        3 * nbls,
    );
    let mut rng = Rng::new(42);
    let mut desc = spws[0].freqs_hz.clone();
    desc.reverse();
    let b0 = random_block(&mut rng, &antennas, &t, &ants, &desc, df, &pols, &field);
    let b1a = random_block(
        &mut rng,
        &antennas,
        &t[..2],
        &ants,
        &spws[1].freqs_hz,
        df,
        &pols,
        &field,
    );
    let b1b = random_block(
        &mut rng,
        &antennas,
        &t[2..],
        &ants,
        &spws[1].freqs_hz,
        df,
        &pols,
        &field,
    );
    let b2 = random_block(
        &mut rng,
        &antennas,
        &t,
        &ants,
        &spws[2].freqs_hz,
        df,
        &pols,
        &field,
    );

    let mut w = MsWriter::create(path, &spec).expect("create");
    w.write_block(0, 0, &b0).expect("spw 0");
    w.write_block(1, 2 * nbls, &b1b).expect("spw 1 late half");
    w.write_block(1, 0, &b1a).expect("spw 1 early half");
    w.write_flagged(2, 0, &b0).expect("spw 2 flagged");
    let summary = w.finish().expect("finish");
    assert_eq!(summary.n_rows, 9 * nbls);

    // expected contents
    let e0 = reversed(&b0);
    let mut e1 = b1a.clone();
    e1.times_jd_utc.extend_from_slice(&b1b.times_jd_utc);
    e1.uvw_m = ndarray::concatenate![ndarray::Axis(0), b1a.uvw_m, b1b.uvw_m];
    e1.data = ndarray::concatenate![ndarray::Axis(0), b1a.data, b1b.data];
    e1.flags = ndarray::concatenate![ndarray::Axis(0), b1a.flags, b1b.flags];
    e1.nsamples = ndarray::concatenate![ndarray::Axis(0), b1a.nsamples, b1b.nsamples];
    let mut e2 = b2;
    e2.uvw_m = b0.uvw_m.clone();
    e2.data.fill(Complex32::new(0.0, 0.0));
    e2.flags.fill(true);
    e2.nsamples.fill(0.0);
    SmallMs {
        spec,
        expected: vec![e0, e1, e2],
    }
}

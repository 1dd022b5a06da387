//! The fixture database (built with the queue crate's API), product files, the
//! real binary on a free port and a small HTTP client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dsa110_queue::{
    CalAppliedRecord, CaltableType, Failure, GroupId, Hdf5FileRecord, ImageRecord, ImageType,
    MosaicRecord, MosaicStatus, MsRecord, PerformanceRecord, PhotometryRecord, PlannedCaltable,
    Product, Queue, RetryPolicy, SolveResult, SolveStart, StageDone, SubbandIdx, VariabilityRecord,
};
use serde_json::Value;

pub const WRITE_TOKEN: &str = "write-token-0123456789";
pub const READ_TOKEN: &str = "read-token-abcdef";
pub const OWNER: &str = "testhost:1";

/// The groups of the fixture, one per state.
pub const COMPLETED: &str = "2025-10-02T00:00:10";
pub const PENDING: &str = "2025-10-02T00:05:18";
pub const FAILED: &str = "2025-10-02T00:10:22";
pub const COLLECTING: &str = "2025-10-02T00:15:30";
pub const IN_PROGRESS: &str = "2025-10-02T00:20:35";
pub const SOURCE: &str = "J0123+4567";
pub const CAL_SET: &str = "3C286_2025-10-02";
pub const MOSAIC: &str = "mosaic_dec54_2025-10-02";

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn gid(s: &str) -> GroupId {
    GroupId::parse(s).unwrap()
}

fn sb(i: u8) -> SubbandIdx {
    SubbandIdx::new(i).unwrap()
}

/// A 1×1 PNG (valid, so a browser renders it).
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A minimal FITS primary header (one 2880-byte block).
pub fn tiny_fits() -> Vec<u8> {
    let mut h = String::new();
    for card in [
        "SIMPLE  =                    T",
        "BITPIX  =                  -32",
        "NAXIS   =                    0",
        "END",
    ] {
        h.push_str(&format!("{card:<80}"));
    }
    let mut b = h.into_bytes();
    b.resize(2880, b' ');
    b
}

/// Registers `n` subbands of a group.
fn fill(q: &Queue, id: &str, n: u8, input: &Path, t: f64) {
    let g = gid(id);
    for i in 0..n {
        let p = input.join(format!("{id}_sb{i:02}.hdf5"));
        q.register_file(&p, sb(i), g.unix_s(), 16, t).unwrap();
    }
}

/// A populated database and product tree.
#[derive(Debug)]
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub output: PathBuf,
    pub outside_file: PathBuf,
    pub image_id: i64,
    pub outside_image_id: i64,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/db/pipeline.sqlite3");
    let input = dir.path().join("incoming");
    let output = dir.path().join("products");
    std::fs::create_dir_all(&output).unwrap();
    let q = Queue::open(&db).unwrap();
    let t = now() - 600.0;

    // completed, with its MS, performance and a stage timing
    fill(&q, COMPLETED, 16, &input, t);
    let a = q.acquire_next(OWNER, t + 1.0).unwrap().unwrap();
    assert_eq!(a.group_id.as_str(), COMPLETED);
    let ms_path = output.join(format!("{COMPLETED}.ms"));
    let ms = MsRecord {
        path: ms_path.clone(),
        group_id: gid(COMPLETED),
        created_at: t + 40.0,
        start_mjd: Some(60950.0),
        end_mjd: Some(60950.0035),
        mid_mjd: Some(60950.00175),
        ra_deg: Some(20.0),
        dec_deg: Some(54.6),
        n_spw: Some(16),
        n_rows: Some(111_744),
        n_missing_subbands: Some(0),
        size_bytes: Some(2_300_000_000),
        status: "converted".into(),
    };
    let perf = PerformanceRecord {
        group_id: gid(COMPLETED),
        load_time_s: Some(10.0),
        phase_time_s: Some(5.0),
        write_time_s: Some(20.0),
        total_time_s: Some(35.0),
        writer_type: Some("direct".into()),
        recorded_at: now(),
    };
    q.begin_stage(&gid(COMPLETED), "convert", OWNER, t + 2.0)
        .unwrap();
    q.finish_stage(
        &gid(COMPLETED),
        "convert",
        OWNER,
        &StageDone {
            duration_s: 35.0,
            products: &[Product::Ms(ms)],
            performance: Some(&perf),
            complete_group: true,
        },
        now(),
    )
    .unwrap();

    // failed
    fill(&q, FAILED, 16, &input, t + 10.0);
    q.acquire_next(OWNER, t + 11.0).unwrap().unwrap();
    let no_retry = RetryPolicy {
        retry_limit: 0,
        ..RetryPolicy::default()
    };
    let failure = Failure {
        error: "corrupt_file",
        message: "sb03: truncated dataset visdata",
        retryable: false,
    };
    q.fail(&gid(FAILED), OWNER, &failure, &no_retry, now())
        .unwrap();

    // in progress
    fill(&q, IN_PROGRESS, 16, &input, t + 20.0);
    q.acquire_next(OWNER, t + 21.0).unwrap().unwrap();

    // pending (complete) and collecting (5 of 16)
    fill(&q, PENDING, 16, &input, t + 30.0);
    fill(&q, COLLECTING, 5, &input, t + 40.0);

    for i in 0..16u8 {
        let name = format!("{PENDING}_sb{i:02}.hdf5");
        q.record_hdf5_file(&Hdf5FileRecord {
            path: input.join(&name),
            filename: name,
            group_id: Some(gid(PENDING)),
            subband: Some(sb(i)),
            timestamp_iso: Some(PENDING.into()),
            timestamp_mjd: Some(60950.003680),
            file_size_bytes: Some(142_000_000),
            modified_time: Some(t),
            indexed_at: t,
            stored: true,
            ra_deg: Some(20.0),
            dec_deg: Some(54.6),
            obs_date: Some("2025-10-02".into()),
            obs_time: Some("00:05:18".into()),
        })
        .unwrap();
    }

    // calibration set, applied to the completed group's MS
    let tables = [
        PlannedCaltable {
            path: output.join("cal/3C286.B"),
            table_type: CaltableType::B,
            order_index: 0,
        },
        PlannedCaltable {
            path: output.join("cal/3C286.G"),
            table_type: CaltableType::G,
            order_index: 1,
        },
    ];
    q.begin_solve(
        &SolveStart {
            set_name: CAL_SET,
            calibrator: Some("3C286"),
            refant: Some("pad103"),
            group_id: Some(&gid(COMPLETED)),
            mid_mjd: 60950.0,
            params_json: None,
            tables: &tables,
        },
        t,
    )
    .unwrap();
    q.finish_solve(
        CAL_SET,
        &SolveResult {
            valid_start_mjd: 60949.75,
            valid_end_mjd: 60950.25,
            refant: None,
            qa_json: Some(r#"{"flagged_fraction": 0.07, "snr_median": 42.0}"#.into()),
        },
        t,
    )
    .unwrap();
    // the overview the daemon writes beside the tables (dsa110_calibration::overview's
    // format): two antennas, two receptors, four channels, one window of three gains;
    // pad103 is the reference (zero phases), pad104 has a flagged channel
    std::fs::create_dir_all(output.join("cal")).unwrap();
    let ant = |name: &str, ph: f64| {
        serde_json::json!({
            "name": name,
            "bandpass_amp": [[1.0, 1.1, 1.2, 1.1], [0.9, null, 1.0, 0.95]],
            "bandpass_phase_deg": [[ph, 2.0 * ph, 3.0 * ph, 4.0 * ph], [-ph, null, 0.0, ph]],
            "gain_amp": [[[1.01, 1.02, 1.03]], [[0.99, 0.98, 0.97]]],
            "gain_phase_deg": [[[ph, ph, ph]], [[-ph, -ph, -ph]]],
        })
    };
    std::fs::write(
        output.join("cal/3C286.solutions.json"),
        serde_json::json!({
            "receptors": ["X", "Y"],
            "refant": "pad103",
            "bandpass_freqs_mhz": [1311.25, 1311.5, 1311.75, 1312.0],
            "gain_windows": [{"freq_mhz": 1311.6, "times_mjd": [60950.0, 60950.0001, 60950.0002]}],
            "antennas": [ant("pad103", 0.0), ant("pad104", 5.0)],
        })
        .to_string(),
    )
    .unwrap();
    q.record_cal_applied(&CalAppliedRecord {
        id: None,
        ms_path: ms_path.clone(),
        group_id: Some(gid(COMPLETED)),
        set_name: Some(CAL_SET.into()),
        caltable_paths: tables.iter().map(|t| t.path.clone()).collect(),
        applied_at: t,
        success: true,
        error: None,
    })
    .unwrap();

    // an image with its FITS and PNG preview, and one outside the output directory
    let fits = output.join(format!("{COMPLETED}-image.fits"));
    std::fs::write(&fits, tiny_fits()).unwrap();
    std::fs::write(output.join(format!("{COMPLETED}-image.png")), PNG_1X1).unwrap();
    let image = |path: PathBuf| ImageRecord {
        id: None,
        path,
        ms_path: Some(ms_path.clone()),
        group_id: Some(gid(COMPLETED)),
        created_at: t,
        image_type: ImageType::Image,
        beam_major_arcsec: Some(30.0),
        beam_minor_arcsec: Some(20.0),
        beam_pa_deg: Some(10.0),
        noise_jy: Some(0.0012),
        dynamic_range: Some(350.0),
        pbcor: Some(false),
        center_ra_deg: Some(20.0),
        center_dec_deg: Some(54.6),
        imsize_x: Some(2048),
        imsize_y: Some(2048),
        cellsize_arcsec: Some(6.0),
        freq_ghz: Some(1.405),
        bandwidth_mhz: Some(187.5),
        integration_sec: Some(309.0),
        mid_mjd: Some(60950.00175),
    };
    let image_id = q.record_image(&image(fits.clone())).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let outside_file = elsewhere.join("secret.fits");
    std::fs::write(&outside_file, tiny_fits()).unwrap();
    let mut outside = image(outside_file.clone());
    outside.created_at = t - 100.0;
    let outside_image_id = q.record_image(&outside).unwrap();

    // photometry of one source on five epochs, and its variability
    let rows: Vec<PhotometryRecord> = (0..5)
        .map(|i| PhotometryRecord {
            id: None,
            source_id: SOURCE.into(),
            image_path: output.join(format!("epoch{i}-image.fits")),
            group_id: Some(gid(COMPLETED)),
            ra_deg: Some(20.8),
            dec_deg: Some(45.76),
            catalog_flux_jy: Some(0.5),
            peak_flux_jy: Some(0.5 + 0.01 * f64::from(i)),
            peak_flux_err_jy: Some(0.002),
            int_flux_jy: None,
            int_flux_err_jy: None,
            norm_flux_jy: Some(0.5 + 0.01 * f64::from(i)),
            norm_flux_err_jy: Some(0.002),
            local_rms_jy: Some(0.0012),
            snr: Some(400.0),
            pb: Some(0.9),
            mjd: 60950.0 + f64::from(i),
            flags: Some(0),
            created_at: Some(t),
        })
        .collect();
    q.record_photometry(&rows).unwrap();
    q.upsert_variability(&[VariabilityRecord {
        source_id: SOURCE.into(),
        n_epochs: 5,
        mean_flux_jy: Some(0.52),
        median_flux_jy: Some(0.52),
        eta: Some(3.1),
        v: Some(0.03),
        chi2_nu: Some(3.1),
        max_sigma_dev: Some(2.0),
        m: Some(0.03),
        vs_max: None,
        m_vs: None,
        is_candidate: false,
        candidate_reason: None,
        updated_at: t,
    }])
    .unwrap();

    q.upsert_mosaic(&MosaicRecord {
        id: None,
        name: MOSAIC.into(),
        path: Some(output.join("mosaic.fits")),
        dec_strip_deg: Some(54.6),
        start_mjd: Some(60950.0),
        end_mjd: Some(60950.1),
        n_images: Some(1),
        noise_jy: Some(0.0008),
        status: MosaicStatus::Completed,
        error: None,
        created_at: Some(t),
    })
    .unwrap();
    q.set_mosaic_images(MOSAIC, &[fits]).unwrap();

    Fixture {
        db,
        output,
        outside_file,
        image_id,
        outside_image_id,
        dir,
    }
}

/// The running binary; killed on drop.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(f: &Fixture, extra: &[&str]) -> Server {
    let port = dsa110_test_support::free_port();
    let log = std::fs::File::create(f.dir.path().join(format!("api-{port}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dsa110-api"))
        .arg("--queue-db")
        .arg(&f.db)
        .arg("--output-dir")
        .arg(&f.output)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .env("DSA110_API_TOKENS", format!("other-token, {WRITE_TOKEN}"))
        .env("DSA110_API_READ_TOKENS", READ_TOKEN)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server { child, port };
    dsa110_test_support::wait_for("dsa110-api to answer", Duration::from_secs(30), || {
        dsa110_test_support::http_get(port, "/api/v1/health")
    });
    server
}

/// A response with a binary body.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: status {} body {}", self.status, self.text()))
    }
}

/// One HTTP/1.1 request (`Connection: close`).
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dsa110_test_support::dechunk(&body).expect("a valid chunked body");
    }
    Resp {
        status,
        headers,
        body,
    }
}

pub fn get(port: u16, path: &str) -> Resp {
    request(port, "GET", path, &[], b"")
}

pub fn post_json(port: u16, path: &str, token: Option<&str>, body: &str) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut h = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        h.push(("Authorization", a.as_str()));
    }
    request(port, "POST", path, &h, body.as_bytes())
}

/// Everything a write could change, to compare before and after.
pub fn db_snapshot(db: &Path) -> String {
    let q = Queue::open(db).unwrap();
    let (groups, _) = q.list_groups(None, 1000, 0).unwrap();
    let (jobs, _) = q.list_jobs(None, 1000, 0).unwrap();
    let (mosaics, _) = q.list_mosaics(None, 1000, 0).unwrap();
    format!("{groups:?}\n{jobs:?}\n{mosaics:?}")
}

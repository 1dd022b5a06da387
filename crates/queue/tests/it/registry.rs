//! The product registry: images, the calibration fence, calibration
//! applications, photometry, variability, mosaics and jobs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dsa110_queue::{
    CalAppliedRecord, CalStatus, CaltableType, GroupId, ImageRecord, ImageType, JobOutcome,
    JobState, MosaicRecord, MosaicStatus, MsRecord, NewJob, PhotometryRecord, PlannedCaltable,
    Queue, QueueError, SolveResult, SolveStart, VariabilityRecord,
};

use crate::T0;

fn fresh() -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path().join("q.sqlite3")).unwrap();
    (dir, q)
}

fn gid(s: &str) -> GroupId {
    GroupId::parse(s).unwrap()
}

fn image(path: &str, kind: ImageType, created_at: f64) -> ImageRecord {
    ImageRecord {
        id: None,
        path: PathBuf::from(path),
        ms_path: None,
        group_id: Some(gid("2025-10-02T00:12:00")),
        created_at,
        image_type: kind,
        beam_major_arcsec: Some(17.0),
        beam_minor_arcsec: None,
        beam_pa_deg: None,
        noise_jy: Some(0.001),
        dynamic_range: None,
        pbcor: Some(true),
        center_ra_deg: None,
        center_dec_deg: None,
        imsize_x: Some(64),
        imsize_y: Some(32),
        cellsize_arcsec: None,
        freq_ghz: None,
        bandwidth_mhz: None,
        integration_sec: None,
        mid_mjd: Some(60950.5),
    }
}

#[test]
fn images_upsert_by_path_and_page_newest_first() {
    let (_d, q) = fresh();
    let a = q
        .record_image(&image("/o/a-image.fits", ImageType::Image, T0))
        .unwrap();
    let b = q
        .record_image(&image("/o/a-psf.fits", ImageType::Psf, T0 + 1.0))
        .unwrap();
    let c = q
        .record_image(&image("/o/b-image.fits", ImageType::Image, T0 + 2.0))
        .unwrap();
    assert!(a != b && b != c);
    // Idempotent upsert: same id, new values, no new row.
    let mut changed = image("/o/a-image.fits", ImageType::ImagePb, T0);
    changed.noise_jy = Some(0.5);
    assert_eq!(q.record_image(&changed).unwrap(), a);
    assert_eq!(q.record_image(&changed).unwrap(), a);
    let got = q.image(a).unwrap().unwrap();
    assert_eq!(
        got,
        ImageRecord {
            id: Some(a),
            ..changed.clone()
        }
    );
    assert_eq!(q.image_by_path("/o/a-image.fits").unwrap(), Some(got));
    assert_eq!(q.image(9999).unwrap(), None);

    let (all, total) = q.list_images(None, 2, 0).unwrap();
    assert_eq!(total, 3);
    let ids: Vec<_> = all.iter().map(|i| i.id.unwrap()).collect();
    assert_eq!(ids, [c, b]);
    let (rest, _) = q.list_images(None, 2, 2).unwrap();
    assert_eq!(rest.len(), 1);
    let (imgs, n) = q.list_images(Some(ImageType::Image), 10, 0).unwrap();
    assert_eq!((imgs.len(), n), (1, 1));
    assert_eq!(imgs[0].path, Path::new("/o/b-image.fits"));
    assert_eq!(
        q.images_for_group(&gid("2025-10-02T00:12:00"))
            .unwrap()
            .len(),
        3
    );
}

fn tables(dir: &str) -> Vec<PlannedCaltable> {
    vec![
        PlannedCaltable {
            path: PathBuf::from(format!("{dir}/x.gcal")),
            table_type: CaltableType::G,
            order_index: 1,
        },
        PlannedCaltable {
            path: PathBuf::from(format!("{dir}/x.bcal")),
            table_type: CaltableType::B,
            order_index: 0,
        },
    ]
}

fn begin(q: &Queue, name: &str, mid_mjd: f64) {
    let t = tables(&format!("/cal/{name}"));
    q.begin_solve(
        &SolveStart {
            set_name: name,
            calibrator: Some("3C286"),
            refant: None,
            group_id: Some(&gid("2025-10-02T00:12:00")),
            mid_mjd,
            params_json: Some(r#"{"minsnr":3}"#),
            tables: &t,
        },
        T0,
    )
    .unwrap();
}

fn result(mid: f64) -> SolveResult {
    SolveResult {
        valid_start_mjd: mid - 0.5,
        valid_end_mjd: mid + 0.5,
        refant: Some("pad12".into()),
        qa_json: Some(r#"{"snr":120}"#.into()),
    }
}

fn names(sets: &[dsa110_queue::CalSet]) -> Vec<&str> {
    sets.iter().map(|s| s.set_name.as_str()).collect()
}

#[test]
fn calibration_fence_and_nearest_valid_set() {
    let (_d, q) = fresh();
    let t = 60950.0;
    begin(&q, "early", t - 0.2);
    // While solving: visible to the fence, never valid.
    assert_eq!(names(&q.solving_sets_near(t, 12.0).unwrap()), ["early"]);
    assert_eq!(q.nearest_valid_set(t, 12.0).unwrap(), None);
    q.finish_solve("early", &result(t - 0.2), T0 + 1.0).unwrap();
    assert!(q.solving_sets_near(t, 12.0).unwrap().is_empty());
    let set = q.nearest_valid_set(t, 12.0).unwrap().unwrap();
    assert_eq!(set.set_name, "early");
    assert_eq!(set.status, CalStatus::Active);
    assert_eq!(set.refant.as_deref(), Some("pad12"));
    assert_eq!(set.calibrator.as_deref(), Some("3C286"));
    assert_eq!(set.valid_start_mjd, Some(t - 0.7));
    let kinds: Vec<_> = set.tables.iter().map(|x| x.table_type).collect();
    assert_eq!(
        kinds,
        [CaltableType::B, CaltableType::G],
        "application order"
    );
    assert!(set
        .tables
        .iter()
        .all(|x| x.qa_json.as_deref() == Some(r#"{"snr":120}"#)));

    // A later set that is nearer wins, before or after.
    begin(&q, "late", t + 0.1);
    q.finish_solve("late", &result(t + 0.1), T0 + 2.0).unwrap();
    assert_eq!(
        q.nearest_valid_set(t, 12.0).unwrap().unwrap().set_name,
        "late"
    );
    assert_eq!(
        q.nearest_valid_set(t - 0.3, 12.0)
            .unwrap()
            .unwrap()
            .set_name,
        "early"
    );
    // Outside the window: nothing.
    assert_eq!(q.nearest_valid_set(t + 1.0, 12.0).unwrap(), None);
    assert_eq!(
        q.nearest_valid_set(t + 0.55, 12.0)
            .unwrap()
            .unwrap()
            .set_name,
        "late"
    );

    // A failed solve is never valid, even when nearest.
    begin(&q, "bad", t);
    q.fail_solve("bad", "QA: SNR 2.1 below 3", T0 + 3.0)
        .unwrap();
    assert_eq!(
        q.nearest_valid_set(t, 12.0).unwrap().unwrap().set_name,
        "late"
    );
    let bad = q.cal_set("bad").unwrap().unwrap();
    assert_eq!(bad.status, CalStatus::Failed);
    assert_eq!(bad.error.as_deref(), Some("QA: SNR 2.1 below 3"));
    assert!(matches!(
        q.finish_solve("bad", &result(t), T0),
        Err(QueueError::WrongStatus { .. })
    ));
    // A failed set may be solved again under its name; an active one not.
    begin(&q, "bad", t);
    assert_eq!(
        q.cal_set("bad").unwrap().unwrap().status,
        CalStatus::Solving
    );
    let t2 = tables("/cal/late");
    let again = q.begin_solve(
        &SolveStart {
            set_name: "late",
            calibrator: None,
            refant: None,
            group_id: None,
            mid_mjd: t,
            params_json: None,
            tables: &t2,
        },
        T0,
    );
    assert!(
        matches!(again, Err(QueueError::WrongStatus { .. })),
        "{again:?}"
    );

    // Retired sets are not applied.
    q.retire_cal_set("late", T0 + 4.0).unwrap();
    assert_eq!(
        q.nearest_valid_set(t, 12.0).unwrap().unwrap().set_name,
        "early"
    );
    let (active, n) = q.list_cal_sets(Some(CalStatus::Active), 10, 0).unwrap();
    assert_eq!((names(&active), n), (vec!["early"], 1));
    let (all, n) = q.list_cal_sets(None, 10, 0).unwrap();
    assert_eq!(n, 3);
    assert_eq!(names(&all), ["late", "bad", "early"]);
    assert!(matches!(
        q.finish_solve("nope", &result(t), T0),
        Err(QueueError::NotFound { .. })
    ));
    assert!(matches!(
        q.nearest_valid_set(t, f64::NAN),
        Err(QueueError::InvalidInput { .. })
    ));
}

fn ms(path: &str) -> MsRecord {
    MsRecord {
        path: PathBuf::from(path),
        group_id: gid("2025-10-02T00:12:00"),
        created_at: T0,
        start_mjd: None,
        end_mjd: None,
        mid_mjd: None,
        ra_deg: None,
        dec_deg: None,
        n_spw: None,
        n_rows: None,
        n_missing_subbands: None,
        size_bytes: None,
        status: "converted".into(),
    }
}

#[test]
fn calibration_applied_sets_ms_index_cal_applied() {
    let (_d, q) = fresh();
    q.record_ms(&ms("/o/a.ms")).unwrap();
    let st = q.ms_status("/o/a.ms").unwrap().unwrap();
    assert_eq!(st.cal_applied, None);
    let rec = CalAppliedRecord {
        id: None,
        ms_path: PathBuf::from("/o/a.ms"),
        group_id: Some(gid("2025-10-02T00:12:00")),
        set_name: Some("early".into()),
        caltable_paths: vec![PathBuf::from("/cal/x.bcal"), PathBuf::from("/cal/x.gcal")],
        applied_at: T0,
        success: true,
        error: None,
    };
    let id = q.record_cal_applied(&rec).unwrap();
    assert_eq!(
        q.ms_status("/o/a.ms").unwrap().unwrap().cal_applied,
        Some(true)
    );
    // Re-recording the MS keeps its calibration state.
    q.record_ms(&ms("/o/a.ms")).unwrap();
    assert_eq!(
        q.ms_status("/o/a.ms").unwrap().unwrap().cal_applied,
        Some(true)
    );
    let failed = CalAppliedRecord {
        applied_at: T0 + 1.0,
        success: false,
        error: Some("table missing".into()),
        ..rec.clone()
    };
    q.record_cal_applied(&failed).unwrap();
    assert_eq!(
        q.ms_status("/o/a.ms").unwrap().unwrap().cal_applied,
        Some(false)
    );
    let hist = q.cal_applied_for_ms("/o/a.ms").unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(
        hist[0],
        CalAppliedRecord {
            id: Some(id),
            ..rec
        }
    );
    assert_eq!(hist[1].error.as_deref(), Some("table missing"));
    assert_eq!(
        q.cal_applied_for_group(&gid("2025-10-02T00:12:00"))
            .unwrap()
            .len(),
        2
    );

    q.set_ms_cal_applied("/o/a.ms", None).unwrap();
    q.set_ms_stage("/o/a.ms", Some("calibrate"), Some("done"))
        .unwrap();
    let st = q.ms_status("/o/a.ms").unwrap().unwrap();
    assert_eq!(st.cal_applied, None);
    assert_eq!(st.stage.as_deref(), Some("calibrate"));
    assert!(matches!(
        q.set_ms_cal_applied("/o/none.ms", Some(true)),
        Err(QueueError::NotFound { .. })
    ));
    assert_eq!(q.ms_status("/o/none.ms").unwrap(), None);
}

fn phot(source: &str, image: &str, mjd: f64, flux: f64) -> PhotometryRecord {
    PhotometryRecord {
        id: None,
        source_id: source.into(),
        image_path: PathBuf::from(image),
        group_id: None,
        ra_deg: Some(150.0),
        dec_deg: Some(37.0),
        catalog_flux_jy: Some(1.0),
        peak_flux_jy: Some(flux),
        peak_flux_err_jy: Some(0.01),
        int_flux_jy: None,
        int_flux_err_jy: None,
        norm_flux_jy: None,
        norm_flux_err_jy: None,
        local_rms_jy: Some(0.001),
        snr: Some(flux / 0.001),
        pb: Some(0.9),
        mjd,
        flags: Some(0),
        created_at: Some(T0),
    }
}

#[test]
fn photometry_upserts_and_light_curves() {
    let (_d, q) = fresh();
    let mut rows = Vec::new();
    for (i, img) in ["/o/1.fits", "/o/2.fits", "/o/3.fits"].iter().enumerate() {
        let mjd = 60950.0 + i as f64;
        rows.push(phot("NVSS J100000+370000", img, mjd, 1.0 + i as f64));
        rows.push(phot("NVSS J100500+371000", img, mjd, 2.0));
    }
    q.record_photometry(&rows).unwrap();
    q.record_photometry(&rows).unwrap();
    let mut norm = rows[0].clone();
    norm.norm_flux_jy = Some(0.98);
    q.record_photometry(&[norm]).unwrap();

    let lc = q
        .photometry_for_source("NVSS J100000+370000", None, None)
        .unwrap();
    assert_eq!(lc.len(), 3, "upserts are idempotent");
    let fluxes: Vec<_> = lc.iter().map(|r| r.peak_flux_jy.unwrap()).collect();
    assert_eq!(fluxes, [1.0, 2.0, 3.0]);
    assert_eq!(lc[0].norm_flux_jy, Some(0.98));
    let mid = q
        .photometry_for_source("NVSS J100000+370000", Some(60950.5), Some(60951.5))
        .unwrap();
    assert_eq!(mid.len(), 1);
    assert_eq!(mid[0].image_path, Path::new("/o/2.fits"));
    assert_eq!(q.photometry_for_image("/o/3.fits").unwrap().len(), 2);

    let (srcs, total) = q.list_sources(None, 1, 0).unwrap();
    assert_eq!(total, 2);
    assert_eq!(srcs[0].source_id, "NVSS J100000+370000");
    assert_eq!(srcs[0].n_measurements, 3);
    assert_eq!((srcs[0].first_mjd, srcs[0].last_mjd), (60950.0, 60952.0));
    let (found, n) = q.list_sources(Some("j100500"), 10, 0).unwrap();
    assert_eq!((found.len(), n), (1, 1));

    let mut bad = phot("x", "/o/1.fits", f64::NAN, 1.0);
    assert!(matches!(
        q.record_photometry(&[phot("y", "/o/9.fits", 1.0, 1.0), bad.clone()]),
        Err(QueueError::InvalidInput { .. })
    ));
    assert!(
        q.photometry_for_source("y", None, None).unwrap().is_empty(),
        "a batch is one transaction"
    );
    bad.mjd = 1.0;
    bad.source_id = String::new();
    assert!(q.record_photometry(&[bad]).is_err());
}

fn var(source: &str, candidate: bool) -> VariabilityRecord {
    VariabilityRecord {
        source_id: source.into(),
        n_epochs: 12,
        mean_flux_jy: Some(1.0),
        median_flux_jy: Some(1.0),
        eta: Some(if candidate { 40.0 } else { 1.0 }),
        v: Some(0.1),
        chi2_nu: Some(1.0),
        max_sigma_dev: Some(3.0),
        m: Some(0.1),
        vs_max: Some(4.0),
        m_vs: Some(0.3),
        is_candidate: candidate,
        candidate_reason: candidate.then(|| "sustained dip".to_string()),
        updated_at: T0,
    }
}

#[test]
fn variability_upsert_and_candidates() {
    let (_d, q) = fresh();
    q.upsert_variability(&[var("a", false), var("b", true), var("c", false)])
        .unwrap();
    q.upsert_variability(&[var("c", true)]).unwrap();
    assert_eq!(q.variability("c").unwrap(), Some(var("c", true)));
    assert_eq!(q.variability("zzz").unwrap(), None);
    let (cands, n) = q.list_variability(true, 10, 0).unwrap();
    assert_eq!(n, 2);
    let ids: Vec<_> = cands.iter().map(|v| v.source_id.as_str()).collect();
    assert_eq!(ids, ["b", "c"]);
    let (all, n) = q.list_variability(false, 1, 1).unwrap();
    assert_eq!((all[0].source_id.as_str(), n), ("b", 3));
}

fn mosaic(name: &str, status: MosaicStatus, created_at: f64) -> MosaicRecord {
    MosaicRecord {
        id: None,
        name: name.into(),
        path: None,
        dec_strip_deg: Some(37.0),
        start_mjd: Some(60950.0),
        end_mjd: Some(60950.05),
        n_images: Some(12),
        noise_jy: None,
        status,
        error: None,
        created_at: Some(created_at),
    }
}

#[test]
fn mosaics_and_membership() {
    let (_d, q) = fresh();
    let id = q
        .upsert_mosaic(&mosaic("m1", MosaicStatus::Planned, T0))
        .unwrap();
    q.upsert_mosaic(&mosaic("m2", MosaicStatus::Planned, T0 + 1.0))
        .unwrap();
    let imgs: Vec<PathBuf> = (0..12)
        .map(|i| PathBuf::from(format!("/o/{i:02}.fits")))
        .collect();
    q.set_mosaic_images("m1", &imgs).unwrap();
    q.set_mosaic_images("m1", &imgs[3..]).unwrap();
    assert_eq!(q.mosaic_images("m1").unwrap(), &imgs[3..]);
    let mut done = mosaic("m1", MosaicStatus::Completed, T0);
    done.path = Some(PathBuf::from("/o/m1.fits"));
    done.noise_jy = Some(2e-4);
    done.created_at = None;
    assert_eq!(q.upsert_mosaic(&done).unwrap(), id);
    let got = q.mosaic("m1").unwrap().unwrap();
    assert_eq!(got.status, MosaicStatus::Completed);
    assert_eq!(got.created_at, Some(T0), "kept when not given");
    assert_eq!(q.mosaic_by_id(id).unwrap(), Some(got));
    let (list, n) = q.list_mosaics(None, 10, 0).unwrap();
    assert_eq!(n, 2);
    assert_eq!(list[0].name, "m2");
    let (planned, n) = q.list_mosaics(Some(MosaicStatus::Planned), 10, 0).unwrap();
    assert_eq!((planned.len(), n), (1, 1));
    assert!(matches!(
        q.set_mosaic_images("nope", &imgs),
        Err(QueueError::NotFound { .. })
    ));
}

#[test]
fn jobs_lifecycle() {
    let (_d, q) = fresh();
    let groups = [gid("2025-10-02T00:12:00"), gid("2025-10-02T00:17:09")];
    let new = NewJob {
        kind: "convert",
        group_ids: &groups,
        params_json: Some(r#"{"priority":"high"}"#),
        requested_by: Some("ops"),
    };
    let a = q.create_job(&new, T0).unwrap();
    let b = q
        .create_job(
            &NewJob {
                kind: "image",
                group_ids: &[],
                ..new
            },
            T0 + 1.0,
        )
        .unwrap();
    let c = q.create_job(&new, T0 + 2.0).unwrap();
    let job = q.job(a).unwrap().unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.group_ids, groups);
    assert_eq!(job.requested_by.as_deref(), Some("ops"));
    let (page, total) = q.list_jobs(None, 2, 0).unwrap();
    assert_eq!(total, 3);
    assert_eq!(page.iter().map(|j| j.id).collect::<Vec<_>>(), [c, b]);

    let cancelled = q.cancel_job(c, T0 + 3.0).unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert_eq!(cancelled.finished_at, Some(T0 + 3.0));
    assert!(matches!(
        q.cancel_job(c, T0 + 3.0),
        Err(QueueError::WrongStatus { .. })
    ));
    assert!(matches!(
        q.cancel_job(999, T0),
        Err(QueueError::NotFound { .. })
    ));

    // Claims only the kinds asked for, oldest first; never a cancelled job.
    let got = q
        .claim_next_job(&["image"], "h:1:jobs", T0 + 4.0)
        .unwrap()
        .unwrap();
    assert_eq!((got.id, got.state), (b, JobState::Running));
    assert_eq!(got.started_at, Some(T0 + 4.0));
    assert_eq!(got.owner.as_deref(), Some("h:1:jobs"));
    assert_eq!(got.heartbeat_at, Some(T0 + 4.0));
    let got = q
        .claim_next_job(&[], "h:1:jobs", T0 + 5.0)
        .unwrap()
        .unwrap();
    assert_eq!(got.id, a);
    assert_eq!(q.claim_next_job(&[], "h:1:jobs", T0 + 6.0).unwrap(), None);
    assert!(matches!(
        q.cancel_job(a, T0 + 6.0),
        Err(QueueError::WrongStatus { .. })
    ));

    q.finish_job(
        a,
        &JobOutcome {
            success: true,
            result_json: Some(r#"{"converted":2}"#),
            error: None,
        },
        T0 + 7.0,
    )
    .unwrap();
    q.finish_job(
        b,
        &JobOutcome {
            success: false,
            result_json: None,
            error: Some("no MS"),
        },
        T0 + 8.0,
    )
    .unwrap();
    let ja = q.job(a).unwrap().unwrap();
    assert_eq!((ja.state, ja.owner), (JobState::Completed, None));
    let jb = q.job(b).unwrap().unwrap();
    assert_eq!(
        (jb.state, jb.error.as_deref()),
        (JobState::Failed, Some("no MS"))
    );
    assert!(matches!(
        q.finish_job(
            a,
            &JobOutcome {
                success: true,
                result_json: None,
                error: None
            },
            T0
        ),
        Err(QueueError::WrongStatus { .. })
    ));
    let (failed, n) = q.list_jobs(Some(JobState::Failed), 10, 0).unwrap();
    assert_eq!((failed[0].id, n), (b, 1));
}

#[test]
fn threads_never_claim_the_same_job() {
    let (dir, q) = fresh();
    let n_jobs = 60;
    for i in 0..n_jobs {
        q.create_job(
            &NewJob {
                kind: "convert",
                group_ids: &[],
                params_json: None,
                requested_by: None,
            },
            T0 + f64::from(i),
        )
        .unwrap();
    }
    let db = dir.path().join("q.sqlite3");
    let claimed: Vec<Vec<i64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                s.spawn(move || {
                    // Separate pools: separate connections, as separate processes would have.
                    let q = Queue::open(&db).unwrap();
                    let mut mine = Vec::new();
                    while let Some(j) = q
                        .claim_next_job(&["convert"], "h:1:jobs", T0 + 100.0)
                        .unwrap()
                    {
                        mine.push(j.id);
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<i64> = claimed.iter().flatten().copied().collect();
    let unique: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), n_jobs as usize, "every job claimed exactly once");
    assert_eq!(unique.len(), n_jobs as usize);
    assert_eq!(q.list_jobs(Some(JobState::Running), 1, 0).unwrap().1, 60);
}

/// A job left `running` by a daemon that stopped goes back to `queued` (with the
/// reason), whether its owner is dead, silent too long, or unrecorded; a job of a
/// live owner with a fresh heartbeat stays; a graceful release requeues only the
/// owner's own job.
#[test]
fn jobs_of_stopped_owners_are_queued_again() {
    let (_dir, q) = fresh();
    let new = NewJob {
        kind: "convert",
        group_ids: &[],
        params_json: None,
        requested_by: None,
    };
    let ids: Vec<i64> = (0..4)
        .map(|i| q.create_job(&new, T0 + f64::from(i)).unwrap())
        .collect();
    for owner in ["h:10:jobs", "h:11:jobs", "h:12:jobs", "h:13:jobs"] {
        q.claim_next_job(&[], owner, T0 + 10.0).unwrap().unwrap();
    }
    // h:11 keeps beating; h:12 went silent at T0 + 10; h:10 is dead
    assert!(q.job_heartbeat(ids[1], "h:11:jobs", T0 + 990.0).unwrap());
    assert!(
        !q.job_heartbeat(ids[1], "h:99:jobs", T0 + 990.0).unwrap(),
        "not its owner"
    );
    let alive = |o: &str| o != "h:10:jobs";
    let back = q.recover_jobs(alive, 600.0, T0 + 1000.0).unwrap();
    let got: Vec<(i64, Option<&str>)> = back.iter().map(|r| (r.id, r.owner.as_deref())).collect();
    assert_eq!(
        got,
        [
            (ids[0], Some("h:10:jobs")),
            (ids[2], Some("h:12:jobs")),
            (ids[3], Some("h:13:jobs"))
        ]
    );
    let j0 = q.job(ids[0]).unwrap().unwrap();
    assert_eq!(
        (j0.state, j0.owner.clone(), j0.started_at),
        (JobState::Queued, None, None)
    );
    assert!(
        j0.error
            .as_deref()
            .unwrap()
            .contains("its owner h:10:jobs stopped"),
        "{:?}",
        j0.error
    );
    let j2 = q.job(ids[2]).unwrap().unwrap();
    assert!(
        j2.error
            .as_deref()
            .unwrap()
            .contains("no heartbeat from its owner h:12:jobs for 990 s"),
        "{:?}",
        j2.error
    );
    assert_eq!(q.job(ids[1]).unwrap().unwrap().state, JobState::Running);

    // a graceful stop: only the owner's own running job is released
    assert!(!q.release_job(ids[1], "h:12:jobs").unwrap());
    assert!(q.release_job(ids[1], "h:11:jobs").unwrap());
    assert_eq!(q.job(ids[1]).unwrap().unwrap().state, JobState::Queued);
    // taken again, the recovery note is cleared
    let again = q
        .claim_next_job(&[], "h:20:jobs", T0 + 1100.0)
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.error), (ids[0], None));
}

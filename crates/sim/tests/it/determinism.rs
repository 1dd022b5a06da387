//! Same seed ⇒ identical output (whatever the thread count); other seed ⇒ other noise.

use crate::{read_vis, tiny, TestResult};

#[test]
fn same_seed_same_bytes_other_seed_other_noise() -> TestResult {
    let (d1, d2, d3, d4) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    let mut cfg = tiny(d1.path());
    cfg.subbands = vec![0, 9];
    cfg.rfi = true;
    let a = crate::sim(&cfg)?;
    cfg.out_dir = d2.path().to_path_buf();
    let b = crate::sim(&cfg)?;
    // a single-threaded pool gives the same result
    cfg.out_dir = d3.path().to_path_buf();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let c = pool.install(|| crate::sim(&cfg))?;
    cfg.out_dir = d4.path().to_path_buf();
    cfg.seed += 1;
    let d = crate::sim(&cfg)?;

    for i in 0..2 {
        let (va, vb, vc) = (
            read_vis(&a.files[i])?,
            read_vis(&b.files[i])?,
            read_vis(&c.files[i])?,
        );
        assert!(va
            .iter()
            .zip(&vb)
            .all(|(x, y)| x.re.to_bits() == y.re.to_bits() && x.im.to_bits() == y.im.to_bits()));
        assert_eq!(va, vc);
        // whole files are byte-identical too (no object timestamps, no wall clock)
        assert_eq!(std::fs::read(&a.files[i])?, std::fs::read(&b.files[i])?);
        let vd = read_vis(&d.files[i])?;
        let same = va.iter().zip(&vd).filter(|(x, y)| x == y).count();
        assert!(same < va.len() / 100, "{same} of {} equal", va.len());
    }
    assert_eq!(
        std::fs::read(&a.truth_path)?.len(),
        std::fs::read(&b.truth_path)?.len()
    );
    assert_eq!(std::fs::read(&a.gains_path)?, std::fs::read(&b.gains_path)?);
    Ok(())
}

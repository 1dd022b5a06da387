//! Large zeroed buffers, filled on every core.

use rayon::prelude::*;

/// A vector of `len` copies of `zero`, written in parallel.
///
/// The daemon images group after group with mimalloc, which keeps freed
/// blocks for reuse: a zeroed allocation (`vec![0.0; n]`, `calloc`) of a
/// reused block is cleared by one thread's `memset`, and a full group's grid
/// pass asks for over a gigabyte of them (band grids, image accumulators).
/// On the chain's second group the first grid pass's setup took 1.15 s of
/// that against 0.3 s for the first group, whose blocks came fresh from the
/// kernel. Written here on both cores instead; fresh pages are faulted in by
/// both cores too, which the gridding would otherwise do.
pub(crate) fn zeros<T: Copy + Send + Sync>(len: usize, zero: T) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    v.par_extend(rayon::iter::repeat_n(zero, len));
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn zeros_has_the_length_and_the_value() {
        let v = super::zeros(100_003, 0.0f64);
        assert_eq!(v.len(), 100_003);
        assert!(v.iter().all(|x| *x == 0.0));
        assert!(super::zeros(0, 1u8).is_empty());
    }
}

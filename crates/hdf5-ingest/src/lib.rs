//! Reading and validating DSA-110 correlator subband files (UVH5 written by the
//! correlator, `YYYY-MM-DDTHH:MM:SS_sbNN.hdf5`) and plain pyuvdata UVH5 files.
//!
//! What it does:
//! * parses subband file names ([`parse_subband_filename`], [`is_incomplete_name`]);
//! * peeks at the header without touching the visibilities ([`peek`] → [`SubbandMeta`]);
//! * reads visibilities into the shared [`dsa110_astro::VisBlock`], streaming by
//!   blocks of integrations with hyperslab reads ([`SubbandReader`], [`read_all`]);
//! * validates a file against SPEC §2, naming the file and dataset of every problem
//!   ([`validate`], [`IngestError`]).
//!
//! Layouts read: `Data/visdata` `(Nblts, 1, Nfreqs, Npols)` (correlator, pyuvdata < 3)
//! or `(Nblts, Nfreqs, Npols)` (pyuvdata ≥ 3); compound `{r, i}` of float32 or
//! float64; flags as h5py bool (or int8); nsamples float32 or float64; uvw float32 or
//! float64; LZF-filtered datasets; header strings fixed-length ASCII/UTF-8 or
//! variable-length; scalars as scalar datasets or 1-element arrays. The blt order
//! must be rectangular and time-major.
//!
//! What it does not do: write files (the simulator and the MS writer do), read
//! several spectral windows or phase centres, reorder blts, or fetch anything.
//! hdf5-metno silences libhdf5's automatic error-stack printing on every thread it
//! uses; failures come back as [`IngestError`] with the stack copied in.

mod error;
mod filename;
mod h5;
mod meta;
mod reader;
mod validate;

pub use error::{Hdf5Failure, IngestError, Result};
pub use filename::{is_incomplete_name, parse_subband_filename, SubbandFileName, NUM_SUBBANDS};
pub use meta::{
    peek, subband_visibility_bytes, DataStorage, FileFlavour, FlagStorage, FloatWidth, SubbandMeta,
    TelescopeInfo, VisLayout,
};
pub use reader::{read_all, Blocks, SubbandReader};
pub use validate::{expected_subband_freqs_hz, validate, CHANNELS_PER_SUBBAND};

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_cross_threads() {
        send_sync::<crate::IngestError>();
        send_sync::<crate::SubbandMeta>();
        fn send<T: Send>() {}
        send::<crate::SubbandReader>();
    }
}

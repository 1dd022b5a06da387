//! Streaming reads of a subband file into [`VisBlock`]s, one block of consecutive
//! integrations at a time, with hyperslab selections so memory stays bounded by the
//! block size.

use std::path::Path;

use dsa110_astro::VisBlock;
use ndarray::{s, Array2, Array3, Ix2, Ix3, Ix4};
use num_complex::Complex32;

use crate::error::{IngestError, Result};
use crate::h5::{file_len, Ds, H5File};
use crate::meta::{peek_open, FlagStorage, SubbandMeta, VisLayout};

/// An open subband file. One reader per file and per thread: hdf5-metno serialises
/// every libhdf5 call behind a global lock, so parallel reads of one file do not
/// help; read on one thread and compute on others.
#[derive(Debug)]
pub struct SubbandReader {
    h5: H5File,
    meta: SubbandMeta,
}

impl SubbandReader {
    /// Open a file and read its metadata (see [`crate::peek`]); checks that the
    /// `Data` datasets have usable shapes and types.
    pub fn open(path: &Path) -> Result<Self> {
        let h5 = H5File::open(path)?;
        let meta = peek_open(&h5)?;
        Ok(Self { h5, meta })
    }

    /// The file's metadata.
    pub fn meta(&self) -> &SubbandMeta {
        &self.meta
    }

    fn data(&self, name: &str) -> Result<Ds<'_>> {
        let g = self.h5.group("Data")?;
        self.h5.dataset(&g, "Data", name)
    }

    fn header(&self, name: &str) -> Result<Ds<'_>> {
        let g = self.h5.group("Header")?;
        self.h5.dataset(&g, "Header", name)
    }

    /// Rows `r0..r1` of a `Data` dataset as `(rows, nfreqs, npols)`, read with one
    /// hyperslab straight into the returned array. The spw axis is selected as the
    /// range `0..1` and dropped by a free reshape: a rank-reducing selection sends
    /// libhdf5 down a ~15× slower path.
    fn read_rows<T: hdf5::H5Type>(
        &self,
        name: &str,
        r0: usize,
        r1: usize,
        elem_bytes: usize,
    ) -> Result<Array3<T>> {
        let m = &self.meta;
        let d = self.data(name)?;
        d.check_alloc((r1 - r0) * m.nfreqs * m.npols, elem_bytes)?;
        match m.vis_layout {
            VisLayout::NoSpwAxis => {
                d.ds.read_slice::<T, _, Ix3>(s![r0..r1, .., ..])
                    .map_err(|e| d.h5(&e))
            }
            VisLayout::WithSpwAxis => {
                let a =
                    d.ds.read_slice::<T, _, Ix4>(s![r0..r1, 0..1, .., ..])
                        .map_err(|e| d.h5(&e))?;
                let found = a.shape().to_vec();
                a.into_shape_with_order((r1 - r0, m.nfreqs, m.npols))
                    .map_err(|_| {
                        d.shape_err(
                            format!("({}, 1, {}, {})", r1 - r0, m.nfreqs, m.npols),
                            found,
                        )
                    })
            }
        }
    }

    /// Read integrations `t0 .. t0 + nt` (rows `t0·Nbls .. (t0+nt)·Nbls` of
    /// visdata, flags, nsamples and uvw) straight into the block's arrays.
    pub fn read_times(&self, t0: usize, nt: usize) -> Result<VisBlock> {
        let m = &self.meta;
        let end = t0.checked_add(nt);
        if nt == 0 || end.is_none_or(|e| e > m.ntimes) {
            return Err(IngestError::TimeRange {
                path: self.h5.path.clone(),
                t0,
                nt,
                ntimes: m.ntimes,
            });
        }
        let (r0, r1) = (t0 * m.nbls, (t0 + nt) * m.nbls);
        let nrows = r1 - r0;

        let data: Array3<Complex32> = self.read_rows("visdata", r0, r1, 8)?;
        let flags: Array3<bool> = match m.flag_storage {
            FlagStorage::BoolEnum => self.read_rows("flags", r0, r1, 1)?,
            FlagStorage::Int8 => self.read_rows::<u8>("flags", r0, r1, 1)?.mapv(|x| x != 0),
        };
        let nsamples: Array3<f32> = self.read_rows("nsamples", r0, r1, 4)?;

        let uvw = self.header("uvw_array")?;
        uvw.check_alloc(nrows * 3, 8)?;
        let uvw_m: Array2<f64> = uvw
            .ds
            .read_slice::<f64, _, Ix2>(s![r0..r1, ..])
            .map_err(|e| uvw.h5(&e))?;

        let now = file_len(&self.h5.path)?;
        if now != self.h5.file_len {
            return Err(IngestError::SizeChanged {
                path: self.h5.path.clone(),
                before: self.h5.file_len,
                after: now,
            });
        }

        Ok(VisBlock {
            times_jd_utc: m.times_jd_utc[t0..t0 + nt].to_vec(),
            int_time_s: m.int_time_s,
            ant1: m.ant1.clone(),
            ant2: m.ant2.clone(),
            freqs_hz: m.freqs_hz.clone(),
            chan_width_hz: m.chan_width_hz,
            pols: m.pols.clone(),
            uvw_m,
            data,
            flags,
            nsamples,
            phase_centre: m.phase_centre.clone(),
        })
    }

    /// Blocks of `nt` integrations (the last one may be shorter), in time order.
    /// `nt = 0` is treated as 1. The iterator stops after the first error.
    pub fn blocks(&self, nt: usize) -> Blocks<'_> {
        Blocks {
            reader: self,
            next: 0,
            nt: nt.max(1),
            failed: false,
        }
    }

    /// The whole file as one block.
    pub fn read_all(&self) -> Result<VisBlock> {
        self.read_times(0, self.meta.ntimes)
    }
}

/// Iterator over the blocks of a file; see [`SubbandReader::blocks`].
#[derive(Debug)]
pub struct Blocks<'a> {
    reader: &'a SubbandReader,
    next: usize,
    nt: usize,
    failed: bool,
}

impl Iterator for Blocks<'_> {
    type Item = Result<VisBlock>;

    fn next(&mut self) -> Option<Self::Item> {
        let ntimes = self.reader.meta.ntimes;
        if self.failed || self.next >= ntimes {
            return None;
        }
        let nt = self.nt.min(ntimes - self.next);
        let r = self.reader.read_times(self.next, nt);
        self.next += nt;
        self.failed = r.is_err();
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.reader.meta.ntimes.saturating_sub(self.next);
        let n = if self.failed {
            0
        } else {
            left.div_ceil(self.nt)
        };
        (0, Some(n))
    }
}

/// Read a whole file into one block.
pub fn read_all(path: &Path) -> Result<VisBlock> {
    SubbandReader::open(path)?.read_all()
}

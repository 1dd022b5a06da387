//! Writing one subband file in the correlator's UVH5 layout (SPEC §2).
//!
//! Types follow what the correlator's h5py writer produces: integers int64,
//! reals float64 (except `uvw_array` float32 and `nsamples` float32), strings
//! fixed-length ASCII of their exact length (`antenna_names` `S4`), `visdata` the
//! compound `{r: f32, i: f32}`, `flags` HDF5's bool enum on int8. The per-blt
//! arrays and `Data/*` are chunked (one integration per chunk), uncompressed and
//! resizable along Nblts; they grow one integration at a time, and `Ntimes`/`Nblts`
//! are rewritten after each, as the correlator does. Object timestamps are not
//! recorded, so identical inputs give identical files.

use std::path::{Path, PathBuf};

use dsa110_astro::constants::DISH_DIAMETER_M;
use hdf5::types::{FixedAscii, TypeDescriptor};
use hdf5::{Dataset, Extent, File, Group, H5Type, SimpleExtents};
use ndarray::{s, ArrayView1, ArrayView2, ArrayView4};

use crate::config::{NANTS_TELESCOPE, POLARIZATIONS};
use crate::model::{Chunk, Plan};
use crate::SimError;

/// Longest header string we write.
const MAX_STR: usize = 1024;

/// An open subband file that grows one integration at a time.
#[derive(Debug)]
pub struct Uvh5Writer {
    path: PathBuf,
    file: File,
    visdata: Dataset,
    flags: Dataset,
    nsamples: Dataset,
    time_array: Dataset,
    integration_time: Dataset,
    uvw_array: Dataset,
    ant_1_array: Dataset,
    ant_2_array: Dataset,
    ntimes_ds: Dataset,
    nblts_ds: Dataset,
    nbls: usize,
    nchan: usize,
    npol: usize,
    ntimes: usize,
    uvw_f32: Vec<f32>,
    ant1: Vec<i64>,
    ant2: Vec<i64>,
}

fn h5err(path: &Path) -> impl Fn(hdf5::Error) -> SimError + '_ {
    move |source| SimError::Hdf5 {
        path: path.to_path_buf(),
        source,
    }
}

fn scalar<T: H5Type>(g: &Group, name: &str, v: T) -> hdf5::Result<()> {
    g.new_dataset::<T>()
        .obj_track_times(false)
        .create(name)?
        .write_scalar(&v)
}

fn array1<T: H5Type>(g: &Group, name: &str, v: &[T]) -> hdf5::Result<()> {
    g.new_dataset_builder()
        .obj_track_times(false)
        .with_data(ArrayView1::from(v))
        .create(name)?;
    Ok(())
}

/// A fixed-length ASCII scalar string of exactly `s.len()` bytes (h5py's `np.bytes_`).
fn string(g: &Group, name: &str, s: &str) -> hdf5::Result<()> {
    let v = FixedAscii::<MAX_STR>::from_ascii(s.as_bytes())
        .map_err(|e| hdf5::Error::from(format!("string {name}: {e}")))?;
    g.new_dataset_builder()
        .obj_track_times(false)
        .empty_as(TypeDescriptor::FixedAscii(s.len().max(1)))
        .create(name)?
        .write_scalar(&v)
}

fn growing<T: H5Type>(g: &Group, name: &str, row: &[usize]) -> hdf5::Result<Dataset> {
    // unlimited along Nblts, fixed elsewhere: h5py's maxshape=(None, 1, nfreq, npol)
    let extents = std::iter::once(Extent::resizable(0))
        .chain(row[1..].iter().map(|&n| Extent::fixed(n)))
        .collect();
    g.new_dataset::<T>()
        .obj_track_times(false)
        .chunk(row.to_vec())
        .shape(SimpleExtents::from_vec(extents))
        .create(name)
}

impl Uvh5Writer {
    /// Create `path` (truncating) and write the static header of subband `sb`.
    pub fn create(path: &Path, plan: &Plan, sb: u8) -> Result<Self, SimError> {
        Self::create_inner(path, plan, sb).map_err(h5err(path))
    }

    fn create_inner(path: &Path, plan: &Plan, sb: u8) -> hdf5::Result<Self> {
        let nbls = plan.nbls();
        let nchan = plan.nchan();
        let npol = plan.npol();
        let arr = &plan.array;
        let file = File::create(path)?;
        let header = file
            .create_group_builder()
            .obj_track_times(false)
            .create("Header")?;
        let data = file
            .create_group_builder()
            .obj_track_times(false)
            .create("Data")?;
        let site = &arr.site;
        scalar(&header, "latitude", site.lat_rad.to_degrees())?;
        scalar(&header, "longitude", site.lon_rad.to_degrees())?;
        scalar(&header, "altitude", site.height_m)?;
        string(&header, "telescope_name", "OVRO_MMA")?;
        string(&header, "instrument", "DSA")?;
        string(&header, "object_name", "search")?;
        string(
            &header,
            "history",
            &format!(
                "written by dsa110-sim {} (group {}, seed {})",
                env!("CARGO_PKG_VERSION"),
                plan.group_id,
                plan.cfg.seed
            ),
        )?;
        string(&header, "phase_type", "drift")?;
        string(&header, "version", "1.0")?;
        scalar(&header, "Nants_data", arr.input_order.len() as i64)?;
        scalar(&header, "Nants_telescope", NANTS_TELESCOPE as i64)?;
        array1(
            &header,
            "antenna_diameters",
            &[DISH_DIAMETER_M; NANTS_TELESCOPE],
        )?;
        let names = (1..=NANTS_TELESCOPE)
            .map(|n| FixedAscii::<4>::from_ascii(n.to_string().as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| hdf5::Error::from(format!("antenna name: {e}")))?;
        array1(&header, "antenna_names", &names)?;
        let numbers: Vec<i64> = (0..NANTS_TELESCOPE as i64).collect();
        array1(&header, "antenna_numbers", &numbers)?;
        scalar(&header, "Nbls", nbls as i64)?;
        let nblts_ds = header
            .new_dataset::<i64>()
            .obj_track_times(false)
            .create("Nblts")?;
        nblts_ds.write_scalar(&0i64)?;
        scalar(&header, "Nfreqs", nchan as i64)?;
        scalar(&header, "Npols", npol as i64)?;
        let ntimes_ds = header
            .new_dataset::<i64>()
            .obj_track_times(false)
            .create("Ntimes")?;
        ntimes_ds.write_scalar(&0i64)?;
        scalar(&header, "Nspws", 1i64)?;
        let uvw_array = growing::<f32>(&header, "uvw_array", &[nbls, 3])?;
        let time_array = growing::<f64>(&header, "time_array", &[nbls])?;
        let integration_time = growing::<f64>(&header, "integration_time", &[nbls])?;
        let ant_1_array = growing::<i64>(&header, "ant_1_array", &[nbls])?;
        let ant_2_array = growing::<i64>(&header, "ant_2_array", &[nbls])?;
        let freqs = &plan.freqs_hz[sb as usize];
        header
            .new_dataset_builder()
            .obj_track_times(false)
            .with_data(ArrayView2::from_shape((1, nchan), freqs).map_err(shape_err)?)
            .create("freq_array")?;
        scalar(&header, "channel_width", plan.chan_width_hz)?;
        array1(&header, "spw_array", &[1i64])?;
        array1(&header, "polarization_array", &POLARIZATIONS)?;
        let pos: Vec<f64> = arr.antenna_positions_m.iter().flatten().copied().collect();
        header
            .new_dataset_builder()
            .obj_track_times(false)
            .with_data(ArrayView2::from_shape((NANTS_TELESCOPE, 3), &pos).map_err(shape_err)?)
            .create("antenna_positions")?;
        let extra = header
            .create_group_builder()
            .obj_track_times(false)
            .create("extra_keywords")?;
        scalar(&extra, "phase_center_dec", plan.dec_rad)?;
        scalar(&extra, "ha_phase_center", 0.0f64)?;
        string(&extra, "phase_center_epoch", "HADEC")?;

        let row = [nbls, 1, nchan, npol];
        let visdata = growing::<num_complex::Complex32>(&data, "visdata", &row)?;
        let flags = growing::<bool>(&data, "flags", &row)?;
        let nsamples = growing::<f32>(&data, "nsamples", &row)?;
        let uvw_f32 = arr
            .uvw_m
            .iter()
            .flat_map(|u| u.iter().map(|&x| x as f32))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            visdata,
            flags,
            nsamples,
            time_array,
            integration_time,
            uvw_array,
            ant_1_array,
            ant_2_array,
            ntimes_ds,
            nblts_ds,
            nbls,
            nchan,
            npol,
            ntimes: 0,
            uvw_f32,
            ant1: arr.ant1.iter().map(|&a| a as i64).collect(),
            ant2: arr.ant2.iter().map(|&a| a as i64).collect(),
        })
    }

    /// Append one integration (mid-time `jd_utc`, integration time `int_time_s`).
    pub fn append(&mut self, chunk: &Chunk, jd_utc: f64, int_time_s: f64) -> Result<(), SimError> {
        let path = self.path.clone();
        self.append_inner(chunk, jd_utc, int_time_s)
            .map_err(h5err(&path))
    }

    fn append_inner(&mut self, chunk: &Chunk, jd_utc: f64, int_time_s: f64) -> hdf5::Result<()> {
        let (nbls, nchan, npol) = (self.nbls, self.nchan, self.npol);
        let old = self.ntimes * nbls;
        let new = old + nbls;
        let shape4 = (nbls, 1, nchan, npol);
        self.visdata.resize((new, 1, nchan, npol))?;
        self.visdata.write_slice(
            ArrayView4::from_shape(shape4, &chunk.vis).map_err(shape_err)?,
            s![old..new, .., .., ..],
        )?;
        self.flags.resize((new, 1, nchan, npol))?;
        self.flags.write_slice(
            ArrayView4::from_shape(shape4, &chunk.flags).map_err(shape_err)?,
            s![old..new, .., .., ..],
        )?;
        self.nsamples.resize((new, 1, nchan, npol))?;
        self.nsamples.write_slice(
            ArrayView4::from_shape(shape4, &chunk.nsamples).map_err(shape_err)?,
            s![old..new, .., .., ..],
        )?;
        self.uvw_array.resize((new, 3))?;
        self.uvw_array.write_slice(
            ArrayView2::from_shape((nbls, 3), &self.uvw_f32).map_err(shape_err)?,
            s![old..new, ..],
        )?;
        self.time_array.resize(new)?;
        self.time_array
            .write_slice(&vec![jd_utc; nbls], s![old..new])?;
        self.integration_time.resize(new)?;
        self.integration_time
            .write_slice(&vec![int_time_s; nbls], s![old..new])?;
        self.ant_1_array.resize(new)?;
        self.ant_1_array.write_slice(&self.ant1, s![old..new])?;
        self.ant_2_array.resize(new)?;
        self.ant_2_array.write_slice(&self.ant2, s![old..new])?;
        self.ntimes += 1;
        self.ntimes_ds.write_scalar(&(self.ntimes as i64))?;
        self.nblts_ds.write_scalar(&(new as i64))?;
        Ok(())
    }

    /// Flush everything written so far to disk (what a reader of the growing file sees).
    pub fn flush(&self) -> Result<(), SimError> {
        self.file.flush().map_err(h5err(&self.path))
    }

    /// Close the file (all handles).
    pub fn close(self) -> Result<(), SimError> {
        let Self {
            path,
            file,
            visdata,
            flags,
            nsamples,
            time_array,
            integration_time,
            uvw_array,
            ant_1_array,
            ant_2_array,
            ntimes_ds,
            nblts_ds,
            ..
        } = self;
        drop((
            visdata,
            flags,
            nsamples,
            time_array,
            integration_time,
            uvw_array,
            ant_1_array,
            ant_2_array,
            ntimes_ds,
            nblts_ds,
        ));
        file.close().map_err(h5err(&path))
    }
}

fn shape_err(e: ndarray::ShapeError) -> hdf5::Error {
    hdf5::Error::from(format!("array shape: {e}"))
}

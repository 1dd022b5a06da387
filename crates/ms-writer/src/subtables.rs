//! The subtables: ANTENNA, SPECTRAL_WINDOW, POLARIZATION, DATA_DESCRIPTION,
//! FIELD, SOURCE, OBSERVATION, FEED, HISTORY, POINTING, PROCESSOR, STATE,
//! FLAG_CMD. Small tables, so written cell by cell.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ndarray::Array2;
use num_complex::Complex32;
use rubbl_casatables::{CasaDataType, GlueDataType as T, Table};

use crate::desc::{col, create_table, ColDef, Meas, Shape};
use crate::error::CasaContext;
use crate::spec::{aips_to_corr, MsSpec};
use crate::MsError;

const S: Shape = Shape::Scalar;
const V1: Shape = Shape::Var(Some(1));
const V2: Shape = Shape::Var(Some(2));
const F2: Shape = Shape::Fixed(&[2]);
const F3: Shape = Shape::Fixed(&[3]);

/// Names of the subtables, in the order they are written.
pub const SUBTABLES: [&str; 13] = [
    "ANTENNA",
    "DATA_DESCRIPTION",
    "FEED",
    "FIELD",
    "FLAG_CMD",
    "HISTORY",
    "OBSERVATION",
    "POINTING",
    "POLARIZATION",
    "PROCESSOR",
    "SOURCE",
    "SPECTRAL_WINDOW",
    "STATE",
];

/// A table being filled, with its path for error messages.
struct Fill {
    table: Table,
    path: PathBuf,
}

impl Fill {
    fn new(ms: &Path, name: &str, cols: &[ColDef], nrows: usize) -> Result<Self, MsError> {
        let path = ms.join(name);
        let table = create_table(&path, cols, nrows)?;
        Ok(Self { table, path })
    }

    fn put<V: CasaDataType>(&mut self, column: &str, row: usize, value: &V) -> Result<(), MsError> {
        self.table
            .put_cell(column, row as u64, value)
            .casa(&self.path, || format!("write {column}[{row}]"))
    }

    /// The same value in every row.
    fn put_all<V: CasaDataType>(&mut self, column: &str, value: &V) -> Result<(), MsError> {
        for row in 0..self.table.n_rows() as usize {
            self.put(column, row, value)?;
        }
        Ok(())
    }
}

fn dir2(ra: f64, dec: f64) -> Array2<f64> {
    // casacore shape (2, NUM_POLY + 1) → row-major [1, 2]
    Array2::from_shape_vec((1, 2), vec![ra, dec]).unwrap_or_else(|_| Array2::zeros((1, 2)))
}

fn now_mjd_s() -> f64 {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    unix + 40_587.0 * 86_400.0
}

/// Create every subtable under `ms` and return them, named, for the main
/// table's keywords.
pub(crate) fn write_all(ms: &Path, spec: &MsSpec) -> Result<Vec<(&'static str, Table)>, MsError> {
    Ok(vec![
        ("ANTENNA", antenna(ms, spec)?),
        ("DATA_DESCRIPTION", data_description(ms, spec)?),
        ("FEED", feed(ms, spec)?),
        ("FIELD", field(ms, spec)?),
        ("FLAG_CMD", flag_cmd(ms)?),
        ("HISTORY", history(ms, spec)?),
        ("OBSERVATION", observation(ms, spec)?),
        ("POINTING", pointing(ms, spec)?),
        ("POLARIZATION", polarization(ms, spec)?),
        ("PROCESSOR", processor(ms)?),
        ("SOURCE", source(ms, spec)?),
        ("SPECTRAL_WINDOW", spectral_window(ms, spec)?),
        ("STATE", state(ms)?),
    ])
}

fn antenna(ms: &Path, spec: &MsSpec) -> Result<Table, MsError> {
    let cols = [
        col("OFFSET", T::TpDouble, F3)
            .units(&["m", "m", "m"])
            .meas(Meas::Position),
        col("POSITION", T::TpDouble, F3)
            .units(&["m", "m", "m"])
            .meas(Meas::Position),
        col("TYPE", T::TpString, S),
        col("DISH_DIAMETER", T::TpDouble, S).units(&["m"]),
        col("FLAG_ROW", T::TpBool, S),
        col("MOUNT", T::TpString, S),
        col("NAME", T::TpString, S),
        col("STATION", T::TpString, S),
    ];
    let mut t = Fill::new(ms, "ANTENNA", &cols, spec.antennas.len())?;
    for (i, a) in spec.antennas.iter().enumerate() {
        t.put("OFFSET", i, &vec![0.0f64; 3])?;
        t.put("POSITION", i, &a.itrf_m.to_vec())?;
        t.put("TYPE", i, &"GROUND-BASED".to_string())?;
        t.put("DISH_DIAMETER", i, &a.diameter_m)?;
        t.put("FLAG_ROW", i, &false)?;
        t.put("MOUNT", i, &a.mount)?;
        t.put("NAME", i, &a.name)?;
        t.put("STATION", i, &a.station)?;
    }
    Ok(t.table)
}

fn spectral_window(ms: &Path, spec: &MsSpec) -> Result<Table, MsError> {
    let cols = [
        col("MEAS_FREQ_REF", T::TpInt, S),
        col("CHAN_FREQ", T::TpDouble, V1)
            .units(&["Hz"])
            .meas(Meas::FrequencyVarRef),
        col("REF_FREQUENCY", T::TpDouble, S)
            .units(&["Hz"])
            .meas(Meas::FrequencyVarRef),
        col("CHAN_WIDTH", T::TpDouble, V1).units(&["Hz"]),
        col("EFFECTIVE_BW", T::TpDouble, V1).units(&["Hz"]),
        col("RESOLUTION", T::TpDouble, V1).units(&["Hz"]),
        col("FLAG_ROW", T::TpBool, S),
        col("FREQ_GROUP", T::TpInt, S),
        col("FREQ_GROUP_NAME", T::TpString, S),
        col("IF_CONV_CHAIN", T::TpInt, S),
        col("NAME", T::TpString, S),
        col("NET_SIDEBAND", T::TpInt, S),
        col("NUM_CHAN", T::TpInt, S),
        col("TOTAL_BANDWIDTH", T::TpDouble, S).units(&["Hz"]),
    ];
    let mut t = Fill::new(ms, "SPECTRAL_WINDOW", &cols, spec.spws.len())?;
    for (i, w) in spec.spws.iter().enumerate() {
        let n = w.nchan();
        let widths = vec![w.chan_width_hz; n];
        t.put("MEAS_FREQ_REF", i, &5i32)?; // TOPO
        t.put("CHAN_FREQ", i, &w.freqs_hz)?;
        t.put("REF_FREQUENCY", i, &w.freqs_hz[0])?;
        t.put("CHAN_WIDTH", i, &widths)?;
        t.put("EFFECTIVE_BW", i, &widths)?;
        t.put("RESOLUTION", i, &widths)?;
        t.put("FLAG_ROW", i, &false)?;
        t.put("FREQ_GROUP", i, &0i32)?;
        t.put("FREQ_GROUP_NAME", i, &String::new())?;
        t.put("IF_CONV_CHAIN", i, &0i32)?;
        t.put("NAME", i, &w.name)?;
        t.put("NET_SIDEBAND", i, &1i32)?;
        t.put("NUM_CHAN", i, &(n as i32))?;
        t.put("TOTAL_BANDWIDTH", i, &(w.chan_width_hz * n as f64))?;
    }
    Ok(t.table)
}

fn polarization(ms: &Path, spec: &MsSpec) -> Result<Table, MsError> {
    let cols = [
        col("CORR_TYPE", T::TpInt, V1),
        col("CORR_PRODUCT", T::TpInt, V2),
        col("FLAG_ROW", T::TpBool, S),
        col("NUM_CORR", T::TpInt, S),
    ];
    let mut t = Fill::new(ms, "POLARIZATION", &cols, 1)?;
    let mut types = Vec::with_capacity(spec.pols.len());
    let mut products = Array2::<i32>::zeros((spec.pols.len(), 2));
    for (k, &p) in spec.pols.iter().enumerate() {
        // validated by MsSpec::validate
        let (ty, prod) = aips_to_corr(p).unwrap_or((0, [0, 0]));
        types.push(ty);
        products[[k, 0]] = prod[0];
        products[[k, 1]] = prod[1];
    }
    t.put("CORR_TYPE", 0, &types)?;
    t.put("CORR_PRODUCT", 0, &products)?;
    t.put("FLAG_ROW", 0, &false)?;
    t.put("NUM_CORR", 0, &(spec.pols.len() as i32))?;
    Ok(t.table)
}

fn data_description(ms: &Path, spec: &MsSpec) -> Result<Table, MsError> {
    let cols = [
        col("FLAG_ROW", T::TpBool, S),
        col("POLARIZATION_ID", T::TpInt, S),
        col("SPECTRAL_WINDOW_ID", T::TpInt, S),
    ];
    let mut t = Fill::new(ms, "DATA_DESCRIPTION", &cols, spec.spws.len())?;
    for i in 0..spec.spws.len() {
        t.put("FLAG_ROW", i, &false)?;
        t.put("POLARIZATION_ID", i, &0i32)?;
        t.put("SPECTRAL_WINDOW_ID", i, &(i as i32))?;
    }
    Ok(t.table)
}

fn field(ms: &Path, spec: &MsSpec) -> Result<Table, MsError> {
    let cols = [
        col("DELAY_DIR", T::TpDouble, V2)
            .units(&["rad", "rad"])
            .meas(Meas::Direction),
        col("PHASE_DIR", T::TpDouble, V2)
            .units(&["rad", "rad"])
            .meas(Meas::Direction),
        col("REFERENCE_DIR", T::TpDouble, V2)
            .units(&["rad", "rad"])
            .meas(Meas::Direction),
        col("CODE", T::TpString, S),
        col("FLAG_ROW", T::TpBool, S),
        col("NAME", T::TpString, S),
        col("NUM_POLY", T::TpInt, S),
        col("SOURCE_ID", T::TpInt, S),
        col("TIME", T::TpDouble, S).units(&["s"]).meas(Meas::Epoch),
    ];
    let f = &spec.field;
    let dir = dir2(f.ra_rad, f.dec_rad);
    let mut t = Fill::new(ms, "FIELD", &cols, 1)?;
    t.put("DELAY_DIR", 0, &dir)?;
    t.put("PHASE_DIR", 0, &dir)?;
    t.put("REFERENCE_DIR", 0, &dir)?;
    t.put("CODE", 0, &String::new())?;
    t.put("FLAG_ROW", 0, &false)?;
    t.put("NAME", 0, &f.name)?;
    t.put("NUM_POLY", 0, &0i32)?;
    t.put("SOURCE_ID", 0, &0i32)?;
    t.put("TIME", 0, &mid_time(spec))?;
    Ok(t.table)
}

fn mid_time(spec: &MsSpec) -> f64 {
    0.5 * (spec.time_range_mjd_s.0 + spec.time_range_mjd_s.1)
}

fn span(spec: &MsSpec) -> f64 {
    spec.time_range_mjd_s.1 - spec.time_range_mjd_s.0
}

fn source(ms: &Path, spec: &MsSpec) -> Result<Table, MsError> {
    let cols = [
        col("DIRECTION", T::TpDouble, F2)
            .units(&["rad", "rad"])
            .meas(Meas::Direction),
        col("PROPER_MOTION", T::TpDouble, F2).units(&["rad/s"]),
        col("CALIBRATION_GROUP", T::TpInt, S),
        col("CODE", T::TpString, S),
        col("INTERVAL", T::TpDouble, S).units(&["s"]),
        col("NAME", T::TpString, S),
        col("NUM_LINES", T::TpInt, S),
        col("SOURCE_ID", T::TpInt, S),
        col("SPECTRAL_WINDOW_ID", T::TpInt, S),
        col("TIME", T::TpDouble, S).units(&["s"]).meas(Meas::Epoch),
    ];
    let f = &spec.field;
    let mut t = Fill::new(ms, "SOURCE", &cols, 1)?;
    t.put("DIRECTION", 0, &vec![f.ra_rad, f.dec_rad])?;
    t.put("PROPER_MOTION", 0, &vec![0.0f64, 0.0])?;
    t.put("CALIBRATION_GROUP", 0, &0i32)?;
    t.put("CODE", 0, &String::new())?;
    t.put("INTERVAL", 0, &span(spec))?;
    t.put("NAME", 0, &f.name)?;
    t.put("NUM_LINES", 0, &0i32)?;
    t.put("SOURCE_ID", 0, &0i32)?;
    t.put("SPECTRAL_WINDOW_ID", 0, &-1i32)?;
    t.put("TIME", 0, &mid_time(spec))?;
    Ok(t.table)
}

fn observation(ms: &Path, spec: &MsSpec) -> Result<Table, MsError> {
    let cols = [
        col("TIME_RANGE", T::TpDouble, F2)
            .units(&["s"])
            .meas(Meas::Epoch),
        col("LOG", T::TpString, V1),
        col("SCHEDULE", T::TpString, V1),
        col("FLAG_ROW", T::TpBool, S),
        col("OBSERVER", T::TpString, S),
        col("PROJECT", T::TpString, S),
        col("RELEASE_DATE", T::TpDouble, S)
            .units(&["s"])
            .meas(Meas::Epoch),
        col("SCHEDULE_TYPE", T::TpString, S),
        col("TELESCOPE_NAME", T::TpString, S),
        // non-standard, as pyuvdata writes it: without it pyuvdata looks the
        // telescope up online
        col("TELESCOPE_LOCATION", T::TpDouble, F3)
            .units(&["m", "m", "m"])
            .meas(Meas::Position),
    ];
    let mut t = Fill::new(ms, "OBSERVATION", &cols, 1)?;
    let (t0, t1) = spec.time_range_mjd_s;
    t.put("TIME_RANGE", 0, &vec![t0, t1])?;
    t.put("LOG", 0, &vec![String::new()])?;
    t.put("SCHEDULE", 0, &vec![String::new()])?;
    t.put("FLAG_ROW", 0, &false)?;
    t.put("OBSERVER", 0, &spec.observer)?;
    t.put("PROJECT", 0, &spec.project)?;
    t.put("RELEASE_DATE", 0, &0.0f64)?;
    t.put("SCHEDULE_TYPE", 0, &String::new())?;
    t.put("TELESCOPE_NAME", 0, &spec.telescope_name)?;
    t.put("TELESCOPE_LOCATION", 0, &spec.telescope_itrf_m.to_vec())?;
    Ok(t.table)
}

fn feed(ms: &Path, spec: &MsSpec) -> Result<Table, MsError> {
    let cols = [
        col("POSITION", T::TpDouble, F3)
            .units(&["m", "m", "m"])
            .meas(Meas::Position),
        col("BEAM_OFFSET", T::TpDouble, V2)
            .units(&["rad", "rad"])
            .meas(Meas::Direction),
        col("POLARIZATION_TYPE", T::TpString, V1),
        col("POL_RESPONSE", T::TpComplex, V2),
        col("RECEPTOR_ANGLE", T::TpDouble, V1).units(&["rad"]),
        col("ANTENNA_ID", T::TpInt, S),
        col("BEAM_ID", T::TpInt, S),
        col("FEED_ID", T::TpInt, S),
        col("INTERVAL", T::TpDouble, S).units(&["s"]),
        col("NUM_RECEPTORS", T::TpInt, S),
        col("SPECTRAL_WINDOW_ID", T::TpInt, S),
        col("TIME", T::TpDouble, S).units(&["s"]).meas(Meas::Epoch),
    ];
    let n = spec.antennas.len();
    let mut t = Fill::new(ms, "FEED", &cols, n)?;
    // casacore shapes (2, NUM_RECEPTORS) and (NUM_RECEPTORS, NUM_RECEPTORS),
    // row-major [2, 2] either way
    let beam_offset = Array2::<f64>::zeros((2, 2));
    let mut pol_response = Array2::<Complex32>::zeros((2, 2));
    pol_response[[0, 0]] = Complex32::new(1.0, 0.0);
    pol_response[[1, 1]] = Complex32::new(1.0, 0.0);
    let pol_type = vec!["X".to_string(), "Y".to_string()];
    let angles = spec.feed_angles_rad.to_vec();
    for i in 0..n {
        t.put("ANTENNA_ID", i, &(i as i32))?;
    }
    t.put_all("POSITION", &vec![0.0f64; 3])?;
    t.put_all("BEAM_OFFSET", &beam_offset)?;
    t.put_all("POLARIZATION_TYPE", &pol_type)?;
    t.put_all("POL_RESPONSE", &pol_response)?;
    t.put_all("RECEPTOR_ANGLE", &angles)?;
    t.put_all("BEAM_ID", &-1i32)?;
    t.put_all("FEED_ID", &0i32)?;
    // valid for all time, as pyuvdata writes it
    t.put_all("INTERVAL", &f64::MAX)?;
    t.put_all("NUM_RECEPTORS", &2i32)?;
    t.put_all("SPECTRAL_WINDOW_ID", &-1i32)?;
    t.put_all("TIME", &spec.time_range_mjd_s.0)?;
    Ok(t.table)
}

fn history(ms: &Path, spec: &MsSpec) -> Result<Table, MsError> {
    let cols = [
        col("APP_PARAMS", T::TpString, V1),
        col("CLI_COMMAND", T::TpString, V1),
        col("APPLICATION", T::TpString, S),
        col("MESSAGE", T::TpString, S),
        col("OBJECT_ID", T::TpInt, S),
        col("OBSERVATION_ID", T::TpInt, S),
        col("ORIGIN", T::TpString, S),
        col("PRIORITY", T::TpString, S),
        col("TIME", T::TpDouble, S).units(&["s"]).meas(Meas::Epoch),
    ];
    let mut t = Fill::new(ms, "HISTORY", &cols, spec.history.len())?;
    let now = now_mjd_s();
    for (i, h) in spec.history.iter().enumerate() {
        t.put("APP_PARAMS", i, &vec![String::new()])?;
        t.put("CLI_COMMAND", i, &vec![h.cli_command.clone()])?;
        t.put("APPLICATION", i, &h.application)?;
        t.put("MESSAGE", i, &h.message)?;
        t.put("OBJECT_ID", i, &0i32)?;
        t.put("OBSERVATION_ID", i, &0i32)?;
        t.put(
            "ORIGIN",
            i,
            &format!("dsa110-ms-writer {}", env!("CARGO_PKG_VERSION")),
        )?;
        t.put("PRIORITY", i, &"NORMAL".to_string())?;
        t.put("TIME", i, &now)?;
    }
    Ok(t.table)
}

fn pointing(ms: &Path, spec: &MsSpec) -> Result<Table, MsError> {
    let cols = [
        col("DIRECTION", T::TpDouble, V2)
            .units(&["rad", "rad"])
            .meas(Meas::Direction),
        col("ANTENNA_ID", T::TpInt, S),
        col("INTERVAL", T::TpDouble, S).units(&["s"]),
        col("NAME", T::TpString, S),
        col("NUM_POLY", T::TpInt, S),
        col("TARGET", T::TpDouble, Shape::Var(None))
            .units(&["rad", "rad"])
            .meas(Meas::Direction),
        col("TIME", T::TpDouble, S).units(&["s"]).meas(Meas::Epoch),
        col("TIME_ORIGIN", T::TpDouble, S)
            .units(&["s"])
            .meas(Meas::Epoch),
        col("TRACKING", T::TpBool, S),
    ];
    let n = spec.antennas.len();
    let f = &spec.field;
    let dir = dir2(f.ra_rad, f.dec_rad);
    let mut t = Fill::new(ms, "POINTING", &cols, n)?;
    for i in 0..n {
        t.put("ANTENNA_ID", i, &(i as i32))?;
    }
    t.put_all("DIRECTION", &dir)?;
    t.put_all("TARGET", &dir)?;
    t.put_all("INTERVAL", &span(spec))?;
    t.put_all("NAME", &f.name)?;
    t.put_all("NUM_POLY", &0i32)?;
    t.put_all("TIME", &mid_time(spec))?;
    t.put_all("TIME_ORIGIN", &mid_time(spec))?;
    t.put_all("TRACKING", &true)?;
    Ok(t.table)
}

fn processor(ms: &Path) -> Result<Table, MsError> {
    let cols = [
        col("FLAG_ROW", T::TpBool, S),
        col("MODE_ID", T::TpInt, S),
        col("TYPE", T::TpString, S),
        col("TYPE_ID", T::TpInt, S),
        col("SUB_TYPE", T::TpString, S),
    ];
    let mut t = Fill::new(ms, "PROCESSOR", &cols, 1)?;
    t.put("FLAG_ROW", 0, &false)?;
    t.put("MODE_ID", 0, &-1i32)?;
    t.put("TYPE", 0, &"CORRELATOR".to_string())?;
    t.put("TYPE_ID", 0, &-1i32)?;
    t.put("SUB_TYPE", 0, &"DSA-110".to_string())?;
    Ok(t.table)
}

fn state(ms: &Path) -> Result<Table, MsError> {
    let cols = [
        col("CAL", T::TpDouble, S).units(&["K"]),
        col("FLAG_ROW", T::TpBool, S),
        col("LOAD", T::TpDouble, S).units(&["K"]),
        col("OBS_MODE", T::TpString, S),
        col("REF", T::TpBool, S),
        col("SIG", T::TpBool, S),
        col("SUB_SCAN", T::TpInt, S),
    ];
    let mut t = Fill::new(ms, "STATE", &cols, 1)?;
    t.put("CAL", 0, &0.0f64)?;
    t.put("FLAG_ROW", 0, &false)?;
    t.put("LOAD", 0, &0.0f64)?;
    t.put("OBS_MODE", 0, &"OBSERVE_TARGET#ON_SOURCE".to_string())?;
    t.put("REF", 0, &false)?;
    t.put("SIG", 0, &true)?;
    t.put("SUB_SCAN", 0, &0i32)?;
    Ok(t.table)
}

fn flag_cmd(ms: &Path) -> Result<Table, MsError> {
    let cols = [
        col("APPLIED", T::TpBool, S),
        col("COMMAND", T::TpString, S),
        col("INTERVAL", T::TpDouble, S).units(&["s"]),
        col("LEVEL", T::TpInt, S),
        col("REASON", T::TpString, S),
        col("SEVERITY", T::TpInt, S),
        col("TIME", T::TpDouble, S).units(&["s"]).meas(Meas::Epoch),
        col("TYPE", T::TpString, S),
    ];
    let t = Fill::new(ms, "FLAG_CMD", &cols, 0)?;
    Ok(t.table)
}

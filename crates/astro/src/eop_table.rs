//! Earth-orientation parameters (UT1 − UTC and polar motion) from an IERS
//! `finals2000A` table (`finals2000A.all`, `.data`, `.daily`: the fixed-width
//! format of USNO's Bulletin A that astropy and CASA read), interpolated
//! linearly between the daily rows as astropy's `IERS_A` does.
//!
//! Which values are used, as astropy's `IERS_A` combines them: for UT1 − UTC the
//! Bulletin B value (bytes 155–165) where the row has one, else Bulletin A's
//! (bytes 59–68); for polar motion Bulletin B's x and y (bytes 135–154) where
//! the row has both, else Bulletin A's (bytes 19–27, 38–46). Rows without a
//! Bulletin A UT1 − UTC or polar-motion flag (the empty dates at the end of
//! `finals2000A.all`) are skipped, as astropy skips them. Across a leap second
//! the UT1 − UTC difference between two rows is corrected by the whole second
//! (astropy's `d_val -= d_val.round()`), so the jump happens at the second row.
//!
//! astropy's `IERS_Auto` (its default, which pyuvdata uses) further replaces
//! the Bulletin B values with the IERS EOP C04 series (`eopc04.1962-now`,
//! shipped beside `finals2000A.all` in `astropy-iers-data`):
//! [`EopTable::substitute_eopc04`] does the same, and discovery applies it
//! whenever that file lies beside the table found. Without it the values
//! differ from `IERS_Auto`'s by ≤ 3 µs in UT1 − UTC and ≤ 0.06 mas in polar
//! motion on 2025 dates (measured). Dates outside the table are an error,
//! not the edge value astropy repeats.
//!
//! Where a table is found ([`EopSource::discover`]): an explicit path, else
//! the environment variable [`ENV_IERS_TABLE`], else `finals2000A.all` of the
//! Python package `astropy-iers-data` (the interop virtualenv that
//! `cargo xtask setup` creates under `target/interop-venv`, an active
//! `$VIRTUAL_ENV`, or the system's Python), else [`SYSTEM_IERS_TABLE`].

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::constants::{ARCSEC, MJD_OFFSET};
use crate::Eop;

/// Environment variable naming an IERS `finals2000A` table.
pub const ENV_IERS_TABLE: &str = "DSA110_IERS_TABLE";

/// The system-wide location searched last (setup may copy a table here).
pub const SYSTEM_IERS_TABLE: &str = "/usr/share/dsa110/finals2000A.all";

/// File name of the table inside the `astropy-iers-data` package.
const ASTROPY_IERS_FILE: &str = "finals2000A.all";

/// File name of the IERS EOP C04 series that, beside a table, replaces its
/// Bulletin B values (as astropy's `IERS_Auto` does).
pub const EOPC04_FILE: &str = "eopc04.1962-now";

/// Errors loading or finding an IERS table.
#[derive(Debug, thiserror::Error)]
pub enum EopTableError {
    /// The file could not be read.
    #[error("cannot read IERS table {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A field of a line is not a number (or a required field is blank).
    #[error("IERS table {path} line {line}: field {field} (bytes {bytes}) is {value:?}")]
    Field {
        path: PathBuf,
        line: usize,
        field: &'static str,
        bytes: &'static str,
        value: String,
        #[source]
        source: Option<std::num::ParseFloatError>,
    },
    /// A line holds something other than ASCII text.
    #[error("IERS table {path} line {line}: not an ASCII text line")]
    NotText { path: PathBuf, line: usize },
    /// A row's MJD is not after the previous row's.
    #[error("IERS table {path} line {line}: MJD {mjd} does not follow the previous row's {previous_mjd}")]
    NotIncreasing {
        path: PathBuf,
        line: usize,
        mjd: f64,
        previous_mjd: f64,
    },
    /// Fewer than two usable rows: nothing to interpolate.
    #[error("IERS table {path} has {rows} usable rows (at least 2 needed)")]
    TooFewRows { path: PathBuf, rows: usize },
    /// No table in any of the places searched.
    #[error("no IERS finals2000A table found (searched: {})", display_paths(.searched))]
    NotFound { searched: Vec<PathBuf> },
}

impl EopTableError {
    /// Whether retrying could succeed (a read error might be transient).
    pub fn is_retryable(&self) -> bool {
        matches!(self, EopTableError::Io { .. })
    }

    /// Whether no table was found at all (as opposed to a broken one).
    pub fn is_not_found(&self) -> bool {
        matches!(self, EopTableError::NotFound { .. })
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Errors looking up one instant in a table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EopLookupError {
    /// The instant lies outside the table.
    #[error("MJD {mjd_utc:.5} (UTC) is outside the IERS table {path}, which covers {span}")]
    OutOfRange {
        mjd_utc: f64,
        span: EopSpan,
        path: PathBuf,
    },
    /// The instant is not a finite date.
    #[error("invalid date for an IERS lookup: JD {jd_utc}")]
    InvalidTime { jd_utc: f64 },
}

/// Where values of a row come from (the flags of the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EopFlag {
    /// Bulletin B (final values).
    BulletinB,
    /// Bulletin A, IERS values (`I`).
    Iers,
    /// Bulletin A, predicted values (`P`).
    Predicted,
}

/// One daily row: the combined values this module uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EopRow {
    /// UTC Modified Julian Date of the row (0 h UTC).
    pub mjd_utc: f64,
    /// Polar motion x (arcsec).
    pub xp_arcsec: f64,
    /// Polar motion y (arcsec).
    pub yp_arcsec: f64,
    /// UT1 − UTC (s).
    pub dut1_s: f64,
    /// Source of the polar motion.
    pub pm_flag: EopFlag,
    /// Source of UT1 − UTC.
    pub ut1_flag: EopFlag,
}

/// The MJD range a table covers (inclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EopSpan {
    /// First row's MJD (UTC).
    pub first_mjd: f64,
    /// Last row's MJD (UTC).
    pub last_mjd: f64,
}

impl fmt::Display for EopSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MJD {}–{} ({} to {})",
            self.first_mjd,
            self.last_mjd,
            iso_date(self.first_mjd),
            iso_date(self.last_mjd)
        )
    }
}

/// `YYYY-MM-DD` of an MJD (proleptic Gregorian).
fn iso_date(mjd: f64) -> String {
    // days since 1970-01-01, then Howard Hinnant's civil_from_days
    let z = (mjd.floor() as i64) - 40_587 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A parsed `finals2000A` table.
#[derive(Clone, Debug)]
pub struct EopTable {
    path: PathBuf,
    rows: Vec<EopRow>,
    eopc04: Option<PathBuf>,
}

/// Byte ranges (1-based, inclusive, as the IERS ReadMe gives them).
struct Col {
    name: &'static str,
    bytes: &'static str,
    start: usize,
    end: usize,
}

const MJD: Col = Col {
    name: "MJD",
    bytes: "8-15",
    start: 8,
    end: 15,
};
const PM_FLAG_A: Col = Col {
    name: "PolPMFlag_A",
    bytes: "17",
    start: 17,
    end: 17,
};
const PM_X_A: Col = Col {
    name: "PM_x_A",
    bytes: "19-27",
    start: 19,
    end: 27,
};
const PM_Y_A: Col = Col {
    name: "PM_y_A",
    bytes: "38-46",
    start: 38,
    end: 46,
};
const UT1_FLAG_A: Col = Col {
    name: "UT1Flag_A",
    bytes: "58",
    start: 58,
    end: 58,
};
const UT1_A: Col = Col {
    name: "UT1_UTC_A",
    bytes: "59-68",
    start: 59,
    end: 68,
};
const PM_X_B: Col = Col {
    name: "PM_X_B",
    bytes: "135-144",
    start: 135,
    end: 144,
};
const PM_Y_B: Col = Col {
    name: "PM_Y_B",
    bytes: "145-154",
    start: 145,
    end: 154,
};
const UT1_B: Col = Col {
    name: "UT1_UTC_B",
    bytes: "155-165",
    start: 155,
    end: 165,
};

/// One line being parsed, for field access with errors naming file and line.
struct Line<'a> {
    path: &'a Path,
    number: usize,
    text: &'a str,
}

impl Line<'_> {
    /// The trimmed text of a column ("" when the line is shorter).
    fn field(&self, c: &Col) -> &str {
        let len = self.text.len();
        if c.start > len {
            return "";
        }
        self.text[c.start - 1..c.end.min(len)].trim()
    }

    fn error(&self, c: &Col, source: Option<std::num::ParseFloatError>) -> EopTableError {
        EopTableError::Field {
            path: self.path.to_path_buf(),
            line: self.number,
            field: c.name,
            bytes: c.bytes,
            value: self.field(c).to_string(),
            source,
        }
    }

    /// A number, or `None` when the field is blank.
    fn number(&self, c: &Col) -> Result<Option<f64>, EopTableError> {
        let s = self.field(c);
        if s.is_empty() {
            return Ok(None);
        }
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            Ok(_) => Err(self.error(c, None)),
            Err(e) => Err(self.error(c, Some(e))),
        }
    }

    fn required(&self, c: &Col) -> Result<f64, EopTableError> {
        self.number(c)?.ok_or_else(|| self.error(c, None))
    }

    fn flag(&self, c: &Col) -> Result<EopFlag, EopTableError> {
        match self.field(c) {
            "I" => Ok(EopFlag::Iers),
            "P" => Ok(EopFlag::Predicted),
            _ => Err(self.error(c, None)),
        }
    }
}

impl EopTable {
    /// Reads and parses a `finals2000A` file.
    pub fn load(path: &Path) -> Result<Self, EopTableError> {
        let bytes = std::fs::read(path).map_err(|source| EopTableError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_bytes(&bytes, path)
    }

    /// Parses the contents of a `finals2000A` file; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, EopTableError> {
        Self::parse_bytes(text.as_bytes(), path)
    }

    fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Self, EopTableError> {
        let mut rows: Vec<EopRow> = Vec::new();
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let number = i + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if !raw.is_ascii() {
                return Err(EopTableError::NotText {
                    path: path.to_path_buf(),
                    line: number,
                });
            }
            let text = std::str::from_utf8(raw).map_err(|_| EopTableError::NotText {
                path: path.to_path_buf(),
                line: number,
            })?;
            if text.trim().is_empty() {
                continue;
            }
            let line = Line { path, number, text };
            let Some(row) = parse_row(&line)? else {
                continue;
            };
            if let Some(prev) = rows.last() {
                if row.mjd_utc <= prev.mjd_utc {
                    return Err(EopTableError::NotIncreasing {
                        path: path.to_path_buf(),
                        line: number,
                        mjd: row.mjd_utc,
                        previous_mjd: prev.mjd_utc,
                    });
                }
            }
            rows.push(row);
        }
        if rows.len() < 2 {
            return Err(EopTableError::TooFewRows {
                path: path.to_path_buf(),
                rows: rows.len(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            rows,
            eopc04: None,
        })
    }

    /// The file this table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The EOP C04 file whose values replaced the Bulletin B ones, if any.
    pub fn eopc04_path(&self) -> Option<&Path> {
        self.eopc04.as_deref()
    }

    /// Replaces the Bulletin B values (UT1 − UTC, polar motion) of the rows
    /// from the first to the last that have them by those of the IERS EOP C04
    /// file at `path` (`eopc04.1962-now`: `#` comments, then fixed columns,
    /// MJD in bytes 17–26, x and y in 27–50, UT1 − UTC in 51–62), as astropy's
    /// `IERS_Auto` does. Returns the number of rows replaced.
    pub fn substitute_eopc04(&mut self, path: &Path) -> Result<usize, EopTableError> {
        let bytes = std::fs::read(path).map_err(|source| EopTableError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let c04 = parse_eopc04(&bytes, path)?;
        let b_rows: Vec<f64> = self
            .rows
            .iter()
            .filter(|r| r.ut1_flag == EopFlag::BulletinB)
            .map(|r| r.mjd_utc)
            .collect();
        let (Some(&first), Some(&last)) = (b_rows.first(), b_rows.last()) else {
            self.eopc04 = Some(path.to_path_buf());
            return Ok(0);
        };
        let mut n = 0;
        for row in self
            .rows
            .iter_mut()
            .filter(|r| r.mjd_utc >= first && r.mjd_utc <= last)
        {
            let k = c04.partition_point(|c| c.0 < row.mjd_utc);
            if let Some(&(mjd, x, y, dut1)) = c04.get(k) {
                if mjd == row.mjd_utc {
                    row.xp_arcsec = x;
                    row.yp_arcsec = y;
                    row.dut1_s = dut1;
                    row.ut1_flag = EopFlag::BulletinB;
                    row.pm_flag = EopFlag::BulletinB;
                    n += 1;
                }
            }
        }
        self.eopc04 = Some(path.to_path_buf());
        Ok(n)
    }

    /// The usable rows, in increasing MJD.
    pub fn rows(&self) -> &[EopRow] {
        &self.rows
    }

    /// The MJD range covered.
    pub fn span(&self) -> EopSpan {
        EopSpan {
            first_mjd: self.rows.first().map_or(f64::NAN, |r| r.mjd_utc),
            last_mjd: self.rows.last().map_or(f64::NAN, |r| r.mjd_utc),
        }
    }

    /// MJD of the first row whose UT1 − UTC or polar motion is a prediction.
    pub fn first_predicted_mjd(&self) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.ut1_flag == EopFlag::Predicted || r.pm_flag == EopFlag::Predicted)
            .map(|r| r.mjd_utc)
    }

    /// EOP at a UTC Modified Julian Date.
    pub fn at(&self, mjd_utc: f64) -> Result<Eop, EopLookupError> {
        self.at_jd(mjd_utc + MJD_OFFSET)
    }

    /// EOP at a UTC Julian Date (two parts summed; ~40 µs resolution, ample
    /// for values that change by < 3 ms per day).
    pub fn at_jd(&self, jd_utc: f64) -> Result<Eop, EopLookupError> {
        self.lookup(jd_utc).map(|(eop, _)| eop)
    }

    /// The lookup proper: as astropy's `IERS._interpolate`, MJD split into
    /// whole day and fraction, linear interpolation between the bracketing
    /// rows, UT1 − UTC differences corrected by whole seconds (leap seconds).
    fn lookup(&self, jd_utc: f64) -> Result<(Eop, bool), EopLookupError> {
        if !jd_utc.is_finite() {
            return Err(EopLookupError::InvalidTime { jd_utc });
        }
        let mjd = (jd_utc - MJD_OFFSET).floor();
        let frac = jd_utc - (MJD_OFFSET + mjd);
        let span = self.span();
        if (mjd - span.first_mjd) + frac < 0.0 || (mjd - span.last_mjd) + frac > 0.0 {
            return Err(EopLookupError::OutOfRange {
                mjd_utc: mjd + frac,
                span,
                path: self.path.clone(),
            });
        }
        // first row with MJD > mjd (searchsorted side="right"), clipped
        let i = self.rows.partition_point(|r| r.mjd_utc <= mjd);
        let i1 = i.clamp(1, self.rows.len() - 1);
        let (r0, r1) = (&self.rows[i1 - 1], &self.rows[i1]);
        let w = (mjd - r0.mjd_utc + frac) / (r1.mjd_utc - r0.mjd_utc);
        let mut d_ut1 = r1.dut1_s - r0.dut1_s;
        d_ut1 -= d_ut1.round();
        let eop = Eop {
            dut1_s: r0.dut1_s + w * d_ut1,
            xp_rad: (r0.xp_arcsec + w * (r1.xp_arcsec - r0.xp_arcsec)) * ARCSEC,
            yp_rad: (r0.yp_arcsec + w * (r1.yp_arcsec - r0.yp_arcsec)) * ARCSEC,
        };
        let predicted = [r0, r1]
            .iter()
            .any(|r| r.ut1_flag == EopFlag::Predicted || r.pm_flag == EopFlag::Predicted);
        Ok((eop, predicted))
    }
}

/// One line → a row, `None` for a row astropy skips (no Bulletin A UT1 − UTC
/// or no polar-motion flag).
fn parse_row(line: &Line<'_>) -> Result<Option<EopRow>, EopTableError> {
    let mjd_utc = line.required(&MJD)?;
    let Some(ut1_a) = line.number(&UT1_A)? else {
        return Ok(None);
    };
    if line.field(&PM_FLAG_A).is_empty() {
        return Ok(None);
    }
    let pm_flag_a = line.flag(&PM_FLAG_A)?;
    let ut1_flag_a = line.flag(&UT1_FLAG_A)?;
    let (x_b, y_b, ut1_b) = (
        line.number(&PM_X_B)?,
        line.number(&PM_Y_B)?,
        line.number(&UT1_B)?,
    );
    let (dut1_s, ut1_flag) = match ut1_b {
        Some(v) => (v, EopFlag::BulletinB),
        None => (ut1_a, ut1_flag_a),
    };
    let (xp_arcsec, yp_arcsec, pm_flag) = match (x_b, y_b) {
        (Some(x), Some(y)) => (x, y, EopFlag::BulletinB),
        _ => (line.required(&PM_X_A)?, line.required(&PM_Y_A)?, pm_flag_a),
    };
    Ok(Some(EopRow {
        mjd_utc,
        xp_arcsec,
        yp_arcsec,
        dut1_s,
        pm_flag,
        ut1_flag,
    }))
}

const C04_MJD: Col = Col {
    name: "MJD",
    bytes: "17-26",
    start: 17,
    end: 26,
};
const C04_PM_X: Col = Col {
    name: "PM_x",
    bytes: "27-38",
    start: 27,
    end: 38,
};
const C04_PM_Y: Col = Col {
    name: "PM_y",
    bytes: "39-50",
    start: 39,
    end: 50,
};
const C04_UT1: Col = Col {
    name: "UT1_UTC",
    bytes: "51-62",
    start: 51,
    end: 62,
};

/// An EOP C04 file → (MJD, x″, y″, UT1 − UTC s), increasing MJD.
fn parse_eopc04(bytes: &[u8], path: &Path) -> Result<Vec<(f64, f64, f64, f64)>, EopTableError> {
    let mut out: Vec<(f64, f64, f64, f64)> = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw)
            .ok()
            .filter(|_| raw.is_ascii())
            .ok_or_else(|| EopTableError::NotText {
                path: path.to_path_buf(),
                line: number,
            })?;
        if text.trim().is_empty() || text.starts_with('#') {
            continue;
        }
        let line = Line { path, number, text };
        let row = (
            line.required(&C04_MJD)?,
            line.required(&C04_PM_X)?,
            line.required(&C04_PM_Y)?,
            line.required(&C04_UT1)?,
        );
        if let Some(prev) = out.last() {
            if row.0 <= prev.0 {
                return Err(EopTableError::NotIncreasing {
                    path: path.to_path_buf(),
                    line: number,
                    mjd: row.0,
                    previous_mjd: prev.0,
                });
            }
        }
        out.push(row);
    }
    Ok(out)
}

/// How a table was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EopOrigin {
    /// A path given explicitly (command line or configuration).
    Explicit,
    /// The environment variable [`ENV_IERS_TABLE`].
    Environment,
    /// The `astropy-iers-data` Python package.
    AstropyIersData,
    /// [`SYSTEM_IERS_TABLE`].
    System,
}

impl fmt::Display for EopOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EopOrigin::Explicit => "explicit path",
            EopOrigin::Environment => ENV_IERS_TABLE,
            EopOrigin::AstropyIersData => "astropy-iers-data",
            EopOrigin::System => "system location",
        })
    }
}

/// Where a table was (or would be) read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EopSource {
    /// How it was found.
    pub origin: EopOrigin,
    /// The file.
    pub path: PathBuf,
}

impl fmt::Display for EopSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path.display(), self.origin)
    }
}

impl EopSource {
    /// Finds and loads a table, in this order: `explicit`, `$DSA110_IERS_TABLE`,
    /// `astropy-iers-data`'s `finals2000A.all` (see [`EopSearch`]), then
    /// [`SYSTEM_IERS_TABLE`]. A path given explicitly or by the environment
    /// must load (its error is returned, never skipped); the default places
    /// are used if they exist. An [`EOPC04_FILE`] beside the table found
    /// replaces its Bulletin B values ([`EopTable::substitute_eopc04`]).
    pub fn discover(explicit: Option<&Path>) -> Result<(EopTable, EopSource), EopTableError> {
        EopSearch::from_environment(explicit).load()
    }
}

/// The places searched for a table, made explicit so that tests (and
/// `--help`) can show them without touching the process environment.
#[derive(Clone, Debug, Default)]
pub struct EopSearch {
    /// A path given on the command line or in the configuration.
    pub explicit: Option<PathBuf>,
    /// The value of [`ENV_IERS_TABLE`], if set and not empty.
    pub env: Option<PathBuf>,
    /// Candidate `astropy_iers_data/data/finals2000A.all` files, in order.
    pub astropy: Vec<PathBuf>,
    /// The system location ([`SYSTEM_IERS_TABLE`]).
    pub system: Option<PathBuf>,
}

impl EopSearch {
    /// The search of this process: `explicit`, its environment, the
    /// virtualenvs near the executable and `$VIRTUAL_ENV`, the system Python.
    pub fn from_environment(explicit: Option<&Path>) -> Self {
        let env = std::env::var_os(ENV_IERS_TABLE)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let mut venvs: Vec<PathBuf> = Vec::new();
        if let Some(v) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
            venvs.push(PathBuf::from(v));
        }
        // target/<dir>/<profile>/binary: a `target/interop-venv` above the executable
        if let Ok(exe) = std::env::current_exe() {
            for dir in exe.ancestors().skip(1) {
                venvs.push(dir.join("interop-venv"));
                venvs.push(dir.join("target").join("interop-venv"));
            }
        }
        // the workspace this was built from (developer machines and tests)
        venvs.push(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("target")
                .join("interop-venv"),
        );
        let mut astropy: Vec<PathBuf> = Vec::new();
        for venv in &venvs {
            for site in python_site_dirs(&venv.join("lib"), "site-packages") {
                push_unique(&mut astropy, astropy_table_in(&site));
            }
        }
        for prefix in ["/usr/local/lib", "/usr/lib"] {
            for site in python_site_dirs(Path::new(prefix), "dist-packages") {
                push_unique(&mut astropy, astropy_table_in(&site));
            }
        }
        push_unique(
            &mut astropy,
            astropy_table_in(Path::new("/usr/lib/python3/dist-packages")),
        );
        Self {
            explicit: explicit.map(Path::to_path_buf),
            env,
            astropy,
            system: Some(PathBuf::from(SYSTEM_IERS_TABLE)),
        }
    }

    /// Every candidate, in the order tried.
    pub fn candidates(&self) -> Vec<EopSource> {
        let mut out = Vec::new();
        let mut add = |origin, path: &PathBuf| {
            out.push(EopSource {
                origin,
                path: path.clone(),
            })
        };
        if let Some(p) = &self.explicit {
            add(EopOrigin::Explicit, p);
        }
        if let Some(p) = &self.env {
            add(EopOrigin::Environment, p);
        }
        for p in &self.astropy {
            add(EopOrigin::AstropyIersData, p);
        }
        if let Some(p) = &self.system {
            add(EopOrigin::System, p);
        }
        out
    }

    /// Loads the first table found (see [`EopSource::discover`]).
    pub fn load(&self) -> Result<(EopTable, EopSource), EopTableError> {
        let mut searched = Vec::new();
        for cand in self.candidates() {
            let required = matches!(cand.origin, EopOrigin::Explicit | EopOrigin::Environment);
            if required || cand.path.is_file() {
                let mut table = EopTable::load(&cand.path)?;
                if let Some(c04) = cand.path.parent().map(|d| d.join(EOPC04_FILE)) {
                    if c04.is_file() {
                        table.substitute_eopc04(&c04)?;
                    }
                }
                return Ok((table, cand));
            }
            searched.push(cand.path);
        }
        Err(EopTableError::NotFound { searched })
    }
}

fn push_unique(v: &mut Vec<PathBuf>, p: PathBuf) {
    if !v.contains(&p) {
        v.push(p);
    }
}

fn astropy_table_in(site_packages: &Path) -> PathBuf {
    site_packages
        .join("astropy_iers_data")
        .join("data")
        .join(ASTROPY_IERS_FILE)
}

/// `<lib>/python3*/<leaf>` directories, sorted by name.
fn python_site_dirs(lib: &Path, leaf: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(lib) else {
        return Vec::new();
    };
    let mut names: Vec<OsString> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("python3"))
        .collect();
    names.sort();
    names.into_iter().map(|n| lib.join(n).join(leaf)).collect()
}

/// What [`EopProvider::eop_for`] returned, for a warning and `/health`.
#[derive(Clone, Debug, PartialEq)]
pub enum EopStatus {
    /// Interpolated in the table (`predicted`: a bracketing row is a prediction).
    FromTable { predicted: bool },
    /// The date is outside the table: zero EOP used.
    OutsideTable { span: EopSpan },
    /// No table was available: zero EOP used.
    NoTable,
    /// Fixed values given by the operator (no table consulted).
    Fixed,
}

impl EopStatus {
    /// Whether the values are degraded (zero EOP used instead of the table's).
    pub fn is_degraded(&self) -> bool {
        matches!(self, EopStatus::OutsideTable { .. } | EopStatus::NoTable)
    }
}

/// EOP for the converter: from a table, fixed values, or none (zero).
#[derive(Clone, Debug)]
pub enum EopProvider {
    /// Interpolated in a table.
    Table {
        /// The table.
        table: EopTable,
        /// Where it was found.
        source: EopSource,
    },
    /// The same values at every instant (an operator's override).
    Fixed(Eop),
    /// No table: zero EOP, reported as [`EopStatus::NoTable`].
    None,
}

impl EopProvider {
    /// Discovers a table ([`EopSource::discover`]). No table anywhere gives
    /// `Ok(EopProvider::None)` plus the `NotFound` error to log as a warning;
    /// a table that exists but cannot be read is an error.
    pub fn discover(
        explicit: Option<&Path>,
    ) -> Result<(EopProvider, Option<EopTableError>), EopTableError> {
        match EopSource::discover(explicit) {
            Ok((table, source)) => Ok((EopProvider::Table { table, source }, None)),
            Err(e) if e.is_not_found() => Ok((EopProvider::None, Some(e))),
            Err(e) => Err(e),
        }
    }

    /// EOP at a UTC Julian Date and how it was obtained. Outside the table or
    /// without one the EOP are zero (a sub-arcsecond error) and the status
    /// says so.
    pub fn eop_for(&self, jd_utc: f64) -> (Eop, EopStatus) {
        match self {
            EopProvider::Table { table, .. } => match table.lookup(jd_utc) {
                Ok((eop, predicted)) => (eop, EopStatus::FromTable { predicted }),
                Err(_) => (
                    Eop::default(),
                    EopStatus::OutsideTable { span: table.span() },
                ),
            },
            EopProvider::Fixed(eop) => (*eop, EopStatus::Fixed),
            EopProvider::None => (Eop::default(), EopStatus::NoTable),
        }
    }

    /// Where the table came from, if there is one.
    pub fn source(&self) -> Option<&EopSource> {
        match self {
            EopProvider::Table { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    // real lines of finals2000A.all (astropy-iers-data 0.2026.11.2): a final
    // (Bulletin B) row, two Bulletin A rows, two predicted rows, an empty tail row
    const B_ROW: &str = "25 1 1 60676.00 I  0.144063 0.000013  0.305108 0.000015  I 0.0462673 0.0000128 -0.2145 0.0090  I     0.403    0.566    -0.196    0.184  0.144124  0.305086  0.0463221     0.301    -0.349  ";
    const A_ROW1: &str = "2610 1 61314.00 I  0.174596 0.000026  0.325269 0.000026  I-0.0225232 0.0000134  0.6645 0.0074  I     0.365    0.050    -0.104    0.044                                                     ";
    const A_ROW2: &str = "2610 2 61315.00 I  0.173335 0.000029  0.324566 0.000029  I-0.0230939 0.0000065  0.5353 0.0052  I     0.371    0.052    -0.102    0.045                                                     ";
    const P_ROW1: &str = "2611 1 61345.00 P  0.137214 0.002230  0.317419 0.002100  P-0.0547996 0.0009344                 P     0.235    0.128     0.239    0.160                                                     ";
    const P_ROW2: &str = "2611 2 61346.00 P  0.136014 0.002354  0.317510 0.002249  P-0.0559467 0.0010994                 P     0.239    0.128     0.247    0.160                                                     ";
    const EMPTY_ROW: &str = "271216 61755.00                                                                                                                                                                            ";

    fn table(lines: &[&str]) -> Result<EopTable, EopTableError> {
        EopTable::parse(&lines.join("\n"), Path::new("test.all"))
    }

    #[test]
    fn bulletin_b_used_where_present_else_a() {
        let t = table(&[B_ROW, A_ROW1, A_ROW2]).unwrap();
        let r = t.rows();
        assert_eq!(r[0].dut1_s, 0.0463221);
        assert_eq!((r[0].xp_arcsec, r[0].yp_arcsec), (0.144124, 0.305086));
        assert_eq!(
            (r[0].ut1_flag, r[0].pm_flag),
            (EopFlag::BulletinB, EopFlag::BulletinB)
        );
        assert_eq!(r[1].dut1_s, -0.0225232);
        assert_eq!((r[1].xp_arcsec, r[1].yp_arcsec), (0.174596, 0.325269));
        assert_eq!(
            (r[1].ut1_flag, r[1].pm_flag),
            (EopFlag::Iers, EopFlag::Iers)
        );
    }

    #[test]
    fn empty_tail_rows_skipped_and_predictions_flagged() {
        let t = table(&[A_ROW1, A_ROW2, P_ROW1, P_ROW2, EMPTY_ROW, ""]).unwrap();
        assert_eq!(t.rows().len(), 4);
        assert_eq!(t.first_predicted_mjd(), Some(61345.0));
        assert_eq!(t.span().last_mjd, 61346.0);
        let p = EopProvider::Table {
            source: EopSource {
                origin: EopOrigin::Explicit,
                path: "test.all".into(),
            },
            table: t,
        };
        assert_eq!(
            p.eop_for(61345.5 + MJD_OFFSET).1,
            EopStatus::FromTable { predicted: true }
        );
        assert_eq!(
            p.eop_for(61314.5 + MJD_OFFSET).1,
            EopStatus::FromTable { predicted: false }
        );
    }

    #[test]
    fn linear_interpolation_and_edges() {
        let t = table(&[A_ROW1, A_ROW2]).unwrap();
        let e = t.at(61314.25).unwrap();
        let want = -0.0225232 + 0.25 * (-0.0230939 + 0.0225232);
        assert!((e.dut1_s - want).abs() < 1e-12, "{}", e.dut1_s);
        let want_x = (0.174596 + 0.25 * (0.173335 - 0.174596)) * ARCSEC;
        assert!((e.xp_rad - want_x).abs() < 1e-18);
        assert_eq!(t.at(61314.0).unwrap().dut1_s, -0.0225232);
        assert!((t.at(61315.0).unwrap().dut1_s + 0.0230939).abs() < 1e-15);
        assert!(matches!(
            t.at(61315.01),
            Err(EopLookupError::OutOfRange { .. })
        ));
        assert!(matches!(
            t.at(61313.99),
            Err(EopLookupError::OutOfRange { .. })
        ));
        assert!(matches!(
            t.at_jd(f64::NAN),
            Err(EopLookupError::InvalidTime { .. })
        ));
    }

    #[test]
    fn bad_fields_name_line_and_field() {
        let bad = A_ROW2.replacen("-0.0230939", "-0.02x0939", 1);
        let e = table(&[A_ROW1, &bad]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("test.all line 2") && msg.contains("UT1_UTC_A"),
            "{msg}"
        );
        let bad = A_ROW2.replacen(" 0.173335", " 0.17a335", 1);
        let msg = table(&[A_ROW1, &bad]).unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("PM_x_A"), "{msg}");
        let bad = A_ROW2.replacen("I-0.0230939", "X-0.0230939", 1);
        let msg = table(&[A_ROW1, &bad]).unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("UT1Flag_A"), "{msg}");
        let msg = table(&[A_ROW2, A_ROW1]).unwrap_err().to_string();
        assert!(
            msg.contains("line 2") && msg.contains("does not follow"),
            "{msg}"
        );
        let msg = table(&[A_ROW1, "garbage"]).unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("MJD"), "{msg}");
        assert!(matches!(
            table(&[A_ROW1]),
            Err(EopTableError::TooFewRows { rows: 1, .. })
        ));
    }

    #[test]
    fn eopc04_replaces_bulletin_b_values_only() {
        // real 2025-01-02 rows of finals2000A.all and eopc04.1962-now
        let b2 = "25 1 2 60677.00 I  0.143040 0.000014  0.304926 0.000016  I 0.0464040 0.0000135 -0.0596 0.0099  I     0.392    0.566    -0.193    0.184  0.142938  0.304989  0.0464717     0.300    -0.316  ";
        let c04 = "# header\n2025   1   2   0  60677.00    0.142956    0.305005   0.0464717    0.000300   -0.000316   -0.000858   -0.000156  -0.0000296    0.000047    0.000044   0.0001154    0.000164    0.000184    0.000075    0.000116   0.0000248\n";
        let dir = std::env::temp_dir().join(format!("dsa110-eop-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(EOPC04_FILE);
        std::fs::write(&path, c04).unwrap();
        let mut t = table(&[B_ROW, b2, A_ROW1, A_ROW2]).unwrap();
        assert_eq!(t.substitute_eopc04(&path).unwrap(), 1);
        let r = t.rows();
        assert_eq!(
            (r[1].xp_arcsec, r[1].yp_arcsec, r[1].dut1_s),
            (0.142956, 0.305005, 0.0464717)
        );
        assert_eq!(
            r[0].xp_arcsec, 0.144124,
            "a row C04 lacks keeps its Bulletin B value"
        );
        assert_eq!(
            r[2].dut1_s, -0.0225232,
            "rows after the last Bulletin B row are left alone"
        );
        assert_eq!(t.eopc04_path(), Some(path.as_path()));
        std::fs::write(&path, c04.replace("0.305005", "0.3o5005")).unwrap();
        let msg = t.substitute_eopc04(&path).unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("PM_y"), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_date(60676.0), "2025-01-01");
        assert_eq!(iso_date(51544.0), "2000-01-01");
        assert_eq!(iso_date(61346.0), "2026-11-02");
    }

    #[test]
    fn no_table_and_fixed_status() {
        let (e, s) = EopProvider::None.eop_for(2_460_676.5);
        assert_eq!((e, s), (Eop::default(), EopStatus::NoTable));
        let fixed = Eop {
            dut1_s: 0.1,
            xp_rad: 0.0,
            yp_rad: 0.0,
        };
        assert_eq!(
            EopProvider::Fixed(fixed).eop_for(2_460_676.5),
            (fixed, EopStatus::Fixed)
        );
        assert!(EopStatus::NoTable.is_degraded());
        assert!(!EopStatus::Fixed.is_degraded());
    }
}

//! Time scales: UTC ↔ TAI ↔ TT with leap seconds (from hifitime), UT1 from an
//! explicit UT1 − UTC, Julian/Modified Julian Dates, and sidereal time.

use hifitime::Epoch;

use crate::constants::{MJD_OFFSET, SECONDS_PER_DAY, UNIX_EPOCH_JD};
use crate::AstroError;

/// One instant, held as a UTC Julian Date split in two parts for precision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObsTime {
    jd_utc_day: f64,
    jd_utc_frac: f64,
    tt_minus_utc_s: f64,
}

impl ObsTime {
    /// From a UTC Julian Date.
    pub fn from_jd_utc(jd_utc: f64) -> Result<Self, AstroError> {
        if !jd_utc.is_finite() || !(2_000_000.0..3_000_000.0).contains(&jd_utc) {
            return Err(AstroError::InvalidTime {
                what: "jd_utc",
                value: jd_utc.to_string(),
            });
        }
        let day = (jd_utc - 0.5).floor() + 0.5;
        Self::from_parts(day, jd_utc - day)
    }

    fn from_parts(day: f64, frac: f64) -> Result<Self, AstroError> {
        let mjd = day - MJD_OFFSET + frac;
        let epoch = Epoch::from_mjd_utc(mjd);
        let tai_minus_utc = epoch.leap_seconds(true).unwrap_or(0.0);
        Ok(Self {
            jd_utc_day: day,
            jd_utc_frac: frac,
            tt_minus_utc_s: tai_minus_utc + 32.184,
        })
    }

    /// From Unix seconds (UTC, leap seconds not counted, as Unix does).
    pub fn from_unix_s(unix_s: f64) -> Result<Self, AstroError> {
        let days = (unix_s / SECONDS_PER_DAY).floor();
        let frac = (unix_s - days * SECONDS_PER_DAY) / SECONDS_PER_DAY;
        Self::from_parts(UNIX_EPOCH_JD + days, frac)
    }

    /// From an ISO 8601 UTC string `YYYY-MM-DDTHH:MM:SS[.fff]` (a trailing `Z` is allowed).
    pub fn from_iso(s: &str) -> Result<Self, AstroError> {
        let bad = || AstroError::InvalidTime {
            what: "ISO time",
            value: s.to_string(),
        };
        let s2 = s.trim().trim_end_matches('Z');
        let (date, time) = s2.split_once('T').ok_or_else(bad)?;
        let mut d = date.split('-');
        let (y, mo, da) = (d.next(), d.next(), d.next());
        let y: i64 = y.and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let mo: i64 = mo.and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let da: i64 = da.and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let mut t = time.split(':');
        let (h, mi, se) = (t.next(), t.next(), t.next());
        let h: i64 = h.and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let mi: i64 = mi.and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let se: f64 = se.and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        if !(1..=12).contains(&mo)
            || !(1..=31).contains(&da)
            || !(0..24).contains(&h)
            || !(0..60).contains(&mi)
            || !(0.0..61.0).contains(&se)
            || d.next().is_some()
            || t.next().is_some()
        {
            return Err(bad());
        }
        let days = days_from_civil(y, mo, da);
        let unix = days as f64 * SECONDS_PER_DAY + (h * 3600 + mi * 60) as f64 + se;
        Self::from_unix_s(unix)
    }

    /// UTC Julian Date (single f64; ~20 µs resolution).
    pub fn jd_utc(&self) -> f64 {
        self.jd_utc_day + self.jd_utc_frac
    }
    /// UTC Modified Julian Date.
    pub fn mjd_utc(&self) -> f64 {
        (self.jd_utc_day - MJD_OFFSET) + self.jd_utc_frac
    }
    /// Seconds since MJD 0 in UTC, as the Measurement Set TIME column stores.
    pub fn mjd_utc_s(&self) -> f64 {
        self.mjd_utc() * SECONDS_PER_DAY
    }
    /// Unix seconds.
    pub fn unix_s(&self) -> f64 {
        ((self.jd_utc_day - UNIX_EPOCH_JD) + self.jd_utc_frac) * SECONDS_PER_DAY
    }
    /// TT as a two-part Julian Date.
    pub fn tt_jd2(&self) -> (f64, f64) {
        (
            self.jd_utc_day,
            self.jd_utc_frac + self.tt_minus_utc_s / SECONDS_PER_DAY,
        )
    }
    /// UT1 as a two-part Julian Date, given UT1 − UTC in seconds.
    pub fn ut1_jd2(&self, dut1_s: f64) -> (f64, f64) {
        (self.jd_utc_day, self.jd_utc_frac + dut1_s / SECONDS_PER_DAY)
    }
    /// TAI − UTC (leap seconds) at this instant.
    pub fn leap_seconds(&self) -> f64 {
        self.tt_minus_utc_s - 32.184
    }
    /// A later (or earlier) instant.
    pub fn plus_seconds(&self, dt_s: f64) -> Result<Self, AstroError> {
        Self::from_parts(self.jd_utc_day, self.jd_utc_frac + dt_s / SECONDS_PER_DAY)
    }
    /// ISO 8601 UTC with whole seconds, `YYYY-MM-DDTHH:MM:SS` (the correlator's style).
    pub fn to_iso_seconds(&self) -> String {
        let unix = self.unix_s().round() as i64;
        let days = unix.div_euclid(86_400);
        let sod = unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
    /// hifitime epoch (UTC), for callers that need its formatting.
    pub fn epoch(&self) -> Epoch {
        Epoch::from_mjd_utc(self.mjd_utc())
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date (year, month, day) of a day count from
/// 1970-01-01; the inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Greenwich apparent sidereal time (IAU 2006/2000A), radians in [0, 2π).
pub fn gast_rad(t: &ObsTime, dut1_s: f64) -> f64 {
    let (u1, u2) = t.ut1_jd2(dut1_s);
    let (t1, t2) = t.tt_jd2();
    erfa::time::gst06a(u1, u2, t1, t2)
}

/// Local apparent sidereal time at east longitude `lon_rad`, radians in [0, 2π).
pub fn last_rad(t: &ObsTime, dut1_s: f64, lon_rad: f64) -> f64 {
    (gast_rad(t, dut1_s) + lon_rad).rem_euclid(std::f64::consts::TAU)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_roundtrip_and_scales() -> Result<(), AstroError> {
        let t = ObsTime::from_iso("2025-10-02T00:12:00")?;
        assert_eq!(t.to_iso_seconds(), "2025-10-02T00:12:00");
        // 2025: TAI − UTC = 37 s
        assert!((t.leap_seconds() - 37.0).abs() < 1e-9);
        assert!((t.mjd_utc() - 60_950.008_333_333_33).abs() < 1e-9);
        let t2 = ObsTime::from_iso("2016-12-31T12:00:00")?;
        assert!((t2.leap_seconds() - 36.0).abs() < 1e-9);
        let t3 = ObsTime::from_jd_utc(t.jd_utc())?;
        assert!((t3.unix_s() - t.unix_s()).abs() < 1e-4);
        Ok(())
    }

    #[test]
    fn bad_iso_is_an_error() {
        for s in [
            "",
            "2025-13-01T00:00:00",
            "2025-10-02 00:00:00",
            "x",
            "2025-10-02T25:00:00",
        ] {
            assert!(ObsTime::from_iso(s).is_err(), "{s}");
        }
        assert!(ObsTime::from_jd_utc(f64::NAN).is_err());
    }
}

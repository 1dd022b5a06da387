//! Query-string parameters, parsed by hand so that a bad value gives a 422
//! naming the parameter (axum's `Query` answers 400 in plain text).

use std::collections::BTreeMap;

use dsa110_queue::GroupId;

use crate::error::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 1000;

/// The decoded query string (last value wins for a repeated name).
#[derive(Debug, Default, Clone)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Parses `a=1&b=x`; an undecodable query is a 422.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let Some(raw) = raw else {
            return Ok(Params::default());
        };
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|e| ApiError::invalid("query", format!("cannot decode query string: {e}")))?;
        Ok(Params(pairs.into_iter().collect()))
    }

    /// A non-empty string value.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// An unsigned integer in `[min, max]`, or `default` when absent.
    pub fn u32(&self, name: &str, default: u32, min: u32, max: u32) -> Result<u32, ApiError> {
        match self.str(name) {
            None => Ok(default),
            Some(s) => match s.trim().parse::<u32>() {
                Ok(v) if (min..=max).contains(&v) => Ok(v),
                _ => Err(ApiError::invalid(
                    name,
                    format!("expected an integer from {min} to {max}, got {s:?}"),
                )),
            },
        }
    }

    /// `limit` (1–1000, default 50) and `offset` (default 0).
    pub fn page(&self) -> Result<(u32, u32), ApiError> {
        Ok((
            self.u32("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?,
            self.u32("offset", 0, 0, u32::MAX)?,
        ))
    }

    /// `true`/`false`/`1`/`0`/`yes`/`no`, or `default`.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.str(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(ApiError::invalid(
                name,
                format!("expected true or false, got {other:?}"),
            )),
        }
    }

    /// A finite number in `[min, max]`.
    pub fn f64(&self, name: &str, min: f64, max: f64) -> Result<Option<f64>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(s) => match s.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v >= min && v <= max => Ok(Some(v)),
                _ => Err(ApiError::invalid(
                    name,
                    format!("expected a number from {min} to {max}, got {s:?}"),
                )),
            },
        }
    }

    /// A time as MJD: a number (MJD), `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS` (UTC).
    pub fn mjd(&self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(s) => parse_time_mjd(s).map(Some).ok_or_else(|| {
                ApiError::invalid(
                    name,
                    format!("expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or an MJD, got {s:?}"),
                )
            }),
        }
    }

    /// A value of a closed set (`FromStr`), named in the error.
    pub fn parsed<T: std::str::FromStr>(
        &self,
        name: &str,
        allowed: &str,
    ) -> Result<Option<T>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(s) => s.parse::<T>().map(Some).map_err(|_| {
                ApiError::invalid(name, format!("expected one of {allowed}, got {s:?}"))
            }),
        }
    }
}

/// MJD of the Unix epoch.
pub const MJD_UNIX_EPOCH: f64 = 40_587.0;

/// Unix seconds → MJD.
pub fn unix_to_mjd(unix_s: f64) -> f64 {
    unix_s / 86_400.0 + MJD_UNIX_EPOCH
}

/// MJD → Unix seconds.
pub fn mjd_to_unix(mjd: f64) -> f64 {
    (mjd - MJD_UNIX_EPOCH) * 86_400.0
}

/// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` (optionally ending in `Z`) or a plain MJD.
pub fn parse_time_mjd(s: &str) -> Option<f64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').unwrap_or(s);
    if let Ok(g) = GroupId::parse(s) {
        return Some(unix_to_mjd(g.unix_s()));
    }
    if s.len() == 10 {
        if let Ok(g) = GroupId::parse(&format!("{s}T00:00:00")) {
            return Some(unix_to_mjd(g.unix_s()));
        }
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1.0e6).contains(&v) => Some(v),
        _ => None,
    }
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ` (`None` when out of range).
pub fn iso(unix_s: f64) -> Option<String> {
    GroupId::from_unix_s(unix_s).ok().map(|g| format!("{g}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_dates_datetimes_or_mjd() {
        assert_eq!(parse_time_mjd("1970-01-01"), Some(40_587.0));
        assert_eq!(parse_time_mjd("1970-01-02T00:00:00Z"), Some(40_588.0));
        assert_eq!(parse_time_mjd("60950.5"), Some(60_950.5));
        assert_eq!(parse_time_mjd("2025-13-01"), None);
        assert_eq!(parse_time_mjd("nan"), None);
        assert_eq!(iso(0.0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(iso(f64::NAN), None);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let p = Params::parse(Some("limit=0&complete_only=maybe&x=%zz")).unwrap();
        let e = p.page().unwrap_err();
        assert_eq!(e.body()["parameter"], "limit");
        assert_eq!(
            p.bool("complete_only", false).unwrap_err().body()["parameter"],
            "complete_only"
        );
        assert_eq!(
            Params::parse(Some("limit=5")).unwrap().page().unwrap(),
            (5, 0)
        );
    }
}

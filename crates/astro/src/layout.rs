//! The array layout: DSA-110 stations from the station-coordinate table
//! (WGS84 latitude, longitude, height) to ITRF.

use std::path::Path;

use crate::constants::DEFAULT_STATION_HEIGHT_M;
use crate::geometry::Site;
use crate::AstroError;

/// One station of the array.
#[derive(Clone, Debug, PartialEq)]
pub struct Station {
    /// Station number, 1-based (DSA-001 → 1).
    pub number: u32,
    /// Name as in the table, e.g. `DSA-001`.
    pub name: String,
    /// Geodetic position.
    pub site: Site,
}

impl Station {
    /// Antenna index in the files (station number − 1).
    pub fn antenna_index(&self) -> usize {
        self.number as usize - 1
    }
}

/// Read `DSA110_Station_Coordinates.csv`: lines `,DSA-NNN,lat,lon,height`;
/// header and blank lines are skipped; a missing height becomes 1182.6 m.
/// Stations are returned sorted by number.
pub fn read_station_csv(path: &Path) -> Result<Vec<Station>, AstroError> {
    let text = std::fs::read_to_string(path).map_err(|source| AstroError::StationIo {
        path: path.to_path_buf(),
        source,
    })?;
    parse_station_csv(&text, path)
}

/// Parse the station table's text (see [`read_station_csv`]).
pub fn parse_station_csv(text: &str, path: &Path) -> Result<Vec<Station>, AstroError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        // station rows are `DSA-` followed by digits; titles such as
        // "DSA-110 Station Coordinates" are not
        let Some(name) = cols.get(1).copied().filter(|c| {
            c.strip_prefix("DSA-")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }) else {
            continue;
        };
        let err = |reason: String| AstroError::StationParse {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let number: u32 = name[4..]
            .parse()
            .map_err(|_| err(format!("bad station name {name:?}")))?;
        let num = |k: usize, what: &str| -> Result<f64, AstroError> {
            cols.get(k)
                .and_then(|c| c.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| err(format!("bad {what} {:?}", cols.get(k))))
        };
        let lat = num(2, "latitude")?;
        let lon = num(3, "longitude")?;
        let h = match cols.get(4) {
            Some(c) if !c.is_empty() => num(4, "height")?,
            _ => DEFAULT_STATION_HEIGHT_M,
        };
        if number == 0 || out.iter().any(|s: &Station| s.number == number) {
            return Err(err(format!("duplicate or zero station number {number}")));
        }
        out.push(Station {
            number,
            name: name.to_string(),
            site: Site::from_deg(lat, lon, h),
        });
    }
    out.sort_by_key(|s| s.number);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_defaults_height() -> Result<(), AstroError> {
        let text = ",,,\n,Station Number,Latitude,Longitude,Elevation (meters)\n,DSA-002,37.2,-118.2,1180\n,DSA-001,37.1,-118.1,\n";
        let s = parse_station_csv(text, Path::new("x.csv"))?;
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "DSA-001");
        assert_eq!(s[0].site.height_m, DEFAULT_STATION_HEIGHT_M);
        assert_eq!(s[1].antenna_index(), 1);
        Ok(())
    }

    #[test]
    fn reads_the_real_station_table() -> Result<(), AstroError> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/stations/DSA110_Station_Coordinates.csv");
        let s = read_station_csv(&p)?;
        assert_eq!(s.len(), 117);
        assert_eq!(s[0].name, "DSA-001");
        assert_eq!(s[116].name, "DSA-117");
        assert_eq!(s[116].site.height_m, DEFAULT_STATION_HEIGHT_M);
        Ok(())
    }

    #[test]
    fn bad_rows_name_the_line() {
        let e = parse_station_csv(",DSA-001,abc,1,2\n", Path::new("x.csv"));
        assert!(matches!(e, Err(AstroError::StationParse { line: 1, .. })));
    }
}

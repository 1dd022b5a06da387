//! The simulated array: which stations are active, the correlator input order,
//! baselines, antenna positions and the constant meridian UVWs.

use std::path::Path;

use dsa110_astro::constants::{DSA110_ALT_M, DSA110_LAT_DEG, DSA110_LON_DEG};
use dsa110_astro::layout::{parse_station_csv, Station};
use dsa110_astro::{itrf_to_local, uvw_basis_meridian, Site};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::NANTS_TELESCOPE;
use crate::{seed_for, SimError};

/// First outrigger station number (103…117 are outriggers).
const FIRST_OUTRIGGER: u32 = 103;
/// The pair of outriggers with the longest baseline (≈ 2.7 km): always active when
/// at least two outriggers are.
const LONGEST_PAIR: [u32; 2] = [117, 108];

/// The array as the simulated correlator sees it.
#[derive(Clone, Debug)]
pub struct ArrayModel {
    /// Telescope location (the nominal DSA-110 site).
    pub site: Site,
    /// Telescope ITRF position (m).
    pub telescope_itrf_m: [f64; 3],
    /// ITRF offsets from the telescope (m), all 117 stations, index = antenna number.
    pub antenna_positions_m: Vec<[f64; 3]>,
    /// The same offsets in the local equatorial frame (m).
    pub antenna_local_m: Vec<[f64; 3]>,
    /// Active antennas (antenna numbers 0…116) in correlator input order.
    pub input_order: Vec<usize>,
    /// Per baseline (file order) the first antenna number.
    pub ant1: Vec<usize>,
    /// Per baseline the second antenna number.
    pub ant2: Vec<usize>,
    /// Per baseline the input positions (i ≤ j) of ant1 and ant2.
    pub inputs: Vec<(usize, usize)>,
    /// Meridian UVW per baseline (m), f64.
    pub uvw_m: Vec<[f64; 3]>,
}

impl ArrayModel {
    /// Number of baselines, autos included.
    pub fn nbls(&self) -> usize {
        self.ant1.len()
    }
}

/// Number of outriggers among `nants` active antennas (the real array has 15 of 110).
fn n_outriggers(nants: usize) -> usize {
    let n = match nants {
        0..=2 => 0,
        3..=15 => 2,
        _ => (nants / 8).clamp(2, 15),
    };
    // there are only 102 core stations
    n.max(nants.saturating_sub(FIRST_OUTRIGGER as usize - 1))
}

/// Build the array: stations from `stations_csv`, `nants` active antennas chosen and
/// ordered deterministically from `seed`, baselines i ≤ j in input order (autos
/// included), UVWs for HA = 0 at `dec_rad`.
pub fn build_array(
    stations_csv: &Path,
    nants: usize,
    seed: u64,
    dec_rad: f64,
) -> Result<ArrayModel, SimError> {
    let stations = read_stations(stations_csv)?;
    let bad = |reason: String| SimError::Stations {
        path: stations_csv.to_path_buf(),
        source: dsa110_astro::AstroError::Shape(reason),
    };
    if stations.len() != NANTS_TELESCOPE
        || stations
            .iter()
            .enumerate()
            .any(|(i, s)| s.antenna_index() != i)
    {
        return Err(bad(format!(
            "expected stations DSA-001…DSA-117, found {}",
            stations.len()
        )));
    }
    let site = Site::from_deg(DSA110_LAT_DEG, DSA110_LON_DEG, DSA110_ALT_M);
    let tel = site.itrf_m()?;
    let mut antenna_positions_m = Vec::with_capacity(NANTS_TELESCOPE);
    for s in &stations {
        let x = s.site.itrf_m()?;
        antenna_positions_m.push([x[0] - tel[0], x[1] - tel[1], x[2] - tel[2]]);
    }
    let antenna_local_m = antenna_positions_m
        .iter()
        .map(|p| itrf_to_local(*p, site.lon_rad))
        .collect::<Vec<_>>();

    let input_order = choose_antennas(nants, seed);

    let basis = uvw_basis_meridian(dec_rad);
    let n = input_order.len();
    let nbls = n * (n + 1) / 2;
    let (mut ant1, mut ant2, mut inputs, mut uvw_m) = (
        Vec::with_capacity(nbls),
        Vec::with_capacity(nbls),
        Vec::with_capacity(nbls),
        Vec::with_capacity(nbls),
    );
    for i in 0..n {
        for j in i..n {
            let (a1, a2) = (input_order[i], input_order[j]);
            let (p1, p2) = (antenna_local_m[a1], antenna_local_m[a2]);
            let b = [p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]];
            ant1.push(a1);
            ant2.push(a2);
            inputs.push((i, j));
            uvw_m.push(basis.project(b));
        }
    }
    Ok(ArrayModel {
        site,
        telescope_itrf_m: tel,
        antenna_positions_m,
        antenna_local_m,
        input_order,
        ant1,
        ant2,
        inputs,
        uvw_m,
    })
}

/// Read the station table, keeping only rows whose second column is `DSA-<digits>`.
///
/// `dsa110_astro::read_station_csv` rejects the real table, whose title row
/// `,DSA-110 Station Coordinates,,,` also starts with `DSA-`; this pre-filter works
/// around that until the astro crate skips such rows itself.
pub fn read_stations(path: &Path) -> Result<Vec<Station>, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let kept: String = text
        .lines()
        .filter(|line| {
            line.split(',').nth(1).is_some_and(|c| {
                c.trim()
                    .strip_prefix("DSA-")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .flat_map(|l| [l, "\n"])
        .collect();
    parse_station_csv(&kept, path).map_err(|source| SimError::Stations {
        path: path.to_path_buf(),
        source,
    })
}

/// Active antenna numbers (0-based) in a seeded correlator input order. Outriggers:
/// the longest pair (DSA-108, DSA-117) plus a seeded choice of the others; core
/// stations: a seeded choice of DSA-001…DSA-102.
fn choose_antennas(nants: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed_for(seed, &[0xA7]));
    let n_out = n_outriggers(nants);
    let mut others: Vec<u32> = (FIRST_OUTRIGGER..=NANTS_TELESCOPE as u32)
        .filter(|s| !LONGEST_PAIR.contains(s))
        .collect();
    others.shuffle(&mut rng);
    let mut chosen: Vec<u32> = LONGEST_PAIR
        .iter()
        .copied()
        .chain(others)
        .take(n_out)
        .collect();
    let mut core: Vec<u32> = (1..FIRST_OUTRIGGER).collect();
    core.shuffle(&mut rng);
    chosen.extend(core.into_iter().take(nants - n_out));
    chosen.shuffle(&mut rng);
    if chosen.len() > 1 && chosen.windows(2).all(|w| w[0] < w[1]) {
        chosen.swap(0, 1);
    }
    chosen.into_iter().map(|s| s as usize - 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn antenna_choice_is_deterministic_unsorted_and_has_outriggers() {
        for nants in [1, 2, 10, 32, 96, 117] {
            let a = choose_antennas(nants, 7);
            assert_eq!(a, choose_antennas(nants, 7));
            assert_eq!(a.len(), nants);
            let mut s = a.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), nants, "duplicates");
            assert!(s.iter().all(|&x| x < 117));
            if nants >= 3 {
                assert!(a.contains(&107) && a.contains(&116), "{nants}");
                assert_ne!(a, s, "sorted");
            }
        }
        assert_ne!(choose_antennas(32, 1), choose_antennas(32, 2));
    }
}

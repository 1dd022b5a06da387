//! Physical and telescope constants.

/// Speed of light (m/s).
pub const C_M_S: f64 = 299_792_458.0;
/// Seconds per day.
pub const SECONDS_PER_DAY: f64 = 86_400.0;
/// JD of MJD 0.
pub const MJD_OFFSET: f64 = 2_400_000.5;
/// JD of the Unix epoch.
pub const UNIX_EPOCH_JD: f64 = 2_440_587.5;
/// JD of J2000.0 (TT).
pub const J2000_JD: f64 = 2_451_545.0;
/// Arcseconds to radians.
pub const ARCSEC: f64 = std::f64::consts::PI / (180.0 * 3600.0);

/// DSA-110 dish diameter (m).
pub const DISH_DIAMETER_M: f64 = 4.65;
/// Nominal DSA-110 site (the telescope location written by the correlator).
pub const DSA110_LAT_DEG: f64 = 37.233_386_982;
/// Nominal DSA-110 longitude (deg, east positive).
pub const DSA110_LON_DEG: f64 = -118.283_405_115;
/// Nominal DSA-110 altitude (m).
pub const DSA110_ALT_M: f64 = 1_188.052_098_18;
/// Height to use for stations with none in the table (DSA-117).
pub const DEFAULT_STATION_HEIGHT_M: f64 = 1182.6;

/// Channel width of the correlator output (Hz).
pub const CHANNEL_WIDTH_HZ: f64 = 244_140.625;
/// Fine channel width of the F-engine (Hz): 8 fine channels make one output channel.
pub const FINE_CHANNEL_HZ: f64 = 30_517.578_125;
/// Top of the band reference (Hz).
pub const BAND_TOP_HZ: f64 = 1_530_000_000.0;
/// Integration time written in the files (s): 96 × 0.134217728 s through float32.
pub const INTEGRATION_TIME_S: f64 = 12.884_902_000_427_246;
/// Observation cadence (s): one group every 309 s.
pub const GROUP_CADENCE_S: f64 = 309.237_645_312;

/// Centre frequency (Hz) of channel `chan` (0-based, in file order) of subband `sb`
/// for the real correlator's 48-channel subbands: descending within the file,
/// sb00 the highest.
pub fn channel_freq_hz(sb: usize, chan: usize) -> f64 {
    BAND_TOP_HZ - (1024.0 + 384.0 * sb as f64 + 8.0 * chan as f64 + 3.5) * FINE_CHANNEL_HZ
}

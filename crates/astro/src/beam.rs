//! The primary beam: the Airy pattern of a uniformly illuminated circular
//! aperture, `A(θ) = [2 J1(x)/x]²` with `x = π D sin θ / λ` (FWHM ≈ 1.029 λ/D).

use std::f64::consts::PI;

use crate::constants::C_M_S;

/// Bessel function of the first kind, order 1.
///
/// Bessel's integral `J1(x) = (1/2π) ∫₀^{2π} cos(τ − x sin τ) dτ` has a smooth
/// periodic integrand, so the trapezoidal rule converges exponentially once the
/// number of nodes exceeds |x| by a margin; we use `|x| + 40` nodes (≥ 64).
pub fn bessel_j1(x: f64) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    let n = ((x.abs() as usize) + 40).max(64);
    let h = 2.0 * PI / n as f64;
    let mut sum = 0.0;
    for k in 0..n {
        let tau = k as f64 * h;
        sum += (tau - x * tau.sin()).cos();
    }
    sum / n as f64
}

/// Power response of the Airy beam at angle `theta_rad` from the pointing
/// centre, frequency `freq_hz`, dish diameter `diameter_m`; 1 on axis.
pub fn airy_power(theta_rad: f64, freq_hz: f64, diameter_m: f64) -> f64 {
    airy_power_x(PI * diameter_m * theta_rad.sin().abs() * freq_hz / C_M_S)
}

/// The Airy power pattern `[2 J1(x)/x]²` as a function of `x = π D sin θ / λ`.
pub fn airy_power_x(x: f64) -> f64 {
    if x.abs() < 1e-8 {
        return 1.0;
    }
    let a = 2.0 * bessel_j1(x) / x;
    a * a
}

/// Full width at half maximum of the Airy power beam (rad).
pub fn airy_fwhm_rad(freq_hz: f64, diameter_m: f64) -> f64 {
    1.028_993_8 * C_M_S / freq_hz / diameter_m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn j1_known_values() {
        // Abramowitz & Stegun Table 9.1
        for (x, j) in [
            (0.0, 0.0),
            (1.0, 0.440_050_585_744_933_5),
            (2.0, 0.576_724_807_756_873_4),
            (3.831_705_970_207_512, 0.0),
            (10.0, 0.043_472_746_168_861_44),
            (-1.0, -0.440_050_585_744_933_5),
        ] {
            assert!((bessel_j1(x) - j).abs() < 1e-13, "J1({x})");
        }
    }

    #[test]
    fn airy_half_power_at_half_fwhm() {
        let f = 1.4e9;
        let fwhm = airy_fwhm_rad(f, 4.65);
        assert!((fwhm.to_degrees() - 2.72).abs() < 0.02);
        let p = airy_power(fwhm / 2.0, f, 4.65);
        assert!((p - 0.5).abs() < 1e-4, "{p}");
        assert_eq!(airy_power(0.0, f, 4.65), 1.0);
    }
}

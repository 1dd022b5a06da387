"""Measure the simulated sources in a WSClean image.

usage: wsclean_sources.py TRUTH.json IMAGE.fits

For each source of the truth file: the expected apparent flux (what an image
without primary-beam correction shows) is S (f/1.4 GHz)^α · Airy(θ(t), f)
averaged over the group's integrations and channels, θ(t) being the angle from
the pointing (HA 0, pointing dec) to the source's observed place (erfa.atco13,
zero EOP, as the simulation). The measured position and flux come from the
image near the true position: the brightest pixel within ±4 pixels, then a
least-squares elliptical Gaussian (amplitude, centre, widths, angle) over
±8 pixels around it. Prints JSON: per source the offset (arcsec), the peak and
integrated flux ratios (fitted peak, and fitted volume over the restoring beam's), and
the image's restoring beam (BMAJ, arcsec).
"""
import json
import sys
import warnings

import erfa
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from scipy.optimize import least_squares
from scipy.special import j1

warnings.filterwarnings("ignore")
C, D = 299792458.0, 4.65
truth = json.load(open(sys.argv[1]))
hdu = fits.open(sys.argv[2])[0]
img = hdu.data[0, 0]
wcs = WCS(hdu.header).celestial
site = truth["site"]
lat, lon, alt = (np.radians(site["lat_deg"]), np.radians(site["lon_deg"]), site["alt_m"])
dec_p = truth["pointing_dec_rad"]
p = np.array([np.cos(dec_p), 0.0, np.sin(dec_p)])
freqs = np.concatenate([np.asarray(f) for f in truth["freqs_hz"]])
out = []
for src in truth["sources"]:
    ra, dec = np.radians(src["ra_deg"]), np.radians(src["dec_deg"])
    amps = []
    for jd in truth["times_jd_utc"]:
        t = Time(jd, format="jd", scale="utc")
        _, _, ha, d, _, _ = erfa.atco13(ra, dec, 0, 0, 0, 0, t.jd1, t.jd2, 0.0, lon, lat, alt, 0, 0, 0, 0, 0, 0)
        s = np.array([np.cos(d) * np.cos(ha), -np.cos(d) * np.sin(ha), np.sin(d)])
        theta = np.arctan2(np.linalg.norm(np.cross(s, p)), s @ p)
        x = np.pi * D * np.sin(theta) * freqs / C
        beam = (2 * j1(x) / x) ** 2
        amps.append(src["flux_jy"] * (freqs / 1.4e9) ** src["spectral_index"] * beam)
    expected = float(np.mean(amps))
    px, py = wcs.world_to_pixel(SkyCoord(src["ra_deg"], src["dec_deg"], unit="deg", frame="icrs"))
    ix, iy = int(round(float(px))), int(round(float(py)))
    box = img[iy - 4:iy + 5, ix - 4:ix + 5]
    jy, jx = np.unravel_index(np.argmax(box), box.shape)
    cy, cx = iy - 4 + jy, ix - 4 + jx
    # fit an elliptical Gaussian (amplitude, centre, widths, angle) to ±8 pixels
    h = 8
    win = img[cy - h:cy + h + 1, cx - h:cx + h + 1]
    yy, xx = np.mgrid[-h:h + 1, -h:h + 1]

    def resid(q):
        a, x0, y0, sa, sb, th = q
        c, s_ = np.cos(th), np.sin(th)
        u = (xx - x0) * c + (yy - y0) * s_
        v = -(xx - x0) * s_ + (yy - y0) * c
        return (a * np.exp(-0.5 * ((u / sa) ** 2 + (v / sb) ** 2)) - win).ravel()

    bmaj, bmin = hdu.header["BMAJ"] / abs(hdu.header["CDELT1"]), hdu.header["BMIN"] / abs(hdu.header["CDELT1"])
    fwhm = np.sqrt(8 * np.log(2))
    fit = least_squares(resid, [img[cy, cx], 0.0, 0.0, bmin / fwhm, bmaj / fwhm, np.radians(90 - hdu.header["BPA"])])
    a, x0, y0, sa, sb = fit.x[:5]
    peak = float(a)
    # integrated flux: the fitted Gaussian's volume over the restoring beam's (what a
    # point source spread over neighbouring pixels by CLEAN keeps, while its peak drops)
    integrated = float(a * abs(sa * sb) / ((bmaj / fwhm) * (bmin / fwhm)))
    got = wcs.pixel_to_world(cx + x0, cy + y0).icrs
    sep = got.separation(SkyCoord(src["ra_deg"], src["dec_deg"], unit="deg", frame="icrs")).arcsec
    out.append({"name": src["name"], "sep_arcsec": float(sep), "peak_jy": peak, "expected_jy": expected,
                "ratio": peak / expected, "int_jy": integrated, "int_ratio": integrated / expected,
                "cell_arcsec": float(abs(hdu.header["CDELT1"]) * 3600),
                "bmaj_arcsec": float(hdu.header["BMAJ"] * 3600)})
print(json.dumps(out))

"""Measure point sources in restored images, independently of dsa110-imaging.

argv: truth.json image.fits [image.fits ...]

truth.json: {"sources": [{"name", "ra_deg", "dec_deg"}, ...]}

For each image: astropy reads the FITS header's celestial WCS and restoring beam;
each source's true position is turned into a pixel position by that WCS, and an
elliptical Gaussian of the header's beam shape (fixed), with free amplitude and
centre, is fitted by astropy.modeling (Levenberg-Marquardt) to the pixels within
1.2 beam major axes of the brightest pixel near it. The fitted centre goes back
to the sky through the same WCS. The residual's robust rms (1.4826 x MAD) is
measured on <prefix>-residual.fits next to the image when it exists.

Prints one JSON object: {image path: {"beam": [bmaj", bmin", bpa deg],
"residual_rms_jy": x, "sources": [{"name", "flux_jy", "ra_deg", "dec_deg"}]}}.
"""

import json
import sys
import warnings

import numpy as np
from astropy.io import fits
from astropy.modeling import fitting, models
from astropy.wcs import WCS

warnings.simplefilter("ignore")


def robust_rms(a):
    a = a[np.isfinite(a)]
    return float(1.4826 * np.median(np.abs(a - np.median(a))))


def measure(path, truth):
    with fits.open(path) as hdul:
        hdr = hdul[0].header
        data = np.asarray(hdul[0].data, dtype=np.float64)
    img = data.reshape(data.shape[-2], data.shape[-1])
    wcs = WCS(hdr).celestial
    cdelt = abs(float(hdr["CDELT2"]))
    bmaj, bmin, bpa = float(hdr["BMAJ"]), float(hdr["BMIN"]), float(hdr["BPA"])
    sx, sy = bmaj / cdelt / 2.3548200450309493, bmin / cdelt / 2.3548200450309493
    # major axis at BPA east of north: north = +y, east = -x (CDELT1 < 0)
    sign_x = -1.0 if float(hdr["CDELT1"]) < 0 else 1.0
    theta = np.arctan2(np.cos(np.radians(bpa)), sign_x * np.sin(np.radians(bpa)))
    half = max(3, int(np.ceil(1.2 * bmaj / cdelt)))
    fitter = fitting.LevMarLSQFitter()
    out = []
    for s in truth:
        x0, y0 = wcs.world_to_pixel_values(s["ra_deg"], s["dec_deg"])
        xi, yi = int(round(float(x0))), int(round(float(y0)))
        # brightest pixel within a beam minor axis of the true position
        r = max(1, int(np.ceil(bmin / cdelt)))
        box = img[yi - r : yi + r + 1, xi - r : xi + r + 1]
        dy, dx = np.unravel_index(np.nanargmax(box), box.shape)
        xc, yc = xi - r + dx, yi - r + dy
        ys, xs = np.mgrid[yc - half : yc + half + 1, xc - half : xc + half + 1]
        z = img[yc - half : yc + half + 1, xc - half : xc + half + 1]
        # fit only the main lobe of the beam around the peak
        ell = models.Gaussian2D(1.0, xc, yc, sx, sy, theta)(xs, ys)
        sel = ell > 0.2
        g = models.Gaussian2D(
            amplitude=float(img[yc, xc]),
            x_mean=float(xc),
            y_mean=float(yc),
            x_stddev=sx,
            y_stddev=sy,
            theta=theta,
            fixed={"x_stddev": True, "y_stddev": True, "theta": True},
        )
        fit = fitter(g, xs[sel], ys[sel], z[sel])
        ra, dec = wcs.pixel_to_world_values(fit.x_mean.value, fit.y_mean.value)
        out.append(
            {
                "name": s["name"],
                "flux_jy": float(fit.amplitude.value),
                "ra_deg": float(ra),
                "dec_deg": float(dec),
            }
        )
    res = {"beam": [bmaj * 3600.0, bmin * 3600.0, bpa], "sources": out}
    rpath = path.replace("-image.fits", "-residual.fits")
    if rpath != path:
        try:
            with fits.open(rpath) as hdul:
                res["residual_rms_jy"] = robust_rms(np.asarray(hdul[0].data, dtype=np.float64))
        except FileNotFoundError:
            pass
    return res


def main():
    truth = json.load(open(sys.argv[1]))["sources"]
    print(json.dumps({p: measure(p, truth) for p in sys.argv[2:]}))


if __name__ == "__main__":
    main()

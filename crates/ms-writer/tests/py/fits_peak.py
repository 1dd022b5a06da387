"""Print the world coordinate (deg) of the brightest pixel of a FITS image.

Usage: fits_peak.py <image.fits>
Prints {"ra_deg", "dec_deg", "peak", "rms", "cdelt_deg", "crval_deg"}.
Used by the dsa110-ms-writer WSClean sign test.
"""

import json
import sys

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS


def main(path):
    with fits.open(path) as hdul:
        hdr = hdul[0].header
        img = np.squeeze(hdul[0].data)
    wcs = WCS(hdr).celestial
    iy, ix = np.unravel_index(np.nanargmax(img), img.shape)
    sky = wcs.pixel_to_world(ix, iy)
    out = {
        "ra_deg": float(sky.ra.deg),
        "dec_deg": float(sky.dec.deg),
        "peak": float(img[iy, ix]),
        "rms": float(np.nanstd(img)),
        "cdelt_deg": [float(hdr["CDELT1"]), float(hdr["CDELT2"])],
        "crval_deg": [float(hdr["CRVAL1"]), float(hdr["CRVAL2"])],
        "pixel": [int(ix), int(iy)],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])

"""CASA's restoring beam for an MS: tclean (casatasks) computes the PSF alone
(niter 0, standard gridder, MFS, Stokes I) and fits it as CASA does (the
PSF's main lobe above psfcutoff 0.35); the beam of the .psf image is printed
as JSON {"bmaj_arcsec", "bmin_arcsec", "bpa_deg"}.

argv: ms out_prefix imsize cell_arcsec weighting [robust]
Run it with the working directory where CASA may write its log.
"""

import json
import sys

from casatasks import tclean
from casatools import image

ms, out, imsize, cell, weighting = sys.argv[1:6]
robust = float(sys.argv[6]) if len(sys.argv) > 6 else 0.5
tclean(
    vis=ms,
    imagename=out,
    imsize=int(imsize),
    cell=f"{cell}arcsec",
    weighting=weighting,
    robust=robust,
    niter=0,
    gridder="standard",
    specmode="mfs",
    stokes="I",
    calcres=False,
    calcpsf=True,
    psfcutoff=0.35,
)
ia = image()
ia.open(out + ".psf")
b = ia.restoringbeam()
ia.close()
print(
    json.dumps(
        {
            "bmaj_arcsec": b["major"]["value"],
            "bmin_arcsec": b["minor"]["value"],
            "bpa_deg": b["positionangle"]["value"],
        }
    )
)

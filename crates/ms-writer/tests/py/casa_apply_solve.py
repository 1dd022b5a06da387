"""One CASA session on a small MS: applycal with the given B and G tables
(ours), then bandpass + gaincal writing CASA's own tables.

Usage: casa_apply_solve.py <ms> <our B> <our G> <casa B out> <casa G out> <refant>

CASA (casatools/casatasks 6.7.0.31 with casadata) must be installed in the
interpreter's environment with ~/.casa/config.py pointing at casadata's
measures (see RUST-ECOSYSTEM.md). applycal writes CORRECTED_DATA (and, with
calwt=True, WEIGHT/WEIGHT_SPECTRUM) into the MS; MODEL_DATA (already in the
MS) is the model bandpass/gaincal solve against. Prints JSON:
{"applycal_s", "bandpass_s", "gaincal_s", "casa_b", "casa_g"} and fails
(non-zero exit) if a task raises or a table is missing.
"""

import json
import os
import sys
import time

# CASA prints progress on stdout: keep stdout for the JSON alone
_JSON_FD = os.dup(1)
os.dup2(2, 1)

from casatasks import applycal, bandpass, gaincal  # noqa: E402


def main(ms, our_b, our_g, casa_b, casa_g, refant):
    out = {}
    t0 = time.time()
    applycal(vis=ms, gaintable=[our_b, our_g], interp=["nearest", "linear"],
             calwt=[True, True], flagbackup=False)
    out["applycal_s"] = time.time() - t0
    t0 = time.time()
    bandpass(vis=ms, caltable=casa_b, solint="inf", combine="scan", refant=refant,
             minsnr=0.0, minblperant=2)
    out["bandpass_s"] = time.time() - t0
    t0 = time.time()
    gaincal(vis=ms, caltable=casa_g, solint="int", refant=refant, calmode="ap",
            gaintable=[casa_b], minsnr=0.0, minblperant=2)
    out["gaincal_s"] = time.time() - t0
    for key, path in (("casa_b", casa_b), ("casa_g", casa_g)):
        if not os.path.isdir(path):
            raise SystemExit(f"CASA wrote no table at {path}")
        out[key] = path
    sys.stdout.flush()
    os.write(_JSON_FD, json.dumps(out).encode())


if __name__ == "__main__":
    main(*sys.argv[1:7])

"""CASA's side of `cargo xtask bench calibrate`: flag, solve and apply on a
Measurement Set whose MODEL_DATA already holds the calibrator model our solver
uses (written by `dsa110-tools calibrate MS --model`).

Usage: bench_calibrate_casa.py <ms> <B table out> <G table out> <refant>

Tasks, with CASA's defaults except where said: flagdata mode='tfcrop' (on
DATA), bandpass (solint='inf', combine='scan': one solution per channel, as
ours), gaincal (calmode='ap', solint='int': one per integration, as ours, on
top of B), applycal (B 'nearest', G 'linear', calwt=True). flagbackup=False
for flagdata and applycal (no .flagversions copy: less work for CASA). Needs
casatools/casatasks and casadata (HOME/.casa/config.py pointing at its
measures). Prints one JSON object on stdout: the seconds of each task.
"""

import json
import os
import sys
import time

# CASA prints progress on stdout: keep stdout for the JSON alone
_JSON_FD = os.dup(1)
os.dup2(2, 1)

from casatasks import applycal, bandpass, flagdata, gaincal  # noqa: E402


def main(ms, btab, gtab, refant):
    out = {}
    t0 = time.perf_counter()
    flagdata(vis=ms, mode="tfcrop", datacolumn="data", flagbackup=False)
    out["flagdata_tfcrop_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bandpass(vis=ms, caltable=btab, solint="inf", combine="scan", refant=refant)
    out["bandpass_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    gaincal(vis=ms, caltable=gtab, solint="int", calmode="ap", refant=refant,
            gaintable=[btab])
    out["gaincal_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    applycal(vis=ms, gaintable=[btab, gtab], interp=["nearest", "linear"],
             calwt=[True, True], flagbackup=False)
    out["applycal_s"] = time.perf_counter() - t0
    for path in (btab, gtab):
        if not os.path.isdir(path):
            raise SystemExit(f"CASA wrote no table at {path}")
    sys.stdout.flush()
    os.write(_JSON_FD, json.dumps(out).encode())


if __name__ == "__main__":
    main(*sys.argv[1:5])

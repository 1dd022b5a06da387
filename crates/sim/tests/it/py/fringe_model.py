"""Independent model of the fringe-stopped visibilities of a simulated group.

For every file: read antenna_positions, time_array, freq_array, ant_1/ant_2,
longitude and extra_keywords/phase_center_dec from the file itself; take the
source list (ICRS ra/dec, flux at 1.4 GHz, spectral index) from the truth file;
compute observed places with ERFA's atco13 (topocentric: aberration including the
diurnal term, UT1 = UTC and no polar motion, as the simulation's EOP are zero),
cross-checked against gst06a sidereal time, and pyuvdata-style geometry (ITRF offsets rotated by the longitude,
b = pos(ant2) − pos(ant1)):

    V = Σ S (f/1.4 GHz)^α · Airy(θ, f, 4.65 m) · exp(+2πi f/c · b·(s − p)),
    p = (cos δp, 0, sin δp)  (HA = 0 at the integration's own mid-time)

and compare with Data/visdata. Requires unit gains and no noise.

usage: fringe_model.py <truth.json> <max relative error>
"""
import json
import os
import sys

import erfa
import numpy as np
from astropy.time import Time
from scipy.special import j1

truth_path = sys.argv[1]
tol = float(sys.argv[2])
truth = json.load(open(truth_path))
out_dir = os.path.dirname(truth_path)
import h5py

C = 299792458.0
D = 4.65
srcs = truth["sources"]
worst = 0.0
worst_conj = 0.0  # the same comparison with the opposite sign convention: must fail
nchecked = 0
for entry in truth["files"]:
    f = h5py.File(os.path.join(out_dir, entry["stem"] + ".hdf5"), "r")
    h = f["Header"]
    lon = np.radians(h["longitude"][()])
    lat = np.radians(h["latitude"][()])
    alt = float(h["altitude"][()])
    dec_p = h["extra_keywords/phase_center_dec"][()]
    pos = h["antenna_positions"][:]
    c, s = np.cos(lon), np.sin(lon)
    local = np.stack([c * pos[:, 0] + s * pos[:, 1], -s * pos[:, 0] + c * pos[:, 1], pos[:, 2]], axis=1)
    freqs = h["freq_array"][0]
    times = h["time_array"][:]
    a1 = h["ant_1_array"][:]
    a2 = h["ant_2_array"][:]
    raw = f["Data/visdata"][:]
    if raw.dtype.names:  # h5py may present the {r, i} compound either way
        raw = raw["r"] + 1j * raw["i"]
    data = raw.astype(np.complex128)[:, 0]  # (nblts, nchan, npol)
    p = np.array([np.cos(dec_p), 0.0, np.sin(dec_p)])
    for t in np.unique(times):
        rows = np.nonzero(times == t)[0]
        tm = Time(t, format="jd", scale="utc")
        tt = tm.tt
        tt1, tt2 = tt.jd1, tt.jd2
        u1, u2 = tm.jd1, tm.jd2  # UT1 = UTC
        gast = erfa.gst06a(u1, u2, tt1, tt2)
        model = np.zeros((len(rows), len(freqs)), dtype=np.complex128)
        b = local[a2[rows]] - local[a1[rows]]
        total = np.zeros(len(freqs))
        for src in srcs:
            _, _, ha, di, rob, eo = erfa.atco13(np.radians(src["ra_deg"]), np.radians(src["dec_deg"]),
                                                0.0, 0.0, 0.0, 0.0, u1, u2, 0.0, lon, lat, alt,
                                                0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
            ha_gast = gast + lon - (rob - eo)
            assert abs(np.angle(np.exp(1j * (ha - ha_gast)))) < 1e-9, "HA and GAST disagree"
            sv = np.array([np.cos(di) * np.cos(ha), -np.cos(di) * np.sin(ha), np.sin(di)])
            theta = np.arctan2(np.linalg.norm(np.cross(sv, p)), sv @ p)
            x = np.pi * D * np.sin(theta) * freqs / C
            beam = np.where(x < 1e-8, 1.0, (2 * j1(x) / np.where(x < 1e-8, 1.0, x)) ** 2)
            amp = src["flux_jy"] * (freqs / 1.4e9) ** src["spectral_index"] * beam
            tau = b @ (sv - p)  # metres
            model += amp[None, :] * np.exp(2j * np.pi * tau[:, None] * freqs[None, :] / C)
            total += amp
        for pol in range(data.shape[2]):
            err = np.abs(data[rows, :, pol] - model) / total[None, :]
            worst = max(worst, err.max())
            err_conj = np.abs(data[rows, :, pol] - np.conj(model)) / total[None, :]
            worst_conj = max(worst_conj, err_conj.max())
            nchecked += err.size
    f.close()
print(f"checked {nchecked} visibilities, worst relative error {worst:.3e} "
      f"(opposite sign convention: {worst_conj:.3e})")
if not (worst < tol and worst_conj > 0.1):
    sys.exit(1)

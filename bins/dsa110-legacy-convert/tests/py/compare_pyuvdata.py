"""Compare our Measurement Set with pyuvdata's own phasing of the input files.

usage: compare_pyuvdata.py MS OUT_JSON FILE...

pyuvdata cannot phase the correlator's files directly: they are fringe-stopped to
the meridian of each integration (HA 0, pointing dec) while their header says
"drift". So, per file: read it (one at a time: pyuvdata rejects the float32
uvw_array in multi-file reads), undo the meridian fringe-stop to pyuvdata's
"unprojected" state — which pyuvdata's phase() takes to be referenced to zero
delay (old w = 0), not to the zenith — by multiplying by exp(+2πi f/c b·p_meridian),
set the unprojected (ENU) uvws from the antenna positions, and let pyuvdata
phase to the ICRS centre recorded in our MS. Then compare with the MS as
pyuvdata reads it. astropy's IERS values (which pyuvdata uses) are written to
OUT_JSON first under "eop" when MS is "-", so the caller can run the converter
with the same Earth orientation.
"""
import json
import sys
import warnings

import numpy as np
from astropy.time import Time
from astropy.utils import iers
from pyuvdata import UVData

C = 299792458.0
ms, out, files = sys.argv[1], sys.argv[2], sorted(sys.argv[3:])
warnings.filterwarnings("ignore")


def eop_for(f):
    u = UVData.from_file(f, file_type="uvh5", run_check=False, read_data=False)
    t = Time(np.mean(np.unique(u.time_array)), format="jd", scale="utc")
    tab = iers.earth_orientation_table.get()
    xp, yp = (x.to_value("arcsec") for x in tab.pm_xy(t))
    return {"dut1_s": float(tab.ut1_utc(t).to_value("s")), "xp_arcsec": float(xp), "yp_arcsec": float(yp)}


if ms == "-":
    json.dump({"eop": eop_for(files[0])}, open(out, "w"))
    sys.exit(0)

ours = UVData.from_file(ms)
ours.check()
cat = ours.phase_center_catalog[list(ours.phase_center_catalog)[0]]
ra, dec = cat["cat_lon"], cat["cat_lat"]

refs = []
for f in files:
    u = UVData.from_file(f, file_type="uvh5", run_check=False)
    u.uvw_array = u.uvw_array.astype(np.float64)
    dec0 = float(u.extra_keywords["phase_center_dec"])
    _, lon, _ = u.telescope.location_lat_lon_alt
    pos = u.telescope.antenna_positions
    index = {n: i for i, n in enumerate(u.telescope.antenna_numbers)}
    b = pos[[index[a] for a in u.ant_2_array]] - pos[[index[a] for a in u.ant_1_array]]
    c, s = np.cos(lon), np.sin(lon)
    local = np.stack([c * b[:, 0] + s * b[:, 1], -s * b[:, 0] + c * b[:, 1], b[:, 2]], axis=1)
    p = np.array([np.cos(dec0), 0.0, np.sin(dec0)])
    dw = local @ p
    u.data_array = (u.data_array * np.exp(2j * np.pi * dw[:, None, None] * u.freq_array[None, :, None] / C)).astype(np.complex64)
    u.set_uvws_from_antenna_positions()
    u.phase(lon=ra, lat=dec, epoch="J2000", phase_frame="icrs", cat_name=cat["cat_name"])
    refs.append(u)
ref = refs[0].fast_concat(refs[1:], "freq", inplace=False, run_check=False) if len(refs) > 1 else refs[0]


def keyed(uv):
    """(time, ant1, ant2) → row, frequencies ascending, pols in AIPS order."""
    order = np.lexsort((uv.ant_2_array, uv.ant_1_array, np.round(uv.time_array * 86400 * 100)))
    f = np.argsort(uv.freq_array)
    return uv.data_array[order][:, f, :], uv.uvw_array[order], uv.freq_array[f], uv.flag_array[order][:, f, :]


d_o, uvw_o, f_o, fl_o = keyed(ours)
d_r, uvw_r, f_r, fl_r = keyed(ref)
# our MS may carry flagged windows for missing subbands: compare the frequencies both have
common = np.isin(np.round(f_o), np.round(f_r))
d_o, fl_o = d_o[:, common], fl_o[:, common]
assert np.allclose(f_o[common], f_r), "frequency axes differ"
diff = np.abs(d_o - d_r)
amp = np.abs(d_r)
rel = diff / np.maximum(amp, 1e-12)
res = {
    "nblts": int(d_o.shape[0]),
    "nfreq_compared": int(d_o.shape[1]),
    "max_abs_diff": float(diff.max()),
    "max_amp": float(amp.max()),
    "rms_rel": float(np.sqrt(np.sum(diff**2) / np.sum(amp**2))),
    "median_rel": float(np.median(rel)),
    "p999_rel": float(np.percentile(rel, 99.9)),
    "max_rel": float(rel.max()),
    "max_uvw_diff_m": float(np.abs(uvw_o - uvw_r).max()),
    "max_baseline_m": float(np.linalg.norm(uvw_r, axis=1).max()),
    "flags_equal": bool(np.array_equal(fl_o, fl_r)),
    "pols": [int(x) for x in ours.polarization_array],
}
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res))

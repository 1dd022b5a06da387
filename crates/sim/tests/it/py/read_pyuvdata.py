"""Read every subband file of a simulated group with pyuvdata, one at a time, run
check(), and compare its arrays with the truth file.

pyuvdata 3.2 refuses the correlator's float32 uvw_array in its read-time check
(and its multi-file read), so each file is read with run_check=False, uvw cast to
float64, then check() is run explicitly: exactly what must be done with real files.

usage: read_pyuvdata.py <truth.json>
"""
import json
import os
import sys
import warnings

import numpy as np
from pyuvdata import UVData

truth_path = sys.argv[1]
truth = json.load(open(truth_path))
out_dir = os.path.dirname(truth_path)
errors = []
ntimes = truth["config"]["ntimes"]
bl = np.array(truth["baselines"])
uvw32 = np.array(truth["uvw_f32"], dtype=np.float32)
for entry in truth["files"]:
    path = os.path.join(out_dir, entry["stem"] + ".hdf5")
    tag = os.path.basename(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uv = UVData.from_file(path, file_type="uvh5", run_check=False)
        if uv.uvw_array.dtype != np.float32:
            errors.append(f"{tag}: uvw read as {uv.uvw_array.dtype}, expected float32 on disk")
        uv.uvw_array = uv.uvw_array.astype(np.float64)
        uv.check(check_autos=True, run_check_acceptability=True)
    f = np.array(truth["freqs_hz"][entry["subband"]])
    if not np.array_equal(uv.freq_array.ravel(), f):
        errors.append(f"{tag}: freq_array")
    if not np.array_equal(uv.time_array, np.repeat(np.array(truth["times_jd_utc"]), len(bl))):
        errors.append(f"{tag}: time_array")
    if not (np.array_equal(uv.ant_1_array, np.tile(bl[:, 0], ntimes))
            and np.array_equal(uv.ant_2_array, np.tile(bl[:, 1], ntimes))):
        errors.append(f"{tag}: ant arrays")
    if not np.array_equal(uv.uvw_array, np.tile(uvw32, (ntimes, 1)).astype(np.float64)):
        errors.append(f"{tag}: uvw_array")
    if uv.Nants_telescope != 117 or uv.Npols != 2 or list(uv.polarization_array) != [-5, -6]:
        errors.append(f"{tag}: telescope/pols")
    if uv.telescope.name != "OVRO_MMA" or uv.data_array.dtype != np.complex64:
        errors.append(f"{tag}: name/dtype {uv.telescope.name} {uv.data_array.dtype}")
    if not np.allclose(uv.integration_time, 12.884902000427246):
        errors.append(f"{tag}: integration_time")
    if not np.allclose(uv.extra_keywords["phase_center_dec"], truth["pointing_dec_rad"]):
        errors.append(f"{tag}: phase_center_dec")
if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"ok: {len(truth['files'])} files")

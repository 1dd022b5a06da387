"""Read a Measurement Set with pyuvdata, run check(), print JSON.

Usage: pyuvdata_read.py <ms>

Prints {"warnings": [...], "Nblts", "Nfreqs", "Npols", "Nspws", "time_array",
"ant_1_array", "ant_2_array", "uvw_array", "freq_array", "flex_spw_id_array",
"pols", "antenna_names", "data_re", "data_im", "flag_array", "nsample_array",
"telescope_name", "telescope_location", "x_orientation", "phase_center"}.
Used by the dsa110-ms-writer integration tests; they assert on it.
"""

import json
import sys
import warnings

import numpy as np
from pyuvdata import UVData, utils


def main(ms):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        uv = UVData.from_file(ms)
        uv.check()
    pc = uv.phase_center_catalog[uv.phase_center_id_array[0]]
    out = {
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "Nblts": uv.Nblts,
        "Nfreqs": uv.Nfreqs,
        "Npols": uv.Npols,
        "Nspws": uv.Nspws,
        "time_array": uv.time_array.tolist(),
        "integration_time": uv.integration_time.tolist(),
        "ant_1_array": uv.ant_1_array.tolist(),
        "ant_2_array": uv.ant_2_array.tolist(),
        "uvw_array": uv.uvw_array.ravel().tolist(),
        "freq_array": uv.freq_array.ravel().tolist(),
        "channel_width": np.broadcast_to(uv.channel_width, (uv.Nfreqs,)).tolist(),
        "flex_spw_id_array": uv.flex_spw_id_array.tolist(),
        "pols": [utils.polnum2str(p) for p in uv.polarization_array],
        "antenna_names": list(uv.telescope.antenna_names),
        "antenna_numbers": uv.telescope.antenna_numbers.tolist(),
        "data_re": uv.data_array.real.ravel().tolist(),
        "data_im": uv.data_array.imag.ravel().tolist(),
        "flag_array": uv.flag_array.ravel().tolist(),
        "nsample_array": uv.nsample_array.ravel().tolist(),
        "telescope_name": uv.telescope.name,
        "telescope_location": uv.telescope._location.xyz().tolist(),
        "x_orientation": uv.telescope.get_x_orientation_from_feeds(),
        "phase_center": {k: (v if isinstance(v, (int, float, str, type(None))) else str(v))
                         for k, v in pc.items()},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])

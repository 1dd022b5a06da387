"""Check every subband file of a simulated group against SPEC §2 with h5py.

usage: check_format.py <truth.json>   (exit status 0 = all good; failures listed)
"""
import json
import os
import re
import sys

import h5py
import numpy as np

truth_path = sys.argv[1]
truth = json.load(open(truth_path))
out_dir = os.path.dirname(truth_path)
errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)


def real_freq(sb, j):
    return 1530e6 - (1024 + 384 * sb + 8 * j + 3.5) * 30517.578125


cfg = truth["config"]
nant = cfg["nants"]
nchan = cfg["nchan_per_sb"]
ntimes = cfg["ntimes"]
nbls = nant * (nant + 1) // 2
nblts = nbls * ntimes
k = 48 // nchan


def fixed_ascii(ds, name):
    t = ds.id.get_type()
    check(isinstance(t, h5py.h5t.TypeStringID), f"{name}: not a string type")
    if isinstance(t, h5py.h5t.TypeStringID):
        check(not t.is_variable_str(), f"{name}: variable-length string")
        check(t.get_cset() == h5py.h5t.CSET_ASCII, f"{name}: not ASCII")


names_seen = []
for entry in truth["files"]:
    sb = entry["subband"]
    fname = entry["stem"] + ".hdf5"
    names_seen.append(fname)
    path = os.path.join(out_dir, fname)
    tag = fname
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d_sb%02d\.hdf5" % sb, fname) is not None,
          f"{tag}: bad name")
    check(abs(entry["jitter_s"]) <= cfg["jitter_s"] + 1e-9, f"{tag}: jitter too large")
    f = h5py.File(path, "r")
    h = f["Header"]
    d = f["Data"]
    expect = {
        "Nants_data": nant, "Nants_telescope": 117, "Nbls": nbls, "Nblts": nblts,
        "Ntimes": ntimes, "Nfreqs": nchan, "Npols": 2, "Nspws": 1,
    }
    for key, val in expect.items():
        ds = h[key]
        check(ds.shape == () and ds.dtype.kind == "i", f"{tag}: {key} not an int scalar")
        check(int(ds[()]) == val, f"{tag}: {key} = {ds[()]} != {val}")
    for key in ["latitude", "longitude", "altitude", "channel_width"]:
        check(h[key].shape == () and h[key].dtype == np.float64, f"{tag}: {key} not f64 scalar")
    check(abs(h["latitude"][()] - 37.233386982) < 1e-9, f"{tag}: latitude")
    check(abs(h["longitude"][()] + 118.283405115) < 1e-9, f"{tag}: longitude")
    check(abs(h["altitude"][()] - 1188.05209818) < 1e-6, f"{tag}: altitude")
    check(h["channel_width"][()] == 244140.625 * k, f"{tag}: channel_width")
    for key, val in [("telescope_name", b"OVRO_MMA"), ("instrument", b"DSA"),
                     ("phase_type", b"drift")]:
        fixed_ascii(h[key], key)
        check(h[key][()] == val, f"{tag}: {key} = {h[key][()]!r}")
    for key in ["history", "version"]:
        fixed_ascii(h[key], key)
        check(len(h[key][()]) > 0, f"{tag}: empty {key}")
    # frequencies
    fa = h["freq_array"]
    check(fa.shape == (1, nchan) and fa.dtype == np.float64, f"{tag}: freq_array {fa.shape} {fa.dtype}")
    freqs = fa[0]
    check(np.all(np.diff(freqs) < 0), f"{tag}: freqs not descending")
    expect_f = np.array([np.mean([real_freq(sb, j * k + m) for m in range(k)]) for j in range(nchan)])
    check(np.allclose(freqs, expect_f, rtol=0, atol=1e-3), f"{tag}: freqs != channel_freq_hz")
    check(np.array_equal(freqs, np.array(truth["freqs_hz"][sb])), f"{tag}: freqs != truth")
    # per-blt arrays
    for key, dt, shape in [("time_array", np.float64, (nblts,)), ("integration_time", np.float64, (nblts,)),
                           ("ant_1_array", np.int64, (nblts,)), ("ant_2_array", np.int64, (nblts,)),
                           ("uvw_array", np.float32, (nblts, 3))]:
        check(h[key].dtype == dt and h[key].shape == shape, f"{tag}: {key} {h[key].dtype} {h[key].shape}")
        check(h[key].chunks is not None and h[key].maxshape[0] is None, f"{tag}: {key} not chunked/resizable")
    check(np.all(h["integration_time"][:] == 12.884902000427246), f"{tag}: integration_time")
    t = h["time_array"][:].reshape(ntimes, nbls)
    check(np.all(t == t[:, :1]), f"{tag}: not time-major")
    check(np.all(np.diff(t[:, 0]) > 0), f"{tag}: times not increasing")
    check(np.allclose(np.diff(t[:, 0]) * 86400, 12.884902000427246, atol=1e-3), f"{tag}: cadence")
    check(np.array_equal(t[:, 0], np.array(truth["times_jd_utc"])), f"{tag}: times != truth")
    a1 = h["ant_1_array"][:].reshape(ntimes, nbls)
    a2 = h["ant_2_array"][:].reshape(ntimes, nbls)
    check(np.all(a1 == a1[:1]) and np.all(a2 == a2[:1]), f"{tag}: baseline order varies with time")
    autos = a1[0] == a2[0]
    check(autos.sum() == nant, f"{tag}: {autos.sum()} autos != {nant}")
    # input order: first antenna of each row of the upper triangle
    order = []
    for x in a1[0]:
        if not order or order[-1] != x:
            order.append(int(x))
    check(len(order) == nant and order == truth["input_order"], f"{tag}: input order")
    check(order != sorted(order), f"{tag}: antennas sorted by station")
    check(len(set(zip(a1[0], a2[0]))) == nbls, f"{tag}: duplicate baselines")
    check(max(a1.max(), a2.max()) <= 116 and min(a1.min(), a2.min()) >= 0, f"{tag}: antenna index range")
    uvw = h["uvw_array"][:].reshape(ntimes, nbls, 3)
    check(np.all(uvw == uvw[:1]), f"{tag}: uvw not constant in time")
    check(np.array_equal(uvw[0], np.array(truth["uvw_f32"], dtype=np.float32)), f"{tag}: uvw != truth")
    check(np.all(uvw[0][autos] == 0), f"{tag}: auto uvw != 0")
    blen = np.linalg.norm(uvw[0], axis=1).max()
    check(blen > 2000, f"{tag}: longest baseline {blen} m (no outriggers?)")
    # antennas
    an = h["antenna_names"]
    fixed_ascii(an, "antenna_names")
    check(an.shape == (117,), f"{tag}: antenna_names shape")
    check([x.decode() for x in an[:]] == [str(i) for i in range(1, 118)], f"{tag}: antenna_names")
    check(h["antenna_numbers"].dtype.kind == "i" and list(h["antenna_numbers"][:]) == list(range(117)),
          f"{tag}: antenna_numbers")
    check(h["antenna_positions"].shape == (117, 3) and h["antenna_positions"].dtype == np.float64,
          f"{tag}: antenna_positions")
    check(np.all(np.abs(np.linalg.norm(h["antenna_positions"][:], axis=1)) < 3000), f"{tag}: positions not offsets")
    check(h["antenna_diameters"].shape == (117,) and np.all(h["antenna_diameters"][:] == 4.65),
          f"{tag}: antenna_diameters")
    check(list(h["polarization_array"][:]) == [-5, -6] and h["polarization_array"].dtype.kind == "i",
          f"{tag}: polarization_array")
    check(list(h["spw_array"][:]) == [1], f"{tag}: spw_array")
    ek = h["extra_keywords"]
    check(ek["phase_center_dec"].dtype == np.float64 and
          abs(ek["phase_center_dec"][()] - np.radians(cfg["dec_deg"])) < 1e-15, f"{tag}: phase_center_dec")
    check(ek["ha_phase_center"][()] == 0.0, f"{tag}: ha_phase_center")
    fixed_ascii(ek["phase_center_epoch"], "phase_center_epoch")
    check(ek["phase_center_epoch"][()] == b"HADEC", f"{tag}: phase_center_epoch")
    # data
    shape = (nblts, 1, nchan, 2)
    vis = d["visdata"]
    vt = vis.id.get_type()
    check(isinstance(vt, h5py.h5t.TypeCompoundID) and vis.dtype.names == ("r", "i") or
          vis.dtype == np.complex64, f"{tag}: visdata dtype {vis.dtype}")
    if isinstance(vt, h5py.h5t.TypeCompoundID):
        check([vt.get_member_name(i) for i in range(vt.get_nmembers())] == [b"r", b"i"], f"{tag}: compound names")
        check(all(vt.get_member_type(i).get_size() == 4 and
                  isinstance(vt.get_member_type(i), h5py.h5t.TypeFloatID) for i in range(2)),
              f"{tag}: compound members not float32")
    else:
        errors.append(f"{tag}: visdata not compound")
    check(vis.shape == shape, f"{tag}: visdata shape {vis.shape}")
    check(d["flags"].shape == shape and d["flags"].dtype == np.bool_, f"{tag}: flags {d['flags'].dtype}")
    check(d["nsamples"].shape == shape and d["nsamples"].dtype == np.float32, f"{tag}: nsamples")
    for key in ["visdata", "flags", "nsamples"]:
        ds = d[key]
        check(ds.chunks == (nbls, 1, nchan, 2), f"{tag}: {key} chunks {ds.chunks}")
        check(ds.compression is None and ds.id.get_create_plist().get_nfilters() == 0,
              f"{tag}: {key} compressed")
        check(ds.maxshape == (None, 1, nchan, 2), f"{tag}: {key} maxshape {ds.maxshape}")
    v = vis[:]
    v = v["r"] + 1j * v["i"] if v.dtype.names else v
    check(np.all(np.isfinite(v)), f"{tag}: non-finite data")
    va = v.reshape(ntimes, nbls, nchan, 2)[:, autos]
    check(np.all(va.imag == 0) and np.all(va.real > 0), f"{tag}: autos not real positive")
    check(not np.any(d["flags"][:]), f"{tag}: flags set")
    check(np.all(d["nsamples"][:] == 1.0), f"{tag}: nsamples != 1")
    f.close()

gains = np.load(os.path.join(out_dir, truth["gains_npy"]))
check(gains.dtype == np.complex64 and gains.shape == (117, 2, 16 * nchan), f"gains {gains.dtype} {gains.shape}")
amp = np.abs(gains)
check(amp.min() > 0.8 and amp.max() < 1.2, f"gain amplitudes {amp.min()} {amp.max()}")

if errors:
    print("\n".join(errors[:50]))
    sys.exit(1)
print(f"ok: {len(names_seen)} files")

#!/usr/bin/env python3
"""Test-data generator for dsa110-hdf5-ingest (run at test time, nothing committed).

Usage:
  make_test_files.py make OUTDIR
      OUTDIR/corr/2025-10-05T12:00:00_sb03.hdf5     correlator-style file, h5py, per SPEC §2
      OUTDIR/corr_vlen/2025-10-05T12:00:00_sb03.hdf5 same, header strings as variable-length UTF-8
      OUTDIR/corr_f64/2025-10-05T12:00:00_sb03.hdf5  same, visdata complex128, nsamples float64,
                                                     scalar-vs-array quirks (1-element Nfreqs etc.)
      OUTDIR/pyuvdata/2025-10-05T12:00:00_sb03.hdf5 (a) read by pyuvdata and written by write_uvh5
      OUTDIR/phased/2025-10-05T12:00:00_sb03.hdf5   pyuvdata-phased copy (sidereal catalog entry)
      OUTDIR/truth.json                               phase-centre facts for the tests
  make_test_files.py break SRC OUTDIR
      One broken copy of SRC per kind, OUTDIR/<kind>/2025-10-05T12:00:00_sb03.hdf5

The correlator file: 8 stations (Nants_telescope), 6 active antennas in a non-sorted
input order, autocorrelations included, 3 integrations, 8 channels that are the
averages of 6 consecutive real channels of subband 3, descending, 2 pols [-5, -6],
float32 uvw, compound {r,i} float32 visdata, bool flags (h5py enum), float32 nsamples,
fixed-length ASCII header strings (numpy bytes), Header/extra_keywords group.
"""
import json
import os
import shutil
import sys

import h5py
import numpy as np

SB = 3
NAME = "2025-10-05T12:00:00_sb03.hdf5"
NANTS_TEL = 8
ACTIVE = [5, 2, 7, 0, 3, 1]  # correlator input order, not sorted
NTIMES = 3
NFREQS = 8
NPOLS = 2
K = 48 // NFREQS
FINE = 30517.578125
CHAN_W = 244140.625
INT_TIME = float(np.float32(96 * 0.134217728))
LAT, LON, ALT = 37.233386982, -118.283405115, 1188.05209818
DEC_RAD = np.deg2rad(54.57)
# 2025-10-05T12:00:00 UTC as JD
JD0 = 2440587.5 + (1759665600.0) / 86400.0


def real_freq(sb, j):
    return 1530e6 - (1024 + 384 * sb + 8 * j + 3.5) * FINE


def enu_to_ecef_offsets(enu, lat_deg, lon_deg):
    lat, lon = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    e, n, u = enu[:, 0], enu[:, 1], enu[:, 2]
    x = -np.sin(lon) * e - np.sin(lat) * np.cos(lon) * n + np.cos(lat) * np.cos(lon) * u
    y = np.cos(lon) * e - np.sin(lat) * np.sin(lon) * n + np.cos(lat) * np.sin(lon) * u
    z = np.cos(lat) * n + np.sin(lat) * u
    return np.stack([x, y, z], axis=1)


def build_arrays():
    rng = np.random.default_rng(110)
    enu = np.zeros((NANTS_TEL, 3))
    enu[:4, 0] = np.arange(4) * 5.75  # east-west arm
    enu[4:7, 1] = (np.arange(3) + 1) * 8.66  # north-south arm
    enu[7] = [300.0, -200.0, 1.5]  # an outrigger
    antpos = enu_to_ecef_offsets(enu, LAT, LON)

    a1, a2 = [], []
    for i in range(len(ACTIVE)):
        for j in range(i, len(ACTIVE)):
            a1.append(ACTIVE[i])
            a2.append(ACTIVE[j])
    a1 = np.array(a1, dtype=np.int64)
    a2 = np.array(a2, dtype=np.int64)
    nbls = len(a1)
    nblts = nbls * NTIMES

    # meridian UVWs: local equatorial frame X->(HA=0,Dec=0), Y->east, Z->pole
    lon = np.deg2rad(LON)
    b = antpos[a2] - antpos[a1]
    X = b[:, 0] * np.cos(lon) + b[:, 1] * np.sin(lon)
    Y = -b[:, 0] * np.sin(lon) + b[:, 1] * np.cos(lon)
    Z = b[:, 2]
    d = DEC_RAD
    uvw = np.stack([Y, -np.sin(d) * X + np.cos(d) * Z, np.cos(d) * X + np.sin(d) * Z], axis=1)
    uvw = np.tile(uvw, (NTIMES, 1)).astype(np.float32)

    times = JD0 + (np.arange(NTIMES) + 0.5) * INT_TIME / 86400.0
    time_array = np.repeat(times, nbls)
    ant1 = np.tile(a1, NTIMES)
    ant2 = np.tile(a2, NTIMES)

    freqs = np.array(
        [np.mean([real_freq(SB, m * K + q) for q in range(K)]) for m in range(NFREQS)]
    )
    shape = (nblts, 1, NFREQS, NPOLS)
    vis = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
    autos = ant1 == ant2
    vis[autos] = (np.abs(vis[autos]) + 10.0).astype(np.complex64)  # real, positive
    flags = rng.random(shape) < 0.2
    nsamples = rng.choice(np.array([0.0, 0.5, 1.0], dtype=np.float32), size=shape).astype(
        np.float32
    )
    return dict(
        antpos=antpos,
        ant1=ant1,
        ant2=ant2,
        nbls=nbls,
        nblts=nblts,
        uvw=uvw,
        time_array=time_array,
        freqs=freqs,
        vis=vis,
        flags=flags,
        nsamples=nsamples,
    )


def write_corr(path, arr, vlen_strings=False, f64=False, one_elem=False):
    def s(v):
        return v if vlen_strings else np.bytes_(v)

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        h = f.create_group("Header")
        h["latitude"] = LAT
        h["longitude"] = LON
        h["altitude"] = ALT
        h["telescope_name"] = s("OVRO_MMA")
        h["instrument"] = s("DSA")
        h["object_name"] = s("search")
        h["history"] = s("written by the test generator (correlator style)")
        h["phase_type"] = s("drift")
        h["vis_units"] = s("uncalib")
        h["Nants_data"] = np.array([len(ACTIVE)]) if one_elem else len(ACTIVE)
        h["Nants_telescope"] = NANTS_TEL
        if vlen_strings:
            h.create_dataset(
                "antenna_names",
                data=[str(i + 1) for i in range(NANTS_TEL)],
                dtype=h5py.string_dtype("utf-8"),
            )
        else:
            h["antenna_names"] = np.array([str(i + 1) for i in range(NANTS_TEL)], dtype="S")
        h["antenna_numbers"] = np.arange(NANTS_TEL, dtype=np.int64)
        h["antenna_positions"] = arr["antpos"]
        h["antenna_diameters"] = np.full(NANTS_TEL, 4.65)
        h["Nbls"] = arr["nbls"]
        h["Nblts"] = arr["nblts"]
        h["Nfreqs"] = np.array([NFREQS]) if one_elem else NFREQS
        h["Npols"] = NPOLS
        h["Nspws"] = 1
        h["Ntimes"] = NTIMES
        h["spw_array"] = np.array([1])
        h["freq_array"] = arr["freqs"].reshape(1, NFREQS)
        h["channel_width"] = np.array([K * CHAN_W]) if one_elem else K * CHAN_W
        h["polarization_array"] = np.array([-5, -6])
        h["time_array"] = arr["time_array"]
        h["integration_time"] = np.full(arr["nblts"], INT_TIME)
        h["uvw_array"] = arr["uvw"]
        h["ant_1_array"] = arr["ant1"]
        h["ant_2_array"] = arr["ant2"]
        ek = h.create_group("extra_keywords")
        ek["phase_center_dec"] = DEC_RAD
        ek["ha_phase_center"] = 0.0
        ek["phase_center_epoch"] = s("HADEC")
        d = f.create_group("Data")
        shape = arr["vis"].shape
        chunks = (arr["nbls"], 1, NFREQS, NPOLS)
        vis = arr["vis"].astype(np.complex128) if f64 else arr["vis"]
        d.create_dataset("visdata", data=vis, chunks=chunks)
        d.create_dataset("flags", data=arr["flags"], chunks=chunks)
        ns = arr["nsamples"].astype(np.float64) if f64 else arr["nsamples"]
        d.create_dataset("nsamples", data=ns, chunks=chunks)
        assert d["visdata"].shape == shape


def make(outdir):
    import warnings

    from pyuvdata import UVData

    arr = build_arrays()
    corr = os.path.join(outdir, "corr", NAME)
    write_corr(corr, arr)
    write_corr(os.path.join(outdir, "corr_vlen", NAME), arr, vlen_strings=True)
    write_corr(os.path.join(outdir, "corr_f64", NAME), arr, f64=True, one_elem=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uvd = UVData.from_file(corr, file_type="uvh5", run_check=False)
        # plain pyuvdata objects carry float64 uvw (the correlator's are float32)
        uvd.uvw_array = uvd.uvw_array.astype(np.float64)
        pyu = os.path.join(outdir, "pyuvdata", NAME)
        os.makedirs(os.path.dirname(pyu), exist_ok=True)
        uvd.write_uvh5(pyu, clobber=True, run_check=False)

        ra = float(np.deg2rad(200.0))
        dec = float(np.deg2rad(54.0))
        uvd2 = uvd.copy()
        uvd2.phase(lon=ra, lat=dec, cat_name="test_src", use_ant_pos=True)
        ph = os.path.join(outdir, "phased", NAME)
        os.makedirs(os.path.dirname(ph), exist_ok=True)
        uvd2.write_uvh5(ph, clobber=True, run_check=False)
        cat = list(uvd2.phase_center_catalog.values())[0]

    def data_ranges(path):
        out = []
        with h5py.File(path, "r") as f:
            for name in ("visdata", "flags", "nsamples"):
                dsid = f["Data"][name].id
                for i in range(dsid.get_num_chunks()):
                    info = dsid.get_chunk_info(i)
                    out.append([int(info.byte_offset), int(info.size)])
        return out

    truth = {
        "data_ranges": {"corr": data_ranges(corr), "pyuvdata": data_ranges(pyu)},
        "sb": SB,
        "dec_rad": float(DEC_RAD),
        "phased": {
            "name": cat["cat_name"],
            "ra_rad": float(cat["cat_lon"]),
            "dec_rad": float(cat["cat_lat"]),
        },
        "nbls": int(arr["nbls"]),
        "ntimes": NTIMES,
        "nfreqs": NFREQS,
    }
    with open(os.path.join(outdir, "truth.json"), "w") as fh:
        json.dump(truth, fh)


# ---------------------------------------------------------------- broken copies


def _copy(src, outdir, kind):
    dst = os.path.join(outdir, kind, NAME)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def _replace(grp, name, data, **kw):
    del grp[name]
    grp.create_dataset(name, data=data, **kw)


def brk(src, outdir):
    kinds = {}

    def k(kind):
        def deco(fn):
            kinds[kind] = fn
            return fn

        return deco

    @k("no_header")
    def _(f):
        del f["Header"]

    @k("no_data")
    def _(f):
        del f["Data"]

    @k("no_time_array")
    def _(f):
        del f["Header/time_array"]

    @k("no_freq_array")
    def _(f):
        del f["Header/freq_array"]

    @k("no_flags")
    def _(f):
        del f["Data/flags"]

    @k("no_nsamples")
    def _(f):
        del f["Data/nsamples"]

    @k("empty_time_array")
    def _(f):
        _replace(f["Header"], "time_array", np.zeros(0))

    @k("nblts_mismatch")
    def _(f):
        _replace(f["Header"], "Nblts", int(f["Header/Nblts"][()]) + 1)

    @k("ant_array_length")
    def _(f):
        a = f["Header/ant_1_array"][()]
        _replace(f["Header"], "ant_1_array", a[:-1])

    @k("visdata_shape")
    def _(f):
        v = f["Data/visdata"][()]
        _replace(f["Data"], "visdata", v[:, :, :-1, :])

    @k("flags_shape")
    def _(f):
        v = f["Data/flags"][()]
        _replace(f["Data"], "flags", v[:, :, :, :1])

    @k("visdata_dtype")
    def _(f):
        v = f["Data/visdata"][()]
        _replace(f["Data"], "visdata", v.real.astype(np.float32))

    @k("time_dtype")
    def _(f):
        n = f["Header/time_array"].shape[0]
        _replace(f["Header"], "time_array", np.full(n, b"x", dtype="S4"))

    @k("freq_wrong_subband")
    def _(f):
        fr = f["Header/freq_array"][()]
        _replace(f["Header"], "freq_array", fr + 384 * 30517.578125)

    @k("freq_ascending")
    def _(f):
        fr = f["Header/freq_array"][()]
        _replace(f["Header"], "freq_array", fr[..., ::-1].copy())

    @k("bad_pol")
    def _(f):
        _replace(f["Header"], "polarization_array", np.array([-5, 9]))

    @k("ant_out_of_range")
    def _(f):
        a = f["Header/ant_2_array"][()]
        a[-1] = 99
        _replace(f["Header"], "ant_2_array", a)

    @k("nonfinite_time")
    def _(f):
        t = f["Header/time_array"][()]
        t[4] = np.nan
        _replace(f["Header"], "time_array", t)

    @k("zero_int_time")
    def _(f):
        t = f["Header/integration_time"][()]
        t[:] = 0.0
        _replace(f["Header"], "integration_time", t)

    @k("negative_chan_width")
    def _(f):
        _replace(f["Header"], "channel_width", -244140.625)

    @k("not_rectangular")
    def _(f):
        a1 = f["Header/ant_1_array"][()]
        a2 = f["Header/ant_2_array"][()]
        n = len(a1) - 1
        a1[[n, n - 1]] = a1[[n - 1, n]]
        a2[[n, n - 1]] = a2[[n - 1, n]]
        _replace(f["Header"], "ant_1_array", a1)
        _replace(f["Header"], "ant_2_array", a2)

    @k("bad_phase_center_dec")
    def _(f):
        _replace(f["Header/extra_keywords"], "phase_center_dec", np.bytes_("north"))

    for kind, fn in kinds.items():
        dst = _copy(src, outdir, kind)
        with h5py.File(dst, "r+") as f:
            fn(f)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "break":
        brk(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)

"""Write a simulated RFI group as a Measurement Set (for AOFlagger) and as raw
arrays (for our flagger), and read an MS's FLAG column back.

  rfi_ms.py make OUTDIR NANT SEED     -> OUTDIR/rfi.ms, data.c64, rfi.f32, flags0.u8, meta.json
  rfi_ms.py flags MS OUT.u8           -> FLAG as uint8 (rows, chans, pols), C order

Data (same recipe as tests/it/flagger.rs): one 768-channel window, 24
integrations of 12.88 s, XX/YY, autocorrelations included; a 15 Jy source
with fringes times a bandpass with subband edge roll-off, complex noise of
4.6 Jy per part on cross-correlations, and RFI: 8 narrow-band channels at all
times (1.5-10 sigma), 2 one-integration broadband bursts (1-10 sigma) and
0.1 % spikes (10-100 sigma, log-uniform), random phase per sample.
"""
import json
import os
import sys

import numpy as np


def make(outdir, nant, seed):
    from casacore.tables import default_ms, makearrcoldesc, maketabdesc, table

    rng = np.random.default_rng(seed)
    nt, nc, npol, sigma, flux = 24, 768, 2, 4.6, 15.0
    a1, a2 = np.triu_indices(nant)
    nbls = a1.size
    nrows = nt * nbls
    em_ch = rng.integers(0, nc, 8)
    em_amp = rng.uniform(1.5, 10.0, 8) * sigma
    bu_t = rng.integers(0, nt, 2)
    bu_amp = rng.uniform(1.0, 10.0, 2) * sigma
    edge = [(rng.uniform(0.02, 0.08), [4, 6, 8][rng.integers(0, 3)]) for _ in range(16)]
    c = np.arange(nc)
    x = (c % 48) / 47.0
    band = (1.0 + 0.08 * np.sin(c / 90.0)) * np.array(
        [1.0 - edge[k // 48][0] * (2 * x[k] - 1) ** edge[k // 48][1] for k in range(nc)]
    )
    data = np.zeros((nrows, nc, npol), np.complex64)
    rfi = np.zeros((nrows, nc, npol), np.float32)
    fr_t = rng.uniform(-0.3, 0.3, nbls)
    fr_c = rng.uniform(-0.5, 0.5, nbls)
    t_idx = np.arange(nt)
    for b in range(nbls):
        auto = a1[b] == a2[b]
        ph = fr_t[b] * t_idx[:, None] + fr_c[b] * c[None, :]
        if auto:
            v = np.broadcast_to((band**2 * 11600.0)[None, :], (nt, nc)).astype(np.complex128)
        else:
            v = band[None, :] ** 2 * flux * np.exp(1j * ph)
        for p in range(npol):
            vv = v.copy()
            if not auto:
                vv = vv + sigma * (rng.standard_normal((nt, nc)) + 1j * rng.standard_normal((nt, nc)))
            a = np.zeros((nt, nc))
            for ch, amp in zip(em_ch, em_amp):
                a[:, ch] += amp
            for tt, amp in zip(bu_t, bu_amp):
                a[tt, :] += amp
            spikes = rng.uniform(size=(nt, nc)) < 1e-3
            a[spikes] += sigma * 10 ** rng.uniform(1.0, 2.0, spikes.sum())
            vv = vv + a * np.exp(1j * rng.uniform(0, 2 * np.pi, (nt, nc)))
            rows = t_idx * nbls + b
            data[rows, :, p] = vv
            rfi[rows, :, p] = a
    os.makedirs(outdir, exist_ok=True)
    data.tofile(os.path.join(outdir, "data.c64"))
    rfi.tofile(os.path.join(outdir, "rfi.f32"))
    ant1 = np.tile(a1, nt).astype(np.int32)
    ant2 = np.tile(a2, nt).astype(np.int32)
    json.dump({"nrows": nrows, "nchan": nc, "npol": npol, "ntimes": nt, "nbls": nbls,
               "ant1": a1.tolist(), "ant2": a2.tolist(), "sigma": sigma,
               "emitter_chans": em_ch.tolist(), "emitter_amp_sigma": (em_amp / sigma).tolist(),
               "burst_times": bu_t.tolist(), "burst_amp_sigma": (bu_amp / sigma).tolist()},
              open(os.path.join(outdir, "meta.json"), "w"))

    ms = os.path.join(outdir, "rfi.ms")
    desc = maketabdesc([makearrcoldesc("DATA", 0j, valuetype="complex", ndim=2, shape=[nc, npol])])
    t = default_ms(ms, desc)
    t.addrows(nrows)
    times = 5.0e9 + (t_idx + 0.5) * 12.884902
    t.putcol("TIME", np.repeat(times, nbls))
    t.putcol("TIME_CENTROID", np.repeat(times, nbls))
    t.putcol("INTERVAL", np.full(nrows, 12.884902))
    t.putcol("EXPOSURE", np.full(nrows, 12.884902))
    t.putcol("ANTENNA1", ant1)
    t.putcol("ANTENNA2", ant2)
    pos = rng.uniform(-400, 400, (nant, 3))
    pos[:, 2] = 0
    t.putcol("UVW", np.tile(pos[a2] - pos[a1], (nt, 1)))
    t.putcol("DATA", data)
    t.putcol("FLAG", np.zeros((nrows, nc, npol), bool))
    t.putcol("WEIGHT", np.ones((nrows, npol), np.float32))
    t.putcol("SIGMA", np.ones((nrows, npol), np.float32))
    t.close()
    tel = np.array([-2409261.7339, -4477916.9996, 3839351.1347])
    with table(ms + "/ANTENNA", readonly=False, ack=False) as at:
        at.addrows(nant)
        at.putcol("NAME", [f"DSA-{k + 1:03d}" for k in range(nant)])
        at.putcol("STATION", [f"DSA-{k + 1:03d}" for k in range(nant)])
        at.putcol("POSITION", tel + pos)
        at.putcol("DISH_DIAMETER", np.full(nant, 4.65))
        at.putcol("MOUNT", ["ALT-AZ"] * nant)
        at.putcol("TYPE", ["GROUND-BASED"] * nant)
    freqs = 1.3e9 + c * 244140.625
    with table(ms + "/SPECTRAL_WINDOW", readonly=False, ack=False) as st:
        st.addrows(1)
        st.putcell("NUM_CHAN", 0, nc)
        st.putcell("CHAN_FREQ", 0, freqs)
        st.putcell("CHAN_WIDTH", 0, np.full(nc, 244140.625))
        st.putcell("EFFECTIVE_BW", 0, np.full(nc, 244140.625))
        st.putcell("RESOLUTION", 0, np.full(nc, 244140.625))
        st.putcell("REF_FREQUENCY", 0, freqs[0])
        st.putcell("TOTAL_BANDWIDTH", 0, nc * 244140.625)
        st.putcell("NAME", 0, "band")
    with table(ms + "/POLARIZATION", readonly=False, ack=False) as pt:
        pt.addrows(1)
        pt.putcell("NUM_CORR", 0, 2)
        pt.putcell("CORR_TYPE", 0, np.array([9, 12], np.int32))
        pt.putcell("CORR_PRODUCT", 0, np.array([[0, 0], [1, 1]], np.int32))
    with table(ms + "/DATA_DESCRIPTION", readonly=False, ack=False) as dt:
        dt.addrows(1)
        dt.putcell("SPECTRAL_WINDOW_ID", 0, 0)
        dt.putcell("POLARIZATION_ID", 0, 0)
    with table(ms + "/FIELD", readonly=False, ack=False) as ft:
        ft.addrows(1)
        ft.putcell("NAME", 0, "field")
        for col in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
            ft.putcell(col, 0, np.array([[3.5, 0.9]]))
    with table(ms + "/OBSERVATION", readonly=False, ack=False) as ot:
        ot.addrows(1)
        ot.putcell("TELESCOPE_NAME", 0, "OVRO_MMA")
        ot.putcell("TIME_RANGE", 0, np.array([times[0] - 7, times[-1] + 7]))
    with table(ms + "/FEED", readonly=False, ack=False) as fe:
        fe.addrows(nant)
        fe.putcol("ANTENNA_ID", np.arange(nant, dtype=np.int32))
        fe.putcol("NUM_RECEPTORS", np.full(nant, 2, np.int32))
    print(ms)


def flags(ms, out):
    from casacore.tables import table

    with table(ms, ack=False) as t:
        f = t.getcol("FLAG")
    f.astype(np.uint8).tofile(out)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "flags":
        flags(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")

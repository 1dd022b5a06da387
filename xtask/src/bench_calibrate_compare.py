"""`cargo xtask bench calibrate`: both solution sets (ours, CASA's) against
the simulator's truth, and the error the thermal noise predicts.

Usage: bench_calibrate_compare.py '<json config>' with keys
  truth      the simulator's <group>_truth.json (its gains .npy beside it)
  model_ms   an MS whose MODEL_DATA holds the calibrator model (CASA's copy)
  sets       {"ours": [B, G], "casa": [B, G]} calibration tables
  flagged_fraction  {"ours": f, "aoflagger": f} fractions already counted
  flag_ms    {"casa": ms} MSs to count FLAG in (cross-correlations)
  refant     ANTENNA row of the reference antenna (both sides use it)

Conventions. The simulator's gains g (UVH5 convention, V_ij = g_i conj(g_j) M_ij,
time-independent) appear in the MS (DATA = conj(V)) as conj(g): a CPARAM that
is right equals conj(g) up to one phase per (polarisation, channel, time), the
reference antenna's. Solutions are B(ant, chan) * G(t, ant) per window, on the
MS's integrations; both the solutions and the truth are turned to the reference
antenna's phase (x -> x * conj(x_ref) / |x_ref|) before phases are compared.
Amplitude error: |sol| / |truth| - 1 (fractional); phase error: arg(sol conj(truth))
after alignment (the reference antenna itself is left out of phase statistics).

Noise prediction (first order in the noise, least squares = StEFCal's fixed
point): with sigma the noise per real/imaginary part of a cross-correlation
(the truth file's sigma_cross_jy), M(t, c) the model amplitude (MODEL_DATA),
g the true gains and f the side's flagged fraction of cross-correlation
samples, the relative error of antenna a's complex gain, per part, is
    var_B(a, c)    = sigma^2 / [(1-f) |g_a(c)|^2 S_a(c) sum_t M(t,c)^2]
    var_G(a, t, w) = sigma^2 / [(1-f) sum_{c in w} |g_a(c)|^2 S_a(c) M(t,c)^2]
    var_0(a, w)    = sigma^2 / [(1-f) sum_{c in w, t} |g_a(c)|^2 S_a(c) M(t,c)^2]
    var(a, c, t)   = var_B + var_G - var_0
with S_a(c) = sum over the other active antennas b of |g_b(c)|^2 (N_ant - 1
baselines). B averages the noise over the integrations, G over the window's
channels; var_0 is their common part (the grand mean), counted twice otherwise.
Predicted rms: fractional amplitude sqrt(<var>), phase (rad) sqrt(<var_a + var_ref>).
With |g| = 1 and M = S constant this is sigma / (S sqrt(N_ant - 1)) *
sqrt(1/N_t + 1/N_c - 1/(N_t N_c)) with N_c channels per window.

Prints one JSON object. `bench_calibrate_compare.py --flagged-fraction MS`
prints the flagged fraction of an MS's cross-correlation samples alone.
"""

import json
import os
import sys

import numpy as np
from casatools import table

JD_MJD = 2400000.5


def col(tb, name):
    return tb.getcol(name)


def read_truth(path):
    with open(path) as f:
        truth = json.load(f)
    gains = np.load(os.path.join(os.path.dirname(path), truth["gains_npy"]))
    return truth, gains


def ms_layout(ms):
    """Per window: channel frequencies; the ANTENNA names; DATA_DESC -> window."""
    tb = table()
    tb.open(os.path.join(ms, "SPECTRAL_WINDOW"))
    freqs = [np.asarray(tb.getcell("CHAN_FREQ", r)) for r in range(tb.nrows())]
    tb.close()
    tb.open(os.path.join(ms, "DATA_DESCRIPTION"))
    dd_spw = col(tb, "SPECTRAL_WINDOW_ID")
    tb.close()
    tb.open(os.path.join(ms, "ANTENNA"))
    names = list(col(tb, "NAME"))
    tb.close()
    return freqs, dd_spw, names


def model_amplitude(ms, dd_spw, nspw, times_s):
    """|MODEL_DATA| (pol 0) per (window, integration, channel), from one
    cross-correlation row of each: a point source has the same amplitude on
    every baseline."""
    tb = table()
    tb.open(ms)
    a1, a2 = col(tb, "ANTENNA1"), col(tb, "ANTENNA2")
    dd, t = col(tb, "DATA_DESC_ID"), col(tb, "TIME")
    out = [None] * nspw
    cross = np.nonzero(a1 != a2)[0]
    for d in np.unique(dd):
        spw = int(dd_spw[d])
        rows = cross[dd[cross] == d]
        amps = []
        for ts in times_s:
            r = rows[np.argmin(np.abs(t[rows] - ts))]
            cell = np.asarray(tb.getcell("MODEL_DATA", int(r)))  # (npol, nchan)
            amps.append(np.abs(cell[0]))
        out[spw] = np.array(amps)  # (nt, nchan)
    tb.close()
    return out


def flagged_fraction(ms):
    tb = table()
    tb.open(ms)
    a1, a2 = col(tb, "ANTENNA1"), col(tb, "ANTENNA2")
    cross = a1 != a2
    n, k = 0, 0
    step = 200000
    for r0 in range(0, tb.nrows(), step):
        nr = min(step, tb.nrows() - r0)
        fl = tb.getcol("FLAG", r0, nr)  # (npol, nchan, nrow)
        m = cross[r0:r0 + nr]
        n += fl[:, :, m].size
        k += int(fl[:, :, m].sum())
    tb.close()
    return k / max(n, 1)


def read_solutions(btab, gtab, nant, nspw, nchan, times_s):
    """sol[t, ant, spw, chan, pol] = B * G (CPARAM) and its flags."""
    nt = len(times_s)
    sol = np.ones((nt, nant, nspw, nchan, 2), complex)
    bad = np.zeros((nt, nant, nspw, nchan, 2), bool)
    tb = table()
    tb.open(btab)
    a, s = col(tb, "ANTENNA1"), col(tb, "SPECTRAL_WINDOW_ID")
    cp, fl = col(tb, "CPARAM"), col(tb, "FLAG")  # (npol, nchan, nrow)
    tb.close()
    have_b = np.zeros((nant, nspw), bool)
    for r in range(len(a)):
        sol[:, a[r], s[r], :, :] *= cp[:, :, r].T[None]
        bad[:, a[r], s[r], :, :] |= fl[:, :, r].T[None]
        have_b[a[r], s[r]] = True
    tb.open(gtab)
    a, s, t = col(tb, "ANTENNA1"), col(tb, "SPECTRAL_WINDOW_ID"), col(tb, "TIME")
    cp, fl = col(tb, "CPARAM"), col(tb, "FLAG")  # (npol, 1, nrow)
    tb.close()
    have_g = np.zeros((nt, nant, nspw), bool)
    for r in range(len(a)):
        k = int(np.argmin(np.abs(times_s - t[r])))
        if abs(times_s[k] - t[r]) > 1.0:
            continue
        sol[k, a[r], s[r], :, :] *= cp[:, 0, r][None, :]
        bad[k, a[r], s[r], :, :] |= fl[:, 0, r][None, :]
        have_g[k, a[r], s[r]] = True
    bad |= ~have_b[None, :, :, None, None]
    bad |= ~have_g[:, :, :, None, None]
    return sol, bad


def stats(sol, bad, tru, var_b, var_g, refant, active):
    """Errors of one solution set against the truth, and the prediction.
    var_b (1, ant, spw, chan, pol): B's share of the predicted variance;
    var_g (t, ant, spw, 1, pol): G's (less the grand-mean term)."""
    nt, nant, nspw, nchan, npol = sol.shape
    var = var_b + var_g
    rng = np.random.default_rng(1)
    act = np.zeros(nant, bool)
    act[active] = True
    ref_s = sol[:, refant:refant + 1]
    ref_t = tru[:, refant:refant + 1]
    sol_al = sol * np.conj(ref_s) / np.abs(ref_s)
    tru_al = tru * np.conj(ref_t) / np.abs(ref_t)
    ok = (~bad) & act[None, :, None, None, None] & (~bad[:, refant:refant + 1])
    amp = np.abs(sol) / np.abs(tru) - 1.0
    ph = np.angle(sol_al * np.conj(tru_al))
    not_ref = np.ones(nant, bool)
    not_ref[refant] = False
    okp = ok & not_ref[None, :, None, None, None]
    var_ph = var + var[:, refant:refant + 1]

    def rms(x, m):
        return float(np.sqrt(np.mean(x[m] ** 2))) if m.any() else float("nan")

    # per (antenna, window, channel, pol): rms over the integrations, against
    # the predicted rms of the same cell. B's error is one draw per cell, so
    # even pure noise scatters this ratio widely: the same statistic on noise
    # drawn with the predicted B and G variances is reported beside it.
    def per_cell(x, v, m):
        n = m.sum(axis=0)
        good = n >= max(2, nt // 2)
        meas = np.sqrt(np.where(m, x ** 2, 0).sum(axis=0) / np.maximum(n, 1))[good]
        pred = np.sqrt(np.where(m, v, 0).sum(axis=0) / np.maximum(n, 1))[good]
        r = meas / pred
        return good, pred, {
            "cells": int(good.sum()),
            "median": float(np.median(meas)),
            "p95": float(np.percentile(meas, 95)),
            "max": float(np.max(meas)),
            "ratio_to_predicted_median": float(np.median(r)),
            "ratio_to_predicted_p95": float(np.percentile(r, 95)),
        }

    def noise_draw(with_ref):
        def one():
            zb = rng.standard_normal((1, nant, nspw, nchan, npol))
            zg = rng.standard_normal((nt, nant, nspw, 1, npol))
            return np.sqrt(np.minimum(var_b, 1e6)) * zb + np.sqrt(np.minimum(var_g, 1e6)) * zg
        x = one()
        if with_ref:
            x = x - x[:, refant:refant + 1]
        return x

    def with_noise_expectation(x, v, m, with_ref):
        good, pred, out = per_cell(x, v, m)
        y = noise_draw(with_ref)
        n = m.sum(axis=0)
        sim = np.sqrt(np.where(m, y ** 2, 0).sum(axis=0) / np.maximum(n, 1))[good] / pred
        out["noise_only_ratio_median"] = float(np.median(sim))
        out["noise_only_ratio_p95"] = float(np.percentile(sim, 95))
        return out

    per_ant_ph = []
    for a in active:
        if a == refant:
            continue
        m = okp[:, a]
        if m.any():
            per_ant_ph.append(float(np.degrees(np.sqrt(np.mean(ph[:, a][m] ** 2)))))
    n_all = int((act[None, :, None, None, None] & np.ones_like(bad)).sum())
    return {
        "n_compared": int(ok.sum()),
        "n_flagged_or_missing": n_all - int(ok.sum()),
        "amp_rms_frac": rms(amp, ok),
        "amp_mean_frac": float(np.mean(amp[ok])) if ok.any() else float("nan"),
        "phase_rms_deg": float(np.degrees(rms(ph, okp))),
        "phase_mean_deg": float(np.degrees(np.mean(ph[okp]))) if okp.any() else float("nan"),
        "amp_max_frac": float(np.max(np.abs(amp[ok]))) if ok.any() else float("nan"),
        "phase_max_deg": float(np.degrees(np.max(np.abs(ph[okp])))) if okp.any() else float("nan"),
        "predicted_amp_rms_frac": float(np.sqrt(np.mean(var[ok]))),
        "predicted_phase_rms_deg": float(np.degrees(np.sqrt(np.mean(var_ph[okp])))),
        "per_cell_amp_frac": with_noise_expectation(amp, var, ok, False),
        "per_cell_phase_deg": {
            k: (float(np.degrees(v)) if k in ("median", "p95", "max") else v)
            for k, v in with_noise_expectation(ph, var_ph, okp, True).items()
        },
        "worst_antenna_phase_rms_deg": max(per_ant_ph) if per_ant_ph else float("nan"),
    }


def main(cfg):
    truth, g = read_truth(cfg["truth"])
    ms = cfg["model_ms"]
    freqs, dd_spw, names = ms_layout(ms)
    nspw = len(freqs)
    nchan = len(freqs[0])
    nant = len(names)
    times_s = (np.asarray(truth["times_jd_utc"]) - JD_MJD) * 86400.0
    nt = len(times_s)
    # MS (window, channel) -> the truth's band channel, by frequency
    cpsb = truth["config"]["nchan_per_sb"]
    band = {}
    for sb, fs in enumerate(truth["freqs_hz"]):
        for j, f in enumerate(fs):
            band[round(f)] = sb * cpsb + j
    idx = np.zeros((nspw, nchan), int)
    for w, fs in enumerate(freqs):
        for c, f in enumerate(fs):
            k = band.get(round(f))
            if k is None:
                raise SystemExit(f"window {w} channel {c} ({f} Hz) is not a simulated channel")
            idx[w, c] = k
    # truth on the MS grid, CASA convention: (ant, spw, chan, pol)
    if g.shape[0] < nant:
        raise SystemExit(f"{nant} ANTENNA rows but gains for {g.shape[0]}")
    gt = np.conj(g[:nant][:, :, idx]).transpose(0, 2, 3, 1)  # (ant, spw, chan, pol)
    tru = np.broadcast_to(gt[None], (nt, nant, nspw, nchan, 2))
    active = [int(a) for a in truth["active_antennas"]]
    act = np.zeros(nant, bool)
    act[active] = True
    sigma = float(truth["noise"]["sigma_cross_jy"]) if truth.get("noise") else 0.0
    m_amp = model_amplitude(ms, dd_spw, nspw, times_s)  # [spw] (nt, nchan)
    m2 = np.stack(m_amp, axis=1) ** 2  # (nt, spw, chan)
    g2 = np.abs(gt) ** 2  # (ant, spw, chan, pol)
    g2act = np.where(act[:, None, None, None], g2, 0.0)
    s_other = g2act.sum(axis=0)[None] - g2act  # (ant, spw, chan, pol)
    info = g2 * s_other  # per unit M^2
    refant = int(cfg["refant"])
    flag_frac = dict(cfg.get("flagged_fraction", {}))
    flag_frac.update({k: flagged_fraction(v) for k, v in cfg["flag_ms"].items()})
    result = {
        "sigma_cross_jy": sigma,
        "sefd_jy": float(truth["noise"]["sefd_jy"]) if truth.get("noise") else 0.0,
        "channel_width_hz": float(truth["channel_width_hz"]),
        "int_time_s": float(truth["config"]["int_time_s"]),
        "n_active_antennas": len(active),
        "n_integrations": nt,
        "n_windows": nspw,
        "n_channels_per_window": nchan,
        "model_amp_jy": {"min": float(np.sqrt(m2.min())), "max": float(np.sqrt(m2.max())),
                         "rms": float(np.sqrt(m2.mean()))},
        "refant": refant,
        "refant_name": names[refant],
        "flagged_fraction": flag_frac,
    }
    for side, (btab, gtab) in cfg["sets"].items():
        f = flag_frac.get(side, 0.0)
        w = (1.0 - f)
        with np.errstate(divide="ignore", invalid="ignore"):
            # (ant, spw, chan, pol) x (nt, spw, chan)
            var_b = sigma ** 2 / (w * info * m2.sum(axis=0)[None, :, :, None])
            tg = w * np.einsum("aswp,tsw->tasp", info, m2)  # (nt, ant, spw, pol)
            var_g = sigma ** 2 / tg
            var_0 = sigma ** 2 / tg.sum(axis=0)  # (ant, spw, pol)
            vb = var_b[None]
            vg = (var_g - var_0[None])[:, :, :, None, :]
        vb = np.where(np.isfinite(vb), vb, np.inf)
        vg = np.where(np.isfinite(vg), vg, np.inf)
        sol, bad = read_solutions(btab, gtab, nant, nspw, nchan, times_s)
        result[side] = stats(sol, bad, tru, vb, vg, refant, active)
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1] == "--flagged-fraction":
        print(flagged_fraction(sys.argv[2]))
    else:
        main(json.loads(sys.argv[1]))

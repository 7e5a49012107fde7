"""Validation plots of the ND-LAr simulator against the reference values it is built on.

Run ``python -m benchmark.simulators.ndlar.validation --out datasets/ndlar/plots`` (about a minute on
one core).  Every plot compares simulator output with an independent reference (PDG/PSTAR tables, the
published reference values named beside each check, the analytic drift formulas); ``datasets/ndlar/VALIDATION.md``
explains each one.  A summary of the measured numbers is printed (and written as summary.json).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from benchmark.data.writer import save_figure, write_text_atomic

from benchmark.simulators.ndlar import constants as C
from benchmark.simulators.ndlar import detector, particles
from benchmark.simulators.ndlar.generator import NDLArGenerator

# reference CSDA ranges (cm, 1.396 g/cm^3): PDG muon table, Bethe pions, PSTAR protons (NIST)
REF_T = np.array([10, 20, 50, 100, 200, 300, 500, 1000.0])
REF_RANGE = {"muon": [0.70, 2.38, 10.8, 30.4, 76.2, 123.6, 217.4, 441.5],
             "pion": [0.57, 1.95, 9.15, 26.9, 70.6, 117.6, 212.3, 441.8],
             "proton": [0.135, 0.45, 2.30, 7.82, 26.0, 51.2, 115.6, 319.1]}


def _save(fig, path: Path) -> None:
    save_figure(fig, path, dpi=110, bbox_inches="tight")


def _nominal(**kw):
    return {k: np.array([kw.get(k, v)], np.float64) for k, v in C.NOMINAL_PARAMETERS.items()}


def plot_dedx(out: Path, plt, summary: dict) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    rng = np.random.default_rng(1)
    for name, mass, T, ref, col in (("muon 500 MeV", C.MUON_MASS, 500.0, (7.4, -0.43), "C0"),
                                    ("proton 300 MeV", C.PROTON_MASS, 300.0, (17.9, -0.42), "C3")):
        resid_all, dedx_all = [], []
        for _ in range(20):
            dep = particles.Deposits()
            particles.track(mass, T, [0, 0, 650.0], [0, 0, 1.0], 0.0, rng, dep)
            a = dep.arrays()
            resid_all.append(a["dx"].sum() - (np.cumsum(a["dx"]) - 0.5 * a["dx"]))
            dedx_all.append(a["de"] / a["dx"])
        resid, dedx = np.concatenate(resid_all), np.concatenate(dedx_all)
        bins = np.geomspace(0.1, resid.max(), 40)
        idx = np.digitize(resid, bins)
        mids = np.sqrt(bins[1:] * bins[:-1])
        mean = np.array([dedx[idx == i].mean() if np.any(idx == i) else np.nan for i in range(1, len(bins))])
        ax[0].plot(resid[::7], dedx[::7], ",", color=col, alpha=0.3)
        ax[0].plot(mids, mean, "o", ms=3, color=col, label=f"{name}: simulated (mean per bin)")
        rr = np.geomspace(0.1, 100, 100)
        ax[0].plot(rr, ref[0] * rr ** ref[1], "--", color=col, label=f"reference fit {ref[0]} R^{ref[1]}")
        ok = (mids > 0.3) & (mids < 20) & np.isfinite(mean)
        summary[f"dedx_vs_fit_max_dev_{name.split()[0]}"] = float(np.nanmax(np.abs(mean[ok] / (ref[0] * mids[ok] ** ref[1]) - 1)))
    ax[0].axhline(C.MIP_DEDX_MEV_CM, color="gray", lw=0.8, label="MIP 2.105 MeV/cm (PDG)")
    ax[0].set(xscale="log", yscale="log", xlabel="residual range [cm]", ylabel="dE/dx per 1 mm step [MeV/cm]",
              ylim=(1, 100), title="dE/dx vs residual range (with Landau-like fluctuations)")
    ax[0].legend(fontsize=7)
    for (name, ref), mass, col in zip(REF_RANGE.items(), (C.MUON_MASS, C.PION_MASS, C.PROTON_MASS), ("C0", "C2", "C3")):
        tt = np.geomspace(5, 1000, 100)
        ax[1].plot(tt, particles.range_table(mass).range_cm(tt), color=col, label=f"{name}: simulator (Bethe CSDA)")
        ax[1].plot(REF_T, ref, "o", color=col, mfc="none", label=f"{name}: PDG/PSTAR table")
        summary[f"range_max_dev_{name}_50_1000MeV"] = float(np.max(np.abs(
            particles.range_table(mass).range_cm(REF_T[2:]) / np.array(ref[2:]) - 1)))
    ax[1].set(xscale="log", yscale="log", xlabel="kinetic energy [MeV]", ylabel="CSDA range [cm]",
              title="range in LAr (1.396 g/cm3)")
    ax[1].legend(fontsize=7)
    _save(fig, out / "dedx_residual_range.png")
    plt.close(fig)


def _track_deposits(drift_cm: float, n: int = 800, y_off: float = 0.5):
    """A MIP track parallel to the anode (along z) at ``drift_cm`` in the central module's low-x TPC."""
    y = C.ACTIVE_MIN[1] + (391 + y_off) * C.PIXEL_PITCH_CM
    pos = np.stack([np.full(n, -50.4 + drift_cm), np.full(n, y), 620.0 + 0.1 * np.arange(n) + 0.05], axis=1)
    return {"pos": pos, "de": np.full(n, 0.1 * C.MIP_DEDX_MEV_CM), "dx": np.full(n, 0.1), "t": np.zeros(n),
            "event": np.zeros(n, np.int64)}


def plot_lifetime(out: Path, plt, summary: dict) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    drifts = np.linspace(2, 48, 24)
    n0 = detector.recombination(C.MIP_DEDX_MEV_CM, 0.5) * C.MIP_DEDX_MEV_CM / C.W_ION_MEV / 1e3  # ke-/cm
    v = detector.drift_velocity(0.5)
    for tau, col, label in ((500.0, "C3", "lifetime_low"), (2200.0, "C0", "nominal"), (5000.0, "C2", "lifetime_high")):
        meas = []
        for d in drifts:
            dep = _track_deposits(d)
            rng = np.random.default_rng(int(d * 10))
            r = detector.ChunkRenderer(dep, 1, rng.standard_normal((dep["de"].size, 1, 3)),
                                       rng.standard_exponential((dep["de"].size, 1)))
            *_, q = r.render(_nominal(electron_lifetime=tau), rng)
            meas.append(q.sum() / (dep["de"].size * 0.1))
        meas = np.array(meas)
        expect = n0 * np.exp(-drifts / v / tau)
        ax.plot(drifts, meas, "o", color=col, label=f"{label} (tau = {tau:.0f} us): pixel hits, ke-/cm")
        ax.plot(drifts, expect, "-", color=col, lw=1, label=f"{n0:.1f} exp(-t/tau) ke-/cm")
        summary[f"lifetime_{tau:.0f}_max_dev"] = float(np.max(np.abs(meas / expect - 1)))
    ax.set(xlabel="drift distance [cm]", ylabel="collected charge per cm of MIP track [ke-]",
           title="charge vs drift distance under lifetime throws\n(full chain: drift, LArPix trigger, ADC, nominal calibration)")
    ax.legend(fontsize=7)
    _save(fig, out / "charge_vs_drift_lifetime.png")
    plt.close(fig)


def plot_diffusion(out: Path, plt, summary: dict) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    drifts = np.linspace(2, 48, 16)
    v = detector.drift_velocity(0.5)
    n = 4000
    for D, col, label in ((4e-6, "C2", "diffusion_low"), (8.8e-6, "C0", "nominal"), (14e-6, "C3", "diffusion_high")):
        sig, width = [], []
        for d in drifts:
            dep = {"pos": np.tile([-50.4 + d, 0.17, 650.2], (n, 1)), "de": np.full(n, 0.2), "dx": np.full(n, 0.1),
                   "t": np.zeros(n), "event": np.zeros(n, np.int64)}
            rng = np.random.default_rng(int(d))
            r = detector.ChunkRenderer(dep, 1, rng.standard_normal((n, 1, 3)), rng.standard_exponential((n, 1)))
            y, *_ = r.drift(_nominal(transverse_diffusion=D))
            sig.append(y.std() * 10)
            # pixel level: a track along z, 1/4 pitch from a pixel-row edge: charge-weighted rms of hit rows
            tr = _track_deposits(d, n=600, y_off=0.25)
            r2 = detector.ChunkRenderer(tr, 1, rng.standard_normal((600, 1, 3)), rng.standard_exponential((600, 1)))
            y, _, _, q = r2.drift(_nominal(transverse_diffusion=D))
            row = np.floor((y.ravel() - C.ACTIVE_MIN[1]) / C.PIXEL_PITCH_CM)
            width.append(1 - np.sum(q.ravel()[row == 391]) / q.sum())
        ax[0].plot(drifts, sig, "o", color=col, label=f"{label}: D_T = {D:.1e} cm2/us, simulated")
        ax[0].plot(drifts, np.sqrt(2 * D * drifts / v) * 10, "-", color=col, lw=1, label="sqrt(2 D_T t)")
        ax[1].plot(drifts, width, "o-", color=col, label=label)
        summary[f"diffusion_{D:.1e}_max_dev"] = float(np.max(np.abs(np.array(sig) / (np.sqrt(2 * D * drifts / v) * 10) - 1)))
    ax[0].set(xlabel="drift distance [cm]", ylabel="transverse rms of the charge cloud [mm]",
              title="transverse spread vs drift distance (diffusion throws)")
    ax[0].legend(fontsize=7)
    ax[1].set(xlabel="drift distance [cm]", ylabel="fraction of charge leaking to the next pixel row",
              title="pixel level: track 0.95 mm from a row edge (pitch 3.8 mm)")
    ax[1].legend(fontsize=7)
    _save(fig, out / "transverse_spread_vs_drift.png")
    plt.close(fig)


def plot_showers(out: Path, plt, summary: dict) -> None:
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.5))
    rng = np.random.default_rng(3)
    d0 = np.array([0, 0, 1.0])
    energies = (100.0, 300.0, 1000.0)
    tbins = np.linspace(0, 10, 41)
    lengths, widths = {"electron": [], "gamma": []}, {"electron": [], "gamma": []}
    for kind, photon in (("electron", False), ("gamma", True)):
        for E, col in zip(energies, ("C0", "C1", "C3")):
            prof = np.zeros(len(tbins) - 1)
            rad, wts, depth_l, r90_l = [], [], [], []
            for _ in range(60):
                dep = particles.Deposits()
                particles.em_shower(E, np.zeros(3), d0, 0.0, rng, dep, photon=photon)
                a = dep.arrays()
                z0 = a["pos"][:, 2].min() if photon else 0.0  # measure photons from the conversion point
                t = (a["pos"][:, 2] - z0) / C.RADIATION_LENGTH_CM
                prof += np.histogram(t, tbins, weights=a["de"])[0] / E
                r = np.hypot(a["pos"][:, 0], a["pos"][:, 1])
                rad.append(r)
                wts.append(a["de"])
                depth_l.append(np.average(t, weights=a["de"]))
                o = np.argsort(r)
                r90_l.append(r[o][np.searchsorted(np.cumsum(a["de"][o]) / a["de"].sum(), 0.9)])
            lengths[kind].append(np.mean(depth_l))
            widths[kind].append(np.median(r90_l) / C.MOLIERE_RADIUS_CM)
            if kind == "electron":
                prof /= 60 * np.diff(tbins)
                ax[0].step(tbins[:-1], prof, where="post", color=col, label=f"e- {E:.0f} MeV simulated")
                aa, bb = particles.shower_profile(E)
                tt = np.linspace(0.01, 10, 200)
                ax[0].plot(tt, bb * (bb * tt) ** (aa - 1) * np.exp(-bb * tt) / math.gamma(aa), "--", color=col,
                           label=f"Gamma profile a={aa:.2f}, b={bb:.2f} (LAr fit)")
                r, w = np.concatenate(rad), np.concatenate(wts)
                o = np.argsort(r)
                ax[1].plot(r[o] / C.MOLIERE_RADIUS_CM, np.cumsum(w[o]) / w.sum(), color=col, label=f"e- {E:.0f} MeV")
    ax[0].set(xlabel="depth t [X0 = 14 cm]", ylabel="(1/E) dE/dt", title="longitudinal profile")
    ax[0].legend(fontsize=7)
    ax[1].axhline(0.9, color="gray", lw=0.8)
    ax[1].axvline(1.0, color="gray", lw=0.8)
    ax[1].text(1.05, 0.85, "90% in 1 R_M (PDG)", fontsize=8)
    ax[1].set(xlim=(0, 3), xlabel="distance from shower axis [R_M = 9.04 cm]", ylabel="energy fraction within r",
              title="lateral containment")
    ax[1].legend(fontsize=7)
    for kind, mk in (("electron", "o"), ("gamma", "s")):
        ax[2].plot(energies, lengths[kind], mk + "-", label=f"{kind}: mean depth [X0] (photons from conversion)")
        ax[2].plot(energies, widths[kind], mk + ":", label=f"{kind}: median r90 [R_M]")
    ee = np.geomspace(80, 1200, 50)
    ax[2].plot(ee, [particles.shower_profile(e)[0] / particles.shower_profile(e)[1] for e in ee], "k--", lw=1,
               label="Gamma-profile mean a/b (LAr fit)")
    ax[2].set(xscale="log", xlabel="energy [MeV]", title="shower length and width")
    ax[2].legend(fontsize=7)
    summary["shower_mean_depth_X0"] = {k: [round(float(x), 3) for x in v] for k, v in lengths.items()}
    summary["shower_r90_over_RM"] = {k: [round(float(x), 3) for x in v] for k, v in widths.items()}
    gaps = []
    for _ in range(2000):
        dep = particles.Deposits()
        particles.em_shower(300.0, np.zeros(3), d0, 0.0, rng, dep, photon=True)
        gaps.append(dep.arrays()["pos"][:, 2].min())
    summary["photon_mean_conversion_gap_cm"] = float(np.mean(gaps))
    _save(fig, out / "shower_length_width.png")
    plt.close(fig)


def plot_events(out: Path, plt, summary: dict, n_events: int, seed: int) -> None:
    from tqdm.auto import tqdm

    gen = NDLArGenerator()
    ids = np.arange(2 * 10 ** 9, 2 * 10 ** 9 + n_events, dtype=np.int64)
    cols = {"event_id": [], "label": [], "coords": [], "charge": []}
    for start in tqdm(range(0, n_events, 50), desc="nominal events", leave=False):
        c = gen.generate_chunk("test", start // 50, ids[start:start + 50], seed, domains=["nominal"])["nominal"]
        for k in cols:
            cols[k].extend(list(c[k]))
    labels = np.array(cols["label"])
    nvox = np.array([len(c) // 3 for c in cols["coords"]])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bins = np.geomspace(3, max(nvox.max(), 10) * 1.2, 35)
    summary["voxels_per_class"] = {}
    for i, name in enumerate(C.CLASS_NAMES):
        v = nvox[labels == i]
        ax.hist(v, bins, histtype="step", lw=1.5, label=f"{name}: median {np.median(v):.0f}, mean {v.mean():.0f}")
        summary["voxels_per_class"][name] = {"n_events": int(v.size), "median": float(np.median(v)),
                                             "mean": float(v.mean()), "p90": float(np.percentile(v, 90))}
    summary["events_kept_fraction_nominal"] = float(len(labels) / n_events)
    ax.set(xscale="log", xlabel="voxels per event (3.8 mm)", ylabel="events",
           title=f"voxel count per class, nominal domain ({len(labels)} events)")
    ax.legend(fontsize=8)
    _save(fig, out / "voxel_count_per_class.png")
    plt.close(fig)

    fig, ax = plt.subplots(len(C.CLASS_NAMES), 2, figsize=(11, 4 * len(C.CLASS_NAMES)))
    for i, name in enumerate(C.CLASS_NAMES):
        j = int(np.flatnonzero(labels == i)[np.argsort(nvox[labels == i])[len(nvox[labels == i]) // 2]])
        xyz = cols["coords"][j].reshape(-1, 3) * C.PIXEL_PITCH_CM
        q = cols["charge"][j]
        for k, (a, b, la, lb) in enumerate(((2, 0, "z", "x (drift)"), (2, 1, "z", "y"))):
            sc = ax[i, k].scatter(xyz[:, a], xyz[:, b], c=q, s=2, cmap="viridis", vmin=0, vmax=np.percentile(q, 98))
            ax[i, k].set(xlabel=f"{la} [cm from origin]", ylabel=f"{lb} [cm]", aspect="equal",
                         title=f"{name}, event {cols['event_id'][j]}, {len(q)} voxels")
        fig.colorbar(sc, ax=ax[i, 1], label="charge [ke-]")
    _save(fig, out / "event_displays.png")
    plt.close(fig)


def plot_domains(out: Path, plt, summary: dict, n_events: int, seed: int) -> None:
    """Voxel charge and voxel count of the same events in every train domain."""
    gen = NDLArGenerator()
    ids = np.arange(n_events, dtype=np.int64)
    res = gen.generate_chunk("train", 0, ids, seed)
    nv_nom = {int(e): len(q) for e, q in zip(res["nominal"]["event_id"], res["nominal"]["charge"])}
    names, qmed, q10, q90, nr = [], [], [], [], []
    for name, c in res.items():
        allq = np.concatenate(c["charge"])
        names.append(name)
        qmed.append(np.median(allq))
        q10.append(np.percentile(allq, 10))
        q90.append(np.percentile(allq, 90))
        nr.append(np.median([len(q) / nv_nom[int(e)] for e, q in zip(c["event_id"], c["charge"]) if int(e) in nv_nom]))
    fig, ax = plt.subplots(1, 2, figsize=(14, 4.5))
    x = np.arange(len(names))
    ax[0].errorbar(x, qmed, yerr=[np.subtract(qmed, q10), np.subtract(q90, qmed)], fmt="o", capsize=3)
    ax[0].axhline(qmed[0], color="gray", lw=0.8)
    ax[0].set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax[0].set(ylabel="voxel charge [ke-] (median, 10-90%)",
              title="voxel charge per domain (nominal calibration: pedestal throws shift it)")
    ax[1].bar(x, nr)
    ax[1].axhline(1, color="gray", lw=0.8)
    ax[1].set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax[1].set(ylim=(0.8, 1.1), ylabel="voxel count / nominal (median over paired events)",
              title=f"the same {n_events} true particles in every train domain")
    summary["domain_median_voxel_charge_ke"] = {n: round(float(v), 2) for n, v in zip(names, qmed)}
    summary["domain_voxel_count_ratio_median"] = {n: round(float(v), 3) for n, v in zip(names, nr)}
    _save(fig, out / "domain_shifts.png")
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="datasets/ndlar/plots", help="folder for the PNG files")
    ap.add_argument("--events", type=int, default=500, help="nominal events for the voxel-count and display plots")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.events < 50:
        ap.error("--events must be at least 50 (ten per class) for the per-class plots")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    summary: dict = {}
    plot_dedx(out, plt, summary)
    plot_lifetime(out, plt, summary)
    plot_diffusion(out, plt, summary)
    plot_showers(out, plt, summary)
    plot_events(out, plt, summary, args.events, args.seed)
    plot_domains(out, plt, summary, 100, args.seed)
    text = json.dumps(summary, indent=1)
    write_text_atomic(out / "summary.json", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

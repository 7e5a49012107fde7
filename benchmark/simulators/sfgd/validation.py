"""Physics validation of the cube-detector simulator: measurements on generated events and plots.

``python -m benchmark.simulators.sfgd.validation --out datasets/sfgd/plots`` writes the plots and
prints the measured figures quoted in ``datasets/sfgd/VALIDATION.md``.  The measurement functions
are also used by ``tests/test_sfgd.py`` (the tests compare them with independent references).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmark.data.writer import save_figure

from benchmark.simulators.base import chunk_rng
from benchmark.simulators.sfgd import constants as C
from benchmark.simulators.sfgd import detector, particles
from benchmark.simulators.sfgd.generator import FIXED_DOMAINS, SCAN_DOMAINS, SFGDGenerator, Truth

GRID = np.array(C.GRID, float)


# ----------------------------------------------------------------------------- measurements
def path_in_detector(start: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Straight-line distance from ``start`` to the detector surface along ``direction`` (n,)."""
    d = np.where(np.abs(direction) < 1e-12, 1e-12, direction)
    t = np.where(d > 0, (GRID - start) / d, -start / d)
    return t.min(axis=1)


def cube_pe_per_mev(coords: np.ndarray, cfg: detector.ResponseConfig | None = None) -> np.ndarray:
    """Expected p.e. of a cube (three fibres) per MeV of quenched deposit, from the constants."""
    cfg = cfg or detector.ResponseConfig()
    return detector.pe_per_mev(np.asarray(coords).reshape(-1, 3), cfg).sum(1)


def quenched_energy_of_event(coords: np.ndarray, charge: np.ndarray, xt: np.ndarray,
                             cfg: detector.ResponseConfig | None = None) -> float:
    """Visible (quenched) energy of the cubes with a true deposit, reconstructed from their charge."""
    c = np.asarray(coords).reshape(-1, 3)
    prim = np.asarray(xt) == 0
    return float((np.asarray(charge)[prim] / cube_pe_per_mev(c[prim], cfg)).sum())


def mip_quenched_dedx(cols: dict, cfg: detector.ResponseConfig | None = None, min_length: float = 20.0) -> float:
    """Quenched dE/dx (MeV/cm) measured back from exiting muons: visible energy / path in the detector."""
    L = path_in_detector(np.asarray(cols["start"], float), np.asarray(cols["direction"], float))
    vis, length = 0.0, 0.0
    for i in np.flatnonzero((cols["label"] == 1) & (L > min_length)):
        vis += quenched_energy_of_event(cols["coords"][i], cols["charge"][i], cols["crosstalk_hit"][i], cfg)
        length += L[i]
    return vis / length


#: the six face neighbours of a cube (defined here, independently of the response code under test)
SIX_FACES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])


def _faces_inside(ijk: np.ndarray) -> np.ndarray:
    nb = ijk[:, None, :] + SIX_FACES[None, :, :]
    return np.all((nb >= 0) & (nb < GRID), axis=2).sum(1)


def measure_crosstalk(reference: dict, shifted: dict) -> tuple[float, np.ndarray]:
    """Per-face crosstalk measured back from two paired renderings of the same events.

    ``reference`` must be the zero-crosstalk rendering (``xtalk_000``): the crosstalk light of an
    event is the extra charge of the shifted rendering, divided by (charge of every lit cube times
    its number of face neighbours inside the detector).  Unbiased when the response has no threshold,
    noise or saturation; with them it gives the *visible* crosstalk.  Returns (pooled, per event).
    """
    if not np.array_equal(reference["event_id"], shifted["event_id"]):
        raise ValueError("the two renderings must hold the same events in the same order (paired domains)")
    extra, denom = np.zeros(len(reference["event_id"])), np.zeros(len(reference["event_id"]))
    for i in range(len(extra)):
        q0 = np.asarray(reference["charge"][i], float)
        c0 = np.asarray(reference["coords"][i]).reshape(-1, 3)
        extra[i] = np.sum(shifted["charge"][i], dtype=float) - q0.sum()
        denom[i] = (q0 * _faces_inside(c0)).sum()
    per_event = np.divide(extra, denom, out=np.zeros_like(extra), where=denom > 0)
    return float(extra.sum() / denom.sum()), per_event


def straight_range(coords: np.ndarray, xt: np.ndarray, start: np.ndarray) -> float:
    """Distance from the start point to the farthest cube centre with a true deposit (cm)."""
    c = np.asarray(coords).reshape(-1, 3)[np.asarray(xt) == 0] + 0.5
    return float(np.linalg.norm(c - start, axis=1).max()) if len(c) else 0.0


def pencil_truth(label: int, kinetic_energy: np.ndarray, start=(96.0, 28.0, 5.0), direction=(0.0, 0.0, 1.0)) -> Truth:
    """Particles of one class fired from a fixed point along a fixed direction (for range studies)."""
    n = len(kinetic_energy)
    pdg = {0: 11, 1: -13, 2: 211, 3: 2212}[label]
    return Truth(np.full(n, label, np.int64), np.full(n, pdg, np.int64), np.asarray(kinetic_energy, float),
                 np.tile(np.asarray(direction, float), (n, 1)), np.tile(np.asarray(start, float), (n, 1)))


def render_truth(gen: SFGDGenerator, truth: Truth, f: float, seed: int = 0):
    """Simulate ``truth`` and render it at kept fraction ``f``: (deposits, hits)."""
    dep, light = gen.simulate(truth, chunk_rng(seed, "t"), chunk_rng(seed, "l"), chunk_rng(seed, "x"))
    hits = detector.render(light, np.full(len(truth), gen.strength(f)), gen.response_config)
    return dep, hits


def muon_momentum_to_T(p):
    return np.sqrt(np.asarray(p, float) ** 2 + C.M_MU ** 2) - C.M_MU


def summary_features(cols: dict) -> np.ndarray:
    """Seven hand-made per-event features (hits, total/median/max/90% charge, extent, faint fraction)."""
    out = []
    for c, q in zip(cols["coords"], cols["charge"]):
        c = np.asarray(c).reshape(-1, 3).astype(float)
        q = np.asarray(q, float)
        if not len(q):
            out.append(np.zeros(7))
            continue
        out.append([len(q), q.sum(), np.median(q), q.max(), np.percentile(q, 90), np.linalg.norm(np.ptp(c, 0)),
                    (q < 20).mean()])
    return np.asarray(out)


def shift_check(seed: int, n_train: int = 2000, n_test: int = 1000) -> dict[str, float]:
    """Accuracy of a gradient-boosted classifier on :func:`summary_features`, trained on ``nominal``,
    on every test domain: shows that the crosstalk domains are a real shift for a simple model."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    g = SFGDGenerator()
    train = g.generate_chunk("train", 0, np.arange(n_train, dtype=np.int64), seed, domains=["nominal"])["nominal"]
    test = g.generate_chunk("test", 0, np.arange(n_test, dtype=np.int64) + 2 * 10 ** 9, seed)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # OpenMP threads only spin on a shared 2-core machine
        clf = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(summary_features(train), train["label"])
        return {d: float((clf.predict(summary_features(cols)) == cols["label"]).mean()) for d, cols in test.items()}


# ----------------------------------------------------------------------------- plots
def _savefig(fig, path: Path):
    save_figure(fig, path, dpi=110, bbox_inches="tight")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="datasets/sfgd/plots", help="folder for the PNG plots")
    ap.add_argument("--events", type=int, default=400, help="events per sample (default 400)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = args.events
    figures: dict = {}
    gen = SFGDGenerator()
    tables = particles.get_tables()

    # 1. sample of all classes, every fixed domain: hits per class, event displays, throughput
    ids = np.arange(n, dtype=np.int64)
    t0 = time.perf_counter()
    sample = gen.generate_chunk("validation", 0, ids, args.seed, domains=list(FIXED_DOMAINS) + ["xtalk_random"])
    dt = time.perf_counter() - t0
    figures["events_per_s_6_domains"] = n / dt
    nominal = sample["nominal"]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for lab, name in enumerate(C.CLASS_NAMES):
        ax = axes[lab]
        for dom, ls in (("xtalk_000", "--"), ("nominal", "-"), ("xtalk_100", ":")):
            nh = np.array([len(q) for q in sample[dom]["charge"]])[sample[dom]["label"] == lab]
            ax.hist(nh, bins=np.linspace(0, 600, 41), histtype="step", ls=ls, label=dom)
            if dom == "nominal":
                figures[f"mean_hits_{name}_nominal"] = float(nh.mean())
            if dom == "xtalk_000":
                figures[f"mean_hits_{name}_xtalk_000"] = float(nh.mean())
        ax.set_title(name)
        ax.set_xlabel("cube hits per event")
    axes[0].legend()
    fig.suptitle("Hits per event by class and crosstalk domain")
    _savefig(fig, out / "hits_per_class.png")
    plt.close(fig)

    fig, axes = plt.subplots(2, 4, figsize=(17, 7))
    for lab, name in enumerate(C.CLASS_NAMES):
        cand = np.flatnonzero(nominal["label"] == lab)
        i = cand[np.argsort([len(nominal["charge"][j]) for j in cand])[len(cand) * 3 // 4]]
        c = nominal["coords"][i].reshape(-1, 3)
        q = nominal["charge"][i]
        xt = nominal["crosstalk_hit"][i] == 1
        for row, (a, b, la, lb) in enumerate(((2, 0, "z", "x"), (2, 1, "z", "y"))):
            ax = axes[row, lab]
            sc = ax.scatter(c[~xt, a] + 0.5, c[~xt, b] + 0.5, c=np.log10(q[~xt]), s=9, marker="s", cmap="viridis",
                            vmin=0, vmax=3)
            ax.scatter(c[xt, a] + 0.5, c[xt, b] + 0.5, facecolors="none", edgecolors="red", s=9, marker="s",
                       linewidths=0.6, label="crosstalk hit")
            ax.plot(nominal["start"][i][a], nominal["start"][i][b], "k*", ms=9, label="true start")
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_xlabel(f"{la} (cm)")
            ax.set_ylabel(f"{lb} (cm)")
            if row == 0:
                ax.set_title(f"{name}, T = {nominal['kinetic_energy'][i]:.0f} MeV, {len(q)} hits ({xt.sum()} xtalk)",
                             fontsize=9)
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.colorbar(sc, ax=axes, shrink=0.6, label="log10(p.e. per cube)")
    fig.suptitle("One event per class, domain nominal (projections; overlapping cubes drawn on top of each other)")
    _savefig(fig, out / "event_display.png")
    plt.close(fig)

    # 2. MIP light yield: exiting muons, 400-1000 MeV, no decays, xtalk_000
    gmu = SFGDGenerator(classes=("muon",), kinetic_energy_range={"muon": (400.0, 1000.0)}, decays=False)
    mu = gmu.generate_chunk("validation", 1, ids, args.seed, domains=["xtalk_000"])["xtalk_000"]
    dedx_q = mip_quenched_dedx(mu)
    T_mu = np.asarray(mu["kinetic_energy"], float)
    expected = float(np.mean(tables.stopping_power(np.full(n, 1), T_mu)
                             / (1 + C.BIRKS_KB_CM_PER_MEV * tables.stopping_power(np.full(n, 1), T_mu))))
    figures["mip_quenched_dedx_measured"] = dedx_q
    figures["mip_quenched_dedx_expected"] = expected
    q_all = np.concatenate([q[x == 0] for q, x in zip(mu["charge"], mu["crosstalk_hit"])])
    c_all = np.concatenate([c.reshape(-1, 3)[x == 0] for c, x in zip(mu["coords"], mu["crosstalk_hit"])])
    fib = detector.pe_per_mev(c_all, gmu.response_config)
    figures["mip_cube_pe_median"] = float(np.median(q_all))
    figures["mip_cube_pe_mean"] = float(np.mean(q_all))
    # per-fibre p.e. for a 1 cm crossing (expected from constants) at the nearest and farthest cube
    mip_1cm = expected * 1.0
    figures["mip_pe_per_fibre_1cm_range"] = [float(mip_1cm * fib.min()), float(mip_1cm * fib.max())]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    axes[0].hist(q_all, bins=np.linspace(0, 500, 101), histtype="step")
    axes[0].axvline(np.median(q_all), color="k", ls="--", label=f"median {np.median(q_all):.0f} p.e.")
    axes[0].set_xlabel("p.e. per cube (sum of 3 fibres), MIP muons, no crosstalk")
    axes[0].legend()
    norm = q_all / fib.sum(1) * fib.sum(1).mean()
    axes[1].hist(norm, bins=np.linspace(0, 500, 101), histtype="step", label="corrected to mean attenuation")
    axes[1].set_xlabel("p.e. per cube, attenuation-corrected")
    axes[1].set_title(f"quenched dE/dx measured {dedx_q:.3f} MeV/cm, expected {expected:.3f}", fontsize=9)
    axes[1].legend()
    _savefig(fig, out / "mip_light_yield.png")
    plt.close(fig)

    # 3. crosstalk measured back per domain (unbiased: no threshold/noise/saturation; visible: default)
    clean = SFGDGenerator(response_config=detector.ResponseConfig(threshold=False, noise=False, saturation=False,
                                                                 min_views=1))
    doms = list(FIXED_DOMAINS)
    clean_out = clean.generate_chunk("validation", 0, ids, args.seed, domains=doms + ["xtalk_random"])
    set_vals = [clean.strength(FIXED_DOMAINS[d]) for d in doms]
    meas_clean = [measure_crosstalk(clean_out["xtalk_000"], clean_out[d])[0] for d in doms]
    meas_vis = [measure_crosstalk(sample["xtalk_000"], sample[d])[0] for d in doms]
    figures["crosstalk_set"] = set_vals
    figures["crosstalk_measured_unbiased"] = meas_clean
    figures["crosstalk_measured_visible"] = meas_vis
    figures["crosstalk_hits_per_event_nominal"] = float(np.mean([x.sum() for x in nominal["crosstalk_hit"]]))
    _, per_ev = measure_crosstalk(clean_out["xtalk_000"], clean_out["xtalk_random"])
    figures["crosstalk_random_corr"] = float(np.corrcoef(per_ev, clean_out["xtalk_random"]["crosstalk"])[0, 1])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot(set_vals, set_vals, "k:", label="set value")
    axes[0].plot(set_vals, meas_clean, "o-", label="measured, no threshold/noise")
    axes[0].plot(set_vals, meas_vis, "s--", label="visible after threshold (default response)")
    for d, x, y in zip(doms, set_vals, meas_clean):
        axes[0].annotate(d, (x, y), fontsize=7, xytext=(3, -10), textcoords="offset points")
    axes[0].set_xlabel("crosstalk per face, set")
    axes[0].set_ylabel("crosstalk per face, measured back")
    axes[0].legend(fontsize=8)
    axes[1].scatter(clean_out["xtalk_random"]["crosstalk"], per_ev, s=4)
    axes[1].plot([0, C.CROSSTALK_MAX], [0, C.CROSSTALK_MAX], "k:")
    axes[1].set_xlabel("xtalk_random: event's crosstalk column")
    axes[1].set_ylabel("measured per event")
    _savefig(fig, out / "crosstalk_measured.png")
    plt.close(fig)

    # 4. muon range vs momentum: pencil beams along +z, no decays
    gnd = SFGDGenerator(decays=False)
    p_grid = np.array([100, 150, 200, 250, 300, 350, 400])
    per = max(10, n // 40)
    mu_truth = pencil_truth(1, np.repeat(muon_momentum_to_T(p_grid), per), start=(96.0, 28.0, 1.0))
    dep, hits = render_truth(gnd, mu_truth, 0.0, seed=args.seed)
    co = hits.coords()
    rng_meas = np.array([straight_range(co[hits.offsets[i]:hits.offsets[i + 1]],
                                        hits.crosstalk[hits.offsets[i]:hits.offsets[i + 1]], mu_truth.start[i])
                         for i in range(len(mu_truth))])
    stopped = dep.fate == particles.FATE_STOPPED
    p_fine = np.linspace(80, 650, 100)
    csda = tables.range(np.full(len(p_fine), 1), muon_momentum_to_T(p_fine))
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.plot(p_fine, csda, "k-", label=f"CSDA (Bethe, rho = {C.DENSITY_G_CM3})")
    m_mean = [rng_meas[(np.repeat(p_grid, per) == p) & stopped].mean() for p in p_grid]
    figures["muon_range_cm_measured"] = dict(zip(p_grid.tolist(), [float(x) for x in m_mean]))
    figures["muon_range_cm_csda"] = dict(zip(p_grid.tolist(),
                                             tables.range(np.full(len(p_grid), 1), muon_momentum_to_T(p_grid)).tolist()))
    ax.plot(np.repeat(p_grid, per)[stopped], rng_meas[stopped], ".", alpha=0.3, label="simulated, per muon (cubes)")
    ax.plot(p_grid, m_mean, "o", color="C3", label="simulated, mean")
    ref = np.array([80.0, 220.0]) * 1.06 / C.DENSITY_G_CM3
    ax.plot([300, 600], ref, "k^", label="published range (scaled to rho)")
    ax.set_xlabel("muon momentum (MeV/c)")
    ax.set_ylabel("range (cm)")
    ax.legend(fontsize=8)
    _savefig(fig, out / "muon_range.png")
    plt.close(fig)

    # 5. proton dE/dx vs residual range (Bragg peak), per cube, from charge
    pT = np.repeat([100.0, 150.0, 200.0], max(10, n // 20))
    p_truth = pencil_truth(3, pT, start=(96.0, 28.0, 1.0))
    dep, hits = render_truth(gnd, p_truth, 0.0, seed=args.seed + 1)
    co = hits.coords()
    rr, dq = [], []
    for i in np.flatnonzero(dep.fate == particles.FATE_STOPPED):
        sl = slice(hits.offsets[i], hits.offsets[i + 1])
        prim = ~hits.crosstalk[sl]
        c = co[sl][prim]
        e_vis = hits.charge[sl][prim] / cube_pe_per_mev(c)
        # the pencil beam runs along z: dE/dx per cube = visible energy per 1 cm of z
        z = c[:, 2]
        zs = np.unique(z)
        dq += [e_vis[z == k].sum() for k in zs]
        rr += list(dep.end[i, 2] - (zs + 0.5))
    rr, dq = np.array(rr), np.array(dq)
    r_fine = np.logspace(-1.5, 1.5, 200)
    T_f = tables.energy(np.full(len(r_fine), 3), r_fine)
    S_f = tables.stopping_power(np.full(len(r_fine), 3), T_f)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.plot(rr, dq, ".", alpha=0.2, label="simulated cubes (charge -> quenched MeV)")
    ax.plot(r_fine, S_f, "k-", label="dE/dx (Bethe)")
    ax.plot(r_fine, S_f / (1 + C.BIRKS_KB_CM_PER_MEV * S_f), "k--", label="quenched (Birks)")
    # what a 1 cm cube centred at residual range r sees: Q(T(r + 0.5)) - Q(T(r - 0.5))
    rc = np.linspace(0.5, 30, 120)
    kind = np.full(len(rc), 3)
    cube_avg = (tables.quenched_energy(kind, tables.energy(kind, rc + 0.5))
                - tables.quenched_energy(kind, tables.energy(kind, rc - 0.5)))
    ax.plot(rc, cube_avg, "r-", lw=1, label="quenched, averaged over a 1 cm cube")
    ax.set_xlim(0, 30)
    ax.set_ylim(0, 40)
    ax.set_xlabel("residual range (cm)")
    ax.set_ylabel("MeV per cm")
    ax.set_title("stopping protons 100-200 MeV")
    ax.legend(fontsize=8)
    _savefig(fig, out / "proton_bragg.png")
    plt.close(fig)
    mid = (rr > 5) & (rr < 15)
    T_mid = tables.energy(np.full(mid.sum(), 3), rr[mid])
    S_mid = tables.stopping_power(np.full(mid.sum(), 3), T_mid)
    figures["proton_dedx_ratio_5_15cm"] = float(np.mean(dq[mid]) / np.mean(S_mid / (1 + C.BIRKS_KB_CM_PER_MEV * S_mid)))

    # 6. throughput of the full domain set (test split: 27 domains)
    t0 = time.perf_counter()
    gen.generate_chunk("test", 0, np.arange(200, dtype=np.int64) + 2 * 10 ** 9, args.seed)
    figures["events_per_s_27_domains"] = 200 / (time.perf_counter() - t0)

    # 7. the shift seen by a simple feature classifier trained on nominal
    acc = shift_check(args.seed, n_train=max(4 * n, 1000), n_test=max(2 * n, 500))
    figures["feature_gbdt_accuracy"] = {d: round(a, 3) for d, a in acc.items() if d in FIXED_DOMAINS}
    scan = sorted((f, acc[d]) for d, f in SCAN_DOMAINS.items())
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([f for f, _ in scan], [a for _, a in scan], "o-")
    ax.axvline(0.5, color="k", ls=":", label="training domain (nominal)")
    ax.set_xlabel("kept crosstalk fraction f (strength = f x 2 x 3%)")
    ax.set_ylabel("accuracy")
    ax.set_title("7-feature gradient-boosted classifier trained on nominal", fontsize=9)
    ax.legend()
    _savefig(fig, out / "accuracy_vs_crosstalk.png")
    plt.close(fig)

    for k, v in figures.items():
        if isinstance(v, float):
            print(f"{k}: {v:.4g}")
        elif isinstance(v, list):
            print(f"{k}: {[round(x, 4) for x in v]}")
        else:
            print(f"{k}: {v}")
    return figures


if __name__ == "__main__":
    main()

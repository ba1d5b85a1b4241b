"""Claim 1: a learned LP skews its quotes against its inventory (long: skew < 0, lower prices to
sell; short: skew > 0), across the range of risk aversion.

Two measurements. The *response*: the LP policy's skew on observations from evaluation episodes
with the inventory column set to a grid (everything else as observed), for several gamma. The
*episodes*: the skew each LP quoted against the inventory it held when quoting.

    jaxmarket experiment skew [--checkpoint runs/otc/final] [--out runs/experiments]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxmarket.otc.observations import lp_index
from training.tasks.otc.experiments.common import ExperimentConfig, Market, finish, measured, write_table
from training.tasks.otc.probe import record, response
from training.plotting import panels, save_panels

GAMMAS = (0.0, 0.5, 1.0, 2.0)
INVENTORY_UNITS = np.linspace(-4.0, 4.0, 9)  # the response grid (units)
MIN_INVENTORY = 0.5  # units: rounds with a smaller |inventory| are not scored for the skew sign


def measure(market: Market, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """The skew response (len(GAMMAS), len(INVENTORY_UNITS)), its slope per unit per gamma, and
    the episodes' inventory and skew pairs."""
    env, params = market.env, market.params
    k = env.config.n_tiers
    rec = record(env, params, market.policy(), episodes, seed)
    obs = rec["lp_obs"].reshape(-1, rec["lp_obs"].shape[-1])
    scale = float(params.inventory_scale)
    curves = []
    for gamma in GAMMAS:
        base = obs.copy()
        base[:, lp_index("gamma")] = gamma
        acts = response(market.act("lp"), base, lp_index("inventory"), INVENTORY_UNITS / scale)
        curves.append(acts[..., k].mean(axis=1))
    curves = np.array(curves)
    slope = np.polyfit(INVENTORY_UNITS, curves.T, 1)[0]  # skew per unit of inventory, per gamma
    held = rec["lp_obs"][..., lp_index("inventory")].reshape(-1) * scale
    skew = rec["lp_action"][..., k].reshape(-1)
    scored = np.abs(held) >= MIN_INVENTORY
    opposes = float(np.mean(np.sign(skew[scored]) == -np.sign(held[scored]))) if scored.any() else float("nan")
    corr = float(np.corrcoef(held, skew)[0, 1]) if held.std() > 0 and skew.std() > 0 else float("nan")
    return {"curves": curves, "slope": slope, "held": held, "skew": skew, "opposes": opposes, "corr": corr,
            "scored": int(scored.sum())}


def plot(m: dict, path, title: str):
    fig, axes = panels(2)
    a, b = axes
    for gamma, curve in zip(GAMMAS, m["curves"]):
        a.plot(INVENTORY_UNITS, curve, marker="o", label=f"γ = {gamma:g}")
    a.axhline(0, color="black", lw=0.6)
    a.axvline(0, color="black", lw=0.6)
    a.set_xlabel("inventory (units)")
    a.set_ylabel("skew (units of S_ref(0))")
    a.set_title("Policy response: skew against inventory, by risk aversion", fontsize=10)
    a.legend(fontsize=8)
    rng = np.random.default_rng(0)
    pick = rng.choice(m["held"].size, size=min(5000, m["held"].size), replace=False)
    b.scatter(m["held"][pick], m["skew"][pick], s=3, alpha=0.3, color="tab:blue")
    edges = np.quantile(m["held"], np.linspace(0, 1, 21))
    mids, means = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (m["held"] >= lo) & (m["held"] <= hi)
        if sel.any():
            mids.append(m["held"][sel].mean())
            means.append(m["skew"][sel].mean())
    b.plot(mids, means, color="tab:red", lw=2, label="binned mean")
    b.axhline(0, color="black", lw=0.6)
    b.axvline(0, color="black", lw=0.6)
    b.set_xlabel("inventory held when quoting (units)")
    b.set_ylabel("skew quoted")
    b.set_title(f"Episodes: corr {m['corr']:.2f}; skew opposes inventory in {100 * m['opposes']:.0f}% of rounds",
                fontsize=10)
    b.legend(fontsize=8)
    return save_panels(fig, axes, path, title)


@dataclasses.dataclass(frozen=True)
class SkewConfig(ExperimentConfig):
    """Claim 1: learned LPs skew their quotes against their inventory, across risk aversion."""


def run(config: SkewConfig) -> None:
    """Measure, plot and tabulate (module docstring)."""
    start, market, m = measured(config, measure)
    at = INVENTORY_UNITS.size // 2
    rows = [[f"{g:g}", float(c[0]), float(c[at]), float(c[-1]), float(s)] for g, c, s in zip(GAMMAS, m["curves"], m["slope"])]
    png = plot(m, f"{config.out}/skew.png", "Claim 1: learned LPs skew against their inventory")
    table, text = write_table(
        config.out, "skew", "Skew against inventory (policy response)",
        ["γ", f"skew at {INVENTORY_UNITS[0]:g} units", "skew at 0", f"skew at +{INVENTORY_UNITS[-1]:g} units",
         "slope per unit"], rows,
        [f"Episodes ({config.episodes}, seed {config.eval_seed}): corr(inventory, skew) = {m['corr']:.3f}; the skew's sign "
         f"opposes the inventory in {100 * m['opposes']:.1f}% of {m['scored']:,} LP-rounds with |inventory| >= "
         f"{MIN_INVENTORY} units.", f"Market: {market.source}."])
    finish(market, start, text, png, table)

"""Claim 2: a more risk-averse LP type (larger gamma) hedges a larger fraction of its inventory and
skews more.

The *response*: on observations from evaluation episodes with the LP's gamma set to each value of
a grid, the policy's hedge fraction (everything else as observed) and its |skew| with the
inventory set to +-``PROBE_UNITS``. The *episodes*: every LP's gamma pinned to the value; the
realised hedge ratio (units hedged on the ECN per unit traded with clients) and the mean |inventory|.

    jaxmarket experiment risk_aversion [--checkpoint runs/otc/final] [--out runs/experiments]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxmarket.otc.observations import lp_index
from training.tasks.otc.experiments.common import ExperimentConfig, Market, finish, measured, write_table
from training.tasks.otc.probe import record, response
from training.plotting import panels, save_panels

GAMMAS = np.linspace(0.0, 2.0, 9)
PROBE_UNITS = 2.0  # |inventory| (units) at which |skew| is read


def measure(market: Market, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Per gamma of ``GAMMAS``: the policy's hedge fraction and |skew| (response), and the episodes'
    hedge ratio and mean |inventory| with all LPs at that gamma."""
    env, params = market.env, market.params
    k = env.config.n_tiers
    obs = record(env, params, market.policy(), episodes, seed)["lp_obs"]
    obs = obs.reshape(-1, obs.shape[-1])
    acts = response(market.act("lp"), obs, lp_index("gamma"), GAMMAS)  # (G, N, k + 2)
    hedge = acts[..., k + 1].mean(axis=1)
    scale = float(params.inventory_scale)
    abs_skew = []
    for gamma in GAMMAS:
        base = obs.copy()
        base[:, lp_index("gamma")] = gamma
        both = response(market.act("lp"), base, lp_index("inventory"), np.array([-PROBE_UNITS, PROBE_UNITS]) / scale)
        abs_skew.append(np.abs(both[..., k]).mean())
    ratio, inventory = [], []
    for gamma in GAMMAS:
        rec = record(env, params, market.policy(), episodes, seed, pin={"lp": {"gamma": float(gamma)}})
        ratio.append(rec["hedge_volume"].sum() / max(rec["lp_volume"].sum(), 1e-9))
        inventory.append(np.abs(rec["inventory"]).mean())
    return {"gamma": GAMMAS, "hedge": hedge, "abs_skew": np.array(abs_skew), "hedge_ratio": np.array(ratio),
            "abs_inventory": np.array(inventory)}


def plot(m: dict, path, title: str):
    fig, axes = panels(3)
    a, b, c = axes
    a.plot(m["gamma"], m["hedge"], marker="o", label="policy hedge fraction")
    a.plot(m["gamma"], m["hedge_ratio"], marker="s", label="episodes: hedged / client volume")
    a.set_xlabel("risk aversion γ")
    a.set_ylabel("fraction")
    a.set_ylim(0, 1.05)
    a.set_title("Hedging", fontsize=10)
    a.legend(fontsize=8)
    b.plot(m["gamma"], m["abs_skew"], marker="o", color="tab:red")
    b.set_xlabel("risk aversion γ")
    b.set_ylabel(f"|skew| at ±{PROBE_UNITS:g} units")
    b.set_title("Skew magnitude", fontsize=10)
    c.plot(m["gamma"], m["abs_inventory"], marker="o", color="tab:green")
    c.set_xlabel("risk aversion γ")
    c.set_ylabel("mean |inventory| (units)")
    c.set_title("Episodes: inventory held", fontsize=10)
    return save_panels(fig, axes, path, title)


@dataclasses.dataclass(frozen=True)
class RiskAversionConfig(ExperimentConfig):
    """Claim 2: a more risk-averse LP hedges a larger fraction and skews more."""


def run(config: RiskAversionConfig) -> None:
    """Measure, plot and tabulate (module docstring)."""
    start, market, m = measured(config, measure)
    rows = [[f"{g:.2f}", float(h), float(s), float(r), float(i)]
            for g, h, s, r, i in zip(m["gamma"], m["hedge"], m["abs_skew"], m["hedge_ratio"], m["abs_inventory"])]
    png = plot(m, f"{config.out}/risk_aversion.png", "Claim 2: risk aversion, hedging and skew")
    table, text = write_table(
        config.out, "risk_aversion", "Hedging and skew against risk aversion γ",
        ["γ", "hedge fraction (policy)", f"|skew| at ±{PROBE_UNITS:g} units (policy)", "hedged / client volume (episodes)",
         "mean |inventory| (episodes)"], rows,
        [f"{config.episodes} episodes per γ (seed {config.eval_seed}), every LP's γ pinned.", f"Market: {market.source}."])
    finish(market, start, text, png, table)

"""Claim 3: lowering an LP's omega (more weight on market share, less on PnL) gives tighter
spreads, a higher market share and a lower PnL; the omega grid traces a PnL-share frontier.

Evaluation episodes with LP 0's omega pinned to each grid value (the other LPs keep types drawn
from the supertype, so LP 0 competes with the usual population); LP 0's quoted half-spread (the
mean over tiers and rounds of (1 + eps_k) S_ref(0), bp), market share, PnL and reward.

    jaxmarket experiment incentives [--checkpoint runs/otc/final] [--out runs/experiments]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxmarket.otc.observations import lp_index
from training.tasks.otc.experiments.common import ExperimentConfig, Market, finish, measured, write_table
from training.tasks.otc.probe import record
from training.plotting import panels, save_panels

OMEGAS = np.linspace(0.0, 1.0, 6)
PROBED_LP = 0


def standard_error(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(x.size))


def measure(market: Market, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Per omega of ``OMEGAS``: LP 0's mean half-spread (bp), share, PnL, reward, and their standard errors."""
    env, params = market.env, market.params
    k = env.config.n_tiers
    out = {name: [] for name in ("spread_bp", "share", "pnl", "reward", "share_se", "pnl_se")}
    for omega in OMEGAS:
        rec = record(env, params, market.policy(), episodes, seed, pin={"lp": {"omega": float(omega)}},
                     agents={"lp": PROBED_LP + 1})
        eps = rec["lp_action"][:, :, PROBED_LP, :k]
        half = rec["lp_obs"][:, :, PROBED_LP, lp_index("ecn_half_spread_bp")]
        out["spread_bp"].append(float(((1.0 + eps).mean(axis=-1) * half).mean()))
        share, pnl = rec["market_share"][:, PROBED_LP], rec["lp_pnl"][:, PROBED_LP]
        out["share"].append(float(share.mean()))
        out["pnl"].append(float(pnl.mean()))
        out["share_se"].append(standard_error(share))
        out["pnl_se"].append(standard_error(pnl))
        out["reward"].append(float(rec["lp_reward"][:, :, PROBED_LP].sum(axis=1).mean()))
    return {"omega": OMEGAS, **{name: np.array(v) for name, v in out.items()}}


def plot(m: dict, path, title: str):
    fig, axes = panels(2)
    a, b = axes
    a.errorbar(100 * m["share"], m["pnl"], xerr=100 * m["share_se"], yerr=m["pnl_se"], marker="o", capsize=3)
    for omega, x, y in zip(m["omega"], m["share"], m["pnl"]):
        a.annotate(f"ω={omega:.1f}", (100 * x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    a.set_xlabel("LP 0 market share (%)")
    a.set_ylabel("LP 0 episode PnL (bp-units)")
    a.set_title("PnL–market share frontier traced by ω", fontsize=10)
    b.plot(m["omega"], m["spread_bp"], marker="o", color="tab:red")
    b.set_xlabel("ω (1: PnL only, 0: market share only)")
    b.set_ylabel("LP 0 quoted half-spread (bp)")
    b.set_title("Spread against ω", fontsize=10)
    return save_panels(fig, axes, path, title)


@dataclasses.dataclass(frozen=True)
class IncentivesConfig(ExperimentConfig):
    """Claim 3: lowering omega tightens spreads, raises market share and lowers PnL."""


def run(config: IncentivesConfig) -> None:
    """Measure, plot and tabulate (module docstring)."""
    start, market, m = measured(config, measure)
    rows = [[f"{o:.1f}", float(s), f"{100 * sh:.1f} ± {100 * se:.1f}", f"{p:.1f} ± {pe:.1f}", float(r)]
            for o, s, sh, se, p, pe, r in zip(m["omega"], m["spread_bp"], m["share"], m["share_se"], m["pnl"],
                                              m["pnl_se"], m["reward"])]
    png = plot(m, f"{config.out}/incentives.png", "Claim 3: incentives, ω trades PnL for market share")
    table, text = write_table(
        config.out, "incentives", "LP 0 with its ω pinned (the other LPs from the supertype)",
        ["ω", "half-spread (bp)", "market share (%)", "PnL (bp-units)", "reward"], rows,
        [f"{config.episodes} episodes per ω (seed {config.eval_seed}); ± one standard error.", f"Market: {market.source}."])
    finish(market, start, text, png, table)

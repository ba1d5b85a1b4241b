"""Claim 4: a client type that weighs only PnL (omega = 1) trades with an LP only when the LP's
quote beats the ECN; a type that weighs only its execution schedule (omega = 0) meets its target.

The clients train against random dealers (LP role ``"random"``: uniform spread multipliers and
skews, so quotes range from far outside the ECN to below the mid), which shows them bargains as
well as bad prices. Two populations: the *mixed* one (preset ``"clients"``: half PnL-only, half
schedule-only, one shared policy) and a *schedule-only* one (preset ``"schedule"``).

- The *response*: a PnL-only, risk-neutral client's choice as LP 0's cost of buying is swept from
  twice the ECN's cost to minus twice it, on observations where LP 0 streams to it.
- The *episodes*: the mixed population with every client's omega pinned to 1, then to 0, and the
  schedule-only population. For each trade, the costs the client saw (each connected LP's cost of
  its size for its side, and the ECN's, bp over the mid) say whether the chosen LP beat the ECN;
  at the end, |executed - target| / |target| says whether a client met its target.

    jaxmarket experiment clients [--checkpoint runs/clients/final] [--schedule-checkpoint …]"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np

from jaxmarket.otc.observations import lt_index
from training.tasks.otc.experiments.common import ExperimentConfig, Market, finish, market_from, write_table
from training.tasks.otc.probe import record
from training.plotting import panels, save_panels

MIN_TARGET = 2.0  # units: clients with a smaller |target| are left out of the execution gap
COST_MULTIPLES = np.linspace(-2.0, 2.0, 9)  # LP 0's buy cost in multiples of the ECN's cost
LP_ROLE = "random"
PRESET = "clients"
SCHEDULE_PRESET = "schedule"
BUY_AT_LP0 = 1  # the action code "buy from LP 0"


def buy_response(market: Market, lt_obs: np.ndarray) -> np.ndarray:
    """Per multiple m of ``COST_MULTIPLES``: the fraction of observations (where LP 0 is connected)
    on which a PnL-only (omega = 1), risk-neutral (gamma = 0) client buys from LP 0 when LP 0's buy
    cost is m times the ECN's."""
    config = market.env.config
    obs = lt_obs.reshape(-1, lt_obs.shape[-1]).copy()
    obs = obs[obs[:, lt_index("connected", config, 0)] > 0]
    obs[:, lt_index("omega", config)] = 1.0
    obs[:, lt_index("gamma", config)] = 0.0
    act = jax.jit(market.act("lt"))
    fractions = []
    for m in COST_MULTIPLES:
        probe = obs.copy()
        probe[:, lt_index("buy_cost_bp", config, 0)] = m * probe[:, lt_index("ecn_cost_bp", config)]
        fractions.append(float(np.mean(np.asarray(act(probe)) == BUY_AT_LP0)))
    return np.array(fractions)


def trades(market: Market, rec: dict) -> dict[str, np.ndarray]:
    """Per RL-client trade: the venue kind and the cost seen (bp) at the chosen venue and the ECN."""
    config = market.env.config
    n_lts, n_lps = config.n_lts, config.n_lps
    venue, side = rec["venue"][:, :, :n_lts], rec["side"][:, :, :n_lts]
    obs = rec["lt_obs"]
    buy = np.stack([obs[..., lt_index("buy_cost_bp", config, j)] for j in range(n_lps)], axis=-1)
    sell = np.stack([obs[..., lt_index("sell_cost_bp", config, j)] for j in range(n_lps)], axis=-1)
    lp_cost = np.where(side[..., None] > 0, buy, sell)  # (E, R, n_lts, n_lps)
    ecn = obs[..., lt_index("ecn_cost_bp", config)]
    traded = side != 0
    at_lp = traded & (venue < n_lps)
    chosen = np.take_along_axis(lp_cost, np.minimum(venue, n_lps - 1)[..., None], axis=-1)[..., 0]
    cost = np.where(at_lp, chosen, ecn)
    return {"traded": traded, "at_lp": at_lp, "at_ecn": traded & (venue == n_lps), "beats": at_lp & (chosen < ecn),
            "cost": cost, "ecn": ecn}


def episode_stats(market: Market, rec: dict, episodes: int) -> dict[str, Any]:
    """Trade counts and kinds, the cost paid, and the execution gap of the RL clients of ``rec``."""
    t = trades(market, rec)
    n = max(int(t["traded"].sum()), 1)
    target, executed = rec["lt_target"], rec["lt_executed"]
    big = np.abs(target) >= MIN_TARGET
    gap = np.abs(executed - target)[big] / np.abs(target)[big]
    return {
        "trades_per_episode": t["traded"].sum() / (episodes * market.env.config.n_lts),
        "lp_share": t["at_lp"].sum() / n, "ecn_share": t["at_ecn"].sum() / n,
        "lp_beats_ecn": t["beats"].sum() / t["at_lp"].sum() if t["at_lp"].any() else float("nan"),
        "lp_trades": int(t["at_lp"].sum()),
        "mean_cost_bp": float(t["cost"][t["traded"]].mean()) if t["traded"].any() else float("nan"),
        "margin_bp": (t["cost"] - t["ecn"])[t["at_lp"]],
        "gap_median": float(np.median(gap)), "target": target[big], "executed": executed[big],
    }


def measure(market: Market, schedule_market: Market, episodes: int, seed: int) -> dict[str, Any]:
    """The mixed population with every client's omega pinned to 1 and to 0, the PnL-only buy
    response, and the schedule-only population."""
    out = {}
    for name, omega in (("pnl_only", 1.0), ("schedule_pinned", 0.0)):
        rec = record(market.env, market.params, market.policy(), episodes, seed, pin={"lt": {"omega": omega}})
        out[name] = episode_stats(market, rec, episodes)
        if omega == 1.0:
            out["buy_response"] = buy_response(market, rec["lt_obs"])
    rec = record(schedule_market.env, schedule_market.params, schedule_market.policy(), episodes, seed)
    out["schedule_population"] = episode_stats(schedule_market, rec, episodes)
    return out


def plot(m: dict, path, title: str):
    fig, axes = panels(3)
    a, b, c = axes
    for name, label, colour in (("pnl_only", "mixed population, ω = 1", "tab:blue"),
                                ("schedule_population", "schedule-only population (ω = 0)", "tab:orange")):
        r = m[name]
        a.scatter(r["target"], r["executed"], s=6, alpha=0.4, color=colour,
                  label=f"{label}: median gap {100 * r['gap_median']:.0f}% of target")
    lim = max(np.abs(m["pnl_only"]["target"]).max(), 1.0)
    a.plot([-lim, lim], [-lim, lim], color="black", lw=0.8, ls="--", label="executed = target")
    a.set_xlabel("target (units)")
    a.set_ylabel("executed over the episode (units)")
    a.set_title("Execution against target", fontsize=10)
    a.legend(fontsize=8)
    pnl_only = m["pnl_only"]
    if pnl_only["margin_bp"].size:
        b.hist(pnl_only["margin_bp"], bins=40, color="tab:blue")
    b.axvline(0, color="black", lw=0.8)
    b.set_xlabel("LP cost − ECN cost at the chosen LP (bp; < 0: the LP beats the ECN)")
    b.set_ylabel("trades")
    b.set_title(f"PnL-only clients' LP trades: {100 * pnl_only['lp_beats_ecn']:.1f}% beat the ECN "
                f"({pnl_only['lp_trades']} trades)", fontsize=10)
    c.plot(COST_MULTIPLES, 100 * m["buy_response"], marker="o")
    c.axvline(1.0, color="grey", ls="--", lw=0.8, label="LP 0 = ECN")
    c.axvline(0.0, color="black", lw=0.8, label="LP 0 at the mid")
    c.set_xlabel("LP 0's cost of buying / the ECN's cost")
    c.set_ylabel("buys from LP 0 (% of observations)")
    c.set_title("PnL-only, risk-neutral client: response to LP 0's price", fontsize=10)
    c.legend(fontsize=8)
    return save_panels(fig, axes, path, title)


ROW_LABELS = {"pnl_only": "mixed population, ω pinned to 1 (PnL only)",
              "schedule_pinned": "mixed population, ω pinned to 0 (schedule only)",
              "schedule_population": "schedule-only population (ω = 0)"}


@dataclasses.dataclass(frozen=True)
class ClientsConfig(ExperimentConfig):
    """Claim 4: PnL-only clients take an LP's quote only when it beats the ECN; schedule-only clients meet targets.

    Without --checkpoint, trains the client market (preset 'clients') first."""

    schedule_checkpoint: str | None = None
    """a checkpoint of the schedule-only population (preset 'schedule'); None: train it"""


def run(config: ClientsConfig) -> None:
    """Measure, plot and tabulate (module docstring)."""
    start = time.perf_counter()
    market = market_from(config, PRESET, {"lp": LP_ROLE}, learned="lt")
    schedule = market_from(dataclasses.replace(config, checkpoint=config.schedule_checkpoint),
                           SCHEDULE_PRESET, {"lp": LP_ROLE}, learned="lt")
    m = measure(market, schedule, config.episodes, config.eval_seed)
    rows = [[ROW_LABELS[k], float(r["trades_per_episode"]), f"{100 * r['lp_share']:.1f}%", f"{100 * r['ecn_share']:.1f}%",
             f"{100 * r['lp_beats_ecn']:.1f}%" if r["lp_trades"] else "no dealer trades", float(r["mean_cost_bp"]), f"{100 * r['gap_median']:.1f}%"]
            for k, r in m.items() if k in ROW_LABELS]
    png = plot(m, f"{config.out}/clients.png", "Claim 4: PnL-driven and schedule-driven clients")
    market.train_wall_s += schedule.train_wall_s
    table, text = write_table(
        config.out, "clients", "RL clients against random dealers",
        ["clients", "trades per client-episode", "with an LP", "on the ECN", "LP trades beating the ECN",
         "mean cost (bp)", "median |executed − target| / |target|"], rows,
        [f"{config.episodes} episodes each (seed {config.eval_seed}); clients with |target| >= {MIN_TARGET:g} units for "
         "the execution gap.",
         "Response of a PnL-only, risk-neutral client (buys from LP 0, % of observations) at LP 0 buy cost = m x ECN "
         "cost: " + ", ".join(f"m={x:g}: {100 * y:.1f}%" for x, y in zip(COST_MULTIPLES, m["buy_response"])) + ".",
         f"Mixed market: {market.source}. Schedule population: {schedule.source}."])
    finish(market, start, text, png, table)

"""Evaluation sweeps over agent types: a trained OTC market evaluated with chosen type fields
pinned to each point of a grid (like Phantom's sweeps over supertype ranges), the learned LPs next
to the heuristic dealers on the same types and seeds. ``jaxmarket evaluate --checkpoint … --grid
lp.gamma=0,1,2`` runs it from the command line.

A grid is ``{"family.field": values}``; the sweep runs every combination. A pinned field is set
for the first ``agents`` agents of its family (all of them by default) after each reset.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from jaxmarket.otc.dealer import heuristic_policy
from jaxmarket.core.validation import check_choice, check_range
from training.tasks.otc.probe import BOUNDS, FIELDS, record

Grid = dict[str, list[float]]
DEFAULT_EPISODES = 256


def parse_grid(items: list[str]) -> Grid:
    """``["lp.gamma=0,1,2", ...]`` -> ``{"lp.gamma": [0.0, 1.0, 2.0]}``; ``ValueError`` naming a bad item."""
    grid: Grid = {}
    for item in items:
        name, sep, values = item.partition("=")
        family, dot, field = name.partition(".")
        if not (sep and dot):
            raise ValueError(f"--grid {item!r}: expected FAMILY.FIELD=V1,V2,..., e.g. lp.gamma=0,0.5,1")
        check_choice("grid family", family, tuple(FIELDS))
        check_choice(f"grid field of {family}", field, FIELDS[family])
        try:
            grid[name] = [float(v) for v in values.split(",")]
        except ValueError:
            raise ValueError(f"--grid {item!r}: values must be numbers separated by commas") from None
        check_range(f"grid {name}", grid[name], *BOUNDS[family][field])
    return grid


def sweep(trainer: Any, policy: Any, grid: Grid, episodes: int, seed: int, agents: int | None = None,
          with_heuristic: bool = True) -> list[dict[str, Any]]:
    """One row per grid point (and per LP policy: learned, then heuristic dealers on the same
    seeds): the point, the mean episode return per family, the mean LP share, PnL, hedge volume
    and quoted half-spread, and the client flow split."""
    env, params = trainer.env, trainer.env_params
    policies = {"learned": policy}
    if with_heuristic and "lp" in trainer.learned:
        heuristic = heuristic_policy(env)
        policies["heuristic LPs"] = lambda k, o, s, p: {"lp": heuristic(k, o, s, p)["lp"], "lt": policy(k, o, s, p)["lt"]}
    names = list(grid)
    rows = []
    for point in itertools.product(*(grid[n] for n in names)) if names else [()]:
        pin: dict[str, dict[str, float]] = {}
        for name, value in zip(names, point):
            family, field = name.split(".")
            pin.setdefault(family, {})[field] = value
        counts = {family: agents for family in pin}
        for label, act in policies.items():
            rec = record(env, params, act, episodes, seed, pin=pin, agents=counts)
            row = {**dict(zip(names, point)), "LPs": label,
                   "lp_return": float(rec["lp_reward"].sum(axis=1).mean())}
            if env.config.n_lts:
                row["lt_return"] = float(rec["lt_reward"].sum(axis=1).mean())
            row.update({"share_%": 100 * float(rec["market_share"].mean()), "lp_pnl": float(rec["lp_pnl"].mean()),
                        "hedged": float(rec["hedge_volume"].mean()),
                        "spread_bp": float(rec["tier_spread_bp"].mean()),
                        "flow_lp_%": 100 * float(rec["flow_lp"].mean()), "flow_ecn_%": 100 * float(rec["flow_ecn"].mean()),
                        "no_trade_%": 100 * float(rec["flow_none"].mean())})
            rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of ``sweep``'s rows."""
    header = list(rows[0])
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(r[h]) for h in header) + " |" for r in rows]
    return "\n".join(lines)


def mean_of(rows: list[dict[str, Any]], column: str, **where: Any) -> np.ndarray:
    """``column`` of the rows matching ``where``, as an array (for tests and plots)."""
    return np.array([r[column] for r in rows if all(r.get(k) == v for k, v in where.items())])

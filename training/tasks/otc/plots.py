"""The plot of one OTC-v0 episode (``episode.simulate_episode``'s record): quotes, inventories,
hedges and market shares against the round."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxmarket.otc.rewards import BASIS_POINT
from training.plotting import save_png
from training.tasks.otc.episode import QUOTE_SIZE


def plot_episode(record: dict[str, np.ndarray], path: str | Path, title: str | None = None) -> Path:
    """Four panels against the round: (1) the mid with each LP's tier-0 bid and ask (thin lines,
    one colour per LP; below it a strip of the quotes' distance from the mid in bp, where they can
    be told apart), (2) LP inventories, (3) LP hedges (grouped bars), (4) each LP's cumulative
    share of client volume, and the ECN's. Written as a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    price, bid, ask = record["price"], record["bid"], record["ask"]
    n_rounds, n_lps = bid.shape
    t = np.arange(n_rounds)
    edges = np.arange(n_rounds + 1)  # a round's value holds from its start to the next round's
    held = lambda y: np.concatenate([y, y[-1:]], axis=0)  # noqa: E731
    colours = [plt.get_cmap("tab10")(j % 10) for j in range(n_lps)]
    fig, (ax_p, ax_q, ax_i, ax_h, ax_s) = plt.subplots(
        5, 1, figsize=(12, 12), sharex=True, gridspec_kw={"height_ratios": [2.2, 1.1, 1.5, 1.5, 1.5]})
    steps = {"where": "post"}

    ax_p.step(edges, held(price), color="black", lw=1.4, label="reference mid", **steps)
    for j, c in enumerate(colours):
        ax_p.step(edges, held(bid[:, j]), color=c, lw=0.6, alpha=0.9, label=f"LP {j} bid / ask", **steps)
        ax_p.step(edges, held(ask[:, j]), color=c, lw=0.6, alpha=0.9, **steps)
    ax_p.set_ylabel("price (quote ccy per unit)")
    ax_p.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax_p.set_title(f"(1) Reference mid and each LP's tier-0 bid / ask for {QUOTE_SIZE:g} unit", fontsize=10)
    ax_p.legend(loc="best", fontsize=8, ncol=min(n_lps + 1, 5))

    half_ecn = held(0.5 * record["ecn_spread_bp"])
    ax_q.fill_between(edges, -half_ecn, half_ecn, step="post", color="grey", alpha=0.25, label="ECN ± s0/2")
    for j, c in enumerate(colours):
        ax_q.step(edges, held((ask[:, j] / price - 1) / BASIS_POINT), color=c, lw=0.8, **steps)
        ax_q.step(edges, held((bid[:, j] / price - 1) / BASIS_POINT), color=c, lw=0.8, ls="--", **steps)
    ax_q.axhline(0, color="black", lw=0.6)
    ax_q.set_ylabel("quote − mid (bp)")
    ax_q.set_title("    LP quotes relative to the mid (solid: ask, dashed: bid; equal quotes overlap)", fontsize=9,
                   loc="left")
    ax_q.legend(loc="upper right", fontsize=8)

    for j, c in enumerate(colours):
        ax_i.step(edges, held(record["inventory"][:, j]), color=c, lw=1.0, label=f"LP {j}", **steps)
    ax_i.axhline(0, color="black", lw=0.6)
    ax_i.set_ylabel("inventory (units)")
    ax_i.set_title("(2) LP inventory after each round's trades and hedge", fontsize=10)
    ax_i.legend(loc="best", fontsize=8, ncol=n_lps)

    width = 0.8 / n_lps
    for j, c in enumerate(colours):
        ax_h.bar(t + 0.1 + (j + 0.5) * width, record["hedge"][:, j], width=width, color=c, label=f"LP {j}")
    ax_h.axhline(0, color="black", lw=0.6)
    ax_h.set_ylabel("hedge on ECN (units, + buy)")
    ax_h.set_title(f"(3) LP hedges on the ECN (total |hedge|: {np.abs(record['hedge']).sum():.1f} units)", fontsize=10)
    ax_h.legend(loc="best", fontsize=8, ncol=n_lps)

    cum = 100.0 * record["cum_share"]
    for j, c in enumerate(colours):
        ax_s.step(edges, held(cum[:, j]), color=c, lw=1.2, label=f"LP {j} ({cum[-1, j]:.1f}%)", **steps)
    traded = np.cumsum(record["client_flow"]) > 0
    ecn = np.where(traded, 100.0 - cum.sum(axis=1), np.nan)
    ax_s.step(edges, held(ecn), color="grey", lw=1.2, ls="--", label=f"ECN, clients direct ({ecn[-1]:.1f}%)", **steps)
    ax_s.set_ylim(0, 100)
    ax_s.set_ylabel("cumulative share (%)")
    ax_s.set_title("(4) Cumulative share of client volume", fontsize=10)
    ax_s.legend(loc="best", fontsize=8, ncol=min(n_lps + 1, 5))
    ax_s.set_xlabel("round")
    ax_s.set_xlim(0, n_rounds)

    for ax in (ax_p, ax_q, ax_i, ax_h, ax_s):
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"OTC-v0: one episode of {n_rounds} rounds, {n_lps} LPs")
    fig.tight_layout()
    return save_png(fig, path)


__all__ = ["plot_episode"]

"""Agent types of the OTC market: the fields, their valid ranges and the default supertypes.

An LP's type weights its reward (see ``rewards``). The "LT" type is every client's, RL and flow
clients alike (``OTCState.client_types`` has one row per client): it weights an RL client's reward
and sets a flow client's trading behaviour. Each episode every LP and every client draws its type
from ``OTCParams.lp_supertype`` / ``OTCParams.lt_supertype``; an agent's type is appended to its
observation.
"""

from __future__ import annotations

import math

from jaxmarket.core.supertypes import Supertype, Uniform

LP_TYPE_FIELDS: tuple[str, ...] = ("gamma", "omega", "target_share", "share_weight", "tier_aggressiveness")
"""gamma: risk aversion on |inventory PnL|; omega: weight of PnL against market share (1: PnL only);
target_share: the market share m* aimed at; share_weight: c, bp-units per unit of share gap;
tier_aggressiveness: delta, the curve-pricing heuristic's extra half-spread per tier, in units of S_ref(0)."""

LP_TYPE_BOUNDS: dict[str, tuple[float, float]] = {
    "gamma": (0.0, math.inf),
    "omega": (0.0, 1.0),
    "target_share": (0.0, 1.0),
    "share_weight": (0.0, math.inf),
    "tier_aggressiveness": (0.0, math.inf),
}

LT_TYPE_FIELDS: tuple[str, ...] = ("omega", "alpha", "gamma", "target", "p_trade", "size_scale", "informed")
"""The type fields of every client, RL and flow (the name keeps the family key "lt").

omega: weight of PnL against the execution schedule; alpha: PnL scale; gamma: risk aversion;
target: signed quantity (units) to execute over the episode; p_trade: a flow client's probability
of trading each round; size_scale: trade size (units; flow sizes are log-normal with this mean);
informed: a flow client's probability of knowing the next price move."""

LT_TYPE_BOUNDS: dict[str, tuple[float, float]] = {  # every client's, RL and flow
    "omega": (0.0, 1.0),
    "alpha": (0.0, math.inf),
    "gamma": (0.0, math.inf),
    "target": (-math.inf, math.inf),
    "p_trade": (0.0, 1.0),
    "size_scale": (0.0, math.inf),
    "informed": (0.0, 1.0),
}


def default_lp_supertype() -> Supertype:
    """The default LP supertype: a uniform range for every field."""
    return {
        "gamma": Uniform(0.0, 1.0),
        "omega": Uniform(0.5, 1.0),
        "target_share": Uniform(0.0, 0.5),
        "share_weight": Uniform(0.0, 5.0),
        "tier_aggressiveness": Uniform(0.0, 0.5),
    }


def default_lt_supertype() -> Supertype:
    """The default client supertype, for RL and flow clients alike: a uniform range for every field."""
    return {
        "omega": Uniform(0.5, 1.0),
        "alpha": Uniform(0.5, 1.5),
        "gamma": Uniform(0.0, 1.0),
        "target": Uniform(-20.0, 20.0),
        "p_trade": Uniform(0.2, 0.6),
        "size_scale": Uniform(0.5, 2.0),
        "informed": Uniform(0.0, 0.2),
    }


def column(fields: tuple[str, ...], name: str) -> int:
    """The index of type field ``name`` in a type vector laid out as ``fields``.

    Raises:
      ValueError: ``name`` is not in ``fields``.
    """
    return fields.index(name)

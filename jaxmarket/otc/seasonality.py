"""Intraday seasonality of the OTC market: rounds on a clock, and client arrivals by hour of day.

Round ``t`` covers the clock interval ``[open_hour + t h, open_hour + (t + 1) h)`` with
``h = hours_per_round`` (hours, UTC by convention); its hour of day is
``floor(open_hour + t h) mod 24``. Everything that happens in the round (the client trades, the
reference price's move from ``P_t`` to ``P_{t+1}``) is attributed to that hour, as an hourly bar
of a real series is attributed to the hour its time stamp opens (``jaxmarket.data.statistics``).

Client arrivals: in a round of hour ``k`` a flow client trades with probability
``clip(p_trade * hour_profile[k], 0, 1)``, ``hour_profile`` being 24 non-negative multipliers
(flat, all ones, by default: no seasonality). Intraday volume patterns of FX markets, and of
trading activity generally, are the motivation (e.g. Ito and Hashimoto, "Intraday seasonality in
activities of the foreign exchange markets", J. Japanese Int. Economies 20(4), 2006).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

HOURS_PER_DAY = 24
FLAT_HOUR_PROFILE: tuple[float, ...] = (1.0,) * HOURS_PER_DAY
"""The default arrival multipliers: every hour of day alike."""


def round_hour(t: jax.Array, open_hour: jax.Array, hours_per_round: jax.Array) -> jax.Array:
    """Hour of day (int32 in ``[0, 24)``) of round ``t``: ``floor(open_hour + t * hours_per_round) mod 24``.

    Args:
      t: int32 round index (any shape).
      open_hour: clock hour at the start of round 0, in ``[0, 24)``.
      hours_per_round: hours one round lasts, > 0.

    Returns:
      int32 of ``t``'s shape.
    """
    clock = open_hour + jnp.asarray(t, jnp.float32) * hours_per_round
    return jnp.mod(jnp.floor(clock), HOURS_PER_DAY).astype(jnp.int32)


def arrival_probability(p_trade: jax.Array, hour_profile: jax.Array, hour: jax.Array) -> jax.Array:
    """A flow client's probability of trading in a round of hour ``hour``: ``clip(p_trade * hour_profile[hour], 0, 1)``.

    Args:
      p_trade: (n,) base probabilities, in [0, 1].
      hour_profile: (24,) non-negative multipliers.
      hour: int32 scalar hour of day.

    Returns:
      (n,) float32 probabilities.
    """
    multiplier = jnp.asarray(hour_profile, jnp.float32)[hour]
    return jnp.clip(p_trade * multiplier, 0.0, 1.0)

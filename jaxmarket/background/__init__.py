"""The background market beside the book: ABIDES ``rmsc04``'s noise, value, momentum and adaptive
market-maker agents trading on one ``jaxmarket.lob`` book around a mean-reverting fundamental.

    from jaxmarket import background
    config, params = background.MarketConfig(), background.MarketParams()
    state = background.init(key, config, params)                  # the empty book at the open
    state = background.advance(key, state, config, params, 60.0)  # one minute of trading

Modules: ``market`` (configuration, state and the event scan), ``agents`` (each agent type's
order rule), ``fundamental`` (the mean-reverting value with megashocks), ``order_size`` (the
size mixture) and ``clock`` (integer milliseconds). The model and its sources are in
``docs/abides_gym.md``.
"""

from jaxmarket.background import agents, clock, fundamental, order_size
from jaxmarket.background.market import (
    EVENT_NAMES,
    MAX_POPULATION,
    MAX_SLOTS,
    NUM_NORMALS,
    NUM_UNIFORMS,
    R_BAR_MAX,
    U_NOISE_SIDE,
    U_SHOCK_OCCURS,
    U_SHOCK_SIGN,
    U_SIZE,
    U_VALUE_ADJUST,
    U_VALUE_AGGRESSIVE,
    U_VALUE_SIDE,
    Z_OBSERVATION,
    Z_OU,
    Z_SHOCK,
    Z_SIZE,
    Events,
    MarketConfig,
    MarketParams,
    MarketState,
    advance,
    advance_chunks,
    advance_ms,
    book_events,
    init,
    noise_wake_times,
    schedule,
)

__all__ = [
    "EVENT_NAMES", "MAX_POPULATION", "MAX_SLOTS", "NUM_NORMALS", "NUM_UNIFORMS", "R_BAR_MAX", "U_NOISE_SIDE",
    "U_SHOCK_OCCURS", "U_SHOCK_SIGN", "U_SIZE", "U_VALUE_ADJUST", "U_VALUE_AGGRESSIVE", "U_VALUE_SIDE", "Z_OBSERVATION",
    "Z_OU", "Z_SHOCK", "Z_SIZE", "Events", "MarketConfig", "MarketParams", "MarketState", "advance", "advance_chunks",
    "advance_ms", "agents", "book_events", "clock", "fundamental", "init", "noise_wake_times", "order_size", "schedule",
]

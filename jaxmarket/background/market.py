"""The background market: ABIDES ``rmsc04``'s noise, value, momentum and adaptive market-maker
agents trading on one book around a mean-reverting fundamental, as pure functions.

    config = MarketConfig()                                  # static: populations, capacity, slots
    params = MarketParams()                                  # numeric, traced
    state = init(key, config, params)                        # the empty book at the open
    state = advance(key, state, config, params, 60.0)        # one minute of trading

**The clock.** Time is kept in integers: int32 milliseconds after midnight (``jaxmarket.background.clock``).
Every time that wakes an agent or ends an interval (events, noise wake times, market-maker
refreshes, value agents' last updates, ``state.time_ms``) is an integer on it, so interval lengths
and step counts are exact. ``MarketParams.check`` refuses a time that the clock cannot hold
exactly (``clock.check_time``). Random arrival and wake times are drawn continuous and rounded to
the millisecond.

**Prices.** Book prices are int32 ticks (cents). The fundamental, the value agents' estimates, the
momentum agents' mids and the market makers' last mids are float32 *deviations* from the reference
tick ``state.ref = round(r_bar)`` (int32), so their resolution does not depend on the price level:
a deviation is exact to the cent while it is below 2**24 cents. ``r_bar`` is at most ``R_BAR_MAX``
= ``MAX_PRICE // 2`` (2**29 cents), which leaves room above it for the book's prices; an order
priced outside ``[1, max_price]`` is rejected by the book and counted in its status counts.

**Events.** Within ``advance`` every agent arrival becomes an event with a time; the events are
sorted by time and applied one at a time with ``lax.scan``, each agent reading the book as the
events before it left it. The number of events per call is static:

- value and momentum agents arrive as Poisson processes. Their superposition is one Poisson
  count per type, each arrival going to an agent drawn uniformly (exact for identical rates).
  A value arrival takes two slots (it cancels its previous order, then sends a new one) and a
  momentum arrival one; arrivals beyond ``max_arrival_slots`` are dropped and counted
  (``state.dropped``);
- noise agents each wake once, at a U-quadratic time drawn per day; at most
  ``max_noise_per_advance`` act per call, and later ones wait for the next call (``state.deferred``
  counts the waits);
- each market maker refreshes its ladder every ``mm_period_s`` seconds from a random phase (one
  slot per level; ABIDES draws exponential gaps with that mean). A maker refreshes at most once
  per call: a call longer than ``mm_period_s`` delays its later refreshes, which are counted in
  ``state.mm_late`` (the environments split their steps so that this never happens).

A population of 0 is allowed: its events are never scheduled and its rule is not even traced.

**Randomness.** Each call splits its key into independent keys, one per draw: the Poisson counts,
the arrival times, the arriving agents, the per-event uniforms and normals (one column per random
quantity, ``U_*`` and ``Z_*`` below, so no two quantities of one event share a draw), and the
end-of-interval move of the fundamental (a uniform pair and a normal pair from two keys).

The fundamental moves between consecutive events by its exact transition, and value agents
observe it at their arrival. Owners: noise agents ``[0, n_noise)``, then value, momentum and
market-maker agents in that order; ``config.agent_owner`` is the first free owner id, for an
agent trading alongside.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxmarket.core.validation import INT32_MAX, check_choice, check_int, check_range, check_within
from jaxmarket.background import agents, clock, fundamental, order_size
from jaxmarket.lob.book import DEFAULT_MAX_FILLS, Book, empty
from jaxmarket.lob.constants import EMPTY_ID, FULL_POLICIES, MAX_PRICE, OK, REPLACE
from jaxmarket.lob.matching import Result, apply
from jaxmarket.lob.messages import Message, cancel

# Event kinds.
PAD, VALUE_CANCEL, VALUE_ORDER, MOMENTUM, NOISE, MAKER = range(6)
EVENT_NAMES = ("pad", "value_cancel", "value_order", "momentum", "noise", "maker")


# Per-event random draws: one column of ``Events.uniforms`` / ``Events.normals`` per quantity.
U_SIZE = 0  # order size: the mixture component
U_NOISE_SIDE = 1  # noise agent: buy or sell
U_VALUE_AGGRESSIVE = 2  # value agent: at the opposite touch or backed off
U_VALUE_ADJUST = 3  # value agent: how far it backs off
U_VALUE_SIDE = 4  # value agent on a one-sided book: buy or sell
U_SHOCK_OCCURS = 5  # megashock since the previous event: whether one happens
U_SHOCK_SIGN = 6  # ... and its sign
NUM_UNIFORMS = 7
Z_OU = 0  # the fundamental's move since the previous event
Z_SHOCK = 1  # the megashock's size
Z_SIZE = 2  # order size within the mixture component
Z_OBSERVATION = 3  # the value agent's observation noise
NUM_NORMALS = 4
MOVE_OU, MOVE_SHOCK = 0, 1  # positions in ``move_fundamental``'s normal pair

# Defaults that depend on other fields (``None`` in the dataclasses below).
DEFAULT_MM_LEVELS = 10  # ABIDES rmsc04: 10 orders per side (capped at the capacity)
DEFAULT_MOMENTUM_SHORT = 20  # ABIDES: MA20 (capped at momentum_long)
NOISE_LEAD_S = 1800.0  # rmsc04's noise agents wake from 30 min before the open
R_BAR_MAX = MAX_PRICE // 2  # largest r_bar, cents: the book's prices must stay in [1, MAX_PRICE]
MAX_POPULATION = 1_000_000
MAX_SLOTS = 1_000_000


# ---------------------------------------------------------------- settings

@dataclasses.dataclass(frozen=True)
class MarketConfig:
    """Static settings: population sizes and shapes (changing one recompiles). Defaults are ABIDES
    ``rmsc04``'s populations.

    ``None`` defaults are resolved from the other fields (``ladder_levels``, ``short_window``,
    ``fills_per_result``), so every default is valid with every valid value of the others.

    Args:
        n_noise: noise agents, in ``[0, MAX_POPULATION]``.
        n_value: value agents, in ``[0, MAX_POPULATION]``.
        n_momentum: momentum agents, in ``[0, MAX_POPULATION]``.
        n_market_makers: adaptive market makers, in ``[0, MAX_POPULATION]``.
        mm_levels: orders per side in a maker's ladder, in ``[1, capacity]``; ``None``:
            ``min(10, capacity)``.
        momentum_short: observations in the momentum agents' short average, in
            ``[1, momentum_long]``; ``None``: ``min(20, momentum_long)``.
        momentum_long: observations in their long average, in ``[1, 100_000]``.
        capacity: orders per side of the book, in ``[2, 2**16]``.
        max_fills: fills listed per book result, in ``[1, capacity]``; ``None``: ``min(8, capacity)``.
        full_policy: what a full side does, ``"reject"`` or ``"evict"`` (``lob.constants``).
        max_arrival_slots: event slots per ``advance`` for Poisson arrivals (a value arrival takes
            two, a momentum arrival one), in ``[2, MAX_SLOTS]``.
        max_noise_per_advance: noise agents that may act per ``advance``, in ``[1, MAX_SLOTS]``.

    ``check()`` raises ``ValueError`` naming a field out of its range, its value and the range.
    """

    n_noise: int = 1000
    n_value: int = 102
    n_momentum: int = 12
    n_market_makers: int = 2
    mm_levels: int | None = None  # orders per side in a maker's ladder; None: min(10, capacity)
    momentum_short: int | None = None  # observations in the short average; None: min(20, momentum_long)
    momentum_long: int = 50  # observations in the long moving average
    capacity: int = 128  # orders per side of the book
    max_fills: int | None = None  # fills listed per book result; None: min(8, capacity)
    full_policy: str = "evict"  # what a full side does (see lob.constants)
    max_arrival_slots: int = 144  # value (2 slots each) and momentum (1) arrivals per advance
    max_noise_per_advance: int = 16

    def check(self) -> None:
        """Raise ``ValueError`` naming any invalid field, its value and the valid range."""
        for name in ("n_noise", "n_value", "n_momentum", "n_market_makers"):
            check_int(name, getattr(self, name), 0, MAX_POPULATION)
        check_int("capacity", self.capacity, 2, 2**16)
        if self.mm_levels is not None:
            check_within("mm_levels", self.mm_levels, 1, self.capacity, integer=True, high_name="capacity")
        check_int("momentum_long", self.momentum_long, 1, 100_000)
        if self.momentum_short is not None:
            check_within("momentum_short", self.momentum_short, 1, self.momentum_long, integer=True,
                         high_name="momentum_long")
        if self.max_fills is not None:
            check_within("max_fills", self.max_fills, 1, self.capacity, integer=True, high_name="capacity")
        check_choice("full_policy", self.full_policy, FULL_POLICIES)
        check_int("max_arrival_slots", self.max_arrival_slots, 2, MAX_SLOTS)
        check_int("max_noise_per_advance", self.max_noise_per_advance, 1, MAX_SLOTS)

    @property
    def ladder_levels(self) -> int:
        """Orders per side in a market maker's ladder (``mm_levels`` resolved)."""
        return min(DEFAULT_MM_LEVELS, self.capacity) if self.mm_levels is None else self.mm_levels

    @property
    def short_window(self) -> int:
        """Observations in the momentum agents' short average (``momentum_short`` resolved)."""
        return min(DEFAULT_MOMENTUM_SHORT, self.momentum_long) if self.momentum_short is None else self.momentum_short

    @property
    def fills_per_result(self) -> int:
        """Fills listed per book result (``max_fills`` resolved)."""
        return min(DEFAULT_MAX_FILLS, self.capacity) if self.max_fills is None else self.max_fills

    @property
    def value_owner(self) -> int:
        return self.n_noise

    @property
    def momentum_owner(self) -> int:
        return self.n_noise + self.n_value

    @property
    def maker_owner(self) -> int:
        return self.momentum_owner + self.n_momentum

    @property
    def agent_owner(self) -> int:
        """The first owner id not used by the background agents."""
        return self.maker_owner + self.n_market_makers

    @property
    def num_events(self) -> int:
        """Event slots per ``advance``."""
        return self.max_arrival_slots + self.max_noise_per_advance + self.n_market_makers * 2 * self.ladder_levels


@struct.dataclass
class MarketParams:
    """Numeric settings (traced: changing one does not recompile). Defaults are ABIDES ``rmsc04``'s.

    Times of day are seconds after midnight, whole milliseconds (see the module docstring); the
    fundamental is in ABIDES's units: cents and nanoseconds (``background.fundamental``). ``None``
    defaults are resolved from the other fields (``noise_start_ms``, ``noise_end_ms``). Each
    field's unit and meaning is in the comment beside it; ``check()`` gives the valid ranges.

    Args:
        open_s, close_s: the session, seconds after midnight (``0 <= open_s < close_s <= 86_400``).
        r_bar, kappa, fund_vol, megashock_rate, megashock_mean, megashock_var: the fundamental
            (mean-reverting value with megashocks), cents and nanoseconds.
        noise_wake_start_s, noise_wake_end_s: the noise agents' U-quadratic wake window, seconds
            after midnight.
        value_interval_s, value_obs_var, value_kappa, value_sigma_s, value_aggressive,
            value_depth_spreads: the value agents' arrivals, observations, estimate and orders.
        momentum_interval_s: mean seconds between a momentum agent's arrivals.
        mm_period_s, mm_pov, mm_min_size, mm_level_spacing, mm_price_skew, mm_spread_alpha,
            mm_initial_spread: the adaptive market makers' refreshes and ladders.

    ``check()`` raises ``ValueError`` naming an out-of-range field, its value and the valid range
    (and the other field, for a pair that depends on each other).
    """

    open_s: float = 9.5 * clock.SECONDS_PER_HOUR  # the open, seconds after midnight, in [0, close_s)
    close_s: float = 16.0 * clock.SECONDS_PER_HOUR  # the close, seconds after midnight, in (open_s, 86400]
    r_bar: float = 100_000.0  # mean fundamental value, cents, in [1, R_BAR_MAX]
    kappa: float = 1.67e-16  # fundamental mean reversion, per ns
    fund_vol: float = 5e-5  # fundamental volatility, cents per sqrt(ns)
    megashock_rate: float = 2.77778e-18  # per ns
    megashock_mean: float = 1000.0  # cents
    megashock_var: float = 50_000.0  # cents^2
    # Noise agents wake U-quadratically in [start, end]; before the open they send nothing.
    noise_wake_start_s: float | None = None  # None: NOISE_LEAD_S before the open (at least 0, before the end)
    noise_wake_end_s: float | None = None  # None: the close (at least 1 ms after the start)
    value_interval_s: float = 175.0  # mean time between a value agent's arrivals
    value_obs_var: float = 1000.0  # variance of a value agent's observation of the fundamental, cents^2
    value_kappa: float = 1.67e-15  # the value agents' mean reversion estimate, per ns
    value_sigma_s: float = 100_000.0  # the value agents' prior variance rate, cents^2 per ns
    value_aggressive: float = 0.1  # probability that a value order goes at the opposite touch
    value_depth_spreads: float = 2.0  # otherwise it backs off up to this many spreads
    momentum_interval_s: float = 37.0  # mean time between a momentum agent's arrivals
    mm_period_s: float = 60.0  # seconds between a market maker's refreshes (whole ms)
    mm_pov: float = 0.025  # order size per level as a fraction of the volume since the last refresh
    mm_min_size: int = 1  # smallest order size per level, shares
    mm_level_spacing: float = 5.0  # ladder step, in spreads (the spread EWMA), at least one tick
    mm_price_skew: float = 4.0  # largest shift of the ladder's centre towards the traded side, ticks
    mm_spread_alpha: float = 0.75  # weight of the newest spread in the spread EWMA
    mm_initial_spread: float = 50.0  # the spread EWMA before the first two-sided book, ticks

    def check(self) -> None:
        """Raise ``ValueError`` naming any out-of-range field, its value and the valid range (and
        the other field, for a pair that depends on each other)."""
        clock.check_time("open_s", self.open_s, 0.0, clock.DAY_S, high_open=True)
        clock.check_time("close_s", self.close_s, self.open_s, clock.DAY_S, low_open=True, low_name="open_s")
        check_range("r_bar", self.r_bar, 1.0, float(R_BAR_MAX))
        check_range("kappa", self.kappa, 0.0, 1.0, low_open=True)
        check_range("fund_vol", self.fund_vol, 0.0)
        check_range("megashock_rate", self.megashock_rate, 0.0)
        check_range("megashock_mean", self.megashock_mean, 0.0)
        check_range("megashock_var", self.megashock_var, 0.0)
        start, end = self.noise_wake_start_s, self.noise_wake_end_s
        if start is not None:
            clock.check_time("noise_wake_start_s", start, 0.0, clock.DAY_S, high_open=True)
        if end is not None:
            if start is None:
                clock.check_time("noise_wake_end_s", end, 0.0, clock.DAY_S, low_open=True)
            else:
                clock.check_time("noise_wake_end_s", end, start, clock.DAY_S, low_open=True, low_name="noise_wake_start_s")
        check_range("value_interval_s", self.value_interval_s, 0.0, low_open=True)
        check_range("value_obs_var", self.value_obs_var, 0.0, low_open=True)
        check_range("value_kappa", self.value_kappa, 0.0, 1.0, low_open=True, high_open=True)
        check_range("value_sigma_s", self.value_sigma_s, 0.0)
        check_range("value_aggressive", self.value_aggressive, 0.0, 1.0)
        check_range("value_depth_spreads", self.value_depth_spreads, 0.0)
        check_range("momentum_interval_s", self.momentum_interval_s, 0.0, low_open=True)
        clock.check_time("mm_period_s", self.mm_period_s, 0.0, clock.DAY_S, low_open=True)
        check_range("mm_pov", self.mm_pov, 0.0, 1.0)
        check_int("mm_min_size", self.mm_min_size, 1, INT32_MAX)
        check_range("mm_level_spacing", self.mm_level_spacing, 0.0)
        check_range("mm_price_skew", self.mm_price_skew, 0.0)
        check_range("mm_spread_alpha", self.mm_spread_alpha, 0.0, 1.0)
        check_range("mm_initial_spread", self.mm_initial_spread, 1.0)

    # Times on the clock: Python ints for concrete parameters, int32 arrays when traced.
    @property
    def open_ms(self) -> Any:
        return clock.seconds_to_ms(self.open_s)

    @property
    def close_ms(self) -> Any:
        return clock.seconds_to_ms(self.close_s)

    @property
    def session_ms(self) -> Any:
        """Milliseconds from the open to the close."""
        return self.close_ms - self.open_ms

    @property
    def mm_period_ms(self) -> Any:
        return clock.seconds_to_ms(self.mm_period_s)

    @property
    def noise_start_ms(self) -> Any:
        """``noise_wake_start_s`` on the clock; by default ``NOISE_LEAD_S`` before the open, not before
        midnight, and before a given ``noise_wake_end_s``."""
        if self.noise_wake_start_s is not None:
            return clock.seconds_to_ms(self.noise_wake_start_s)
        lead = clock.scalar_max(self.open_ms - clock.seconds_to_ms(NOISE_LEAD_S), 0)
        if self.noise_wake_end_s is None:
            return lead
        return clock.scalar_min(lead, clock.seconds_to_ms(self.noise_wake_end_s) - 1)

    @property
    def noise_end_ms(self) -> Any:
        """``noise_wake_end_s`` on the clock; by default the close, or 1 ms after a start at or after it."""
        if self.noise_wake_end_s is not None:
            return clock.seconds_to_ms(self.noise_wake_end_s)
        return clock.scalar_max(self.close_ms, self.noise_start_ms + 1)

    @property
    def ref_tick(self) -> Any:
        """The reference tick ``round(r_bar)``: prices are kept as deviations from it (int)."""
        if clock.is_scalar_concrete(self.r_bar):
            return int(round(float(self.r_bar)))
        return jnp.round(jnp.asarray(self.r_bar, jnp.float32)).astype(jnp.int32)


@struct.dataclass
class MarketState:
    """The book, the fundamental and every background agent's memory. Times are int32 ms after
    midnight; float32 prices are deviations from ``ref`` (cents)."""

    book: Book
    time_ms: jax.Array  # () int32, ms after midnight
    ref: jax.Array  # () int32, the reference tick round(r_bar)
    fundamental_dev: jax.Array  # () float32, the fundamental minus ref, cents
    next_id: jax.Array  # () int32, the next order id to hand out
    noise_wake_ms: jax.Array  # (n_noise,) int32, sorted wake times
    noise_next: jax.Array  # () int32, noise agents that have acted
    value_estimate: jax.Array  # (n_value,) float32, estimates minus ref, cents
    value_variance: jax.Array  # (n_value,) float32, cents^2
    value_last_ms: jax.Array  # (n_value,) int32, time of the last update
    value_order: jax.Array  # (n_value,) int32, id of the last order (EMPTY_ID: none)
    momentum_mids: jax.Array  # (n_momentum, momentum_long) float32 ring buffers of mids minus ref
    momentum_count: jax.Array  # (n_momentum,) int32, mids observed
    mm_next_ms: jax.Array  # (n_mm,) int32, time of the next refresh
    mm_spread: jax.Array  # (n_mm,) float32, spread EWMA, ticks
    mm_last_mid: jax.Array  # (n_mm,) float32, last mid seen minus ref (NaN: none yet)
    mm_volume: jax.Array  # (n_mm, 2) int32, traded since the last refresh, by aggressor side
    mm_orders: jax.Array  # (n_mm, 2, levels) int32, ids of the ladder's orders
    mm_prices: jax.Array  # (n_mm, 2, levels) int32, the ladder being placed
    mm_sizes: jax.Array  # (n_mm,) int32, shares per ladder order
    mm_quoting: jax.Array  # (n_mm,) bool
    accepted: jax.Array  # (len(EVENT_NAMES),) int32, messages accepted (status OK) per event kind
    replaced: jax.Array  # () int32, accepted maker messages that were replaces (cancel + new order)
    dropped: jax.Array  # () int32, Poisson arrivals dropped for want of slots
    deferred: jax.Array  # () int32, noise arrivals moved to a later advance
    mm_late: jax.Array  # () int32, maker refreshes that fell due in an earlier (too long) advance
    agent_evicted: jax.Array  # () int32, quantity of ``agent_owner``'s orders evicted

    @property
    def time_s(self) -> jax.Array:
        """Seconds after midnight (float32, for display: rounded to float32's resolution)."""
        return self.time_ms.astype(jnp.float32) / clock.MS_PER_S

    @property
    def fundamental(self) -> jax.Array:
        """The fundamental in cents (float32, for display: exact only below 2**24 cents)."""
        return self.ref.astype(jnp.float32) + self.fundamental_dev


def noise_wake_times(key: jax.Array, n: int, start_ms: jax.Array, end_ms: jax.Array) -> jax.Array:
    """``n`` sorted wake times (int32 ms), U-quadratic on ``[start_ms, end_ms]`` (density ∝
    (t - centre)^2), drawn in float32 and rounded to the millisecond."""
    u = jax.random.uniform(key, (n,))
    start = jnp.asarray(start_ms, jnp.int32)
    span = jnp.asarray(end_ms, jnp.int32) - start
    offset = jnp.round(span.astype(jnp.float32) * (0.5 + 0.5 * jnp.cbrt(2.0 * u - 1.0))).astype(jnp.int32)
    return jnp.sort(start + jnp.clip(offset, 0, span))


def _i32(x: Any) -> jax.Array:
    return jnp.asarray(x, jnp.int32)


def _mean_dev(params: MarketParams, ref: jax.Array) -> jax.Array:
    """The fundamental's mean as a deviation from the reference tick, ``r_bar - ref`` (float32
    cents, exact: ``ref`` is ``r_bar`` rounded)."""
    return jnp.asarray(params.r_bar, jnp.float32) - ref.astype(jnp.float32)


def init(key: jax.Array, config: MarketConfig, params: MarketParams) -> MarketState:
    """The market at the open: an empty book, the fundamental at ``r_bar``, agents fresh.

    Args:
        key: a typed PRNG key; split into the noise agents' wake times and the makers' phases.
        config: the static settings (populations, capacity, slots); call ``config.check()`` first.
        params: the numeric settings, concrete or traced; ``params.check()`` validates concrete ones.

    Returns:
        A ``MarketState`` at ``params.open_ms`` (int32 ms after midnight) with an empty book of
        ``config.capacity`` orders per side, ``fundamental_dev = r_bar - ref`` (float32 cents) and
        per-agent arrays of the shapes listed on ``MarketState``. Noise agents that wake before
        the open are already counted in ``noise_next``.
    """
    noise_key, phase_key = jax.random.split(key)
    open_ms = _i32(params.open_ms)
    ref = _i32(params.ref_tick)
    mean_dev = _mean_dev(params, ref)
    book = empty(config.capacity, max_fills=config.fills_per_result, full_policy=config.full_policy)
    # Noise agents that wake before the open act at the open on the empty book: they send nothing.
    noise_wake = noise_wake_times(noise_key, config.n_noise, params.noise_start_ms, params.noise_end_ms)
    return MarketState(
        book=book,
        time_ms=open_ms,
        ref=ref,
        fundamental_dev=mean_dev,
        next_id=jnp.asarray(1, jnp.int32),
        noise_wake_ms=noise_wake,
        noise_next=jnp.sum(noise_wake < open_ms).astype(jnp.int32),
        **_fresh_value_agents(config, open_ms, mean_dev),
        **_fresh_momentum_agents(config),
        **_fresh_makers(phase_key, config, params, open_ms),
        **_zero_counters(),
    )


def _fresh_value_agents(config: MarketConfig, open_ms: jax.Array, mean_dev: jax.Array) -> dict[str, jax.Array]:
    """The value agents' memory at the open: estimates at the mean, no variance, no order."""
    f32, i32 = jnp.float32, jnp.int32
    return dict(
        value_estimate=jnp.full(config.n_value, mean_dev, f32),
        value_variance=jnp.zeros(config.n_value, f32),
        value_last_ms=jnp.full(config.n_value, open_ms, i32),
        value_order=jnp.full(config.n_value, EMPTY_ID, i32),
    )


def _fresh_momentum_agents(config: MarketConfig) -> dict[str, jax.Array]:
    """The momentum agents' memory at the open: no mids observed."""
    return dict(
        momentum_mids=jnp.zeros((config.n_momentum, config.momentum_long), jnp.float32),
        momentum_count=jnp.zeros(config.n_momentum, jnp.int32),
    )


def _fresh_makers(phase_key: jax.Array, config: MarketConfig, params: MarketParams,
                  open_ms: jax.Array) -> dict[str, jax.Array]:
    """The market makers at the open: a first refresh at a uniform phase within the first period,
    the initial spread, no ladder."""
    n_mm, levels = config.n_market_makers, config.ladder_levels
    f32, i32 = jnp.float32, jnp.int32
    period = _i32(params.mm_period_ms)
    phase = jnp.floor(period.astype(f32) * jax.random.uniform(phase_key, (n_mm,))).astype(i32)
    return dict(
        mm_next_ms=open_ms + jnp.clip(phase, 0, jnp.maximum(period - 1, 0)),
        mm_spread=jnp.full(n_mm, params.mm_initial_spread, f32),
        mm_last_mid=jnp.full(n_mm, jnp.nan, f32),
        mm_volume=jnp.zeros((n_mm, 2), i32),
        mm_orders=jnp.full((n_mm, 2, levels), EMPTY_ID, i32),
        mm_prices=jnp.zeros((n_mm, 2, levels), i32),
        mm_sizes=jnp.zeros(n_mm, i32),
        mm_quoting=jnp.zeros(n_mm, bool),
    )


def _zero_counters() -> dict[str, jax.Array]:
    """The event counters at the open, all 0."""
    i32 = jnp.int32
    return dict(
        accepted=jnp.zeros(len(EVENT_NAMES), i32),
        replaced=jnp.asarray(0, i32),
        dropped=jnp.asarray(0, i32),
        deferred=jnp.asarray(0, i32),
        mm_late=jnp.asarray(0, i32),
        agent_evicted=jnp.asarray(0, i32),
    )


class Events(struct.PyTreeNode):
    """The events of one ``advance``, sorted by time: fields of shape ``(num_events,)``."""

    time_ms: jax.Array  # int32 ms after midnight
    kind: jax.Array
    agent: jax.Array  # index within the agent's population
    level: jax.Array  # maker events: side * levels + level
    uniforms: jax.Array  # (num_events, NUM_UNIFORMS): columns U_*
    normals: jax.Array  # (num_events, NUM_NORMALS): columns Z_*


class _Slots(NamedTuple):
    """One group of event slots before sorting: int32 arrays of one length."""

    time_ms: jax.Array
    kind: jax.Array
    agent: jax.Array


def schedule(key: jax.Array, state: MarketState, config: MarketConfig, params: MarketParams,
             end_ms: jax.Array) -> tuple[Events, MarketState]:
    """The events of ``[state.time_ms, end_ms)`` and the state with the noise pointer, maker clocks
    and drop/defer/late counters moved on.

    Args:
        key: a typed PRNG key, split into seven: the two Poisson counts, the arrival times, the
            arriving value and momentum agents, the per-event uniforms and normals.
        state: the market before the interval.
        config: the static settings; fixes ``config.num_events``.
        params: the numeric settings.
        end_ms: the interval's end, int32 ms after midnight, at most the close (an end before
            ``state.time_ms`` is taken as ``state.time_ms``).

    Returns:
        ``(events, state)``: ``Events`` of ``config.num_events`` slots sorted by time (unused
        slots are ``PAD`` events at ``end_ms``), and the state with ``noise_next``, ``deferred``,
        ``mm_next_ms``, ``dropped`` and ``mm_late`` moved on.
    """
    value_key, momentum_key, time_key, value_agent_key, momentum_agent_key, uniform_key, normal_key = (
        jax.random.split(key, 7))
    i32 = jnp.int32
    start = state.time_ms
    end = jnp.maximum(_i32(end_ms), start)
    poisson, dropped = _poisson_slots((value_key, momentum_key, time_key, value_agent_key, momentum_agent_key),
                                      config, params, start, end)
    noise, noise_taken, noise_due = _noise_slots(state, config, start, end)
    maker, maker_level, refresh, at, late = _maker_slots(state, config, start, end)

    time_ms = jnp.concatenate([poisson.time_ms, noise.time_ms, maker.time_ms]).astype(i32)
    order = jnp.argsort(time_ms, stable=True)
    num = config.num_events
    events = Events(
        time_ms=time_ms[order],
        kind=jnp.concatenate([poisson.kind, noise.kind, maker.kind]).astype(i32)[order],
        agent=jnp.concatenate([poisson.agent, noise.agent, maker.agent]).astype(i32)[order],
        level=jnp.concatenate([jnp.zeros(config.max_arrival_slots + config.max_noise_per_advance, i32),
                               maker_level])[order],
        uniforms=jax.random.uniform(uniform_key, (num, NUM_UNIFORMS)),
        normals=jax.random.normal(normal_key, (num, NUM_NORMALS)),
    )
    next_refresh = jnp.where(refresh, at + _i32(params.mm_period_ms), state.mm_next_ms)
    state = state.replace(
        noise_next=state.noise_next + noise_taken,
        deferred=state.deferred + jnp.maximum(noise_due - state.noise_next - noise_taken, 0),
        mm_next_ms=next_refresh,
        dropped=state.dropped + dropped,
        mm_late=state.mm_late + late,
    )
    return events, state


def _poisson_slots(keys: tuple[jax.Array, ...], config: MarketConfig, params: MarketParams, start: jax.Array,
                   end: jax.Array) -> tuple[_Slots, jax.Array]:
    """Poisson arrivals in ``[start, end)``: value pairs (cancel, order) first, then momentum, up to
    ``max_arrival_slots``; the rest are ``PAD`` at ``end``. Also returns the arrivals dropped (int32)."""
    value_key, momentum_key, time_key, value_agent_key, momentum_agent_key = keys
    i32, f32 = jnp.int32, jnp.float32
    span = end - start
    span_s = span.astype(f32) / clock.MS_PER_S
    slots = config.max_arrival_slots
    if config.n_value:
        n_value = jax.random.poisson(value_key, config.n_value * span_s / params.value_interval_s).astype(i32)
    else:
        n_value = jnp.zeros((), i32)
    if config.n_momentum:
        n_momentum = jax.random.poisson(momentum_key, config.n_momentum * span_s / params.momentum_interval_s
                                        ).astype(i32)
    else:
        n_momentum = jnp.zeros((), i32)
    value_taken = jnp.minimum(n_value, slots // 2)
    momentum_taken = jnp.minimum(n_momentum, slots - 2 * value_taken)
    dropped = n_value - value_taken + n_momentum - momentum_taken
    slot = jnp.arange(slots, dtype=i32)
    arrival = jnp.where(slot < 2 * value_taken, slot // 2, slot - 2 * value_taken)
    offset = jnp.floor(span.astype(f32) * jax.random.uniform(time_key, (slots,))).astype(i32)
    arrival_time = start + jnp.clip(offset, 0, jnp.maximum(span - 1, 0))
    value_agent = jax.random.randint(value_agent_key, (slots,), 0, max(config.n_value, 1))
    momentum_agent = jax.random.randint(momentum_agent_key, (slots,), 0, max(config.n_momentum, 1))
    is_value = slot < 2 * value_taken
    is_momentum = ~is_value & (slot < 2 * value_taken + momentum_taken)
    kind = jnp.where(is_value, jnp.where(slot % 2 == 0, VALUE_CANCEL, VALUE_ORDER),
                     jnp.where(is_momentum, MOMENTUM, PAD))
    time_ms = jnp.where(is_value | is_momentum, arrival_time[arrival], end)
    agent = jnp.where(is_value, value_agent[arrival], momentum_agent[arrival])
    return _Slots(time_ms, kind, agent), dropped


def _noise_slots(state: MarketState, config: MarketConfig, start: jax.Array,
                 end: jax.Array) -> tuple[_Slots, jax.Array, jax.Array]:
    """Noise agents due by ``end``, at most ``max_noise_per_advance`` of them (the rest are ``PAD``
    at ``end``). Also returns how many act (int32) and the pointer past every agent due (int32)."""
    i32 = jnp.int32
    k = config.max_noise_per_advance
    if config.n_noise:
        due = jnp.searchsorted(state.noise_wake_ms, end, side="left").astype(i32)
        due = jnp.where(end - start > 0, due, state.noise_next)
        wake = state.noise_wake_ms[jnp.minimum(state.noise_next + jnp.arange(k, dtype=i32), config.n_noise - 1)]
    else:
        due = state.noise_next
        wake = jnp.full(k, end, i32)
    taken = jnp.minimum(due - state.noise_next, k)
    index = state.noise_next + jnp.arange(k, dtype=i32)
    live = jnp.arange(k) < taken
    slots = _Slots(jnp.where(live, jnp.maximum(wake, start), end), jnp.where(live, NOISE, PAD), index)
    return slots, taken, due


def _maker_slots(state: MarketState, config: MarketConfig, start: jax.Array,
                 end: jax.Array) -> tuple[_Slots, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Market-maker refreshes: one slot per ladder order, at most one refresh per maker per call.
    Also returns each slot's level (``side * levels + level``), which makers refresh ``(n_mm,)``
    bool, when ``(n_mm,)`` int32 ms, and how many refreshes are late (int32)."""
    i32 = jnp.int32
    n_mm, levels = config.n_market_makers, config.ladder_levels
    refresh = state.mm_next_ms < end
    at = jnp.maximum(state.mm_next_ms, start)
    slots = _Slots(
        time_ms=jnp.repeat(jnp.where(refresh, at, end), 2 * levels),
        kind=jnp.repeat(jnp.where(refresh, MAKER, PAD), 2 * levels),
        agent=jnp.repeat(jnp.arange(n_mm, dtype=i32), 2 * levels),
    )
    level = jnp.tile(jnp.arange(2 * levels, dtype=i32), n_mm)
    late = jnp.sum(refresh & (state.mm_next_ms < start)).astype(i32)
    return slots, level, refresh, at, late


def _select(kind: jax.Array, candidates: dict[int, Message]) -> Message:
    """The message of the event kind ``kind`` among ``candidates`` (kind -> message)."""
    kinds = list(candidates)
    if len(kinds) == 1:
        return candidates[kinds[0]]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *candidates.values())
    index = jnp.sum(jnp.where(kind == jnp.asarray(kinds), jnp.arange(len(kinds)), 0))
    return jax.tree.map(lambda x: x[index], stacked)


def move_fundamental(dev: jax.Array, elapsed_ms: jax.Array, params: MarketParams, mean_dev: jax.Array,
                     uniforms: jax.Array, normals: jax.Array) -> jax.Array:
    """The fundamental's deviation after ``elapsed_ms``: the exact OU transition plus a megashock.

    Args:
        dev: the deviation from the reference tick now, float32 cents.
        elapsed_ms: the time elapsed, int32 ms.
        params: the fundamental's ``kappa``, ``fund_vol`` and megashock parameters.
        mean_dev: the mean ``r_bar - ref``, float32 cents.
        uniforms: ``(2,)`` float32 in [0, 1): the megashock's occurrence, then its sign
            (``fundamental.SHOCK_OCCURS``, ``SHOCK_SIGN``).
        normals: ``(2,)`` float32 standard normals: the OU move (``MOVE_OU``), then the
            megashock's size (``MOVE_SHOCK``).

    Returns:
        The deviation after ``elapsed_ms``, float32 cents.
    """
    elapsed_ns = elapsed_ms.astype(jnp.float32) * clock.NS_PER_MS
    dev = fundamental.ou_transition(dev, elapsed_ns, mean_dev, params.kappa, params.fund_vol, normals[MOVE_OU])
    return dev + fundamental.megashock(elapsed_ns, params.megashock_rate, params.megashock_mean,
                                       params.megashock_var, uniforms, normals[MOVE_SHOCK])


class _Orders(NamedTuple):
    """The agents' candidate messages of one event: per event kind, the message, whether it is
    sent, and the state fields that change if the event is of that kind."""

    candidates: dict[int, Message]
    sends: dict[int, jax.Array]
    updates: dict[str, jax.Array]


class _MakerPlan(NamedTuple):
    """A maker event's ladder plan and the ladder slot it places."""

    mm: jax.Array  # the maker's index
    first: jax.Array  # bool: the first level's event (it plans the ladder)
    prices: jax.Array  # (2, levels) int32
    sizes: jax.Array  # () int32
    spread: jax.Array  # () float32
    last_mid: jax.Array  # () float32
    quoting: jax.Array  # () bool
    side: jax.Array
    level: jax.Array
    old_id: jax.Array  # the order now in that ladder slot


def _value_orders(config: MarketConfig, params: MarketParams, state: MarketState, event: Events,
                  value: jax.Array, mean_dev: jax.Array, size: jax.Array, orders: _Orders) -> None:
    """A value event: update the estimate, then send the order (the previous one was cancelled in
    the slot just before)."""
    u, z, kind, book, new_id = event.uniforms, event.normals, event.kind, state.book, state.next_id
    v = jnp.minimum(event.agent, config.n_value - 1)
    estimate, variance, forecast = agents.value_estimate(
        state.value_estimate[v], state.value_variance[v],
        (event.time_ms - state.value_last_ms[v]).astype(jnp.float32) * clock.NS_PER_MS,
        (_i32(params.close_ms) - event.time_ms).astype(jnp.float32) * clock.NS_PER_MS,
        jnp.round(value + jnp.sqrt(params.value_obs_var) * z[Z_OBSERVATION]), mean_dev, params.value_kappa,
        params.value_sigma_s, params.value_obs_var)
    value_msg, _ = agents.value_order(book, forecast, u[U_VALUE_AGGRESSIVE], u[U_VALUE_ADJUST],
                                      u[U_VALUE_SIDE], params.value_aggressive, params.value_depth_spreads,
                                      size, new_id, config.value_owner + v, ref=state.ref)
    previous = state.value_order[v]
    orders.candidates[VALUE_CANCEL], orders.sends[VALUE_CANCEL] = cancel(previous), previous != EMPTY_ID
    orders.candidates[VALUE_ORDER], orders.sends[VALUE_ORDER] = value_msg, size > 0
    is_value = kind == VALUE_ORDER
    orders.updates.update(
        value_estimate=state.value_estimate.at[v].set(jnp.where(is_value, estimate, state.value_estimate[v])),
        value_variance=state.value_variance.at[v].set(jnp.where(is_value, variance, state.value_variance[v])),
        value_last_ms=state.value_last_ms.at[v].set(jnp.where(is_value, event.time_ms, state.value_last_ms[v])),
        value_order=state.value_order.at[v].set(
            jnp.where(is_value, new_id, jnp.where(kind == VALUE_CANCEL, EMPTY_ID, previous))),
    )


def _momentum_orders(config: MarketConfig, state: MarketState, event: Events, size: jax.Array,
                     orders: _Orders) -> None:
    """A momentum event: record the mid, trade once both averages exist."""
    book = state.book
    m = jnp.minimum(event.agent, config.n_momentum - 1)
    mids, count = agents.momentum_record(state.momentum_mids[m], state.momentum_count[m], book, ref=state.ref)
    ready, buy = agents.momentum_signal(mids, count, config.short_window)
    momentum_msg, momentum_ok = agents.momentum_order(book, buy, size, state.next_id, config.momentum_owner + m)
    orders.candidates[MOMENTUM], orders.sends[MOMENTUM] = momentum_msg, ready & momentum_ok & (size > 0)
    is_momentum = event.kind == MOMENTUM
    orders.updates.update(
        momentum_mids=state.momentum_mids.at[m].set(jnp.where(is_momentum, mids, state.momentum_mids[m])),
        momentum_count=state.momentum_count.at[m].set(jnp.where(is_momentum, count, state.momentum_count[m])),
    )


def _noise_orders(config: MarketConfig, state: MarketState, event: Events, size: jax.Array, orders: _Orders) -> None:
    """A noise event: a market order on a random side."""
    noise_msg, noise_ok = agents.noise_order(state.book, event.uniforms[U_NOISE_SIDE], size, state.next_id,
                                             jnp.minimum(event.agent, config.n_noise - 1))
    orders.candidates[NOISE], orders.sends[NOISE] = noise_msg, noise_ok & (size > 0)


def _maker_orders(config: MarketConfig, params: MarketParams, state: MarketState, event: Events,
                  orders: _Orders) -> _MakerPlan:
    """A maker event: the first level's event plans the ladder, every level's event places one order."""
    book, levels = state.book, config.ladder_levels
    mm = jnp.minimum(event.agent, config.n_market_makers - 1)
    first = event.level == 0
    prices, sizes, spread, last_mid, quoting = agents.maker_plan(
        book, state.mm_spread[mm], state.mm_last_mid[mm], state.mm_volume[mm], levels, params.mm_pov,
        params.mm_min_size, params.mm_level_spacing, params.mm_spread_alpha, params.mm_price_skew,
        ref=state.ref)
    prices = jnp.where(first, prices, state.mm_prices[mm])
    sizes = jnp.where(first, sizes, state.mm_sizes[mm])
    quoting = jnp.where(first, quoting, state.mm_quoting[mm])
    mm_side, mm_level = event.level // levels, event.level % levels
    old_id = state.mm_orders[mm, mm_side, mm_level]
    orders.candidates[MAKER] = agents.maker_order(book, old_id, state.next_id, mm_side, prices[mm_side, mm_level],
                                                  sizes, config.maker_owner + mm)
    orders.sends[MAKER] = quoting
    return _MakerPlan(mm, first, prices, sizes, spread, last_mid, quoting, mm_side, mm_level, old_id)


def _maker_updates(state: MarketState, plan: _MakerPlan, kind: jax.Array, live: jax.Array, accepted: jax.Array,
                   result: Result, msg: Message) -> dict[str, jax.Array]:
    """The makers' memory after the event: a planning event stores its plan and restarts the
    volume count, every traded quantity is added to each maker's volume, and a placed order's id
    goes into its ladder slot."""
    mm = plan.mm
    is_maker = kind == MAKER
    planned = is_maker & plan.first
    traded = jnp.where(live, result.filled, 0)
    mm_volume = state.mm_volume + jnp.zeros((1, 2), jnp.int32).at[0, result.side].set(traded)
    mm_volume = mm_volume.at[mm].set(jnp.where(planned, 0, mm_volume[mm]))
    return dict(
        mm_spread=state.mm_spread.at[mm].set(jnp.where(planned, plan.spread, state.mm_spread[mm])),
        mm_last_mid=state.mm_last_mid.at[mm].set(jnp.where(planned, plan.last_mid, state.mm_last_mid[mm])),
        mm_volume=mm_volume,
        mm_prices=state.mm_prices.at[mm].set(jnp.where(planned, plan.prices, state.mm_prices[mm])),
        mm_sizes=state.mm_sizes.at[mm].set(jnp.where(planned, plan.sizes, state.mm_sizes[mm])),
        mm_quoting=state.mm_quoting.at[mm].set(jnp.where(planned, plan.quoting, state.mm_quoting[mm])),
        mm_orders=state.mm_orders.at[mm, plan.side, plan.level].set(
            jnp.where(is_maker & live, state.next_id, plan.old_id)),
        replaced=state.replaced + (accepted & is_maker & (msg.kind == REPLACE)).astype(jnp.int32),
    )


def _event(config: MarketConfig, params: MarketParams):
    """The scan body of ``advance_ms``: one event applied to the market state."""
    shock_columns = jnp.asarray([U_SHOCK_OCCURS, U_SHOCK_SIGN])
    move_columns = jnp.asarray([Z_OU, Z_SHOCK])

    def step(state: MarketState, event: Events) -> tuple[MarketState, None]:
        u, z = event.uniforms, event.normals
        book = state.book
        kind = event.kind
        real = kind != PAD  # a pad event changes nothing, not even the clock
        mean_dev = _mean_dev(params, state.ref)
        moved = move_fundamental(state.fundamental_dev, event.time_ms - state.time_ms, params, mean_dev,
                                 u[shock_columns], z[move_columns])
        value = jnp.where(real, moved, state.fundamental_dev)
        size = order_size.order_size(u[U_SIZE], z[Z_SIZE], book.max_qty)
        orders = _Orders({}, {}, {})
        if config.n_value:
            _value_orders(config, params, state, event, value, mean_dev, size, orders)
        if config.n_momentum:
            _momentum_orders(config, state, event, size, orders)
        if config.n_noise:
            _noise_orders(config, state, event, size, orders)
        plan = _maker_orders(config, params, state, event, orders) if config.n_market_makers else None
        updates = orders.updates
        if orders.candidates:
            msg = _select(kind, orders.candidates)
            live = jnp.select([kind == k for k in orders.sends], list(orders.sends.values()), False)
            new_book, result = apply(book, msg)
            book = jax.tree.map(lambda new, old: jnp.where(live, new, old), new_book, book)
            accepted = live & (result.status == OK)
            uses_id = live & (kind != VALUE_CANCEL)
            updates.update(
                next_id=state.next_id + uses_id.astype(jnp.int32),
                accepted=state.accepted.at[kind].add(accepted.astype(jnp.int32)),
                agent_evicted=state.agent_evicted + jnp.where(live & (result.evicted_owner == config.agent_owner),
                                                              result.evicted_qty, 0),
            )
            if plan is not None:
                updates.update(_maker_updates(state, plan, kind, live, accepted, result, msg))
        state = state.replace(book=book, time_ms=jnp.where(real, event.time_ms, state.time_ms), fundamental_dev=value,
                              **updates)
        return state, None

    return step


def advance_ms(key: jax.Array, state: MarketState, config: MarketConfig, params: MarketParams,
               duration_ms: jax.Array) -> MarketState:
    """Trade for ``duration_ms`` milliseconds. Jittable and vmappable; ``config`` is static.

    Each maker refreshes at most once per call, so a call should not be longer than
    ``params.mm_period_s`` (later refreshes are delayed and counted in ``state.mm_late``).

    Args:
        key: a typed PRNG key, split into the schedule's key and the end-of-interval move of the
            fundamental (a uniform pair and a normal pair).
        state: the market (``init`` or a previous ``advance``).
        config: the static settings ``state`` was built with.
        params: the numeric settings.
        duration_ms: int milliseconds, clipped to ``[0, clock.DAY_MS]``; nothing happens after the
            close.

    Returns:
        The ``MarketState`` at ``min(time_ms + duration, max(close, time_ms))`` (int32 ms), every
        event of the interval applied and the fundamental moved to that time.

    Raises:
        Nothing inside ``jit``: check ``config`` and concrete ``params`` first (``check()``).
    """
    schedule_key, shock_key, move_key = jax.random.split(key, 3)
    duration = jnp.clip(_i32(duration_ms), 0, clock.DAY_MS)
    end = jnp.minimum(state.time_ms + duration, jnp.maximum(_i32(params.close_ms), state.time_ms))
    events, state = schedule(schedule_key, state, config, params, end)
    state, _ = jax.lax.scan(_event(config, params), state, events)
    # Bring the fundamental from the last event to the end of the interval.
    mean_dev = _mean_dev(params, state.ref)
    value = move_fundamental(state.fundamental_dev, end - state.time_ms, params, mean_dev,
                             jax.random.uniform(shock_key, (2,)), jax.random.normal(move_key, (2,)))
    return state.replace(time_ms=end, fundamental_dev=value)


def advance(key: jax.Array, state: MarketState, config: MarketConfig, params: MarketParams,
            duration_s: Any) -> MarketState:
    """``advance_ms`` for a duration in seconds.

    Args:
        key: a typed PRNG key (see ``advance_ms``).
        state: the market.
        config: the static settings.
        params: the numeric settings.
        duration_s: seconds, converted with ``clock.seconds_to_ms``: a Python number exactly, a
            float32 array or tracer to the nearest millisecond of its float32 value.

    Returns:
        The ``MarketState`` after the interval (see ``advance_ms``).

    Raises:
        ValueError: a concrete ``duration_s`` that is NaN; ``OverflowError`` for an infinite one
            (a concrete duration is rounded to the nearest millisecond, ``clock.seconds_to_ms``).
    """
    return advance_ms(key, state, config, params, clock.seconds_to_ms(duration_s))


def advance_chunks(key: jax.Array, state: MarketState, config: MarketConfig, params: MarketParams,
                   duration_ms: jax.Array, chunks: int) -> MarketState:
    """Trade for ``duration_ms`` in consecutive ``advance_ms`` calls whose lengths differ by at most
    1 ms and add up to ``duration_ms`` exactly; with ``chunks >= ceil(duration / mm_period)`` no
    maker refresh is delayed.

    Args:
        key: a typed PRNG key, split into one key per call (used whole when ``chunks == 1``).
        state: the market.
        config: the static settings.
        params: the numeric settings.
        duration_ms: int milliseconds, clipped to ``[0, clock.DAY_MS]``.
        chunks: the number of calls (static), >= 1.

    Returns:
        The ``MarketState`` after the interval (see ``advance_ms``).
    """
    duration = jnp.clip(_i32(duration_ms), 0, clock.DAY_MS)
    if chunks == 1:
        return advance_ms(key, state, config, params, duration)
    base, extra = duration // chunks, duration % chunks

    def chunk(state: MarketState, inputs: tuple[jax.Array, jax.Array]) -> tuple[MarketState, None]:
        k, index = inputs
        return advance_ms(k, state, config, params, base + (index < extra).astype(jnp.int32)), None

    state, _ = jax.lax.scan(chunk, state, (jax.random.split(key, chunks), jnp.arange(chunks, dtype=jnp.int32)))
    return state


def book_events(state: MarketState) -> jax.Array:
    """Book events so far: accepted new orders and cancellations, a maker's replace counting as
    one of each (int32; batched states give one count per market)."""
    return state.accepted.sum(axis=-1) + state.replaced


__all__ = [
    "EVENT_NAMES", "Events", "MarketConfig", "MarketParams", "MarketState", "R_BAR_MAX",
    "advance", "advance_chunks", "advance_ms", "book_events", "init", "noise_wake_times", "schedule",
]

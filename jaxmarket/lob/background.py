"""The background market: ABIDES ``rmsc04``'s noise, value, momentum and adaptive market-maker
agents trading on one book around a mean-reverting fundamental, as pure functions.

    config = MarketConfig()                                  # static: populations, capacity, slots
    params = MarketParams()                                  # numeric, traced
    state = init(key, config, params)                        # the empty book at the open
    state = advance(key, state, config, params, 60.0)        # one minute of trading

Within ``advance`` every agent arrival becomes an event with a time; the events are sorted by
time and applied one at a time with ``lax.scan``, each agent reading the book as the events
before it left it. The number of events per call is static:

- value and momentum agents arrive as Poisson processes. Their superposition is one Poisson
  count per type, each arrival going to an agent drawn uniformly (exact for identical rates).
  A value arrival takes two slots (it cancels its previous order, then sends a new one) and a
  momentum arrival one; arrivals beyond ``max_arrival_slots`` are dropped and counted
  (``state.dropped``);
- noise agents each wake once, at a U-quadratic time drawn per day; at most
  ``max_noise_per_advance`` act per call, and later ones wait for the next call (``state.deferred``
  counts the waits);
- each market maker refreshes its ladder every ``mm_period_s`` seconds from a random phase (one
  slot per level; ABIDES draws exponential gaps with that mean), so ``duration_s`` must not
  exceed ``mm_period_s``.

The fundamental moves between consecutive events by its exact transition, and value agents
observe it at their arrival. Owners: noise agents ``[0, n_noise)``, then value, momentum and
market-maker agents in that order; ``config.agent_owner`` is the first free owner id, for an
agent trading alongside.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from jaxmarket.lob import agents, fundamental, order_size
from jaxmarket.lob.book import Book, empty
from jaxmarket.lob.constants import EMPTY_ID, FULL_POLICIES, OK, REPLACE
from jaxmarket.lob.matching import apply
from jaxmarket.lob.messages import Message, cancel
from jaxmarket.core.validation import check_choice, check_int, check_range

# Event kinds.
PAD, VALUE_CANCEL, VALUE_ORDER, MOMENTUM, NOISE, MAKER = range(6)
EVENT_NAMES = ("pad", "value_cancel", "value_order", "momentum", "noise", "maker")
SECONDS_PER_HOUR = 3600.0
NUM_UNIFORMS, NUM_NORMALS = 7, 4  # random draws per event


@dataclasses.dataclass(frozen=True)
class MarketConfig:
    """Static settings: population sizes and shapes (changing one recompiles)."""

    n_noise: int = 1000
    n_value: int = 102
    n_momentum: int = 12
    n_market_makers: int = 2
    mm_levels: int = 10  # orders per side in a market maker's ladder
    momentum_short: int = 20  # observations in the short moving average
    momentum_long: int = 50  # observations in the long moving average
    capacity: int = 128  # orders per side of the book
    max_fills: int = 8  # fills listed per book result
    full_policy: str = "evict"  # what a full side does (see lob.constants)
    max_arrival_slots: int = 144  # value (2 slots each) and momentum (1) arrivals per advance
    max_noise_per_advance: int = 16

    def check(self) -> None:
        """Raise ``ValueError`` naming any invalid field."""
        for name in ("n_noise", "n_value", "n_momentum", "n_market_makers"):
            check_int(name, getattr(self, name), 0, 1_000_000)
        check_int("capacity", self.capacity, 2, 2**16)
        check_int("mm_levels", self.mm_levels, 1, self.capacity)
        check_int("momentum_long", self.momentum_long, 1, 100_000)
        check_int("momentum_short", self.momentum_short, 1, self.momentum_long)
        check_int("max_fills", self.max_fills, 1, self.capacity)
        check_choice("full_policy", self.full_policy, FULL_POLICIES)
        check_int("max_arrival_slots", self.max_arrival_slots, 2, 1_000_000)
        check_int("max_noise_per_advance", self.max_noise_per_advance, 1, 1_000_000)

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
        return self.max_arrival_slots + self.max_noise_per_advance + self.n_market_makers * 2 * self.mm_levels


@struct.dataclass
class MarketParams:
    """Numeric settings (traced). Defaults are ABIDES ``rmsc04``'s. Times of day in seconds after
    midnight; the fundamental in ABIDES's units (see ``lob.fundamental``)."""

    open_s: float = 9.5 * SECONDS_PER_HOUR
    close_s: float = 16.0 * SECONDS_PER_HOUR
    r_bar: float = 100_000.0  # mean fundamental value, cents
    kappa: float = 1.67e-16  # fundamental mean reversion, per ns
    fund_vol: float = 5e-5  # fundamental volatility, cents per sqrt(ns)
    megashock_rate: float = 2.77778e-18  # per ns
    megashock_mean: float = 1000.0  # cents
    megashock_var: float = 50_000.0  # cents^2
    noise_wake_start_s: float = 9.0 * SECONDS_PER_HOUR  # noise agents wake U-quadratically in
    noise_wake_end_s: float = 16.0 * SECONDS_PER_HOUR  # [start, end]; before the open: no order
    value_interval_s: float = 175.0  # mean time between a value agent's arrivals
    value_obs_var: float = 1000.0  # variance of a value agent's observation of the fundamental, cents^2
    value_kappa: float = 1.67e-15  # the value agents' mean reversion estimate, per ns
    value_sigma_s: float = 100_000.0  # the value agents' prior variance rate, cents^2 per ns
    value_aggressive: float = 0.1  # probability that a value order goes at the opposite touch
    value_depth_spreads: float = 2.0  # otherwise it backs off up to this many spreads
    momentum_interval_s: float = 37.0  # mean time between a momentum agent's arrivals
    mm_period_s: float = 60.0  # seconds between a market maker's refreshes
    mm_pov: float = 0.025  # order size per level as a fraction of the volume since the last refresh
    mm_min_size: int = 1  # smallest order size per level, shares
    mm_level_spacing: float = 5.0  # ladder step, in spreads (the spread EWMA), at least one tick
    mm_price_skew: float = 4.0  # largest shift of the ladder's centre towards the traded side, ticks
    mm_spread_alpha: float = 0.75  # weight of the newest spread in the spread EWMA
    mm_initial_spread: float = 50.0  # the spread EWMA before the first two-sided book, ticks

    def check(self) -> None:
        """Raise ``ValueError`` naming any out-of-range field."""
        check_range("open_s", self.open_s, 0.0, 86_400.0)
        check_range("close_s", self.close_s, self.open_s, 86_400.0, low_open=True)
        check_range("r_bar", self.r_bar, 1.0)
        check_range("kappa", self.kappa, 0.0, 1.0, low_open=True)
        check_range("fund_vol", self.fund_vol, 0.0)
        check_range("megashock_rate", self.megashock_rate, 0.0)
        check_range("megashock_mean", self.megashock_mean, 0.0)
        check_range("megashock_var", self.megashock_var, 0.0)
        check_range("noise_wake_start_s", self.noise_wake_start_s, 0.0, 86_400.0)
        check_range("noise_wake_end_s", self.noise_wake_end_s, self.noise_wake_start_s, 86_400.0, low_open=True)
        check_range("value_interval_s", self.value_interval_s, 0.0, low_open=True)
        check_range("value_obs_var", self.value_obs_var, 0.0, low_open=True)
        check_range("value_kappa", self.value_kappa, 0.0, 1.0, low_open=True, high_open=True)
        check_range("value_sigma_s", self.value_sigma_s, 0.0)
        check_range("value_aggressive", self.value_aggressive, 0.0, 1.0)
        check_range("value_depth_spreads", self.value_depth_spreads, 0.0)
        check_range("momentum_interval_s", self.momentum_interval_s, 0.0, low_open=True)
        check_range("mm_period_s", self.mm_period_s, 0.0, low_open=True)
        check_range("mm_pov", self.mm_pov, 0.0, 1.0)
        check_int("mm_min_size", self.mm_min_size, 1)
        check_range("mm_level_spacing", self.mm_level_spacing, 0.0)
        check_range("mm_price_skew", self.mm_price_skew, 0.0)
        check_range("mm_spread_alpha", self.mm_spread_alpha, 0.0, 1.0)
        check_range("mm_initial_spread", self.mm_initial_spread, 1.0)


@struct.dataclass
class MarketState:
    """The book, the fundamental and every background agent's memory."""

    book: Book
    time_s: jax.Array  # () float32, seconds after midnight
    fundamental: jax.Array  # () float32, cents
    next_id: jax.Array  # () int32, the next order id to hand out
    noise_wake_s: jax.Array  # (n_noise,) float32, sorted wake times
    noise_next: jax.Array  # () int32, noise agents that have acted
    value_estimate: jax.Array  # (n_value,) float32, cents
    value_variance: jax.Array  # (n_value,) float32, cents^2
    value_last_s: jax.Array  # (n_value,) float32, time of the last update
    value_order: jax.Array  # (n_value,) int32, id of the last order (EMPTY_ID: none)
    momentum_mids: jax.Array  # (n_momentum, momentum_long) float32 ring buffers of mids
    momentum_count: jax.Array  # (n_momentum,) int32, mids observed
    mm_next_s: jax.Array  # (n_mm,) float32, time of the next refresh
    mm_spread: jax.Array  # (n_mm,) float32, spread EWMA, ticks
    mm_last_mid: jax.Array  # (n_mm,) float32, last mid seen (NaN: none yet)
    mm_volume: jax.Array  # (n_mm, 2) int32, traded since the last refresh, by aggressor side
    mm_orders: jax.Array  # (n_mm, 2, levels) int32, ids of the ladder's orders
    mm_prices: jax.Array  # (n_mm, 2, levels) int32, the ladder being placed
    mm_sizes: jax.Array  # (n_mm,) int32, shares per ladder order
    mm_quoting: jax.Array  # (n_mm,) bool
    accepted: jax.Array  # (len(EVENT_NAMES),) int32, messages accepted (status OK) per event kind
    replaced: jax.Array  # () int32, accepted maker messages that were replaces (cancel + new order)
    dropped: jax.Array  # () int32, Poisson arrivals dropped for want of slots
    deferred: jax.Array  # () int32, noise arrivals moved to a later advance
    agent_evicted: jax.Array  # () int32, quantity of ``agent_owner``'s orders evicted


def noise_wake_times(key: jax.Array, n: int, start: jax.Array, end: jax.Array) -> jax.Array:
    """``n`` sorted wake times, U-quadratic on ``[start, end]`` (density ∝ (t - centre)^2)."""
    u = jax.random.uniform(key, (n,))
    half = (end - start) / 2
    return jnp.sort(start + half + half * jnp.cbrt(2.0 * u - 1.0))


def init(key: jax.Array, config: MarketConfig, params: MarketParams) -> MarketState:
    """The market at the open: an empty book, the fundamental at ``r_bar``, agents fresh."""
    noise_key, phase_key = jax.random.split(key)
    n_mm, levels = config.n_market_makers, config.mm_levels
    f32, i32 = jnp.float32, jnp.int32
    open_s = jnp.asarray(params.open_s, f32)
    book = empty(config.capacity, max_fills=config.max_fills, full_policy=config.full_policy)
    # Noise agents that wake before the open act at the open on the empty book: they send nothing.
    noise_wake = noise_wake_times(noise_key, config.n_noise, params.noise_wake_start_s, params.noise_wake_end_s)
    return MarketState(
        book=book,
        time_s=open_s,
        fundamental=jnp.asarray(params.r_bar, f32),
        next_id=jnp.asarray(1, i32),
        noise_wake_s=noise_wake,
        noise_next=jnp.sum(noise_wake < open_s).astype(i32),
        value_estimate=jnp.full(config.n_value, params.r_bar, f32),
        value_variance=jnp.zeros(config.n_value, f32),
        value_last_s=jnp.full(config.n_value, open_s, f32),
        value_order=jnp.full(config.n_value, EMPTY_ID, i32),
        momentum_mids=jnp.zeros((config.n_momentum, config.momentum_long), f32),
        momentum_count=jnp.zeros(config.n_momentum, i32),
        mm_next_s=open_s + params.mm_period_s * jax.random.uniform(phase_key, (n_mm,)),
        mm_spread=jnp.full(n_mm, params.mm_initial_spread, f32),
        mm_last_mid=jnp.full(n_mm, jnp.nan, f32),
        mm_volume=jnp.zeros((n_mm, 2), i32),
        mm_orders=jnp.full((n_mm, 2, levels), EMPTY_ID, i32),
        mm_prices=jnp.zeros((n_mm, 2, levels), i32),
        mm_sizes=jnp.zeros(n_mm, i32),
        mm_quoting=jnp.zeros(n_mm, bool),
        accepted=jnp.zeros(len(EVENT_NAMES), i32),
        replaced=jnp.asarray(0, i32),
        dropped=jnp.asarray(0, i32),
        deferred=jnp.asarray(0, i32),
        agent_evicted=jnp.asarray(0, i32),
    )


class Events(struct.PyTreeNode):
    """The events of one ``advance``, sorted by time: fields of shape ``(num_events,)``."""

    time_s: jax.Array
    kind: jax.Array
    agent: jax.Array  # index within the agent's population
    level: jax.Array  # maker events: side * levels + level
    uniforms: jax.Array  # (num_events, NUM_UNIFORMS)
    normals: jax.Array  # (num_events, NUM_NORMALS)


def schedule(key: jax.Array, state: MarketState, config: MarketConfig, params: MarketParams,
             duration_s: jax.Array) -> tuple[Events, MarketState]:
    """The events of ``[state.time_s, state.time_s + duration_s)`` (none after the close), and the
    state with the noise pointer, maker clocks and drop/defer counters moved on."""
    keys = jax.random.split(key, 8)
    start = state.time_s
    end = jnp.minimum(start + duration_s, params.close_s)
    span = jnp.maximum(end - start, 0.0)
    slots = config.max_arrival_slots
    i32 = jnp.int32

    # Poisson arrivals: value pairs first, then momentum, up to the slot budget.
    n_value = jax.random.poisson(keys[0], config.n_value * span / params.value_interval_s).astype(i32)
    n_momentum = jax.random.poisson(keys[1], config.n_momentum * span / params.momentum_interval_s).astype(i32)
    if config.n_value == 0:
        n_value = jnp.zeros((), i32)
    if config.n_momentum == 0:
        n_momentum = jnp.zeros((), i32)
    value_taken = jnp.minimum(n_value, slots // 2)
    momentum_taken = jnp.minimum(n_momentum, slots - 2 * value_taken)
    dropped = n_value - value_taken + n_momentum - momentum_taken
    slot = jnp.arange(slots, dtype=i32)
    arrival = jnp.where(slot < 2 * value_taken, slot // 2, slot - 2 * value_taken)
    arrival_time = start + span * jax.random.uniform(keys[2], (slots,))
    value_agent = jax.random.randint(keys[3], (slots,), 0, max(config.n_value, 1))
    momentum_agent = jax.random.randint(keys[4], (slots,), 0, max(config.n_momentum, 1))
    is_value = slot < 2 * value_taken
    is_momentum = ~is_value & (slot < 2 * value_taken + momentum_taken)
    p_kind = jnp.where(is_value, jnp.where(slot % 2 == 0, VALUE_CANCEL, VALUE_ORDER), jnp.where(is_momentum, MOMENTUM, PAD))
    p_time = jnp.where(is_value | is_momentum, arrival_time[arrival], end)
    p_agent = jnp.where(is_value, value_agent[arrival], momentum_agent[arrival])

    # Noise agents due by the end, at most max_noise_per_advance of them.
    k = config.max_noise_per_advance
    due = jnp.searchsorted(state.noise_wake_s, end, side="left").astype(i32) if config.n_noise else jnp.zeros((), i32)
    due = jnp.where(span > 0, due, state.noise_next)
    taken = jnp.minimum(due - state.noise_next, k)
    n_index = state.noise_next + jnp.arange(k, dtype=i32)
    n_live = jnp.arange(k) < taken
    n_wake = state.noise_wake_s[jnp.minimum(n_index, max(config.n_noise - 1, 0))] if config.n_noise else jnp.zeros(k)
    n_time = jnp.where(n_live, jnp.maximum(n_wake, start), end)
    n_kind = jnp.where(n_live, NOISE, PAD)

    # Market-maker refreshes: one slot per ladder order.
    n_mm, levels = config.n_market_makers, config.mm_levels
    refresh = state.mm_next_s < end
    m_time = jnp.repeat(jnp.where(refresh, jnp.maximum(state.mm_next_s, start), end), 2 * levels)
    m_kind = jnp.repeat(jnp.where(refresh, MAKER, PAD), 2 * levels)
    m_agent = jnp.repeat(jnp.arange(n_mm, dtype=i32), 2 * levels)
    m_level = jnp.tile(jnp.arange(2 * levels, dtype=i32), n_mm)

    time_s = jnp.concatenate([p_time, n_time, m_time])
    order = jnp.argsort(time_s, stable=True)
    num = config.num_events
    events = Events(
        time_s=time_s[order],
        kind=jnp.concatenate([p_kind, n_kind, m_kind]).astype(i32)[order],
        agent=jnp.concatenate([p_agent, n_index, m_agent]).astype(i32)[order],
        level=jnp.concatenate([jnp.zeros(slots + k, i32), m_level])[order],
        uniforms=jax.random.uniform(keys[5], (num, NUM_UNIFORMS)),
        normals=jax.random.normal(keys[6], (num, NUM_NORMALS)),
    )
    next_refresh = jnp.where(refresh, jnp.maximum(state.mm_next_s, start) + params.mm_period_s, state.mm_next_s)
    state = state.replace(
        noise_next=state.noise_next + taken,
        deferred=state.deferred + jnp.maximum(due - state.noise_next - taken, 0),
        mm_next_s=next_refresh,
        dropped=state.dropped + dropped,
    )
    return events, state


def _select(kind: jax.Array, candidates: dict[int, Message]) -> Message:
    """The message of the event kind ``kind`` among ``candidates`` (kind -> message)."""
    kinds = list(candidates)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *candidates.values())
    index = jnp.sum(jnp.where(kind == jnp.asarray(kinds), jnp.arange(len(kinds)), 0))
    return jax.tree.map(lambda x: x[index], stacked)


def _event(config: MarketConfig, params: MarketParams):
    def step(state: MarketState, event: Events) -> tuple[MarketState, None]:
        u, z = event.uniforms, event.normals
        book = state.book
        elapsed_ns = (event.time_s - state.time_s) * fundamental.NS_PER_S
        value = fundamental.ou_transition(state.fundamental, elapsed_ns, params.r_bar, params.kappa,
                                          params.fund_vol, z[0])
        value = value + fundamental.megashock(elapsed_ns, params.megashock_rate, params.megashock_mean,
                                              params.megashock_var, u[5:7], z[1])
        size = order_size.order_size(u[0], z[2], book.max_qty)
        new_id = state.next_id
        kind = event.kind

        # Value agent: update its estimate, then send its order (its previous one was cancelled
        # in the slot just before).
        v = jnp.minimum(event.agent, max(config.n_value - 1, 0))
        estimate, variance, forecast = agents.value_estimate(
            state.value_estimate[v], state.value_variance[v],
            (event.time_s - state.value_last_s[v]) * fundamental.NS_PER_S,
            (params.close_s - event.time_s) * fundamental.NS_PER_S,
            jnp.round(value + jnp.sqrt(params.value_obs_var) * z[3]), params.r_bar, params.value_kappa,
            params.value_sigma_s, params.value_obs_var)
        value_msg, _ = agents.value_order(book, forecast, u[1], u[2], u[3], params.value_aggressive,
                                          params.value_depth_spreads, size, new_id, config.value_owner + v)
        previous = state.value_order[v]
        cancel_msg = cancel(previous)

        # Momentum agent: record the mid, trade once both averages exist.
        m = jnp.minimum(event.agent, max(config.n_momentum - 1, 0))
        mids, count = agents.momentum_record(state.momentum_mids[m], state.momentum_count[m], book)
        ready, buy = agents.momentum_signal(mids, count, config.momentum_short)
        momentum_msg, momentum_ok = agents.momentum_order(book, buy, size, new_id, config.momentum_owner + m)

        # Noise agent.
        noise_msg, noise_ok = agents.noise_order(book, u[1], size, new_id, jnp.minimum(event.agent, config.n_noise - 1))

        # Market maker: the first level's event plans the ladder, every level's event places one order.
        mm = jnp.minimum(event.agent, max(config.n_market_makers - 1, 0))
        first = event.level == 0
        prices, sizes, spread, last_mid, quoting = agents.maker_plan(
            book, state.mm_spread[mm], state.mm_last_mid[mm], state.mm_volume[mm], config.mm_levels,
            params.mm_pov, params.mm_min_size, params.mm_level_spacing, params.mm_spread_alpha, params.mm_price_skew)
        prices = jnp.where(first, prices, state.mm_prices[mm])
        sizes = jnp.where(first, sizes, state.mm_sizes[mm])
        quoting = jnp.where(first, quoting, state.mm_quoting[mm])
        mm_side, mm_level = event.level // config.mm_levels, event.level % config.mm_levels
        old_id = state.mm_orders[mm, mm_side, mm_level]
        maker_msg = agents.maker_order(book, old_id, new_id, mm_side, prices[mm_side, mm_level], sizes,
                                       config.maker_owner + mm)

        msg = _select(kind, {VALUE_CANCEL: cancel_msg, VALUE_ORDER: value_msg, MOMENTUM: momentum_msg,
                             NOISE: noise_msg, MAKER: maker_msg})
        live = jnp.select(
            [kind == VALUE_CANCEL, kind == VALUE_ORDER, kind == MOMENTUM, kind == NOISE, kind == MAKER],
            [previous != EMPTY_ID, size > 0, ready & momentum_ok & (size > 0), noise_ok & (size > 0), quoting],
            False,
        )
        new_book, result = apply(book, msg)
        book = jax.tree.map(lambda new, old: jnp.where(live, new, old), new_book, book)
        accepted = live & (result.status == OK)
        traded = jnp.where(live, result.filled, 0)
        uses_id = live & (kind != VALUE_CANCEL)

        is_value, is_momentum, is_maker = kind == VALUE_ORDER, kind == MOMENTUM, kind == MAKER
        plan = is_maker & first
        mm_volume = state.mm_volume + jnp.zeros((1, 2), jnp.int32).at[0, result.side].set(traded)
        mm_volume = mm_volume.at[mm].set(jnp.where(plan, 0, mm_volume[mm]))
        state = state.replace(
            book=book,
            time_s=event.time_s,
            fundamental=value,
            next_id=state.next_id + uses_id.astype(jnp.int32),
            value_estimate=state.value_estimate.at[v].set(jnp.where(is_value, estimate, state.value_estimate[v])),
            value_variance=state.value_variance.at[v].set(jnp.where(is_value, variance, state.value_variance[v])),
            value_last_s=state.value_last_s.at[v].set(jnp.where(is_value, event.time_s, state.value_last_s[v])),
            value_order=state.value_order.at[v].set(
                jnp.where(is_value, new_id, jnp.where(kind == VALUE_CANCEL, EMPTY_ID, previous))),
            momentum_mids=state.momentum_mids.at[m].set(jnp.where(is_momentum, mids, state.momentum_mids[m])),
            momentum_count=state.momentum_count.at[m].set(jnp.where(is_momentum, count, state.momentum_count[m])),
            mm_spread=state.mm_spread.at[mm].set(jnp.where(plan, spread, state.mm_spread[mm])),
            mm_last_mid=state.mm_last_mid.at[mm].set(jnp.where(plan, last_mid, state.mm_last_mid[mm])),
            mm_volume=mm_volume,
            mm_prices=state.mm_prices.at[mm].set(jnp.where(plan, prices, state.mm_prices[mm])),
            mm_sizes=state.mm_sizes.at[mm].set(jnp.where(plan, sizes, state.mm_sizes[mm])),
            mm_quoting=state.mm_quoting.at[mm].set(jnp.where(plan, quoting, state.mm_quoting[mm])),
            mm_orders=state.mm_orders.at[mm, mm_side, mm_level].set(
                jnp.where(is_maker & live, new_id, old_id)),
            accepted=state.accepted.at[kind].add(accepted.astype(jnp.int32)),
            replaced=state.replaced + (accepted & is_maker & (msg.kind == REPLACE)).astype(jnp.int32),
            agent_evicted=state.agent_evicted + jnp.where(live & (result.evicted_owner == config.agent_owner),
                                                          result.evicted_qty, 0),
        )
        return state, None

    return step


def advance(key: jax.Array, state: MarketState, config: MarketConfig, params: MarketParams,
            duration_s: jax.Array) -> MarketState:
    """Trade for ``duration_s`` seconds (at most ``params.mm_period_s``; nothing happens after the
    close). Jittable and vmappable; ``config`` is static."""
    schedule_key, end_key = jax.random.split(key)
    end = jnp.minimum(state.time_s + duration_s, jnp.maximum(params.close_s, state.time_s))
    events, state = schedule(schedule_key, state, config, params, duration_s)
    state, _ = jax.lax.scan(_event(config, params), state, events)
    # Bring the fundamental to the end of the interval.
    z = jax.random.normal(end_key, (2,))
    u = jax.random.uniform(end_key, (2,))
    elapsed_ns = (end - state.time_s) * fundamental.NS_PER_S
    value = fundamental.ou_transition(state.fundamental, elapsed_ns, params.r_bar, params.kappa, params.fund_vol, z[0])
    value = value + fundamental.megashock(elapsed_ns, params.megashock_rate, params.megashock_mean,
                                          params.megashock_var, u, z[1])
    return state.replace(time_s=end, fundamental=value)


def book_events(state: MarketState) -> jax.Array:
    """Book events so far: accepted new orders and cancellations, a maker's replace counting as
    one of each (int32; batched states give one count per market)."""
    return state.accepted.sum(axis=-1) + state.replaced


__all__ = [
    "EVENT_NAMES", "Events", "MarketConfig", "MarketParams", "MarketState", "advance", "book_events",
    "init", "noise_wake_times", "schedule",
]

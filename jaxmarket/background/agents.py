"""The decision rules of the background agents (ABIDES ``rmsc04``), one pure function each.

Every rule reads the book as it is when the agent wakes and returns the message it sends with a
flag saying whether it sends one. Prices are int32 ticks (cents), sizes int32 shares, elapsed
times float32 nanoseconds (``_ns``). Float32 prices (forecasts, recorded mids) may be kept as
deviations from a reference tick ``ref`` (int32, default 0: absolute prices), so that their
resolution does not depend on the price level; the rules are unchanged by the shift.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmarket.lob import messages, views
from jaxmarket.lob.book import ORDER_ID, PRICE, Book
from jaxmarket.lob.constants import ASK, BID, EMPTY_ID, MAX_PRICE
from jaxmarket.lob.messages import Message

# Float32 deviations are clipped to this many ticks before becoming int32 prices: with a reference
# tick in [0, MAX_PRICE // 2] (the background's r_bar range) the sum stays inside int32, and the book
# rejects any price outside [1, max_price] (INVALID_PRICE, counted).
PRICE_DEVIATION_LIMIT = float(MAX_PRICE)


def touch(book: Book) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(best bid, best ask, has bid, has ask)`` of one book."""
    return book.orders[BID, PRICE, 0], book.orders[ASK, PRICE, 0], book.n[BID] > 0, book.n[ASK] > 0


def noise_order(book: Book, buy_u: jax.Array, size: jax.Array, order_id: jax.Array,
                owner: jax.Array) -> tuple[Message, jax.Array]:
    """A noise agent: a fair coin picks the side; a buy is a limit order at the best ask, a sell
    at the best bid (so it trades at the opposite touch); nothing if that side is empty."""
    bid, ask, has_bid, has_ask = touch(book)
    buy = buy_u < 0.5
    side = jnp.where(buy, BID, ASK)
    price = jnp.where(buy, ask, bid)
    return messages.limit(side, price, size, order_id, owner), jnp.where(buy, has_ask, has_bid)


def value_estimate(estimate: jax.Array, variance: jax.Array, elapsed_ns: jax.Array, to_close_ns: jax.Array,
                   observation: jax.Array, r_bar: jax.Array, kappa: jax.Array, sigma_s: jax.Array,
                   obs_var: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """A value agent's Bayesian update (ABIDES ``ValueAgent.update_estimates``).

    The prior mean reverts over ``elapsed_ns`` with the agent's ``kappa`` per ns,
    ``r <- (1 - a) r_bar + a r``, ``a = (1 - kappa)^elapsed``, and its variance grows,
    ``v <- a^2 v + (1 - a^2) / (1 - (1 - kappa)^2) sigma_s``; then the noisy observation (variance
    ``obs_var``) is averaged in by precision. Returns ``(estimate, variance, forecast at close)``;
    the forecast reverts the estimate over ``to_close_ns``.
    """
    log_keep = jnp.log1p(-kappa)
    a = jnp.exp(elapsed_ns * log_keep)
    grow = -jnp.expm1(2.0 * elapsed_ns * log_keep) / -jnp.expm1(2.0 * log_keep)
    prior = (1.0 - a) * r_bar + a * estimate
    prior_var = a * a * variance + grow * sigma_s
    weight = prior_var / (obs_var + prior_var)
    estimate = (1.0 - weight) * prior + weight * observation
    variance = obs_var * prior_var / (obs_var + prior_var)
    a_close = jnp.exp(jnp.maximum(to_close_ns, 0.0) * log_keep)
    forecast = (1.0 - a_close) * r_bar + a_close * estimate
    return estimate, variance, forecast


def value_order(book: Book, forecast: jax.Array, aggressive_u: jax.Array, adjust_u: jax.Array, side_u: jax.Array,
                aggressive: jax.Array, depth_spreads: jax.Array, size: jax.Array, order_id: jax.Array,
                owner: jax.Array, ref: jax.Array | int = 0) -> tuple[Message, jax.Array]:
    """A value agent's limit order (ABIDES ``ValueAgent.place_order``).

    ``forecast`` is float32 cents relative to ``ref`` (int32 ticks); the rounded forecast is the
    tick ``ref + round(forecast)`` (the deviation clipped to ``PRICE_DEVIATION_LIMIT``).
    On a two-sided book with ``mid = floor((bid + ask) / 2)``: it sells if the rounded forecast is
    below the mid, else buys. With probability ``aggressive`` the price is the opposite touch (a
    sell at the bid, a buy at the ask); otherwise it backs off by ``adjust``, uniform on
    ``{0, ..., floor(depth_spreads * spread) - 1}`` ticks (a sell at ``bid + adjust``, a buy at
    ``ask - adjust``). On a one-sided or empty book a fair coin picks the side and the price is the
    rounded forecast.
    """
    bid, ask, has_bid, has_ask = touch(book)
    two_sided = has_bid & has_ask
    deviation = jnp.clip(jnp.round(forecast), -PRICE_DEVIATION_LIMIT, PRICE_DEVIATION_LIMIT)
    target = jnp.asarray(ref, jnp.int32) + deviation.astype(jnp.int32)
    mid = views.floor_mid(bid, ask)
    span = jnp.floor(depth_spreads * (ask - bid).astype(jnp.float32)).astype(jnp.int32)
    adjust = jnp.minimum(jnp.floor(adjust_u * span).astype(jnp.int32), jnp.maximum(span - 1, 0))
    adjust = jnp.where(aggressive_u < aggressive, 0, adjust)
    buy = jnp.where(two_sided, target >= mid, side_u < 0.5)
    price = jnp.where(two_sided, jnp.where(buy, ask - adjust, bid + adjust), target)
    side = jnp.where(buy, BID, ASK)
    return messages.limit(side, price, size, order_id, owner), jnp.ones((), bool)


def momentum_record(mids: jax.Array, count: jax.Array, book: Book,
                    ref: jax.Array | int = 0) -> tuple[jax.Array, jax.Array]:
    """Append the current mid minus ``ref`` (``(bid + ask) / 2 - ref``, float32 from the exact tick
    differences; skipped on a one-sided book) to a momentum agent's ring buffer ``mids``
    (``(long,)``) holding ``count`` observations so far."""
    bid, ask, has_bid, has_ask = touch(book)
    seen = has_bid & has_ask
    slot = count % mids.shape[0]
    ref = jnp.asarray(ref, jnp.int32)
    mid = ((bid - ref).astype(jnp.float32) + (ask - ref).astype(jnp.float32)) / 2
    mids = jnp.where(seen, mids.at[slot].set(mid), mids)
    return mids, count + seen.astype(jnp.int32)


def momentum_signal(mids: jax.Array, count: jax.Array, short: int) -> tuple[jax.Array, jax.Array]:
    """``(ready, buy)``: ready from the ``long + 1``-th observation (as in ABIDES); buy when the
    moving average of the last ``short`` mids is at or above that of the last ``long`` (ties buy)."""
    long = mids.shape[0]
    age = (count - 1 - jnp.arange(long)) % long  # 0 for the newest observation
    short_mean = jnp.sum(jnp.where(age < short, mids, 0.0)) / short
    long_mean = jnp.mean(mids)
    return count > long, short_mean >= long_mean


def momentum_order(book: Book, buy: jax.Array, size: jax.Array, order_id: jax.Array,
                   owner: jax.Array) -> tuple[Message, jax.Array]:
    """A momentum agent's order: a buy limit at the best ask or a sell limit at the best bid."""
    bid, ask, has_bid, has_ask = touch(book)
    side = jnp.where(buy, BID, ASK)
    price = jnp.where(buy, ask, bid)
    return messages.limit(side, price, size, order_id, owner), jnp.where(buy, has_ask, has_bid)


def maker_plan(book: Book, spread_ewma: jax.Array, last_mid: jax.Array, volume: jax.Array, levels: int,
               pov: jax.Array, min_size: jax.Array, level_spacing: jax.Array, alpha: jax.Array,
               price_skew: jax.Array, ref: jax.Array | int = 0
               ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """An adaptive POV market maker's ladder (ABIDES ``AdaptiveMarketMakerAgent``, middle anchor).

    On a two-sided book the spread estimate moves, ``s <- alpha (ask - bid) + (1 - alpha) s``, and
    the mid is ``floor((bid + ask) / 2)``; on a one-sided book the last mid and spread are kept.
    With ``buy, sell`` the quantities traded since the last refresh (``volume``, by aggressor
    side), the centre is ``int(mid + (2 buy / (buy + sell) - 1) price_skew)`` (``mid`` with no
    volume; ``int`` truncates, which is the floor for a positive price), the best bid
    ``centre - floor(s / 2)``, the best ask ``centre + ceil(s / 2)``, and ``levels`` orders per side
    step outwards by ``max(round(level_spacing * s), 1)`` ticks. Every order's size is
    ``max(round(pov (buy + sell)), min_size)``.

    ``last_mid`` (and the returned one) is float32 relative to ``ref`` (int32 ticks), NaN before a
    mid has been seen. Ladder offsets are clipped to ``PRICE_DEVIATION_LIMIT`` ticks (a price off the
    book's range is rejected by the book). Returns ``(prices (2, levels), size, spread_ewma,
    last_mid, quoting)``; ``quoting`` is False until a mid has been seen.
    """
    bid, ask, has_bid, has_ask = touch(book)
    two_sided = has_bid & has_ask
    ref = jnp.asarray(ref, jnp.int32)
    spread_ewma = jnp.where(two_sided, alpha * (ask - bid) + (1.0 - alpha) * spread_ewma, spread_ewma)
    floor_mid = views.floor_mid(bid, ask)
    mid = jnp.where(two_sided, (floor_mid - ref).astype(jnp.float32), last_mid)
    quoting = jnp.isfinite(mid)
    volume = volume.astype(jnp.float32)
    total = volume.sum()
    skew = jnp.where(total > 0, (2.0 * volume[BID] / jnp.maximum(total, 1.0) - 1.0) * price_skew, 0.0)
    # The ladder as float32 deviations from ref (whole ticks: exact below 2**24), then int32 prices.
    centre = jnp.floor(jnp.where(quoting, mid, 0.0) + skew)
    tick = jnp.maximum(jnp.round(level_spacing * spread_ewma), 1.0)
    steps = tick * jnp.arange(levels, dtype=jnp.float32)
    deviations = jnp.stack([centre - jnp.floor(spread_ewma / 2) - steps, centre + jnp.ceil(spread_ewma / 2) + steps])
    prices = ref + jnp.clip(deviations, -PRICE_DEVIATION_LIMIT, PRICE_DEVIATION_LIMIT).astype(jnp.int32)
    size = jnp.maximum(jnp.round(pov * total).astype(jnp.int32), min_size)
    return prices, size, spread_ewma, mid, quoting


def maker_order(book: Book, old_id: jax.Array, new_id: jax.Array, side: jax.Array, price: jax.Array,
                size: jax.Array, owner: jax.Array) -> Message:
    """One ladder order: replaces the maker's previous order of that level if it still rests
    (keeping the message count at one per level), else a new limit order."""
    resting = (old_id != EMPTY_ID) & jnp.any(book.orders[:, ORDER_ID] == old_id)
    fresh = messages.limit(side, price, size, new_id, owner)
    swap = messages.replace(old_id, new_id, price, size)
    return jax.tree.map(lambda a, b: jnp.where(resting, a, b), swap, fresh)

"""Read-only views of a book, jittable and vmappable. Prices in ticks, quantities in lots.

A missing price (an empty side, no trade yet) reads 0 for integer views and NaN for float ones.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core.validation import check_choice, check_int
from jaxmarket.lob import counter
from jaxmarket.lob.book import ORDER_ID, OWNER, PRICE, QTY, Book
from jaxmarket.lob.constants import ASK, BID, STATUS_NAMES


class L3(NamedTuple):
    """One side's orders in priority order; the first ``n`` slots are valid. int32 ``(capacity,)``."""

    price: jax.Array
    qty: jax.Array
    order_id: jax.Array
    owner: jax.Array
    n: jax.Array


class L2(NamedTuple):
    """The top ``depth`` price levels per side, best first; int32 ``(depth,)``, 0 past the last level."""

    bid_price: jax.Array
    bid_qty: jax.Array
    ask_price: jax.Array
    ask_qty: jax.Array


def l3(book: Book, side: int) -> L3:
    """All orders of one side in priority order.

    Args:
        book: one book.
        side: ``BID`` or ``ASK`` (static).

    Returns:
        ``L3``: int32 ``(capacity,)`` prices (ticks), quantities (lots), ids and owners, and ``n``
        (int32, the valid slots).

    Raises:
        ValueError: ``side`` is not ``BID`` or ``ASK``.
    """
    check_choice("side", side, (BID, ASK))
    rows = book.orders[side]
    return L3(rows[PRICE], rows[QTY], rows[ORDER_ID], rows[OWNER], book.n[side])


def _levels(price: jax.Array, qty: jax.Array, depth: int) -> tuple[jax.Array, jax.Array]:
    """Aggregate one sorted side into its first ``depth`` price levels."""
    starts = jnp.concatenate([qty[:1] > 0, (price[1:] != price[:-1]) & (qty[1:] > 0)])
    level = jnp.cumsum(starts) - 1
    level = jnp.where(qty > 0, level, depth)  # empty slots fall outside
    level_qty = jnp.zeros(depth, jnp.int32).at[level].add(qty, mode="drop")
    level_price = jnp.zeros(depth, jnp.int32).at[jnp.where(starts, level, depth)].set(price, mode="drop")
    return level_price, level_qty


def l2(book: Book, depth: int) -> L2:
    """Price levels with their total quantity.

    Args:
        book: one book.
        depth: levels per side (static), >= 1.

    Returns:
        ``L2``: int32 ``(depth,)`` bid and ask prices (ticks) and quantities (lots), best first,
        0 past the last level.

    Raises:
        ValueError: ``depth`` is not an integer >= 1.
    """
    check_int("depth", depth, 1)
    orders = book.orders
    bid = _levels(orders[BID, PRICE], orders[BID, QTY], depth)
    ask = _levels(orders[ASK, PRICE], orders[ASK, QTY], depth)
    return L2(*bid, *ask)


def best_bid(book: Book) -> jax.Array:
    """Highest bid price (int32 ticks), 0 when there is no bid."""
    return book.orders[BID, PRICE, 0]


def best_ask(book: Book) -> jax.Array:
    """Lowest ask price (int32 ticks), 0 when there is no ask."""
    return book.orders[ASK, PRICE, 0]


def _two_sided(book: Book) -> jax.Array:
    return (book.n[BID] > 0) & (book.n[ASK] > 0)


def floor_mid(bid: jax.Array, ask: jax.Array) -> jax.Array:
    """``floor((bid + ask) / 2)`` of two int32 prices, without forming ``bid + ask`` (which can pass
    int32 at prices near ``MAX_PRICE``)."""
    return bid + (ask - bid) // 2


def mid(book: Book) -> jax.Array:
    """(best bid + best ask) / 2 in ticks, float32; NaN unless both sides hold orders."""
    value = (best_bid(book).astype(jnp.float32) + best_ask(book).astype(jnp.float32)) / 2
    return jnp.where(_two_sided(book), value, jnp.nan)


def spread(book: Book) -> jax.Array:
    """best ask − best bid in ticks (int32, ≥ 1 on a two-sided book that is not halted; ≤ 0 when a
    halted book is crossed or locked); 0 unless both sides hold orders."""
    return jnp.where(_two_sided(book), best_ask(book) - best_bid(book), 0)


def imbalance(book: Book, depth: int = 1) -> jax.Array:
    """(bid qty − ask qty) / (bid qty + ask qty) over the top ``depth`` levels, float32 in
    [−1, 1]; 0 on an empty book."""
    levels = l2(book, depth)
    bid = levels.bid_qty.sum().astype(jnp.float32)
    ask = levels.ask_qty.sum().astype(jnp.float32)
    total = bid + ask
    return jnp.where(total > 0, (bid - ask) / jnp.maximum(total, 1.0), 0.0)


def last_trade_price(book: Book) -> jax.Array:
    """Price of the most recent fill (int32 ticks), a RESUME's clearing price included; 0 before
    the first trade."""
    return book.last_trade_price


def traded_volume(book: Book) -> jax.Array:
    """Traded quantity by aggressor side, float32 ``(2,)`` (``[BID]`` buyer-initiated); exact to
    2**24 lots, see ``counts`` for exact integers."""
    return counter.approx(book.volume)


def counts(book: Book) -> dict[str, int]:
    """Exact cumulative counters of one (unbatched) book, outside ``jit``, as Python ints: messages
    per status (keys ``ok``, ``invalid_message``, …, ``held``), ``evictions``, continuous traded
    volume per aggressor side (``buy_volume``, ``sell_volume``) and ``auction_volume`` (lots
    executed by RESUME uncrosses, each counted once)."""
    statuses = counter.exact(book.status_counts)
    volume = counter.exact(book.volume)
    out = {name.lower(): int(statuses[i]) for i, name in enumerate(STATUS_NAMES)}
    out.update(evictions=int(np.asarray(counter.exact(book.evictions))), buy_volume=int(volume[BID]),
               sell_volume=int(volume[ASK]), auction_volume=int(np.asarray(counter.exact(book.auction_volume))))
    return out

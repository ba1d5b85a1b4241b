"""Matching: ``apply(book, msg) -> (book, result)`` for one message, ``apply_many`` for a stream.

Every message, whatever its kind, runs the same fixed-shape program, so under ``vmap`` every book
does the same work and there is no data-dependent loop:

1. Look up the message's order id on both sides (the target of a cancel, modify or replace; a
   duplicate for a new order) and validate the message.
2. Reduce the target in place (partial cancel, modify down) or mark it for removal.
3. Match the incoming order (limit, IOC, market, replace, or a modify that grows an order and
   re-queues it). On the opposite side, sorted best first, the crossing orders are a prefix, and
   the quantity each fills is ``clip(qty - ahead, 0, its qty)``, where ``ahead`` is the exclusive
   prefix sum of the quantities before it. The fully filled orders are a prefix too.
4. Rebuild both sides with one gather from the stored orders: each slot's source index accounts
   for the consumed prefix of the opposite side, the removed target, and the slot of a resting
   remainder (after all orders at its price, so time priority holds). Only two quantities then
   change: the partly filled order, now first on the opposite side, and a reduced target, which
   has not moved. Gathering the stored array, not one computed in this message, keeps XLA from
   recomputing the match for every gathered slot.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxmarket.lob import counter
from jaxmarket.lob.book import EMPTY_SLOT, ORDER_ID, OWNER, PRICE, QTY, Book
from jaxmarket.lob.constants import (
    ASK,
    BID,
    CANCEL,
    DUPLICATE_ID,
    EMPTY_ID,
    EVICT,
    INVALID_MESSAGE,
    INVALID_PRICE,
    INVALID_QTY,
    IOC,
    LIMIT,
    MARKET,
    MODIFY,
    NUM_STATUSES,
    OK,
    REPLACE,
    SIDE_FULL,
    UNKNOWN_ID,
)
from jaxmarket.lob.messages import Message


@struct.dataclass
class Result:
    """What one message did. int32 scalars, and ``(max_fills,)`` arrays for the fills.

    ``filled``: quantity executed against resting orders. ``remaining``: for LIMIT, IOC, MARKET and
    REPLACE the unfilled quantity (resting for LIMIT/REPLACE with status OK, dropped otherwise);
    for CANCEL the quantity left resting; for MODIFY the new quantity; 0 when rejected.
    ``cancelled``: resting quantity removed by a CANCEL, a MODIFY down or a REPLACE.
    Fills are listed in execution order; ``num_fills`` counts them all, and when it exceeds
    ``max_fills`` the first ``max_fills`` are listed while ``filled`` covers the whole sweep.
    Unused fill slots hold quantity 0, price 0 and id/owner ``EMPTY_ID``.
    """

    status: jax.Array  # constants.OK or the reason for rejection
    side: jax.Array  # side of the order acted on
    filled: jax.Array
    remaining: jax.Array
    cancelled: jax.Array
    num_fills: jax.Array
    fill_qty: jax.Array  # (max_fills,)
    fill_price: jax.Array  # (max_fills,) ticks: the resting order's price
    fill_passive_id: jax.Array  # (max_fills,)
    fill_passive_owner: jax.Array  # (max_fills,)
    evicted_id: jax.Array  # order evicted to make room (EVICT policy), else EMPTY_ID
    evicted_owner: jax.Array
    evicted_qty: jax.Array


def apply(book: Book, msg: Message) -> tuple[Book, Result]:
    """Apply one message (scalar fields) to one book. Jittable and vmappable."""
    capacity = book.capacity
    orders = book.orders
    price, qty, oid = orders[:, PRICE], orders[:, QTY], orders[:, ORDER_ID]  # (2, C)
    slot = jnp.arange(capacity, dtype=jnp.int32)[None, :]
    rows = jnp.arange(2, dtype=jnp.int32)[:, None]
    valid = slot < book.n[:, None]
    kind = msg.kind

    is_limit, is_ioc, is_market = kind == LIMIT, kind == IOC, kind == MARKET
    is_cancel, is_modify, is_replace = kind == CANCEL, kind == MODIFY, kind == REPLACE
    submits = is_limit | is_ioc | is_market
    targets = is_cancel | is_modify | is_replace

    # 1. Look-ups and validation.
    hit = valid & (oid == msg.order_id)  # at most one slot: resting ids are unique
    t_index, t_qty = jnp.sum(hit * (rows * capacity + slot)), jnp.sum(hit * qty)
    t_side, t_pos = t_index // capacity, t_index % capacity
    t_price, t_owner = jnp.sum(hit * price), jnp.sum(hit * orders[:, OWNER])
    found = t_qty > 0  # resting quantities are at least 1
    new_id = jnp.where(is_replace, msg.new_order_id, msg.order_id)
    taken = (valid & (oid == new_id)).any() & ~(is_replace & (new_id == msg.order_id))
    duplicate = (is_limit | is_replace) & (taken | (new_id < 0))

    known = (submits & ((msg.side == BID) | (msg.side == ASK))) | targets
    qty_ok = (msg.qty >= 1) & (is_cancel | (msg.qty <= book.max_qty))
    priced = is_limit | is_ioc | is_replace
    price_ok = ~priced | ((msg.price >= 1) & (msg.price <= book.max_price))
    status = jnp.select(
        [~known, ~qty_ok, ~price_ok, targets & ~found, duplicate],
        [INVALID_MESSAGE, INVALID_QTY, INVALID_PRICE, UNKNOWN_ID, DUPLICATE_ID],
        OK,
    ).astype(jnp.int32)
    accepted = status == OK
    side = jnp.where(targets, t_side, jnp.clip(msg.side, BID, ASK))
    own = rows == side  # (2, 1)

    # 2. Cancel or reduce the target in place, or mark it for removal.
    on_target = accepted & targets
    grows = is_modify & (msg.qty > t_qty)
    cut = jnp.where(is_cancel, jnp.minimum(msg.qty, t_qty), jnp.where(is_modify, jnp.maximum(t_qty - msg.qty, 0), t_qty))
    cancelled = jnp.where(on_target, cut, 0)
    remove = on_target & (is_replace | grows | (is_cancel & (cut == t_qty)))
    reduce = jnp.where(on_target & ~remove, cut, 0)

    # 3. Match the incoming order against the opposite side.
    incoming = accepted & (submits | is_replace | grows)
    in_qty = jnp.where(incoming, msg.qty, 0)
    in_price = jnp.where(is_replace | submits, msg.price, t_price)
    in_owner = jnp.where(targets, t_owner, msg.owner)
    sign = jnp.where(side == BID, 1, -1)
    key = jnp.where(rows == ASK, price, -price)  # ascending in priority order on both sides
    cross = valid & ~own & incoming & (is_market | (key <= sign * in_price))
    avail = jnp.where(cross, qty, 0).sum(axis=0)  # (C,): the opposite side's crossing quantities
    ahead = _prefix_sum(avail) - avail
    fill = jnp.clip(in_qty - ahead, 0, avail)  # (C,): fills on the opposite side, a prefix
    filled = fill.sum()
    num_fills = (fill > 0).sum()
    whole = (avail > 0) & (fill == avail)
    consumed_count = whole.sum()  # fully filled orders: a prefix of the opposite side
    partial = filled - jnp.sum(jnp.where(whole, fill, 0))  # the fill of the one partly filled order
    consumed = jnp.where(own[:, 0], 0, consumed_count)  # (2,)
    unfilled = in_qty - filled

    # The remainder rests after every order at its price (time priority).
    rest_qty = jnp.where(is_limit | is_replace | grows, unfilled, 0)
    wants_rest = rest_qty > 0
    better = own & valid & ~(remove & hit) & (key <= -sign * in_price)
    pos = better.sum()  # index among the orders that stay
    full = jnp.sum(own[:, 0] * book.n) - remove == capacity
    if book.full_policy == EVICT:
        evict = wants_rest & full & (pos < capacity)
        insert = wants_rest & (~full | evict)
    else:
        evict = jnp.zeros((), bool)
        insert = wants_rest & ~full
    status = jnp.where(wants_rest & ~insert, SIDE_FULL, status).astype(jnp.int32)

    # 4. Rebuild both sides with one gather: each slot's source index accounts for the filled
    #    prefix of the opposite side, the removed order and the new order's slot on the own side.
    inserted_here = own & insert
    before_removal = slot - (inserted_here & (slot > pos))  # index once the new order is taken out
    source = before_removal + consumed[:, None] + (own & remove & (before_removal >= t_pos))
    counts = book.n - consumed + own[:, 0] * (insert & ~evict) - own[:, 0] * remove
    moved = jnp.take_along_axis(orders, jnp.minimum(source, capacity - 1)[:, None, :], axis=2)
    # Quantities change in two places only, both known after the move: the partly filled order is
    # the opposite side's new first order, and a reduced target (which does not move) keeps its slot.
    cut_here = jnp.where(~own & (slot == 0), partial, 0) + jnp.where(own & (slot == t_pos), reduce, 0)
    moved = moved - jnp.where(jnp.arange(len(EMPTY_SLOT))[None, :, None] == QTY, cut_here[:, None, :], 0)
    new_order = jnp.stack([in_price, rest_qty, new_id, in_owner]).astype(jnp.int32)
    rebuilt = jnp.where((inserted_here & (slot == pos))[:, None, :], new_order[None, :, None], moved)
    live = slot < counts[:, None]
    rebuilt = jnp.where(live[:, None, :], rebuilt, jnp.asarray(EMPTY_SLOT, jnp.int32)[None, :, None])

    # Fills in execution order are the opposite side's first orders.
    listed = jnp.where(side == BID, orders[ASK, :, : book.max_fills], orders[BID, :, : book.max_fills])
    opp_fill = fill[: book.max_fills]
    has_fill = opp_fill > 0
    last_price = jnp.sum(jnp.where(cross & (slot == num_fills - 1), price, 0))
    evicted = jnp.where(side == BID, orders[BID, :, capacity - 1], orders[ASK, :, capacity - 1])
    signed = jnp.arange(NUM_STATUSES, dtype=jnp.int32) == status

    new_book = book.replace(
        orders=rebuilt,
        n=counts.astype(jnp.int32),
        last_trade_price=jnp.where(filled > 0, last_price, book.last_trade_price),
        volume=counter.add(book.volume, jnp.where(rows[:, 0] == side, filled, 0)),
        status_counts=counter.add(book.status_counts, signed.astype(jnp.int32)),
        evictions=counter.add(book.evictions, evict.astype(jnp.int32)),
    )
    acted = accepted | (status == SIDE_FULL)
    remaining = jnp.where(is_cancel, t_qty - cut, jnp.where(is_modify, msg.qty, unfilled))
    result = Result(
        status=status,
        side=side.astype(jnp.int32),
        filled=filled,
        remaining=jnp.where(acted, remaining, 0).astype(jnp.int32),
        cancelled=cancelled.astype(jnp.int32),
        num_fills=num_fills.astype(jnp.int32),
        fill_qty=opp_fill,
        fill_price=jnp.where(has_fill, listed[PRICE], 0),
        fill_passive_id=jnp.where(has_fill, listed[ORDER_ID], EMPTY_ID),
        fill_passive_owner=jnp.where(has_fill, listed[OWNER], EMPTY_ID),
        evicted_id=jnp.where(evict, evicted[ORDER_ID], EMPTY_ID),
        evicted_owner=jnp.where(evict, evicted[OWNER], EMPTY_ID),
        evicted_qty=jnp.where(evict, evicted[QTY], 0),
    )
    return new_book, result


def _shift(x: jax.Array, by: int) -> jax.Array:
    """``x`` moved ``by`` slots along its last axis (``out[j] = x[j - by]``), zeros shifted in."""
    config = [(0, 0, 0)] * (x.ndim - 1) + [(by, -by, 0)]
    return jax.lax.pad(x, jnp.zeros((), x.dtype), config)


def _prefix_sum(x: jax.Array) -> jax.Array:
    """Inclusive prefix sum along the last axis by log2(n) shifted adds (faster than ``cumsum``
    on CPU, and the same fixed work on every backend)."""
    size = x.shape[-1]
    shift = 1
    while shift < size:
        x = x + _shift(x, shift)
        shift *= 2
    return x


def apply_many(book: Book, msgs: Message) -> tuple[Book, Result]:
    """Apply a stream of messages (fields of shape ``(T,)``) in order with ``lax.scan``; the
    results are stacked along a leading ``T`` axis."""
    return jax.lax.scan(apply, book, msgs)

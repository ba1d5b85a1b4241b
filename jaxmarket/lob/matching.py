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

Trading halts (books made with ``empty(..., halts=True)``; the flag is static, so a book without
halts compiles none of this). ``HALT`` sets ``book.halted``: step 3 then matches nothing, and an
order that would have matched gets status ``HELD`` (a LIMIT, REPLACE or MODIFY up rests unmatched,
an IOC or MARKET is dropped whole). ``RESUME`` clears the flag and uncrosses the book in a
single-price call auction (``_uncross``): the clearing price maximises the executed volume
``min(D(p), S(p))`` (``D``: bid quantity at or above ``p``, ``S``: ask quantity at or below
``p``), then minimises the imbalance ``|D(p) - S(p)|``, then is the closest to the last trade price,
then the lower. Bids and asks fill in priority order up to that volume, all at the clearing price;
as in step 4, the fully filled orders are a prefix of each side and one partly filled order per
side keeps its slot. The uncross runs under ``lax.cond``: for one book (a replay) only RESUME
messages pay for it, but under ``vmap`` the cond becomes a select and every message does.
"""

from __future__ import annotations

from typing import NamedTuple

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
    HALT,
    HELD,
    INT32_MAX,
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
    RESUME,
    SIDE_FULL,
    UNKNOWN_ID,
)
from jaxmarket.lob.messages import Message, as_int32


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

    HALT and RESUME report ``side`` BID. A RESUME reports its uncross: ``filled`` is the auction
    volume (each lot once), ``num_fills`` the number of resting orders that traded (both sides),
    and the fill arrays list the executed bids in priority order, then the executed asks, every
    one at the clearing price; ``remaining`` and ``cancelled`` are 0.
    """

    status: jax.Array  # constants.OK or the reason for rejection
    side: jax.Array  # side of the order acted on
    filled: jax.Array
    remaining: jax.Array
    cancelled: jax.Array
    num_fills: jax.Array
    fill_qty: jax.Array  # (max_fills,)
    fill_price: jax.Array  # (max_fills,) ticks: the resting order's price (RESUME: the clearing price)
    fill_passive_id: jax.Array  # (max_fills,)
    fill_passive_owner: jax.Array  # (max_fills,)
    evicted_id: jax.Array  # order evicted to make room (EVICT policy), else EMPTY_ID
    evicted_owner: jax.Array
    evicted_qty: jax.Array


def apply(book: Book, msg: Message) -> tuple[Book, Result]:
    """Apply one message (scalar fields) to one book; jittable and vmappable.

    ``msg`` fields are int32 scalars (a wider traced dtype is checked: see ``messages.as_int32``).
    Returns the new book and a ``Result`` (int32 scalars, ``(book.max_fills,)`` fill arrays).
    Nothing raises inside: invalid messages are rejected with a status and counted.
    """
    msg = as_int32(msg)  # no operation for int32 fields
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
    is_halt, is_resume = (kind == HALT, kind == RESUME) if book.halts else (False, False)

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
    if book.halts:  # HALT and RESUME carry no side, quantity, price or id
        known, qty_ok = known | is_halt | is_resume, qty_ok | is_halt | is_resume
    priced = is_limit | is_ioc | is_replace
    price_ok = ~priced | ((msg.price >= 1) & (msg.price <= book.max_price))
    status = jnp.select(
        [~known, ~qty_ok, ~price_ok, targets & ~found, duplicate],
        [INVALID_MESSAGE, INVALID_QTY, INVALID_PRICE, UNKNOWN_ID, DUPLICATE_ID],
        OK,
    ).astype(jnp.int32)
    accepted = status == OK
    side = jnp.where(targets, t_side, jnp.clip(msg.side, BID, ASK))
    if book.halts:
        side = jnp.where(is_halt | is_resume, BID, side)
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
    if book.halts:  # halted: nothing matches, and an order that would have matched is HELD
        held = book.halted & cross.any()
        cross = cross & ~book.halted
        status = jnp.where(held, HELD, status).astype(jnp.int32)
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
    if book.halts:  # RESUME: the uncross auction fills both sides from their front
        auction = jax.lax.cond(accepted & is_resume, _uncross, _no_uncross, book)
        consumed = jnp.where(is_resume, auction.consumed, consumed)
        partial = jnp.where(is_resume, auction.partial, jnp.where(own[:, 0], 0, partial))  # (2,)

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
    if book.halts:
        cut_here = jnp.where(slot == 0, partial[:, None], 0) + jnp.where(own & (slot == t_pos), reduce, 0)
    else:
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
    fill_price = jnp.where(has_fill, listed[PRICE], 0)
    fill_id = jnp.where(has_fill, listed[ORDER_ID], EMPTY_ID)
    fill_owner = jnp.where(has_fill, listed[OWNER], EMPTY_ID)
    last_price = jnp.sum(jnp.where(cross & (slot == num_fills - 1), price, 0))
    last_trade_price = jnp.where(filled > 0, last_price, book.last_trade_price)
    evicted = jnp.where(side == BID, orders[BID, :, capacity - 1], orders[ASK, :, capacity - 1])
    signed = jnp.arange(NUM_STATUSES, dtype=jnp.int32) == status
    remaining = jnp.where(is_cancel, t_qty - cut, jnp.where(is_modify, msg.qty, unfilled))
    continuous = filled  # traded by an aggressor (0 for RESUME)
    extra = {}
    if book.halts:
        traded = auction.volume > 0
        opp_fill = jnp.where(is_resume, auction.fill_qty, opp_fill)
        fill_price = jnp.where(is_resume, auction.fill_price, fill_price)
        fill_id = jnp.where(is_resume, auction.fill_id, fill_id)
        fill_owner = jnp.where(is_resume, auction.fill_owner, fill_owner)
        num_fills = jnp.where(is_resume, auction.num_fills, num_fills)
        filled = jnp.where(is_resume, auction.volume, filled)  # unfilled (0 for RESUME) is already set
        last_trade_price = jnp.where(traded, auction.price, last_trade_price)
        halted = jnp.where(accepted & is_halt, True, jnp.where(accepted & is_resume, False, book.halted))
        extra = dict(halted=halted, auction_volume=counter.add_large(book.auction_volume, auction.volume))

    new_book = book.replace(
        orders=rebuilt,
        n=counts.astype(jnp.int32),
        last_trade_price=last_trade_price,
        volume=counter.add(book.volume, jnp.where(rows[:, 0] == side, continuous, 0)),
        status_counts=counter.add(book.status_counts, signed.astype(jnp.int32)),
        evictions=counter.add(book.evictions, evict.astype(jnp.int32)),
        **extra,
    )
    # Under jax_enable_x64 some reductions above are int64: keep the book's dtypes (a no-op in int32).
    new_book = jax.tree.map(lambda new, old: new.astype(old.dtype), new_book, book)
    acted = accepted | (status == SIDE_FULL)  # HELD messages were accepted too
    result = Result(
        status=status,
        side=side.astype(jnp.int32),
        filled=filled,
        remaining=jnp.where(acted, remaining, 0).astype(jnp.int32),
        cancelled=cancelled.astype(jnp.int32),
        num_fills=num_fills.astype(jnp.int32),
        fill_qty=opp_fill,
        fill_price=fill_price,
        fill_passive_id=fill_id,
        fill_passive_owner=fill_owner,
        evicted_id=jnp.where(evict, evicted[ORDER_ID], EMPTY_ID),
        evicted_owner=jnp.where(evict, evicted[OWNER], EMPTY_ID),
        evicted_qty=jnp.where(evict, evicted[QTY], 0),
    )
    return new_book, jax.tree.map(lambda x: x.astype(jnp.int32), result)


class Auction(NamedTuple):
    """What a RESUME's uncross does: per side ``(2,)`` the fully filled orders (a prefix) and the
    fill of the one partly filled order after them; the clearing price and volume; the number of
    orders that traded; and the listed fills ``(max_fills,)`` (bids, then asks, in priority order)."""

    consumed: jax.Array
    partial: jax.Array
    price: jax.Array
    volume: jax.Array
    num_fills: jax.Array
    fill_qty: jax.Array
    fill_price: jax.Array
    fill_id: jax.Array
    fill_owner: jax.Array


def _no_uncross(book: Book) -> Auction:
    zero, fills = jnp.zeros((), jnp.int32), jnp.zeros(book.max_fills, jnp.int32)
    empty_ids = jnp.full(book.max_fills, EMPTY_ID, jnp.int32)
    return Auction(jnp.zeros(2, jnp.int32), jnp.zeros(2, jnp.int32), zero, zero, zero, fills, fills, empty_ids,
                   empty_ids)


def _uncross(book: Book) -> Auction:
    """The single-price call auction of a (possibly crossed) book, in O(capacity · log capacity).

    With ``D(p)`` the bid quantity at or above ``p`` and ``S(p)`` the ask quantity at or below it
    (``D`` falls and ``S`` rises with ``p``), the clearing price maximises ``V(p) = min(D, S)``,
    then minimises ``|D - S|``, then ``|p - last trade price|``, then ``p``:

    1. The largest volume ``G`` is what pairing the best bids with the best asks trades: with
       ``B_k`` the bid quantity ahead of bid ``k`` (priority order), the bids whose first lot
       still meets an ask at or below their price, ``S(bid_k) > B_k``, are a prefix of ``K``
       bids (found by binary search), and ``G = min(B_K, S(bid_{K-1}))``.
    2. ``V(p) = G`` exactly on ``[p_S, p_D]``: ``p_D`` is the price of the bid holding the ``G``-th
       lot of the bid queue, ``p_S`` that of the ask holding the ``G``-th lot of the ask queue.
    3. On it, ``S = G`` below the ask holding lot ``G + 1`` and ``D = G`` above the bid holding
       lot ``G + 1``. Where both hold the imbalance is 0. Otherwise the imbalance ``D - G`` falls
       towards the top of the ``S = G`` part and ``S - G`` rises from the bottom of the ``D = G``
       part; the least of the two, over the prices where ``D`` (or ``S``) keeps that value, is the
       interval of best prices (both, joined, on a tie).
    4. The clearing price is the last trade price clipped into that interval.

    ``tests/reference_lob.py`` instead tries every price between the best ask and the best bid.
    """
    orders, n, capacity = book.orders, book.n, book.capacity
    price = orders[:, PRICE]
    slot = jnp.arange(capacity, dtype=jnp.int32)
    valid = slot[None, :] < n[:, None]
    qty = jnp.where(valid, orders[:, QTY], 0)
    cum = _prefix_sum(qty)  # (2, C) inclusive, in priority order
    bid, ask = price[BID], price[ASK]
    crossed = (n[BID] > 0) & (n[ASK] > 0) & (bid[0] >= ask[0])

    def demand(p: jax.Array) -> jax.Array:  # D(p)
        return jnp.sum(jnp.where(bid >= p, qty[BID], 0))

    def supply(p: jax.Array) -> jax.Array:  # S(p); empty ask slots hold quantity 0
        return jnp.sum(jnp.where(ask <= p, qty[ASK], 0))

    # 1. K: bids [0, K) meet an ask (binary search over [0, n_bid]); G.
    ahead = cum[BID] - qty[BID]
    low, high = jnp.zeros((), jnp.int32), n[BID]
    for _ in range(capacity.bit_length()):
        mid = (low + high) // 2
        at = jnp.minimum(mid, capacity - 1)
        meets = supply(bid[at]) > ahead[at]
        active = low < high
        low, high = jnp.where(active & meets, mid + 1, low), jnp.where(active & ~meets, mid, high)
    last = jnp.maximum(low - 1, 0)
    volume = jnp.where(crossed, jnp.minimum(cum[BID, last], supply(bid[last])), 0)

    # 2.-3. The prices of the orders holding lots G and G + 1 of each queue.
    def holder(side: int, lot: jax.Array) -> tuple[jax.Array, jax.Array]:
        index = jnp.sum(valid[side] & (cum[side] < lot))
        return price[side, jnp.minimum(index, capacity - 1)], index < n[side]

    p_demand, _ = holder(BID, volume)  # V = G on [p_supply, p_demand]
    p_supply, _ = holder(ASK, volume)
    next_bid, bid_exists = holder(BID, volume + 1)
    next_ask, ask_exists = holder(ASK, volume + 1)
    top_s = jnp.minimum(p_demand, jnp.where(ask_exists, next_ask - 1, p_demand))  # S = G on [p_supply, top_s]
    bottom_d = jnp.maximum(p_supply, jnp.where(bid_exists, next_bid + 1, p_supply))  # D = G on [bottom_d, p_demand]
    balanced = bottom_d <= top_s
    imbalance_s = jnp.where(top_s >= p_supply, demand(top_s) - volume, INT32_MAX)
    imbalance_d = jnp.where(bottom_d <= p_demand, supply(bottom_d) - volume, INT32_MAX)
    bid_below = jnp.max(jnp.where(valid[BID] & (bid < top_s), bid, 0))  # D(p) = D(top_s) above it
    ask_above = jnp.min(jnp.where(valid[ASK] & (ask > bottom_d), ask, INT32_MAX))  # S(p) = S(bottom_d) below it
    low_s, high_d = jnp.maximum(p_supply, bid_below + 1), jnp.minimum(p_demand, ask_above - 1)
    lower = jnp.where(balanced, bottom_d, jnp.where(imbalance_s <= imbalance_d, low_s, bottom_d))
    upper = jnp.where(balanced, top_s, jnp.where(imbalance_d <= imbalance_s, high_d, top_s))
    clearing = jnp.clip(book.last_trade_price, lower, upper)  # 4.

    fill = jnp.clip(volume - (cum - qty), 0, qty)  # (2, C): a prefix of each side
    whole = (qty > 0) & (fill == qty)
    consumed = whole.sum(axis=1)
    partial = fill.sum(axis=1) - jnp.where(whole, fill, 0).sum(axis=1)
    traded = (fill > 0).sum(axis=1)
    entry = jnp.arange(book.max_fills, dtype=jnp.int32)
    on_bid = entry < traded[BID]
    src_side = jnp.where(on_bid, BID, ASK)
    src_slot = jnp.clip(jnp.where(on_bid, entry, entry - traded[BID]), 0, capacity - 1)
    listed = entry < traded.sum()
    auction = Auction(
        consumed=consumed,
        partial=partial,
        price=jnp.where(crossed, clearing, 0),
        volume=volume,
        num_fills=traded.sum(),
        fill_qty=jnp.where(listed, fill[src_side, src_slot], 0),
        fill_price=jnp.where(listed, clearing, 0),
        fill_id=jnp.where(listed, orders[src_side, ORDER_ID, src_slot], EMPTY_ID),
        fill_owner=jnp.where(listed, orders[src_side, OWNER, src_slot], EMPTY_ID),
    )
    return jax.tree.map(lambda x: x.astype(jnp.int32), auction)  # int32 under jax_enable_x64 too


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
    results are stacked along a leading ``T`` axis. Jittable; raises nothing inside (see ``apply``)."""
    return jax.lax.scan(apply, book, msgs)

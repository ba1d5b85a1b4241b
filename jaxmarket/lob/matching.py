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
    """Apply one message to one book; jittable and vmappable (over books and messages together).

    Args:
        book: one book (no batch axes; ``vmap`` for a batch).
        msg: one message, int32 scalar fields (a wider traced dtype is checked: see
            ``messages.as_int32``).

    Returns:
        ``(book, result)``: the book after the message, and a ``Result`` of int32 scalars with
        ``(book.max_fills,)`` fill arrays. An invalid message leaves the book unchanged, and its
        status (``result.status``, not ``OK``) is counted in ``book.status_counts``.

    Nothing is raised inside ``jit``: an invalid message is rejected with a status. Outside,
    building ``msg`` may raise ``ValueError`` (see ``Message``).
    """
    msg = as_int32(msg)  # no operation for int32 fields
    grid = _grid(book)
    kinds = _kinds(book, msg.kind)
    look = _look_up(book, msg, grid, kinds)
    target = _change_target(msg, kinds, look)
    match = _match(book, msg, grid, kinds, look, target)
    rest = _rest(book, grid, kinds, look, target, match)
    rebuilt, counts = _rebuild(book, grid, look, target, match, rest)
    fills = _listed_fills(book, grid, look, match)
    status = rest.status
    evicted = jnp.where(look.side == BID, grid.orders[BID, :, book.capacity - 1],
                        grid.orders[ASK, :, book.capacity - 1])
    signed = jnp.arange(NUM_STATUSES, dtype=jnp.int32) == status
    remaining = jnp.where(kinds.cancel, look.t_qty - target.cut, jnp.where(kinds.modify, msg.qty, match.unfilled))
    continuous = match.filled  # traded by an aggressor (0 for RESUME)
    extra = {}
    if book.halts:
        fills, extra = _with_auction(book, kinds, look, fills, match.auction)

    new_book = book.replace(
        orders=rebuilt,
        n=counts.astype(jnp.int32),
        last_trade_price=fills.last_trade_price,
        volume=counter.add(book.volume, jnp.where(grid.rows[:, 0] == look.side, continuous, 0)),
        status_counts=counter.add(book.status_counts, signed.astype(jnp.int32)),
        evictions=counter.add(book.evictions, rest.evict.astype(jnp.int32)),
        **extra,
    )
    # Under jax_enable_x64 some reductions above are int64: keep the book's dtypes (a no-op in int32).
    new_book = jax.tree.map(lambda new, old: new.astype(old.dtype), new_book, book)
    acted = look.accepted | (status == SIDE_FULL)  # HELD messages were accepted too
    result = Result(
        status=status,
        side=look.side.astype(jnp.int32),
        filled=fills.filled,
        remaining=jnp.where(acted, remaining, 0).astype(jnp.int32),
        cancelled=target.cancelled.astype(jnp.int32),
        num_fills=fills.num_fills.astype(jnp.int32),
        fill_qty=fills.qty,
        fill_price=fills.price,
        fill_passive_id=fills.order_id,
        fill_passive_owner=fills.owner,
        evicted_id=jnp.where(rest.evict, evicted[ORDER_ID], EMPTY_ID),
        evicted_owner=jnp.where(rest.evict, evicted[OWNER], EMPTY_ID),
        evicted_qty=jnp.where(rest.evict, evicted[QTY], 0),
    )
    return new_book, jax.tree.map(lambda x: x.astype(jnp.int32), result)


class _Grid(NamedTuple):
    """The stored orders, their price, quantity and id planes ``(2, C)``, and the slot ``(1, C)``
    and side ``(2, 1)`` indices; ``valid`` marks the occupied slots."""

    orders: jax.Array
    price: jax.Array
    qty: jax.Array
    oid: jax.Array
    slot: jax.Array
    rows: jax.Array
    valid: jax.Array


def _grid(book: Book) -> _Grid:
    capacity = book.capacity
    orders = book.orders
    price, qty, oid = orders[:, PRICE], orders[:, QTY], orders[:, ORDER_ID]  # (2, C)
    slot = jnp.arange(capacity, dtype=jnp.int32)[None, :]
    rows = jnp.arange(2, dtype=jnp.int32)[:, None]
    valid = slot < book.n[:, None]
    return _Grid(orders, price, qty, oid, slot, rows, valid)


class _Kinds(NamedTuple):
    """Which kind the message is (bool scalars; ``halt``/``resume`` are ``False`` without halts)."""

    limit: jax.Array
    ioc: jax.Array
    market: jax.Array
    cancel: jax.Array
    modify: jax.Array
    replace: jax.Array
    submits: jax.Array  # a new order: LIMIT, IOC or MARKET
    targets: jax.Array  # acts on a resting order: CANCEL, MODIFY or REPLACE
    halt: jax.Array | bool
    resume: jax.Array | bool


def _kinds(book: Book, kind: jax.Array) -> _Kinds:
    is_limit, is_ioc, is_market = kind == LIMIT, kind == IOC, kind == MARKET
    is_cancel, is_modify, is_replace = kind == CANCEL, kind == MODIFY, kind == REPLACE
    submits = is_limit | is_ioc | is_market
    targets = is_cancel | is_modify | is_replace
    is_halt, is_resume = (kind == HALT, kind == RESUME) if book.halts else (False, False)
    return _Kinds(is_limit, is_ioc, is_market, is_cancel, is_modify, is_replace, submits, targets, is_halt, is_resume)


class _LookUp(NamedTuple):
    """Step 1: the target order (its slot ``hit`` ``(2, C)``, quantity, position, price and owner),
    the id a new order would take, the status so far and the side acted on (``own``: ``(2, 1)``)."""

    hit: jax.Array
    t_qty: jax.Array
    t_pos: jax.Array
    t_price: jax.Array
    t_owner: jax.Array
    new_id: jax.Array
    status: jax.Array
    accepted: jax.Array
    side: jax.Array
    own: jax.Array


def _look_up(book: Book, msg: Message, g: _Grid, k: _Kinds) -> _LookUp:
    """1. Look-ups and validation."""
    capacity = book.capacity
    hit = g.valid & (g.oid == msg.order_id)  # at most one slot: resting ids are unique
    t_index, t_qty = jnp.sum(hit * (g.rows * capacity + g.slot)), jnp.sum(hit * g.qty)
    t_side, t_pos = t_index // capacity, t_index % capacity
    t_price, t_owner = jnp.sum(hit * g.price), jnp.sum(hit * g.orders[:, OWNER])
    found = t_qty > 0  # resting quantities are at least 1
    new_id = jnp.where(k.replace, msg.new_order_id, msg.order_id)
    taken = (g.valid & (g.oid == new_id)).any() & ~(k.replace & (new_id == msg.order_id))
    duplicate = (k.limit | k.replace) & (taken | (new_id < 0))

    known = (k.submits & ((msg.side == BID) | (msg.side == ASK))) | k.targets
    qty_ok = (msg.qty >= 1) & (k.cancel | (msg.qty <= book.max_qty))
    if book.halts:  # HALT and RESUME carry no side, quantity, price or id
        known, qty_ok = known | k.halt | k.resume, qty_ok | k.halt | k.resume
    priced = k.limit | k.ioc | k.replace
    price_ok = ~priced | ((msg.price >= 1) & (msg.price <= book.max_price))
    status = jnp.select(
        [~known, ~qty_ok, ~price_ok, k.targets & ~found, duplicate],
        [INVALID_MESSAGE, INVALID_QTY, INVALID_PRICE, UNKNOWN_ID, DUPLICATE_ID],
        OK,
    ).astype(jnp.int32)
    accepted = status == OK
    side = jnp.where(k.targets, t_side, jnp.clip(msg.side, BID, ASK))
    if book.halts:
        side = jnp.where(k.halt | k.resume, BID, side)
    own = g.rows == side  # (2, 1)
    return _LookUp(hit, t_qty, t_pos, t_price, t_owner, new_id, status, accepted, side, own)


class _TargetChange(NamedTuple):
    """Step 2: what happens to the target: ``cut`` lots off it (``cancelled`` if accepted),
    removed whole, or reduced in place by ``reduce`` lots; ``grows``: a MODIFY up."""

    grows: jax.Array
    cut: jax.Array
    cancelled: jax.Array
    remove: jax.Array
    reduce: jax.Array


def _change_target(msg: Message, k: _Kinds, look: _LookUp) -> _TargetChange:
    """2. Cancel or reduce the target in place, or mark it for removal."""
    on_target = look.accepted & k.targets
    grows = k.modify & (msg.qty > look.t_qty)
    cut = jnp.where(k.cancel, jnp.minimum(msg.qty, look.t_qty),
                    jnp.where(k.modify, jnp.maximum(look.t_qty - msg.qty, 0), look.t_qty))
    cancelled = jnp.where(on_target, cut, 0)
    remove = on_target & (k.replace | grows | (k.cancel & (cut == look.t_qty)))
    reduce = jnp.where(on_target & ~remove, cut, 0)
    return _TargetChange(grows, cut, cancelled, remove, reduce)


class _Match(NamedTuple):
    """Step 3: the incoming order (price, owner, ``sign`` +1 for a bid), the priority ``key``
    ``(2, C)``, the crossing slots, the status so far, the fills ``(C,)`` on the opposite side and
    their total and count, per side the consumed prefix and the partly filled quantity, the
    unfilled rest, and the RESUME's auction (``None`` without halts)."""

    in_price: jax.Array
    in_owner: jax.Array
    sign: jax.Array
    key: jax.Array
    cross: jax.Array
    status: jax.Array
    fill: jax.Array
    filled: jax.Array
    num_fills: jax.Array
    consumed: jax.Array
    partial: jax.Array
    unfilled: jax.Array
    auction: Auction | None


def _match(book: Book, msg: Message, g: _Grid, k: _Kinds, look: _LookUp, target: _TargetChange) -> _Match:
    """3. Match the incoming order against the opposite side."""
    incoming = look.accepted & (k.submits | k.replace | target.grows)
    in_qty = jnp.where(incoming, msg.qty, 0)
    in_price = jnp.where(k.replace | k.submits, msg.price, look.t_price)
    in_owner = jnp.where(k.targets, look.t_owner, msg.owner)
    sign = jnp.where(look.side == BID, 1, -1)
    key = jnp.where(g.rows == ASK, g.price, -g.price)  # ascending in priority order on both sides
    cross = g.valid & ~look.own & incoming & (k.market | (key <= sign * in_price))
    status = look.status
    if book.halts:  # halted: nothing matches, and an order that would have matched is HELD
        held = book.halted & cross.any()
        cross = cross & ~book.halted
        status = jnp.where(held, HELD, status).astype(jnp.int32)
    avail = jnp.where(cross, g.qty, 0).sum(axis=0)  # (C,): the opposite side's crossing quantities
    ahead = _prefix_sum(avail) - avail
    fill = jnp.clip(in_qty - ahead, 0, avail)  # (C,): fills on the opposite side, a prefix
    filled = fill.sum()
    num_fills = (fill > 0).sum()
    whole = (avail > 0) & (fill == avail)
    consumed_count = whole.sum()  # fully filled orders: a prefix of the opposite side
    partial = filled - jnp.sum(jnp.where(whole, fill, 0))  # the fill of the one partly filled order
    consumed = jnp.where(look.own[:, 0], 0, consumed_count)  # (2,)
    unfilled = in_qty - filled
    auction = None
    if book.halts:  # RESUME: the uncross auction fills both sides from their front
        auction = jax.lax.cond(look.accepted & k.resume, _uncross, _no_uncross, book)
        consumed = jnp.where(k.resume, auction.consumed, consumed)
        partial = jnp.where(k.resume, auction.partial, jnp.where(look.own[:, 0], 0, partial))  # (2,)
    return _Match(in_price, in_owner, sign, key, cross, status, fill, filled, num_fills, consumed, partial, unfilled,
                  auction)


class _Rest(NamedTuple):
    """Where the remainder goes: ``rest_qty`` lots at position ``pos`` of its side, whether it is
    inserted and whether the side's last order is evicted for it; the status so far."""

    rest_qty: jax.Array
    pos: jax.Array
    evict: jax.Array
    insert: jax.Array
    status: jax.Array


def _rest(book: Book, g: _Grid, k: _Kinds, look: _LookUp, target: _TargetChange, m: _Match) -> _Rest:
    """The remainder rests after every order at its price (time priority)."""
    rest_qty = jnp.where(k.limit | k.replace | target.grows, m.unfilled, 0)
    wants_rest = rest_qty > 0
    better = look.own & g.valid & ~(target.remove & look.hit) & (m.key <= -m.sign * m.in_price)
    pos = better.sum()  # index among the orders that stay
    full = jnp.sum(look.own[:, 0] * book.n) - target.remove == book.capacity
    if book.full_policy == EVICT:
        evict = wants_rest & full & (pos < book.capacity)
        insert = wants_rest & (~full | evict)
    else:
        evict = jnp.zeros((), bool)
        insert = wants_rest & ~full
    status = jnp.where(wants_rest & ~insert, SIDE_FULL, m.status).astype(jnp.int32)
    return _Rest(rest_qty, pos, evict, insert, status)


def _rebuild(book: Book, g: _Grid, look: _LookUp, target: _TargetChange, m: _Match,
             r: _Rest) -> tuple[jax.Array, jax.Array]:
    """4. Rebuild both sides with one gather: each slot's source index accounts for the filled
    prefix of the opposite side, the removed order and the new order's slot on the own side.
    Returns the orders ``(2, 4, C)`` and the counts ``(2,)``."""
    capacity = book.capacity
    inserted_here = look.own & r.insert
    before_removal = g.slot - (inserted_here & (g.slot > r.pos))  # index once the new order is taken out
    source = before_removal + m.consumed[:, None] + (look.own & target.remove & (before_removal >= look.t_pos))
    counts = book.n - m.consumed + look.own[:, 0] * (r.insert & ~r.evict) - look.own[:, 0] * target.remove
    moved = jnp.take_along_axis(g.orders, jnp.minimum(source, capacity - 1)[:, None, :], axis=2)
    # Quantities change in two places only, both known after the move: the partly filled order is
    # the opposite side's new first order, and a reduced target (which does not move) keeps its slot.
    if book.halts:
        cut_here = (jnp.where(g.slot == 0, m.partial[:, None], 0)
                    + jnp.where(look.own & (g.slot == look.t_pos), target.reduce, 0))
    else:
        cut_here = (jnp.where(~look.own & (g.slot == 0), m.partial, 0)
                    + jnp.where(look.own & (g.slot == look.t_pos), target.reduce, 0))
    moved = moved - jnp.where(jnp.arange(len(EMPTY_SLOT))[None, :, None] == QTY, cut_here[:, None, :], 0)
    new_order = jnp.stack([m.in_price, r.rest_qty, look.new_id, m.in_owner]).astype(jnp.int32)
    rebuilt = jnp.where((inserted_here & (g.slot == r.pos))[:, None, :], new_order[None, :, None], moved)
    live = g.slot < counts[:, None]
    rebuilt = jnp.where(live[:, None, :], rebuilt, jnp.asarray(EMPTY_SLOT, jnp.int32)[None, :, None])
    return rebuilt, counts


class _Fills(NamedTuple):
    """The listed fills ``(max_fills,)`` (quantity, price, passive id and owner), the number of
    fills and the quantity filled, and the book's new last trade price."""

    qty: jax.Array
    price: jax.Array
    order_id: jax.Array
    owner: jax.Array
    num_fills: jax.Array
    filled: jax.Array
    last_trade_price: jax.Array


def _listed_fills(book: Book, g: _Grid, look: _LookUp, m: _Match) -> _Fills:
    """Fills in execution order are the opposite side's first orders."""
    listed = jnp.where(look.side == BID, g.orders[ASK, :, : book.max_fills], g.orders[BID, :, : book.max_fills])
    opp_fill = m.fill[: book.max_fills]
    has_fill = opp_fill > 0
    fill_price = jnp.where(has_fill, listed[PRICE], 0)
    fill_id = jnp.where(has_fill, listed[ORDER_ID], EMPTY_ID)
    fill_owner = jnp.where(has_fill, listed[OWNER], EMPTY_ID)
    last_price = jnp.sum(jnp.where(m.cross & (g.slot == m.num_fills - 1), g.price, 0))
    last_trade_price = jnp.where(m.filled > 0, last_price, book.last_trade_price)
    return _Fills(opp_fill, fill_price, fill_id, fill_owner, m.num_fills, m.filled, last_trade_price)


def _with_auction(book: Book, k: _Kinds, look: _LookUp, fills: _Fills,
                  auction: Auction) -> tuple[_Fills, dict[str, jax.Array]]:
    """A RESUME reports its uncross as its fills; HALT and RESUME set the halted flag. Returns the
    fills and the book's halt fields."""
    traded = auction.volume > 0
    fills = _Fills(
        qty=jnp.where(k.resume, auction.fill_qty, fills.qty),
        price=jnp.where(k.resume, auction.fill_price, fills.price),
        order_id=jnp.where(k.resume, auction.fill_id, fills.order_id),
        owner=jnp.where(k.resume, auction.fill_owner, fills.owner),
        num_fills=jnp.where(k.resume, auction.num_fills, fills.num_fills),
        filled=jnp.where(k.resume, auction.volume, fills.filled),  # unfilled (0 for RESUME) is already set
        last_trade_price=jnp.where(traded, auction.price, fills.last_trade_price),
    )
    halted = jnp.where(look.accepted & k.halt, True, jnp.where(look.accepted & k.resume, False, book.halted))
    return fills, dict(halted=halted, auction_volume=counter.add_large(book.auction_volume, auction.volume))


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
    q = _queues(book)
    crossed = (q.n[BID] > 0) & (q.n[ASK] > 0) & (q.bid[0] >= q.ask[0])
    volume = _auction_volume(q, crossed)
    clearing = _clearing_price(q, volume, book.last_trade_price)
    return _auction_fills(book, q, crossed, volume, clearing)


class _Queues(NamedTuple):
    """Both sides of a book for the auction: prices ``(2, C)`` (``bid``, ``ask``: ``(C,)``),
    quantities ``(2, C)`` (0 in empty slots) and their inclusive prefix sums in priority order,
    the occupied slots and the counts ``(2,)``."""

    price: jax.Array
    bid: jax.Array
    ask: jax.Array
    qty: jax.Array
    cum: jax.Array
    valid: jax.Array
    n: jax.Array

    @property
    def capacity(self) -> int:
        return self.price.shape[-1]

    def demand(self, p: jax.Array) -> jax.Array:
        """``D(p)``: the bid quantity at or above ``p``."""
        return jnp.sum(jnp.where(self.bid >= p, self.qty[BID], 0))

    def supply(self, p: jax.Array) -> jax.Array:
        """``S(p)``: the ask quantity at or below ``p`` (empty ask slots hold quantity 0)."""
        return jnp.sum(jnp.where(self.ask <= p, self.qty[ASK], 0))

    def holder(self, side: int, lot: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The price of the order holding lot ``lot`` of ``side``'s queue, and whether it exists."""
        index = jnp.sum(self.valid[side] & (self.cum[side] < lot))
        return self.price[side, jnp.minimum(index, self.capacity - 1)], index < self.n[side]


def _queues(book: Book) -> _Queues:
    orders, n, capacity = book.orders, book.n, book.capacity
    price = orders[:, PRICE]
    slot = jnp.arange(capacity, dtype=jnp.int32)
    valid = slot[None, :] < n[:, None]
    qty = jnp.where(valid, orders[:, QTY], 0)
    cum = _prefix_sum(qty)  # (2, C) inclusive, in priority order
    return _Queues(price, price[BID], price[ASK], qty, cum, valid, n)


def _auction_volume(q: _Queues, crossed: jax.Array) -> jax.Array:
    """1. K: bids [0, K) meet an ask (binary search over [0, n_bid]); the volume G (0 unless crossed)."""
    capacity = q.capacity
    ahead = q.cum[BID] - q.qty[BID]
    low, high = jnp.zeros((), jnp.int32), q.n[BID]
    for _ in range(capacity.bit_length()):
        mid = (low + high) // 2
        at = jnp.minimum(mid, capacity - 1)
        meets = q.supply(q.bid[at]) > ahead[at]
        active = low < high
        low, high = jnp.where(active & meets, mid + 1, low), jnp.where(active & ~meets, mid, high)
    last = jnp.maximum(low - 1, 0)
    return jnp.where(crossed, jnp.minimum(q.cum[BID, last], q.supply(q.bid[last])), 0)


def _clearing_price(q: _Queues, volume: jax.Array, last_trade_price: jax.Array) -> jax.Array:
    """2.-4. From the prices of the orders holding lots G and G + 1 of each queue, the interval of
    best prices, and the last trade price clipped into it."""
    p_demand, _ = q.holder(BID, volume)  # V = G on [p_supply, p_demand]
    p_supply, _ = q.holder(ASK, volume)
    next_bid, bid_exists = q.holder(BID, volume + 1)
    next_ask, ask_exists = q.holder(ASK, volume + 1)
    top_s = jnp.minimum(p_demand, jnp.where(ask_exists, next_ask - 1, p_demand))  # S = G on [p_supply, top_s]
    bottom_d = jnp.maximum(p_supply, jnp.where(bid_exists, next_bid + 1, p_supply))  # D = G on [bottom_d, p_demand]
    balanced = bottom_d <= top_s
    imbalance_s = jnp.where(top_s >= p_supply, q.demand(top_s) - volume, INT32_MAX)
    imbalance_d = jnp.where(bottom_d <= p_demand, q.supply(bottom_d) - volume, INT32_MAX)
    bid_below = jnp.max(jnp.where(q.valid[BID] & (q.bid < top_s), q.bid, 0))  # D(p) = D(top_s) above it
    ask_above = jnp.min(jnp.where(q.valid[ASK] & (q.ask > bottom_d), q.ask, INT32_MAX))  # S(p) = S(bottom_d) below it
    low_s, high_d = jnp.maximum(p_supply, bid_below + 1), jnp.minimum(p_demand, ask_above - 1)
    lower = jnp.where(balanced, bottom_d, jnp.where(imbalance_s <= imbalance_d, low_s, bottom_d))
    upper = jnp.where(balanced, top_s, jnp.where(imbalance_d <= imbalance_s, high_d, top_s))
    return jnp.clip(last_trade_price, lower, upper)  # 4.


def _auction_fills(book: Book, q: _Queues, crossed: jax.Array, volume: jax.Array, clearing: jax.Array) -> Auction:
    """Each side fills from its front up to ``volume``, every fill at ``clearing``; the listed
    fills are the executed bids, then the executed asks."""
    capacity = q.capacity
    fill = jnp.clip(volume - (q.cum - q.qty), 0, q.qty)  # (2, C): a prefix of each side
    whole = (q.qty > 0) & (fill == q.qty)
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
        fill_id=jnp.where(listed, book.orders[src_side, ORDER_ID, src_slot], EMPTY_ID),
        fill_owner=jnp.where(listed, book.orders[src_side, OWNER, src_slot], EMPTY_ID),
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
    """Apply a stream of messages in order with ``lax.scan``; jittable.

    Args:
        book: one book.
        msgs: a stream, int32 fields of shape ``(T,)`` (``messages.stack``).

    Returns:
        ``(book, results)``: the book after the last message, and the ``Result`` of every message
        stacked along a leading ``T`` axis (int32 ``(T,)`` and ``(T, book.max_fills)``).

    Nothing is raised inside ``jit`` (see ``apply``).
    """
    return jax.lax.scan(apply, book, msgs)

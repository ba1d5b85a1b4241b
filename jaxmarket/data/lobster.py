"""LOBSTER message files to book message streams.

A LOBSTER message file (``TICKER_DATE_START_END_message_LEVEL.csv``) has one event per row and six
comma-separated columns, no header: time (seconds after midnight, float), event type, order id,
size (shares), price (dollars times 10,000) and direction (1: the order is a buy, -1: a sell).

Event types and what they become (``EVENT_MAPPING``):

====  =========================================  ===========================================
type  LOBSTER event                              book message
====  =========================================  ===========================================
1     new limit order                            ``limit(side, price, size, order_id)``
2     partial cancellation                       ``cancel(order_id, size)``
3     total deletion                             ``cancel(order_id)`` (the whole remainder)
4     execution of a visible limit order         ``limit(opposite side, price, size, -1, ioc=True)``
5     execution of a hidden limit order          skipped: no visible order changes
6     cross trade (auction)                      skipped: not a continuous-book event
7     trading halt indicator                     skipped
====  =========================================  ===========================================

An execution (type 4) names the resting order that was hit, on side ``direction``; it is replayed
as the aggressor that hit it: an IOC limit on the other side at the execution price for the
executed size. In a book rebuilt from the start of the file, price-time priority makes that IOC
fill exactly the named order (the front of its queue). Orders resting before the file starts are
unknown to a book built from empty: their cancels are rejected with ``UNKNOWN_ID`` and executions
against them fill whatever rests at that price.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from jaxmarket.core.validation import check_int
from jaxmarket.lob.constants import ASK, BID, CANCEL, CANCEL_ALL, EMPTY_ID, IOC, LIMIT
from jaxmarket.lob.messages import Message

NEW, PARTIAL_CANCEL, DELETE, EXECUTE_VISIBLE, EXECUTE_HIDDEN, CROSS, HALT = 1, 2, 3, 4, 5, 6, 7
EVENT_MAPPING = {
    NEW: "LIMIT",
    PARTIAL_CANCEL: "CANCEL (size)",
    DELETE: "CANCEL (all)",
    EXECUTE_VISIBLE: "IOC on the opposite side",
    EXECUTE_HIDDEN: "skipped",
    CROSS: "skipped",
    HALT: "skipped",
}
REPLAYED = (NEW, PARTIAL_CANCEL, DELETE, EXECUTE_VISIBLE)
NUM_COLUMNS = 6
PRICE_SCALE = 10_000  # LOBSTER prices are dollars times this


class LobsterStream(NamedTuple):
    """Replayable events of a LOBSTER file. ``messages`` fields and ``times``/``event_types``
    have shape ``(T,)``; ``skipped`` counts the rows of each skipped event type."""

    messages: Message
    times: np.ndarray  # float64, seconds after midnight
    event_types: np.ndarray  # int32, the LOBSTER type of each message
    skipped: dict[int, int]


def load_lobster(path: str | os.PathLike, *, tick: int = 100, owner: int = 0) -> LobsterStream:
    """Read a LOBSTER message file into a message stream for ``lob.apply_many``.

    ``tick``: price units (dollars times 10,000) per book tick; the default 100 makes one tick one
    cent. ``owner``: the owner recorded on every order. Raises ``ValueError`` naming the row and
    the column of a malformed value.
    """
    check_int("tick", tick, 1)
    table = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    if table.shape[1] != NUM_COLUMNS:
        raise ValueError(f"{os.fspath(path)}: {table.shape[1]} columns per row, a LOBSTER message file has {NUM_COLUMNS}")
    times, kinds, ids, sizes, prices, directions = table.T
    _check_column(kinds, "type", np.isin(kinds, list(EVENT_MAPPING)), "an event type in 1..7")
    _check_column(directions, "direction", np.isin(directions, (-1, 1)), "1 (buy) or -1 (sell)")
    _check_column(ids, "order id", (ids == np.round(ids)) & (ids >= 0) & (ids < 2**31), "an integer in [0, 2**31)")
    keep = np.isin(kinds, REPLAYED)  # skipped rows (a halt has size 0 and price -1) are not checked further
    _check_column(sizes, "size", ~keep | (sizes == np.round(sizes)) & (sizes >= 1) & (sizes < 2**31), "an integer in [1, 2**31)")
    ticks = prices / tick
    _check_column(prices, f"price (a multiple of tick = {tick})", ~keep | (ticks == np.round(ticks)) & (ticks >= 1) & (ticks < 2**31),
                  "a positive multiple of tick")
    kinds, ids, sizes, ticks, directions = (c[keep].astype(np.int64) for c in (kinds, ids, sizes, ticks, directions))
    order_side = np.where(directions == 1, BID, ASK)
    execute = kinds == EXECUTE_VISIBLE
    cancels = (kinds == PARTIAL_CANCEL) | (kinds == DELETE)
    message_kind = np.select([kinds == NEW, cancels], [LIMIT, CANCEL], IOC)
    qty = np.where(kinds == DELETE, CANCEL_ALL, sizes)
    messages = Message(
        kind=message_kind.astype(np.int32),
        side=np.where(execute, 1 - order_side, order_side).astype(np.int32),
        price=np.where(cancels, 0, ticks).astype(np.int32),
        qty=qty.astype(np.int32),
        order_id=np.where(execute, EMPTY_ID, ids).astype(np.int32),
        new_order_id=np.zeros(len(kinds), np.int32),
        owner=np.full(len(kinds), owner, np.int32),
    )
    all_kinds = table[:, 1].astype(np.int64)
    skipped = {t: int(np.sum(all_kinds == t)) for t in EVENT_MAPPING if t not in REPLAYED}
    return LobsterStream(messages, times[keep], kinds.astype(np.int32), skipped)


def _check_column(values: np.ndarray, column: str, ok: np.ndarray, valid: str) -> None:
    if not np.all(ok):
        row = int(np.argmin(ok))
        raise ValueError(f"row {row + 1}: {column} = {values[row]:g} is not valid: expected {valid}")

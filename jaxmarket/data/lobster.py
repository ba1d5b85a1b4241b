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
6     cross trade (auction print)                recorded in ``crosses``, not applied
7     trading halt indicator (price column):     ``halt()`` for -1 (halt begins) and 0 (quoting
      -1 halt, 0 quoting, 1 trading resumes      resumes, still no trading); ``resume()`` for 1
====  =========================================  ===========================================

An execution (type 4) names the resting order that was hit, on side ``direction``; it is replayed
as the aggressor that hit it: an IOC limit on the other side at the execution price for the
executed size. In a book rebuilt from the start of the file, price-time priority makes that IOC
fill exactly the named order (the front of its queue). Orders resting before the file starts are
unknown to a book built from empty: their cancels are rejected with ``UNKNOWN_ID`` and executions
against them fill whatever rests at that price.

Trading halts need a book made with ``lob.empty(..., halts=True)`` (``jaxmarket replay`` makes
one); a book without them rejects the HALT and RESUME messages as ``INVALID_MESSAGE``. During a
halt, orders rest even when they cross and matching waits (an order that would have matched has
status ``HELD``); the RESUME uncrosses the book in one call auction (see ``jaxmarket.lob``).

A cross trade (type 6) is, in LOBSTER's words, not a trade but an aggregated representation of
many limit and hidden order executions, redundant for building the book: a pseudo order with a
negative id (-1 opening cross, -2 closing cross, -3 and -4 halt and other intraday crosses)
holding the cross's price and volume. The loader keeps these prints, with their times, in
``LobsterStream.crosses`` (to compare with the book's own uncross at a RESUME) and does not apply
them. Negative ids are accepted on type 6 rows only.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, NamedTuple

import numpy as np

from jaxmarket.core.validation import check_int
from jaxmarket.lob.constants import ASK, BID, CANCEL, CANCEL_ALL, EMPTY_ID, INT32_MAX, INT32_MIN, IOC, LIMIT
from jaxmarket.lob.constants import HALT as HALT_MESSAGE
from jaxmarket.lob.constants import RESUME as RESUME_MESSAGE
from jaxmarket.lob.messages import Message

NEW, PARTIAL_CANCEL, DELETE, EXECUTE_VISIBLE, EXECUTE_HIDDEN, CROSS, HALT = 1, 2, 3, 4, 5, 6, 7
HALT_BEGINS, QUOTING, TRADING_RESUMES = -1, 0, 1  # the price column of a type 7 row
EVENT_MAPPING = {
    NEW: "LIMIT",
    PARTIAL_CANCEL: "CANCEL (size)",
    DELETE: "CANCEL (all)",
    EXECUTE_VISIBLE: "IOC on the opposite side",
    EXECUTE_HIDDEN: "skipped",
    CROSS: "recorded in LobsterStream.crosses, not applied (redundant for the book)",
    HALT: "HALT (price -1: halt begins; 0: quoting, still halted), RESUME (price 1: trading resumes)",
}
ORDERS = (NEW, PARTIAL_CANCEL, DELETE, EXECUTE_VISIBLE)  # rows that name a real order
REPLAYED = (*ORDERS, HALT)  # rows that become book messages
SKIPPED = (EXECUTE_HIDDEN, CROSS)  # rows that do not
NUM_COLUMNS = 6
PRICE_SCALE = 10_000  # LOBSTER prices are dollars times this
ID_LIMIT = INT32_MAX + 1  # ids and sizes are below this (int32)


class CrossPrints(NamedTuple):
    """The cross trades (type 6 rows) of a file, in file order, each of shape ``(N,)``."""

    times: np.ndarray  # float64, seconds after midnight
    price: np.ndarray  # int32 ticks
    size: np.ndarray  # int32 shares
    order_id: np.ndarray  # int32 pseudo order id (-1 opening, -2 closing, -3/-4 halt and other crosses)


class LobsterStream(NamedTuple):
    """Replayable events of a LOBSTER file. ``messages`` fields and ``times``/``event_types``
    have shape ``(T,)``; ``skipped`` counts the rows of each type that became no message (5 and
    6); ``crosses`` holds the type 6 rows."""

    messages: Message
    times: np.ndarray  # float64, seconds after midnight
    event_types: np.ndarray  # int32, the LOBSTER type of each message
    skipped: dict[int, int]
    crosses: CrossPrints


def load_lobster(path: str | os.PathLike, *, tick: int = 100, owner: int = 0) -> LobsterStream:
    """Read a LOBSTER message file into a message stream for ``lob.apply_many`` on a book made
    with ``halts=True``.

    Args:
        path: the message file (six numeric columns: time, type, order id, size, price,
            direction; no header).
        tick: price units (dollars times 10,000) per book tick, an integer >= 1; the default 100
            makes one tick one cent.
        owner: the owner recorded on every order, an int32 integer.

    Returns:
        A ``LobsterStream``: ``messages`` with int32 fields of shape ``(T,)`` (prices in ticks,
        sizes in shares), ``times`` float64 ``(T,)`` seconds after midnight, ``event_types`` int32
        ``(T,)``, the ``skipped`` row counts per type and the ``crosses`` (type 6 rows).

    Raises:
        ValueError: naming the argument, or the row and the column of a malformed value: an
            unknown type or direction, an id outside ``[0, 2**31)`` (``[-2**31, 2**31)`` on a
            cross), a size outside ``[1, 2**31)`` (``[0, 2**31)`` on a cross), a price that is not
            a positive multiple of ``tick`` below ``2**31`` ticks, a type 7 price other than -1, 0
            or 1, a time that is not finite or earlier than the row before; and for an empty file
            or one with a header line.
    """
    check_int("tick", tick, 1)
    check_int("owner", owner, INT32_MIN, INT32_MAX)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an empty file: reported below
        try:
            table = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
        except ValueError as error:  # a header line or a non-numeric cell; numpy counts rows from 0
            raise ValueError(f"{os.fspath(path)}: not a LOBSTER message file (six numeric columns, no header): "
                             f"{error}") from None
    if table.shape[0] == 0:
        raise ValueError(f"{os.fspath(path)}: no rows: a LOBSTER message file has one event per row")
    if table.shape[1] != NUM_COLUMNS:
        raise ValueError(f"{os.fspath(path)}: {table.shape[1]} columns per row, a LOBSTER message file has {NUM_COLUMNS}")
    times, kinds, ids, sizes, prices, directions = table.T
    _check_column(times, "time", np.isfinite(times) & (times >= 0), "seconds after midnight, finite and >= 0")
    _check_column(times, "time", np.concatenate([[True], np.diff(times) >= 0]), "not earlier than the row before")
    _check_column(kinds, "type", np.isin(kinds, list(EVENT_MAPPING)), "an event type in 1..7")
    _check_column(directions, "direction", np.isin(directions, (-1, 1)), "1 (buy) or -1 (sell)")
    cross = kinds == CROSS
    whole = ids == np.round(ids)
    _check_column(ids, "order id", whole & (ids >= np.where(cross, INT32_MIN, 0)) & (ids < ID_LIMIT),
                  "an integer in [0, 2**31), or in [-2**31, 2**31) on a cross (type 6)")
    orders = np.isin(kinds, ORDERS)  # hidden executions (5) and halts (7) are not checked further
    whole = sizes == np.round(sizes)
    _check_column(sizes, "size", ~orders | whole & (sizes >= 1) & (sizes < ID_LIMIT), "an integer in [1, 2**31)")
    _check_column(sizes, "size", ~cross | whole & (sizes >= 0) & (sizes < ID_LIMIT),
                  "an integer in [0, 2**31) on a cross (type 6)")
    ticks = prices / tick
    priced = orders | cross
    on_grid = (ticks == np.round(ticks)) & (ticks >= 1) & (ticks < ID_LIMIT)
    _check_column(prices, f"price (a multiple of tick = {tick})", ~priced | on_grid, "a positive multiple of tick")
    halts = kinds == HALT
    _check_column(prices, "price", ~halts | np.isin(prices, (HALT_BEGINS, QUOTING, TRADING_RESUMES)),
                  f"{HALT_BEGINS} (halt), {QUOTING} (quoting) or {TRADING_RESUMES} (trading resumes) on a type 7 row")

    keep = np.isin(kinds, REPLAYED)
    kinds_kept, ids_kept, sizes_kept, ticks_kept, directions_kept, prices_kept = (
        c[keep] for c in (kinds, ids, sizes, ticks, directions, prices))
    kinds_kept = kinds_kept.astype(np.int64)
    order_side = np.where(directions_kept == 1, BID, ASK)
    execute = kinds_kept == EXECUTE_VISIBLE
    cancels = (kinds_kept == PARTIAL_CANCEL) | (kinds_kept == DELETE)
    halted = kinds_kept == HALT
    resume = halted & (prices_kept == TRADING_RESUMES)
    message_kind = np.select([kinds_kept == NEW, cancels, execute, resume, halted],
                             [LIMIT, CANCEL, IOC, RESUME_MESSAGE, HALT_MESSAGE])
    plain = ~halted  # halt and resume messages carry no other field
    qty = np.where(kinds_kept == DELETE, CANCEL_ALL, sizes_kept)
    count = len(kinds_kept)
    messages = Message(
        kind=message_kind.astype(np.int32),
        side=_int32(np.where(plain, np.where(execute, 1 - order_side, order_side), 0)),
        price=_int32(np.where(plain & ~cancels, ticks_kept, 0)),
        qty=_int32(np.where(plain, qty, 0)),
        order_id=_int32(np.where(execute, EMPTY_ID, np.where(plain, ids_kept, 0))),
        new_order_id=np.zeros(count, np.int32),
        owner=np.where(plain, np.full(count, int(owner), np.int64), 0).astype(np.int32),
    )
    all_kinds = kinds.astype(np.int64)
    skipped = {t: int(np.sum(all_kinds == t)) for t in SKIPPED}
    crosses = CrossPrints(times=times[cross], price=_int32(ticks[cross]), size=_int32(sizes[cross]),
                          order_id=_int32(ids[cross]))
    return LobsterStream(messages, times[keep], kinds_kept.astype(np.int32), skipped, crosses)


def _int32(values: Any) -> np.ndarray:
    """Checked values (integers in the int32 range) as int32."""
    return np.asarray(values, np.float64).astype(np.int64).astype(np.int32)


def _check_column(values: np.ndarray, column: str, ok: np.ndarray, valid: str) -> None:
    if not np.all(ok):
        row = int(np.argmin(ok))
        value = values[row]
        shown = int(value) if np.isfinite(value) and value == np.round(value) else float(value)
        raise ValueError(f"row {row + 1}: {column} = {shown!r} is not valid: expected {valid}")

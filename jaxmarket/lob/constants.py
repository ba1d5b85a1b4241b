"""Sides, message kinds, status codes, full-side policies and the integer bounds of the book.

Every book array is int32 (the ``halted`` flag is a bool). Every message field is an int32 integer
in ``[INT32_MIN, INT32_MAX]``: a concrete value outside it (or a non-integral float) raises
``ValueError`` where the message is built, and a traced one makes the message ``MALFORMED``, which
the book rejects as ``INVALID_MESSAGE`` (``jaxmarket.lob.messages``); nothing is narrowed silently.

Prices are integer ticks in ``[1, max_price]`` with ``max_price <= MAX_PRICE = 2**30``. Quantities are integer lots in ``[1, max_qty]``, where
``max_qty`` defaults to ``INT32_MAX // (capacity + 1)``: the most that a side's prefix sums
(``capacity`` resting orders plus one incoming order) can reach without overflowing int32. Money
(price times quantity) is never formed inside the book; fills report price and quantity
separately, and cumulative counters (traded volume, message counts) are ``lob.counter`` pairs,
exact to 2**61, so nothing wraps silently.
"""

from __future__ import annotations

from jaxmarket.core.validation import INT32_MAX, INT32_MIN  # noqa: F401 - the int32 range, with the book's other bounds

BID = 0  # buy side
ASK = 1  # sell side
SIDES = (BID, ASK)

# Message kinds.
LIMIT = 0  # rests whatever does not match at once
IOC = 1  # immediate-or-cancel limit: the unmatched remainder is dropped
MARKET = 2  # walks the book without a price limit; the remainder is dropped
CANCEL = 3  # cancels `qty` of a resting order (all of it by default)
MODIFY = 4  # sets a resting order's quantity
REPLACE = 5  # cancels a resting order and submits a new one on its side, atomically
HALT = 6  # suspends matching (books made with halts=True; otherwise INVALID_MESSAGE)
RESUME = 7  # uncrosses the book in a single-price call auction, then matching continues
KIND_NAMES = ("LIMIT", "IOC", "MARKET", "CANCEL", "MODIFY", "REPLACE", "HALT", "RESUME")
MALFORMED = -1  # kind of a message with a traced field that is not an int32 integer (INVALID_MESSAGE)

# Result statuses, checked in this order (the first that applies is reported).
OK = 0  # carried out
INVALID_MESSAGE = 1  # kind or side is not one of the constants above (MALFORMED included)
INVALID_QTY = 2  # quantity < 1, or > max_qty for an order or a modify
INVALID_PRICE = 3  # limit or replace price outside [1, max_price]
UNKNOWN_ID = 4  # cancel, modify or replace of an id that is not resting
DUPLICATE_ID = 5  # a LIMIT or REPLACE id that is negative or already resting
SIDE_FULL = 6  # fills (if any) stand; the remainder could not rest (full-side policy)
HELD = 7  # matching is halted and the order would have matched: a LIMIT, REPLACE or MODIFY up
#           rests unmatched, an IOC or MARKET is dropped whole
STATUS_NAMES = ("OK", "INVALID_MESSAGE", "INVALID_QTY", "INVALID_PRICE", "UNKNOWN_ID", "DUPLICATE_ID", "SIDE_FULL",
                "HELD")
NUM_STATUSES = len(STATUS_NAMES)

# What happens when an order must rest on a side that already holds `capacity` orders.
REJECT = "reject"  # the incoming remainder is dropped with status SIDE_FULL
EVICT = "evict"  # the worst-priority resting order is evicted (reported in the result) to make
#                  room; an incoming order that would itself be the worst is dropped (SIDE_FULL)
FULL_POLICIES = (REJECT, EVICT)

# INT32_MIN, INT32_MAX (imported above): the int32 range; every message field must lie in it
MAX_PRICE = 2**30  # largest allowed max_price; market orders use prices outside [1, MAX_PRICE]
CANCEL_ALL = INT32_MAX  # cancel quantity meaning "the whole resting quantity"
EMPTY_ID = -1  # order id and owner of an empty slot

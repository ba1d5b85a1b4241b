"""A limit order book with exact price-time matching (ABIDES semantics) as pure jitted functions.

    from jaxmarket import lob
    book = lob.empty(capacity=256)
    book, res = lob.apply(book, lob.limit(side=lob.BID, price=100, qty=10, order_id=1, owner=7))
    book, results = lob.apply_many(book, msgs)          # lax.scan over a message stream
    lob.l2(book, depth=10); lob.l3(book, lob.BID)       # views
    halting = lob.empty(capacity=256, halts=True)       # accepts lob.halt() and lob.resume()

The semantics, dtypes, bounds and status codes are documented in ``docs/order_book.md``.
"""

from jaxmarket.lob import counter
from jaxmarket.lob.book import Book, empty, largest_max_qty
from jaxmarket.lob.constants import (
    ASK,
    BID,
    CANCEL,
    CANCEL_ALL,
    DUPLICATE_ID,
    EMPTY_ID,
    EVICT,
    FULL_POLICIES,
    HALT,
    HELD,
    INVALID_MESSAGE,
    INVALID_PRICE,
    INVALID_QTY,
    IOC,
    KIND_NAMES,
    LIMIT,
    MALFORMED,
    MARKET,
    MAX_PRICE,
    MODIFY,
    OK,
    REJECT,
    REPLACE,
    RESUME,
    SIDE_FULL,
    STATUS_NAMES,
    UNKNOWN_ID,
)
from jaxmarket.lob.matching import Result, apply, apply_many
from jaxmarket.lob.messages import (
    Message,
    as_int32,
    cancel,
    concatenate,
    halt,
    limit,
    market,
    modify,
    replace,
    resume,
    stack,
)
from jaxmarket.lob.views import (
    L2,
    L3,
    best_ask,
    best_bid,
    counts,
    imbalance,
    l2,
    l3,
    last_trade_price,
    mid,
    spread,
    traded_volume,
)

__all__ = [
    "ASK", "BID", "CANCEL", "CANCEL_ALL", "DUPLICATE_ID", "EMPTY_ID", "EVICT", "FULL_POLICIES", "HALT", "HELD",
    "INVALID_MESSAGE", "INVALID_PRICE", "INVALID_QTY", "IOC", "KIND_NAMES", "L2", "L3", "LIMIT", "MALFORMED",
    "MARKET", "MAX_PRICE", "MODIFY", "OK", "REJECT", "REPLACE", "RESUME", "SIDE_FULL", "STATUS_NAMES", "UNKNOWN_ID",
    "Book", "Message", "Result", "apply", "apply_many", "as_int32", "best_ask", "best_bid", "cancel", "concatenate",
    "counter", "counts", "empty", "halt", "imbalance", "l2", "l3", "largest_max_qty", "last_trade_price", "limit",
    "market", "mid", "modify", "replace", "resume", "spread", "stack", "traded_volume",
]

_MOVED = {name: f"jaxmarket.background.{name}" for name in ("agents", "clock", "fundamental", "order_size")}
_MOVED["background"] = "jaxmarket.background"


def __getattr__(name: str):
    """The background market's modules, once here, now in ``jaxmarket.background`` (deprecated
    aliases, kept for one release)."""
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(f"jaxmarket.lob.{name} moved to {_MOVED[name]}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(_MOVED[name])
    raise AttributeError(f"module 'jaxmarket.lob' has no attribute {name!r}")

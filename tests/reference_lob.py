"""A plain-Python reference limit order book, written from the semantic specification of
``jaxmarket.lob`` (not from its vectorised code), for differential tests.

Each side is a Python list of resting orders in priority order: bids from the highest price down,
asks from the lowest price up, and at one price the earliest arrival first. Every message is
handled with simple loops, one rule at a time, in the order the specification states them.

Trading halts (``halts=True``): while halted, an order whose price crosses the opposite side's
front is not matched (status HELD; a LIMIT, REPLACE or MODIFY up rests, an IOC or MARKET is
dropped). RESUME runs the call auction by trying every integer price between the best ask and the
best bid (no candidate shortcut) and keeping the best by (volume, imbalance, distance to the last
trade, price).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxmarket.core.validation import INT32_MAX  # the int32 type's bound, not a rule of the book

# The book's constants are restated here (not imported) so that the reference stands on its own.
BID, ASK = 0, 1
LIMIT, IOC, MARKET, CANCEL, MODIFY, REPLACE, HALT, RESUME = range(8)
OK, INVALID_MESSAGE, INVALID_QTY, INVALID_PRICE, UNKNOWN_ID, DUPLICATE_ID, SIDE_FULL, HELD = range(8)
STATUS_NAMES = ("OK", "INVALID_MESSAGE", "INVALID_QTY", "INVALID_PRICE", "UNKNOWN_ID", "DUPLICATE_ID", "SIDE_FULL",
                "HELD")
EMPTY_ID = -1
CANCEL_ALL = INT32_MAX
MAX_PRICE = 2**30

RESULT_FIELDS = (
    "status", "side", "filled", "remaining", "cancelled", "num_fills", "fill_qty", "fill_price",
    "fill_passive_id", "fill_passive_owner", "evicted_id", "evicted_owner", "evicted_qty",
)


@dataclass(eq=False)  # orders compare by identity: list.remove takes out this very order
class Order:
    """One resting order."""

    price: int
    qty: int
    order_id: int
    owner: int


@dataclass
class Fill:
    """One execution against a resting (passive) order, at the resting order's price."""

    qty: int
    price: int
    passive_id: int
    passive_owner: int


class ReferenceBook:
    """A limit order book with price-time priority, one message at a time, in plain Python."""

    def __init__(self, capacity: int, *, max_fills: int | None = None, max_price: int = MAX_PRICE,
                 max_qty: int | None = None, full_policy: str = "reject", halts: bool = False):
        self.capacity = capacity
        self.max_fills = min(8, capacity) if max_fills is None else max_fills
        self.max_price = max_price
        self.max_qty = INT32_MAX // (capacity + 1) if max_qty is None else max_qty
        self.full_policy = full_policy
        self.halts = halts
        self.halted = False
        self.auction_volume = 0
        self.sides: tuple[list[Order], list[Order]] = ([], [])
        self.last_trade_price = 0
        self.volume = [0, 0]  # traded quantity by aggressor side
        self.status_counts = [0] * len(STATUS_NAMES)
        self.evictions = 0

    # ------------------------------------------------------------------ look-ups and priority

    def find(self, order_id: int) -> tuple[int, Order] | None:
        """The side and the order resting with this id, or None."""
        for side in (BID, ASK):
            for order in self.sides[side]:
                if order.order_id == order_id:
                    return side, order
        return None

    @staticmethod
    def at_least_as_good(side: int, resting_price: int, price: int) -> bool:
        """True when a resting order at ``resting_price`` has price priority over, or equal to, ``price``."""
        return resting_price >= price if side == BID else resting_price <= price

    def insertion_index(self, side: int, price: int) -> int:
        """Where a new order at ``price`` goes: after every order with a better or equal price."""
        return sum(1 for order in self.sides[side] if self.at_least_as_good(side, order.price, price))

    # ------------------------------------------------------------------ building blocks

    def match(self, side: int, price: int, qty: int, is_market: bool) -> list[Fill]:
        """Walk the opposite side from the front while its price crosses; fill at resting prices."""
        opposite = self.sides[1 - side]
        fills = []
        remaining = qty
        while remaining > 0 and opposite:
            best = opposite[0]
            if side == BID:
                crosses = is_market or best.price <= price
            else:
                crosses = is_market or best.price >= price
            if not crosses:
                break
            traded = min(remaining, best.qty)
            fills.append(Fill(traded, best.price, best.order_id, best.owner))
            remaining -= traded
            best.qty -= traded
            if best.qty == 0:
                opposite.pop(0)
        return fills

    def would_match(self, side: int, price: int, is_market: bool) -> bool:
        """True when the opposite side's front order crosses an order at ``price``."""
        opposite = self.sides[1 - side]
        if not opposite:
            return False
        return is_market or (opposite[0].price <= price if side == BID else opposite[0].price >= price)

    def uncross(self) -> tuple[int, int, list[Fill]]:
        """The call auction: (clearing price, volume, fills: bids then asks in priority order)."""
        bids, asks = self.sides
        if not bids or not asks or bids[0].price < asks[0].price:
            return 0, 0, []
        best_key, clearing = None, 0
        for p in range(asks[0].price, bids[0].price + 1):  # every price at which both sides trade
            demand = sum(o.qty for o in bids if o.price >= p)
            supply = sum(o.qty for o in asks if o.price <= p)
            key = (-min(demand, supply), abs(demand - supply), abs(p - self.last_trade_price), p)
            if best_key is None or key < best_key:
                best_key, clearing = key, p
        volume = -best_key[0]
        fills = []
        for orders in (bids, asks):
            left = volume
            while left > 0:
                front = orders[0]
                traded = min(left, front.qty)
                fills.append(Fill(traded, clearing, front.order_id, front.owner))
                front.qty -= traded
                left -= traded
                if front.qty == 0:
                    orders.pop(0)
        return clearing, volume, fills

    def rest(self, side: int, order: Order) -> tuple[int, Order | None]:
        """Put ``order`` at the back of its price level. Returns (status, evicted order or None)."""
        orders = self.sides[side]
        index = self.insertion_index(side, order.price)
        if len(orders) < self.capacity:
            orders.insert(index, order)
            return OK, None
        if self.full_policy == "evict" and index < self.capacity:
            evicted = orders.pop()  # the worst-priority order; it is behind `index`
            orders.insert(index, order)
            self.evictions += 1
            return OK, evicted
        return SIDE_FULL, None

    def validate(self, kind, side, price, qty, order_id, new_order_id) -> int:
        """The status of the first validation rule that fails, or OK."""
        if kind in (HALT, RESUME):
            return OK if self.halts else INVALID_MESSAGE
        if kind not in (LIMIT, IOC, MARKET, CANCEL, MODIFY, REPLACE):
            return INVALID_MESSAGE
        if kind in (LIMIT, IOC, MARKET) and side not in (BID, ASK):
            return INVALID_MESSAGE
        if qty < 1:
            return INVALID_QTY
        if kind != CANCEL and qty > self.max_qty:
            return INVALID_QTY
        if kind in (LIMIT, IOC, REPLACE) and not 1 <= price <= self.max_price:
            return INVALID_PRICE
        if kind in (CANCEL, MODIFY, REPLACE) and self.find(order_id) is None:
            return UNKNOWN_ID
        if kind == LIMIT and (order_id < 0 or self.find(order_id) is not None):
            return DUPLICATE_ID
        if kind == REPLACE and new_order_id != order_id:
            if new_order_id < 0 or self.find(new_order_id) is not None:
                return DUPLICATE_ID
        return OK

    # ------------------------------------------------------------------ one message

    def apply(self, kind: int, side: int = 0, price: int = 0, qty: int = 0, order_id: int = 0,
              new_order_id: int = 0, owner: int = 0) -> dict:
        """Apply one message; returns the result as a dict of ints (fills as lists of max_fills)."""
        status = self.validate(kind, side, price, qty, order_id, new_order_id)
        fills: list[Fill] = []
        filled = remaining = cancelled = 0
        evicted = None
        if status == OK:
            if kind in (LIMIT, IOC, MARKET):
                if self.halted and self.would_match(side, price, kind == MARKET):
                    status = HELD  # nothing matches while halted
                else:
                    fills = self.match(side, price, qty, kind == MARKET)
                filled = sum(f.qty for f in fills)
                remaining = qty - filled
                if kind == LIMIT and remaining > 0:
                    rested, evicted = self.rest(side, Order(price, remaining, order_id, owner))
                    status = SIDE_FULL if rested == SIDE_FULL else status

            elif kind == CANCEL:
                side, order = self.find(order_id)
                cut = min(qty, order.qty)
                if cut == order.qty:
                    self.sides[side].remove(order)
                    remaining = 0
                else:
                    order.qty -= cut  # stays where it is in the queue
                    remaining = order.qty
                cancelled = cut

            elif kind == MODIFY:
                side, order = self.find(order_id)
                if qty <= order.qty:
                    cancelled = order.qty - qty
                    order.qty = qty  # a reduction keeps the queue position
                else:
                    self.sides[side].remove(order)
                    order.qty = qty
                    if self.halted and self.would_match(side, order.price, False):
                        status = HELD  # (only a halted book can be crossed)
                    rested, evicted = self.rest(side, order)  # back of its level; there is room
                    assert rested == OK
                remaining = qty

            elif kind == REPLACE:
                side, old = self.find(order_id)
                self.sides[side].remove(old)
                cancelled = old.qty
                if self.halted and self.would_match(side, price, False):
                    status = HELD
                else:
                    fills = self.match(side, price, qty, False)
                filled = sum(f.qty for f in fills)
                remaining = qty - filled
                if remaining > 0:
                    rested, evicted = self.rest(side, Order(price, remaining, new_order_id, old.owner))
                    status = SIDE_FULL if rested == SIDE_FULL else status

            elif kind == HALT:
                side = BID
                self.halted = True

            elif kind == RESUME:
                side = BID
                self.halted = False
                clearing, filled, fills = self.uncross()
                if filled:
                    self.last_trade_price = clearing
                    self.auction_volume += filled

            if fills and kind != RESUME:
                self.last_trade_price = fills[-1].price
                self.volume[side] += filled
        else:
            side = -1  # not compared for rejected messages

        self.status_counts[status] += 1
        listed = fills[: self.max_fills]
        pad = self.max_fills - len(listed)
        return {
            "status": status,
            "side": side,
            "filled": filled,
            "remaining": remaining,
            "cancelled": cancelled,
            "num_fills": len(fills),
            "fill_qty": [f.qty for f in listed] + [0] * pad,
            "fill_price": [f.price for f in listed] + [0] * pad,
            "fill_passive_id": [f.passive_id for f in listed] + [EMPTY_ID] * pad,
            "fill_passive_owner": [f.passive_owner for f in listed] + [EMPTY_ID] * pad,
            "evicted_id": EMPTY_ID if evicted is None else evicted.order_id,
            "evicted_owner": EMPTY_ID if evicted is None else evicted.owner,
            "evicted_qty": 0 if evicted is None else evicted.qty,
        }

    # ------------------------------------------------------------------ rendering

    def orders_array(self) -> np.ndarray:
        """The book as an int64 array (2, 4, capacity): rows price, qty, order id, owner; empty
        slots (0, 0, -1, -1) after the resting orders, as in ``jaxmarket.lob.Book.orders``."""
        out = np.zeros((2, 4, self.capacity), np.int64)
        out[:, 2:, :] = EMPTY_ID
        for side in (BID, ASK):
            for slot, order in enumerate(self.sides[side]):
                out[side, :, slot] = (order.price, order.qty, order.order_id, order.owner)
        return out

    def n(self) -> list[int]:
        return [len(self.sides[BID]), len(self.sides[ASK])]

    def counts(self) -> dict[str, int]:
        """The cumulative counters, keyed like ``jaxmarket.lob.counts``."""
        out = {name.lower(): count for name, count in zip(STATUS_NAMES, self.status_counts)}
        out.update(evictions=self.evictions, buy_volume=self.volume[BID], sell_volume=self.volume[ASK],
                   auction_volume=self.auction_volume)
        return out

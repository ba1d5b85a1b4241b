"""Trading halts and the uncross auction, rule by rule, with hand-computed values, on both the JAX
book and the plain-Python reference (the ``make`` fixture), and the static ``halts`` option."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarket import lob
from tests.lob.book_impls import JaxImpl, fills, rejected

BID, ASK = lob.BID, lob.ASK


def halting(make, capacity: int = 8, **kw):
    return make(capacity, halts=True, **kw)


def set_last_trade(b, price: int) -> None:
    """One lot trades at ``price`` and leaves the book empty: the last trade price is ``price``."""
    b.apply(lob.limit(ASK, price, 1, 90))
    assert b.apply(lob.market(BID, 1, 91))["filled"] == 1


def test_halt_holds_matching_and_resume_uncrosses(make):
    """During a halt crossing orders rest (HELD), an IOC or market order that would match is
    dropped (HELD), cancels and non-crossing orders work; RESUME clears one auction price.

    By hand, at the RESUME: bids 150 @ 103 (id 2), 8 @ 99 (id 4); asks 110 @ 100 (id 3),
    2 @ 101 (id 1). D(p) = 150 for p in [100, 103]; S(100) = 110, S(p) = 112 for p >= 101. So
    p = 100 trades 110 and p in [101, 103] trades 112 (imbalance 38 each); the last trade, 101, is
    in it and clears. Bid 2 fills 112 of 150; asks 3 (110) and 1 (2) fill whole."""
    b = halting(make)
    b.apply(lob.limit(ASK, 101, 5, 1, owner=1))
    assert b.apply(lob.market(BID, 2, 50, owner=5))["filled"] == 2  # last trade 101; ask 1 keeps 3
    res = b.apply(lob.halt())
    assert res["status"] == lob.OK and res["side"] == BID and res["filled"] == res["remaining"] == 0
    res = b.apply(lob.limit(BID, 103, 150, 2, owner=2))
    assert res["status"] == lob.HELD and res["side"] == BID and res["filled"] == 0 and res["remaining"] == 150
    res = b.apply(lob.limit(ASK, 100, 110, 3, owner=3))
    assert res["status"] == lob.HELD and res["filled"] == 0 and res["remaining"] == 110 and fills(res) == []
    for msg, qty in [(lob.limit(BID, 103, 4, 9, ioc=True), 4), (lob.market(ASK, 2, 51), 2)]:
        res = b.apply(msg)
        assert res["status"] == lob.HELD and res["filled"] == 0 and res["remaining"] == qty and res["num_fills"] == 0
    res = b.apply(lob.cancel(1, 1))
    assert res["status"] == lob.OK and res["cancelled"] == 1 and res["remaining"] == 2
    assert b.apply(lob.limit(BID, 99, 5, 4, owner=4))["status"] == lob.OK  # does not cross 100: OK
    assert b.apply(lob.modify(4, 8))["status"] == lob.OK
    assert b.orders(BID) == [(103, 150, 2, 2), (99, 8, 4, 4)]
    assert b.orders(ASK) == [(100, 110, 3, 3), (101, 2, 1, 1)]  # crossed, as a halted book may be
    c = b.counts()
    assert (c["held"], c["buy_volume"], c["sell_volume"], c["auction_volume"]) == (4, 2, 0, 0)

    res = b.apply(lob.resume())
    assert res["status"] == lob.OK and res["side"] == BID
    assert res["filled"] == 112 and res["num_fills"] == 3 and res["remaining"] == 0 and res["cancelled"] == 0
    assert fills(res) == [(112, 101, 2, 2), (110, 101, 3, 3), (2, 101, 1, 1)]  # bids first, one price
    assert b.orders(BID) == [(103, 38, 2, 2), (99, 8, 4, 4)] and b.orders(ASK) == []
    res = b.apply(lob.limit(ASK, 103, 10, 5, owner=5))  # trading again: matches at once
    assert res["status"] == lob.OK and fills(res) == [(10, 103, 2, 2)]
    c = b.counts()
    assert (c["ok"], c["held"], c["auction_volume"], c["buy_volume"], c["sell_volume"]) == (8, 4, 112, 2, 10)
    if isinstance(b, JaxImpl):
        assert int(lob.last_trade_price(b.book)) == 103 and not bool(b.book.halted)


# (last trade price or None, bids, asks, clearing price, volume, bids left, asks left), by hand:
CLEARING_CASES = [
    # Volume first: 112 on [101, 103] beats 110 at 100 (the case above, no last trade): the lower end.
    (None, [(103, 150), (99, 8)], [(100, 110), (101, 2)], 101, 112, [(103, 38), (99, 8)], []),
    # Imbalance next: D = 10, S = 8 on [102, 105] (imbalance 2) beats D = 15 on [100, 101] (7). The
    # best interval starts at 102, a price with no order; the last trade picks the point in it.
    (None, [(105, 10), (101, 5)], [(100, 8)], 102, 8, [(105, 2), (101, 5)], []),
    (104, [(105, 10), (101, 5)], [(100, 8)], 104, 8, [(105, 2), (101, 5)], []),
    (110, [(105, 10), (101, 5)], [(100, 8)], 105, 8, [(105, 2), (101, 5)], []),
    (50, [(105, 10), (101, 5)], [(100, 8)], 102, 8, [(105, 2), (101, 5)], []),
    # Balanced only strictly between the orders: D = S = 5 on [102, 103], imbalance 0.
    (None, [(105, 5), (101, 5)], [(100, 5), (104, 5)], 102, 5, [(101, 5)], [(104, 5)]),
    (103, [(105, 5), (101, 5)], [(100, 5), (104, 5)], 103, 5, [(101, 5)], [(104, 5)]),
    (200, [(105, 5), (101, 5)], [(100, 5), (104, 5)], 103, 5, [(101, 5)], [(104, 5)]),
    # Equal imbalance on both sides of the crossing (2 on [100, 102] and on [103, 105]): one interval.
    (None, [(105, 5), (102, 2)], [(100, 5), (103, 2)], 100, 5, [(102, 2)], [(103, 2)]),
    (104, [(105, 5), (102, 2)], [(100, 5), (103, 2)], 104, 5, [(102, 2)], [(103, 2)]),
    # A locked book (bid = ask) clears at that price; an uncrossed book does not trade.
    (None, [(100, 3)], [(100, 5)], 100, 3, [], [(100, 2)]),
    (None, [(99, 3)], [(100, 5)], None, 0, [(99, 3)], [(100, 5)]),
]


@pytest.mark.parametrize("last, bids, asks, clearing, volume, bids_left, asks_left", CLEARING_CASES)
def test_clearing_price_rules(make, last, bids, asks, clearing, volume, bids_left, asks_left):
    """Maximum volume, then least imbalance, then closest to the last trade price, then lower."""
    b = halting(make)
    if last is not None:
        set_last_trade(b, last)
    b.apply(lob.halt())
    oid = 0
    for side, orders in ((BID, bids), (ASK, asks)):
        for price, qty in orders:
            oid += 1
            assert b.apply(lob.limit(side, price, qty, oid))["status"] in (lob.OK, lob.HELD)
    res = b.apply(lob.resume())
    assert res["status"] == lob.OK and res["filled"] == volume
    assert all(price == clearing for _, price, _, _ in fills(res))
    assert sum(q for q, *_ in fills(res)) == 2 * volume  # each lot once per side
    assert [(p, q) for p, q, *_ in b.orders(BID)] == bids_left
    assert [(p, q) for p, q, *_ in b.orders(ASK)] == asks_left
    assert b.counts()["auction_volume"] == volume
    if isinstance(b, JaxImpl):
        expected_last = clearing if volume else (last or 0)
        assert int(lob.last_trade_price(b.book)) == expected_last


def test_uncross_lists_bids_then_asks_and_truncates(make):
    """An uncross with more orders than max_fills: all trade, the first max_fills are listed."""
    b = halting(make, 4, max_fills=3)
    b.apply(lob.halt())
    for oid, (side, price) in enumerate([(BID, 105), (BID, 104), (BID, 103), (ASK, 100), (ASK, 101)], start=1):
        b.apply(lob.limit(side, price, 2, oid, owner=10 + oid))
    # D = 6 up to 103, 4 at 104, 2 at 105; S = 2 at 100, 4 from 101: volume 4 on [101, 104], with
    # imbalance 2 on [101, 103] and 0 at 104, which clears.
    res = b.apply(lob.resume())
    assert res["filled"] == 4 and res["num_fills"] == 4
    assert fills(res) == [(2, 104, 1, 11), (2, 104, 2, 12), (2, 104, 4, 14)]
    assert b.orders(BID) == [(103, 2, 3, 13)] and b.orders(ASK) == []


def test_held_replace_modify_and_full_side(make):
    """Halted: a REPLACE or MODIFY up that would cross rests unmatched (HELD; the modified order
    goes to the back of its level); a crossing order on a full side is dropped (SIDE_FULL, not
    HELD); with the EVICT policy it evicts as usual and is HELD."""
    b = halting(make, 2)
    b.apply(lob.limit(ASK, 100, 5, 1, owner=1))
    b.apply(lob.limit(BID, 100, 3, 2, owner=2))  # trades 3 at 100: ask 1 keeps 2
    b.apply(lob.limit(BID, 99, 4, 3, owner=3))
    b.apply(lob.halt())
    res = b.apply(lob.replace(3, 4, 101, 6))  # would cross ask 1 at 100
    assert res["status"] == lob.HELD and res["cancelled"] == 4 and res["filled"] == 0 and res["remaining"] == 6
    b.apply(lob.limit(BID, 101, 1, 5, owner=5))  # HELD too: bids 4 then 5 at 101
    res = b.apply(lob.modify(4, 7))  # up: to the back of 101, still crossing
    assert res["status"] == lob.HELD and res["remaining"] == 7 and res["cancelled"] == 0
    assert b.orders(BID) == [(101, 1, 5, 5), (101, 7, 4, 3)]  # the replacing order keeps owner 3
    res = b.apply(lob.limit(BID, 102, 1, 6))  # the bid side is full
    assert res["status"] == lob.SIDE_FULL and res["remaining"] == 1 and res["filled"] == 0
    assert b.counts()["held"] == 3 and b.counts()["side_full"] == 1

    e = halting(make, 1, full_policy=lob.EVICT)
    e.apply(lob.limit(ASK, 100, 5, 1))
    e.apply(lob.limit(BID, 98, 2, 2, owner=2))
    e.apply(lob.halt())
    res = e.apply(lob.limit(BID, 101, 3, 3, owner=3))
    assert res["status"] == lob.HELD and (res["evicted_id"], res["evicted_owner"], res["evicted_qty"]) == (2, 2, 2)
    assert e.orders(BID) == [(101, 3, 3, 3)]


def test_halt_and_resume_are_idempotent(make):
    """A second HALT changes nothing; RESUME on a book that is not halted (never crossed) trades nothing."""
    b = halting(make)
    b.apply(lob.limit(BID, 99, 3, 1))
    b.apply(lob.limit(ASK, 100, 3, 2))
    for msg in (lob.resume(), lob.halt(), lob.halt(), lob.resume(), lob.resume()):
        res = b.apply(msg)
        assert res["status"] == lob.OK and res["filled"] == res["num_fills"] == 0
    assert b.orders(BID) == [(99, 3, 1, 0)] and b.orders(ASK) == [(100, 3, 2, 0)]
    assert b.counts()["ok"] == 7


def test_halts_off_rejects_halt_and_resume(make):
    """A book made without halts (the default) rejects HALT and RESUME as INVALID_MESSAGE and keeps matching."""
    b = make(4)
    b.apply(lob.limit(ASK, 100, 3, 1))
    for msg in (lob.halt(), lob.resume()):
        assert rejected(b.apply(msg), lob.INVALID_MESSAGE)
    assert b.apply(lob.limit(BID, 100, 2, 2))["filled"] == 2
    assert b.counts()["invalid_message"] == 2 and b.counts()["held"] == 0


def test_auction_volume_past_int32_counter_increment(make):
    """An uncross of 3 × largest_max_qty(3) lots (above 2**30, the counter's low word) is counted exactly."""
    q = lob.largest_max_qty(3)  # 536870911
    b = halting(make, 3)
    b.apply(lob.halt())
    for oid in range(3):
        b.apply(lob.limit(BID, 2, q, oid))
        b.apply(lob.limit(ASK, 1, q, 10 + oid))
    res = b.apply(lob.resume())  # volume 3q on [1, 2], balanced; no last trade: price 1
    assert res["filled"] == 3 * q == 1_610_612_733 and res["num_fills"] == 6
    assert all(p == 1 for _, p, _, _ in fills(res))
    assert b.counts()["auction_volume"] == 3 * q and b.orders(BID) == [] == b.orders(ASK)


def test_halting_books_vmap_and_do_not_retrace():
    """vmap over halting books, one stream each, equals one book at a time, and apply_many traces
    once per shape. By hand: book 0 uncrosses bid 5 @ 102 against ask 4 @ 100 at the RESUME
    (volume 4 on [100, 102], imbalance 1, no last trade: 100); book 1 holds both orders; book 2
    trades 4 @ 102 before its halt, and its RESUME has nothing to uncross."""
    streams = [
        [lob.halt(), lob.limit(BID, 102, 5, 1), lob.limit(ASK, 100, 4, 2), lob.resume()],
        [lob.halt(), lob.limit(BID, 102, 5, 1), lob.market(ASK, 1, 3), lob.limit(ASK, 100, 4, 2)],
        [lob.limit(BID, 102, 5, 1), lob.limit(ASK, 100, 4, 2), lob.halt(), lob.resume()],
    ]
    msgs = lob.stack([lob.stack(s) for s in streams])  # (3 books, 4 messages)
    books, results = jax.jit(jax.vmap(lob.apply_many))(lob.empty(4, batch_shape=(3,), halts=True), msgs)
    for i in range(3):
        book, res = jax.jit(lob.apply_many)(lob.empty(4, halts=True), jax.tree.map(lambda x: x[i], msgs))
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[i], books), book)
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[i], results), res)
    assert results.filled.tolist() == [[0, 0, 0, 4], [0, 0, 0, 0], [0, 4, 0, 0]]
    assert results.status.tolist() == [[lob.OK, lob.OK, lob.HELD, lob.OK], [lob.OK, lob.OK, lob.HELD, lob.HELD],
                                       [lob.OK] * 4]
    assert results.fill_price[0, 3, :2].tolist() == [100, 100] and results.fill_price[2, 1, 0] == 102
    assert books.halted.tolist() == [False, True, False]
    assert books.last_trade_price.tolist() == [100, 0, 102]

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(book, stream):
        return lob.apply_many(book, stream)

    try:
        for i in range(3):
            run(lob.empty(4, halts=True), jax.tree.map(lambda x: x[i], msgs))
    finally:
        chex.clear_trace_counter()


def test_halts_option_adds_nothing_to_ordinary_books():
    """halts=False (the default) compiles no halt code: the same program whatever the flag's
    code path; halts=True adds the auction (a larger program)."""
    msg = lob.limit(BID, 100, 1, 1)
    plain = jax.make_jaxpr(lob.apply)(lob.empty(8), msg)
    halting_ = jax.make_jaxpr(lob.apply)(lob.empty(8, halts=True), msg)
    assert "cond" not in str(plain) and "cond" in str(halting_)
    assert len(plain.eqns) < len(halting_.eqns)
    assert np.asarray(lob.empty(8).halted).dtype == np.bool_ and jnp.shape(lob.empty(8).halted) == ()

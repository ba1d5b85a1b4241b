"""The JAX order book (``jaxmarket.lob``) against the plain-Python reference (``tests/reference_lob``),
and hand-written unit tests of each semantic rule with explicit expected values.

Differential tests compare, after EVERY message of thousands of random streams, the full
``orders`` array and ``n`` of the book, its ``halted`` flag and last trade price, every field of
the result, and at the end the exact counters. The streams include trading halts (HALT, RESUME)
on the combos whose books are made with ``halts=True``, and the same kinds (rejected as
INVALID_MESSAGE) on the others. They also check invariants of the JAX book on its own: never
crossed unless halted, each side sorted, positive quantities, empty slots blank, rejected messages
change nothing, and per-order-id quantity conservation computed from the results alone.
"""

from __future__ import annotations

import functools
from collections import Counter

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxmarket import lob
from jaxmarket.core.validation import INT32_MAX
from tests.lob.book_impls import MSG_FIELDS, JaxImpl, fills, rejected
from tests.reference_lob import RESULT_FIELDS, ReferenceBook

PRICE, QTY, ORDER_ID, OWNER = range(4)  # rows of Book.orders
ACTED = (lob.OK, lob.SIDE_FULL, lob.HELD)  # statuses for which `side` is meaningful

# Small books so that every branch is hit: full sides, evictions, long sweeps, unknown ids.
MAX_PRICE_SMALL, MAX_QTY_SMALL = 20, 10
# (capacity, max_fills, full_policy, halts); (3, 3, evict) lists every fill of every message.
COMBOS = [(3, 1, "reject", True), (4, 2, "evict", True), (5, 3, "reject", False), (6, 3, "evict", True),
          (3, 3, "evict", False)]
COMBO_IDS = [f"C{c}-F{f}-{p}" + ("-halts" if h else "") for c, f, p, h in COMBOS]
T = 60  # every stream is padded to this length, so each combo compiles once
PAD = (99, 0, 0, 0, 0, 0, 0)  # kind 99: always INVALID_MESSAGE, compared like any other message
INVALID_KINDS = (lob.MALFORMED, 8, 99)
# Compared after every message: the book (all slots), its flag and last trade price, and every result field.
BOOK_FIELDS = ("orders", "n", "halted", "last_trade_price", *RESULT_FIELDS)


# ----------------------------------------------------------------------------- helpers


def small_book(capacity: int, max_fills: int, policy: str, halts: bool, **kw) -> lob.Book:
    return lob.empty(capacity, max_fills=max_fills, max_price=MAX_PRICE_SMALL, max_qty=MAX_QTY_SMALL,
                     full_policy=policy, halts=halts, **kw)


def to_message(stream: np.ndarray) -> lob.Message:
    """int array (..., 7) in MSG_FIELDS order -> Message (built directly: fields may be invalid)."""
    stream = np.asarray(stream, np.int32)
    return lob.Message(*(jnp.asarray(stream[..., i]) for i in range(len(MSG_FIELDS))))


def pad(stream) -> np.ndarray:
    rows = list(stream) + [PAD] * (T - len(stream))
    return np.asarray(rows, np.int64).reshape(T, len(MSG_FIELDS))


@functools.cache
def compiled(capacity: int, max_fills: int, policy: str, halts: bool):
    """jit-compiled (single, batched) runners: the book after every message, and every result."""

    def run(msgs: lob.Message):
        def step(book, msg):
            book, res = lob.apply(book, msg)
            return book, (book.orders, book.n, book.halted, book.last_trade_price, res)

        return jax.lax.scan(step, small_book(capacity, max_fills, policy, halts), msgs)

    return jax.jit(run), jax.jit(jax.vmap(run))


def describe(msg) -> str:
    kind, side, price, qty, oid, new_oid, owner = (int(v) for v in msg)
    name = lob.KIND_NAMES[kind] if 0 <= kind < len(lob.KIND_NAMES) else f"KIND{kind}"
    return f"{name}(side={side}, price={price}, qty={qty}, id={oid}, new_id={new_oid}, owner={owner})"


def run_reference(combo, stream: np.ndarray) -> dict:
    """The reference book on a stream: books (T,2,4,C), n (T,2), halted (T,), result fields stacked, counts."""
    capacity, max_fills, policy, halts = combo
    ref = ReferenceBook(capacity, max_fills=max_fills, max_price=MAX_PRICE_SMALL, max_qty=MAX_QTY_SMALL,
                        full_policy=policy, halts=halts)
    orders, ns, halted, last, results = [], [], [], [], []
    for msg in stream:
        results.append(ref.apply(*(int(v) for v in msg)))
        orders.append(ref.orders_array())
        ns.append(ref.n())
        halted.append(ref.halted)
        last.append(ref.last_trade_price)
    out = {f: np.asarray([r[f] for r in results]) for f in RESULT_FIELDS}
    out.update(orders=np.asarray(orders), n=np.asarray(ns), halted=np.asarray(halted),
               last_trade_price=np.asarray(last), counts=ref.counts())
    return out


def compare(combo, stream: np.ndarray, got: dict, label: str = "") -> None:
    """Assert that the JAX book and results (numpy, one stream) equal the reference's after every
    message; on failure, report the first differing message with the stream up to it."""
    want = run_reference(combo, stream)
    acted = np.isin(want["status"], ACTED)
    bad = np.zeros(len(stream), bool)  # messages after which anything differs
    for f in BOOK_FIELDS:
        diff = (want[f] != np.asarray(got[f])).reshape(len(stream), -1).any(axis=1)
        bad |= diff & acted if f == "side" else diff
    if bad.any():
        t = int(np.argmax(bad))
        lines = [f"{label} combo={combo}: first mismatch at message {t}: {describe(stream[t])}"]
        for f in BOOK_FIELDS:
            w, g = want[f][t], np.asarray(got[f])[t]
            if np.any(w != g) and not (f == "side" and not acted[t]):
                lines.append(f"  {f}: expected {w.tolist()} got {g.tolist()}")
        lines.append("  stream up to it:")
        lines += [f"    {i}: {describe(m)}" for i, m in enumerate(stream[: t + 1])]
        raise AssertionError("\n".join(lines))
    assert want["counts"] == got["counts"], f"{label} counts: expected {want['counts']} got {got['counts']}"


def check_invariants(orders: np.ndarray, n: np.ndarray, halted: np.ndarray, capacity: int) -> None:
    """Invariants of JAX books (..., 2, 4, C) with counts (..., 2) and halted flags (...), after
    every message. Only a halted book may be crossed."""
    valid = np.arange(capacity) < n[..., None]  # (..., 2, C)
    price, qty, oid, owner = (orders[..., r, :] for r in range(4))
    assert np.all((n >= 0) & (n <= capacity)), "n out of range"
    assert np.all(np.where(valid, qty >= 1, True)), "a resting quantity below 1"
    assert np.all(np.where(valid, oid >= 0, True)), "a resting order with a negative id"
    empty = (price == 0) & (qty == 0) & (oid == -1) & (owner == -1)
    assert np.all(np.where(valid, True, empty)), "an empty slot that is not (0, 0, -1, -1)"
    both = valid[..., 1:]  # pairs of neighbouring valid slots
    bids, asks = price[..., 0, :], price[..., 1, :]
    assert np.all(np.where(both[..., 0, :], bids[..., :-1] >= bids[..., 1:], True)), "bids out of order"
    assert np.all(np.where(both[..., 1, :], asks[..., :-1] <= asks[..., 1:], True)), "asks out of order"
    two_sided = (n[..., 0] > 0) & (n[..., 1] > 0) & ~halted
    assert np.all(np.where(two_sided, bids[..., 0] < asks[..., 0], True)), "crossed book"
    ids = np.where(valid, oid, -1).reshape(*oid.shape[:-2], -1)  # (..., 2C)
    ids = np.sort(ids, axis=-1)
    dup = (ids[..., 1:] == ids[..., :-1]) & (ids[..., 1:] >= 0)
    assert not dup.any(), "an order id resting twice"


def check_conservation(stream: np.ndarray, orders: np.ndarray, n: np.ndarray, res: dict, max_fills: int) -> None:
    """Per order id, from the results alone: quantity submitted (orders that may rest, plus modify
    increases) = resting + filled (aggressive, passive and in an uncross) + cancelled + evicted +
    dropped (SIDE_FULL); rejected messages leave the book unchanged. A RESUME's fills are the
    front of each side up to its volume, listed bids first, all at one price."""
    capacity = orders.shape[-1]
    submitted, gone = Counter(), Counter()
    prev = np.zeros((2, 4, capacity), np.int64)
    prev[:, 2:] = -1
    prev_n = np.zeros(2, np.int64)
    for t, msg in enumerate(stream):
        kind, _, _, qty, oid, new_oid, _ = (int(v) for v in msg)
        r = {f: res[f][t] for f in RESULT_FIELDS}
        status, filled = int(r["status"]), int(r["filled"])
        remaining, cancelled = int(r["remaining"]), int(r["cancelled"])
        where = f"message {t} {describe(msg)}"
        if status not in ACTED:
            assert np.array_equal(orders[t], prev) and np.array_equal(n[t], prev_n), f"rejected but changed: {where}"
            assert filled == remaining == cancelled == int(r["num_fills"]) == 0, where
            assert np.all(r["fill_qty"] == 0) and np.all(r["fill_passive_id"] == -1), where
        elif kind == lob.RESUME:
            fills = []  # (id, qty): each side's front up to `filled`
            for s in (0, 1):
                left = filled
                for k in range(int(prev_n[s])):
                    if left == 0:
                        break
                    q = min(left, int(prev[s, QTY, k]))
                    fills.append((int(prev[s, ORDER_ID, k]), q))
                    left -= q
                assert left == 0, f"uncross volume {filled} exceeds side {s}: {where}"
            listed = [(int(r["fill_passive_id"][k]), int(r["fill_qty"][k])) for k in range(min(len(fills), max_fills))]
            assert int(r["num_fills"]) == len(fills) and listed == fills[:max_fills], where
            assert len(set(r["fill_price"][: len(listed)].tolist())) <= 1, f"more than one clearing price: {where}"
            for i, q in fills:
                gone[i] += q
        else:
            # Passive fills: listed ones, then (past max_fills) the next orders of the opposite side,
            # all taken whole except the last.
            opp, num = 1 - int(r["side"]), int(r["num_fills"])
            passive = [(int(r["fill_passive_id"][k]), int(r["fill_qty"][k])) for k in range(min(num, max_fills))]
            if num > max_fills:
                ids, qtys = prev[opp, ORDER_ID, max_fills:num], prev[opp, QTY, max_fills:num]
                passive += [(int(i), int(q)) for i, q in zip(ids[:-1], qtys[:-1])]
                last = filled - sum(q for _, q in passive)
                assert 1 <= last <= qtys[-1], f"last unlisted fill {last} out of range: {where}"
                passive.append((int(ids[-1]), last))
            assert all(q >= 1 for _, q in passive) and sum(q for _, q in passive) == filled, where
            for i, q in passive:
                gone[i] += q
            if kind in (lob.LIMIT, lob.IOC, lob.MARKET, lob.REPLACE):
                assert filled + remaining == qty, f"filled + remaining != qty: {where}"
            if kind in (lob.LIMIT, lob.REPLACE):
                new = oid if kind == lob.LIMIT else new_oid
                submitted[new] += qty
                gone[new] += filled + (remaining if status == lob.SIDE_FULL else 0)
            if kind in (lob.CANCEL, lob.REPLACE):
                gone[oid] += cancelled
            if kind == lob.MODIFY:
                prior = int(prev[:, QTY][prev[:, ORDER_ID] == oid].sum())
                assert cancelled == max(prior - qty, 0), where
                submitted[oid] += max(qty - prior, 0)
                gone[oid] += cancelled
            if int(r["evicted_id"]) != -1:
                gone[int(r["evicted_id"])] += int(r["evicted_qty"])
        resting = Counter()
        for s in (0, 1):
            for k in range(int(n[t, s])):
                resting[int(orders[t, s, ORDER_ID, k])] += int(orders[t, s, QTY, k])
        for i in set(submitted) | set(resting):
            assert submitted[i] - gone[i] == resting[i], (
                f"id {i}: submitted {submitted[i]} - gone {gone[i]} != resting {resting[i]} after {where}")
        prev, prev_n = orders[t], n[t]


def numpy_results(res) -> dict:
    return {f: np.asarray(getattr(res, f)) for f in RESULT_FIELDS}


# ----------------------------------------------------------------------------- random streams

KIND_CHOICES = [lob.LIMIT] * 8 + [lob.IOC, lob.IOC, lob.MARKET, lob.MARKET] + [lob.CANCEL] * 3 + [lob.MODIFY] * 2 \
    + [lob.REPLACE] * 3 + [lob.HALT, lob.RESUME] + [INVALID_KINDS[0]]  # halted about half the time
SIDE_CHOICES = [0] * 12 + [1] * 12 + [-1, 2]
PRICE_CHOICES = list(range(1, MAX_PRICE_SMALL + 1)) * 2 + [-1, 0, 21, 22]
QTY_CHOICES = list(range(1, MAX_QTY_SMALL + 1)) * 3 + [-1, 0, 11, 12]
ID_CHOICES = list(range(13)) * 2 + [-2, -1]


@st.composite
def messages(draw):
    """One message tuple; about one in ten is invalid in some way, ids collide often."""
    kind = draw(st.sampled_from(KIND_CHOICES))
    if kind == INVALID_KINDS[0]:
        kind = draw(st.sampled_from(INVALID_KINDS))
    side = draw(st.sampled_from(SIDE_CHOICES))
    price = draw(st.sampled_from(PRICE_CHOICES))
    qty = draw(st.sampled_from(QTY_CHOICES))
    if kind == lob.CANCEL and draw(st.booleans()):
        qty = lob.CANCEL_ALL
    oid = draw(st.sampled_from(ID_CHOICES))
    new_oid = oid if kind == lob.REPLACE and draw(st.integers(0, 5)) == 0 else draw(st.sampled_from(ID_CHOICES))
    owner = draw(st.integers(0, 3))
    return (kind, side, price, qty, oid, new_oid, owner)


def random_streams(rng: np.random.Generator, batch: int) -> np.ndarray:
    """``batch`` random streams (batch, T, 7) from the same distribution, of 30..T messages + padding."""
    def pick(choices, size=(batch, T)):
        return np.asarray(choices)[rng.integers(0, len(choices), size)]

    kind = pick(KIND_CHOICES)
    kind = np.where(kind == INVALID_KINDS[0], pick(INVALID_KINDS), kind)
    qty = pick(QTY_CHOICES)
    qty = np.where((kind == lob.CANCEL) & (rng.random((batch, T)) < 0.5), lob.CANCEL_ALL, qty)
    oid = pick(ID_CHOICES)
    new_oid = np.where((kind == lob.REPLACE) & (rng.random((batch, T)) < 1 / 6), oid, pick(ID_CHOICES))
    owner = rng.integers(0, 4, (batch, T))
    out = np.stack([kind, pick(SIDE_CHOICES), pick(PRICE_CHOICES), qty, oid, new_oid, owner], -1)
    lengths = rng.integers(30, T + 1, batch)
    out[np.arange(T) >= lengths[:, None]] = PAD
    return out.astype(np.int64)


# ----------------------------------------------------------------------------- differential tests


@pytest.mark.parametrize("combo", COMBOS, ids=COMBO_IDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stream=st.lists(messages(), min_size=30, max_size=T))
def test_differential_hypothesis(combo, stream):
    """Random streams: JAX book and results equal the reference after every message; invariants hold."""
    capacity, max_fills, _, _ = combo
    run_one, _ = compiled(*combo)
    msgs = pad(stream)
    final, (orders, n, halted, last, res) = run_one(to_message(msgs))
    orders, n, halted, res = np.asarray(orders), np.asarray(n), np.asarray(halted), numpy_results(res)
    compare(combo, msgs, dict(orders=orders, n=n, halted=halted, last_trade_price=last, counts=lob.counts(final),
                              **res))
    check_invariants(orders, n, halted, capacity)
    check_conservation(msgs, orders, n, res, max_fills)


BATCH = 500


@pytest.mark.parametrize("combo", COMBOS, ids=COMBO_IDS)
def test_differential_batch(combo):
    """A vmapped batch of numpy-random streams, each equal to the reference after every message."""
    capacity, max_fills, policy, halts = combo
    _, run_batch = compiled(*combo)
    streams = random_streams(np.random.default_rng(COMBOS.index(combo)), BATCH)
    final, (orders, n, halted, last, res) = run_batch(to_message(streams))
    final = jax.tree.map(np.asarray, final)
    orders, n, halted, last = (np.asarray(x) for x in (orders, n, halted, last))
    res = numpy_results(res)
    check_invariants(orders, n, halted, capacity)
    for b in range(BATCH):
        got = {f: v[b] for f, v in res.items()}
        counts = lob.counts(jax.tree.map(lambda x: x[b], final))
        got.update(orders=orders[b], n=n[b], halted=halted[b], last_trade_price=last[b], counts=counts)
        compare(combo, streams[b], got, label=f"stream {b}")
        check_conservation(streams[b], orders[b], n[b], got, max_fills)

    # The generator reaches every branch (so the comparison above is not vacuous).
    status, kind = res["status"], streams[..., 0]
    seen = set(np.unique(status).tolist())
    assert seen == set(range(8 if halts else 7)), seen  # every status, SIDE_FULL (and HELD) included
    assert np.any(res["num_fills"] > max_fills) or max_fills == capacity
    assert np.any((kind == lob.MARKET) & (status == lob.OK) & (res["remaining"] > 0))  # market > book
    assert np.any((kind == lob.CANCEL) & (status == lob.OK) & (res["remaining"] > 0))  # partial cancel
    assert np.any((kind == lob.MODIFY) & (status == lob.OK) & (res["cancelled"] == 0))  # modify up (or equal)
    assert np.any((kind == lob.REPLACE) & (status == lob.OK) & (res["filled"] > 0))  # replace that crosses
    assert np.any(res["num_fills"] >= 3)  # sweeps across several orders
    if policy == "evict":
        assert np.any(res["evicted_id"] >= 0) and np.any(status == lob.SIDE_FULL)
    if halts:
        resumed = (kind == lob.RESUME) & (status == lob.OK)
        assert np.any(resumed & (res["filled"] > 0))  # uncrosses that trade
        assert np.any(resumed & (res["num_fills"] > max_fills))  # ... more orders than are listed
        bids, asks = orders[:, :, 0, PRICE], orders[:, :, 1, PRICE]
        crossed = halted & (n[..., 0] > 0) & (n[..., 1] > 0) & (bids[..., 0] >= asks[..., 0])
        assert np.any(crossed)  # crossed books while halted
        for held_kind in (lob.LIMIT, lob.IOC, lob.MARKET, lob.REPLACE, lob.MODIFY):
            assert np.any((kind == held_kind) & (status == lob.HELD)), held_kind
        # Some clearing prices are no resting order's price (the candidates b + 1, a - 1 matter) and
        # some are set by the last trade price inside the best interval.
        b_idx, t_idx = np.nonzero(resumed & (res["filled"] > 0))
        prior = np.where(t_idx[:, None, None] > 0, orders[b_idx, np.maximum(t_idx - 1, 0)][:, :, PRICE], 0)
        clearing = res["fill_price"][b_idx, t_idx, 0]
        assert np.any(~np.any(prior == clearing[:, None, None], axis=(1, 2)))
        before = last[b_idx, np.maximum(t_idx - 1, 0)]
        assert np.any(clearing == before) and np.any((clearing != before) & (before > 0))
    else:
        assert not np.any(halted) and np.all(status[np.isin(kind, (lob.HALT, lob.RESUME))] == lob.INVALID_MESSAGE)


def test_checks_hold_on_reference_and_catch_corruption():
    """The invariant and conservation checks pass on reference output and fail on a corrupted book."""
    combo = (4, 2, "evict", True)
    stream = random_streams(np.random.default_rng(123), 1)[0]
    want = run_reference(combo, stream)
    res = {f: want[f] for f in RESULT_FIELDS}
    check_invariants(want["orders"], want["n"], want["halted"], 4)
    check_conservation(stream, want["orders"], want["n"], res, max_fills=2)
    price = want["orders"][:, 0, PRICE]
    t = int(np.argmax((want["n"][:, 0] >= 2) & (price[:, 0] != price[:, 1])))  # two bids at two prices
    assert want["n"][t, 0] >= 2 and price[t, 0] != price[t, 1]
    swapped = want["orders"].copy()
    swapped[t, 0, :, :2] = swapped[t, 0, :, 1::-1]  # the two best bids in the wrong order
    grown = want["orders"].copy()
    grown[t, 0, QTY, 0] += 1  # a lot appears from nowhere
    with pytest.raises(AssertionError):
        check_conservation(stream, grown, want["n"], res, max_fills=2)
    with pytest.raises(AssertionError, match="bids out of order"):
        check_invariants(swapped, want["n"], want["halted"], 4)
    crossed = want["orders"].copy()
    u = int(np.argmax((want["n"][:, 0] >= 1) & (want["n"][:, 1] >= 1) & ~want["halted"]))  # two-sided, not halted
    assert want["n"][u, 0] >= 1 and want["n"][u, 1] >= 1 and not want["halted"][u]
    crossed[u, 1, PRICE, 0] = crossed[u, 0, PRICE, 0]  # the best ask moved onto the best bid
    with pytest.raises(AssertionError, match="crossed book"):
        check_invariants(crossed, want["n"], want["halted"], 4)
    halted_everywhere = np.ones_like(want["halted"])
    check_invariants(crossed, want["n"], halted_everywhere, 4)  # a halted book may be crossed


# ----------------------------------------------------------------------------- unit tests
# Each rule is checked on both the JAX book and the reference, with hand-computed values.


def test_limit_sweeps_levels_and_rests_remainder(make):
    """A buy limit sweeps three ask levels at resting prices in priority order, then rests at its limit."""
    b = make(8)
    for oid, (price, qty) in enumerate([(101, 10), (102, 5), (102, 5), (103, 7), (105, 4)], start=1):
        b.apply(lob.limit(lob.ASK, price, qty, oid, owner=oid))
    res = b.apply(lob.limit(lob.BID, 104, 30, order_id=10, owner=9))
    assert res["status"] == lob.OK and res["side"] == lob.BID
    assert res["filled"] == 27 and res["remaining"] == 3 and res["num_fills"] == 4 and res["cancelled"] == 0
    assert fills(res) == [(10, 101, 1, 1), (5, 102, 2, 2), (5, 102, 3, 3), (7, 103, 4, 4)]
    assert b.orders(lob.BID) == [(104, 3, 10, 9)]
    assert b.orders(lob.ASK) == [(105, 4, 5, 5)]
    c = b.counts()
    assert c["buy_volume"] == 27 and c["sell_volume"] == 0 and c["ok"] == 6


def test_market_larger_than_book_drops_remainder(make):
    """A market order bigger than the opposite side takes it all; the rest is dropped."""
    b = make(8)
    b.apply(lob.limit(lob.ASK, 100, 2, 1, owner=1))
    b.apply(lob.limit(lob.ASK, 101, 3, 2, owner=2))
    res = b.apply(lob.market(lob.BID, 10, order_id=7, owner=3))
    assert res["status"] == lob.OK and res["filled"] == 5 and res["remaining"] == 5 and res["num_fills"] == 2
    assert fills(res) == [(2, 100, 1, 1), (3, 101, 2, 2)]
    assert b.orders(lob.ASK) == [] and b.orders(lob.BID) == []


def test_ioc_drops_remainder(make):
    """An IOC fills what crosses and drops the rest; one that does not cross leaves no trace."""
    b = make(8)
    b.apply(lob.limit(lob.ASK, 100, 4, 1, owner=1))
    b.apply(lob.limit(lob.ASK, 102, 4, 2, owner=2))
    res = b.apply(lob.limit(lob.BID, 101, 6, 3, owner=3, ioc=True))
    assert res["status"] == lob.OK and res["filled"] == 4 and res["remaining"] == 2
    assert fills(res) == [(4, 100, 1, 1)]
    assert b.orders(lob.BID) == [] and b.orders(lob.ASK) == [(102, 4, 2, 2)]
    res = b.apply(lob.limit(lob.BID, 101, 6, 4, ioc=True))
    assert res["status"] == lob.OK and res["filled"] == 0 and res["remaining"] == 6
    assert b.orders(lob.BID) == []


def test_partial_cancel_keeps_queue_position(make):
    """A partial cancel reduces in place: a later market order still fills that order first."""
    b = make(8)
    b.apply(lob.limit(lob.BID, 100, 5, 1, owner=1))
    b.apply(lob.limit(lob.BID, 100, 5, 2, owner=2))
    res = b.apply(lob.cancel(1, 3))
    assert res["status"] == lob.OK and res["side"] == lob.BID and res["cancelled"] == 3 and res["remaining"] == 2
    assert b.orders(lob.BID) == [(100, 2, 1, 1), (100, 5, 2, 2)]
    res = b.apply(lob.market(lob.ASK, 3, 9))
    assert fills(res) == [(2, 100, 1, 1), (1, 100, 2, 2)]
    res = b.apply(lob.cancel(2))  # the whole rest: removed
    assert res["status"] == lob.OK and res["cancelled"] == 4 and res["remaining"] == 0
    assert b.orders(lob.BID) == []


def test_modify_down_keeps_position_up_goes_to_back(make):
    """MODIFY down keeps the queue position; MODIFY up re-queues at the back of the price level."""
    b = make(8)
    b.apply(lob.limit(lob.BID, 100, 5, 1, owner=1))
    b.apply(lob.limit(lob.BID, 100, 5, 2, owner=2))
    b.apply(lob.limit(lob.BID, 99, 5, 3, owner=3))
    res = b.apply(lob.modify(1, 2))
    assert res["status"] == lob.OK and res["side"] == lob.BID and res["cancelled"] == 3 and res["remaining"] == 2
    assert b.orders(lob.BID) == [(100, 2, 1, 1), (100, 5, 2, 2), (99, 5, 3, 3)]
    res = b.apply(lob.modify(2, 5))  # unchanged quantity: stays put
    assert res["status"] == lob.OK and res["cancelled"] == 0 and res["remaining"] == 5
    assert b.orders(lob.BID) == [(100, 2, 1, 1), (100, 5, 2, 2), (99, 5, 3, 3)]
    res = b.apply(lob.modify(1, 8))
    assert res["status"] == lob.OK and res["cancelled"] == 0 and res["remaining"] == 8 and res["filled"] == 0
    assert b.orders(lob.BID) == [(100, 5, 2, 2), (100, 8, 1, 1), (99, 5, 3, 3)]
    res = b.apply(lob.market(lob.ASK, 6, 9))
    assert fills(res) == [(5, 100, 2, 2), (1, 100, 1, 1)]


def test_replace_is_atomic_and_can_cross(make):
    """REPLACE: any invalid part leaves the old order; otherwise old out, new in on its side and owner."""
    b = make(8, max_price=200, max_qty=100)
    b.apply(lob.limit(lob.ASK, 105, 5, 1, owner=1))
    b.apply(lob.limit(lob.BID, 100, 3, 2, owner=2))
    before = (b.orders(lob.BID), b.orders(lob.ASK))
    for msg, status in [
        (lob.replace(2, 7, 0, 3), lob.INVALID_PRICE),
        (lob.replace(2, 7, 101, 0), lob.INVALID_QTY),
        (lob.replace(2, 7, 101, 101), lob.INVALID_QTY),
        (lob.replace(9, 7, 101, 3), lob.UNKNOWN_ID),
        (lob.replace(2, 1, 101, 3), lob.DUPLICATE_ID),  # id 1 rests on the other side
        (lob.replace(2, -3, 101, 3), lob.DUPLICATE_ID),
    ]:
        assert rejected(b.apply(msg), status), (msg, status)
        assert (b.orders(lob.BID), b.orders(lob.ASK)) == before
    res = b.apply(lob.replace(2, 2, 101, 4))  # the same id is allowed
    assert res["status"] == lob.OK and res["side"] == lob.BID and res["cancelled"] == 3 and res["remaining"] == 4
    assert b.orders(lob.BID) == [(101, 4, 2, 2)]
    res = b.apply(lob.replace(2, 8, 106, 6))  # crosses the ask, rests the rest for owner 2
    assert res["status"] == lob.OK and res["cancelled"] == 4 and res["filled"] == 5 and res["remaining"] == 1
    assert fills(res) == [(5, 105, 1, 1)]
    assert b.orders(lob.BID) == [(106, 1, 8, 2)] and b.orders(lob.ASK) == []
    assert b.counts()["buy_volume"] == 5


def test_unknown_id_leaves_book_unchanged(make):
    """Cancel/modify/replace of an id not resting is UNKNOWN_ID and touches no other order."""
    b = make(8)
    b.apply(lob.limit(lob.BID, 100, 5, 0, owner=1))  # id 0 in slot 0: a look-up miss must not hit it
    b.apply(lob.limit(lob.ASK, 102, 5, 1, owner=1))
    b.apply(lob.market(lob.BID, 5, 3))  # id 1 is filled and gone
    before = (b.orders(lob.BID), b.orders(lob.ASK))
    for msg in [lob.cancel(5), lob.cancel(1), lob.cancel(-1), lob.modify(5, 1), lob.modify(-1, 9),
                lob.replace(5, 6, 100, 1), lob.cancel(5, 2)]:
        assert rejected(b.apply(msg), lob.UNKNOWN_ID), msg
        assert (b.orders(lob.BID), b.orders(lob.ASK)) == before == ([(100, 5, 0, 1)], [])
    assert b.counts()["unknown_id"] == 7


def test_duplicate_id_rejected(make):
    """A LIMIT with a resting (either side) or negative id is DUPLICATE_ID; IOC/MARKET ids are never checked."""
    b = make(8)
    b.apply(lob.limit(lob.BID, 100, 5, 1))
    assert rejected(b.apply(lob.limit(lob.BID, 99, 2, 1)), lob.DUPLICATE_ID)
    assert rejected(b.apply(lob.limit(lob.ASK, 110, 2, 1)), lob.DUPLICATE_ID)
    assert rejected(b.apply(lob.limit(lob.ASK, 110, 2, -1)), lob.DUPLICATE_ID)
    res = b.apply(lob.limit(lob.ASK, 100, 2, 1, ioc=True))  # IOC reusing a resting id: fine
    assert res["status"] == lob.OK and res["filled"] == 2
    res = b.apply(lob.market(lob.ASK, 1, -5))
    assert res["status"] == lob.OK and res["filled"] == 1
    assert b.orders(lob.BID) == [(100, 2, 1, 0)]
    assert b.counts()["duplicate_id"] == 3


def test_validation_order_and_bounds(make):
    """The first failing check gives the status; CANCEL may exceed max_qty; MARKET ignores price."""
    b = make(8, max_price=200, max_qty=100)
    b.apply(lob.limit(lob.BID, 100, 5, 1))
    bad_side = lob.Message(*(jnp.int32(v) for v in (lob.LIMIT, 2, 0, 0, 1, 0, 0)))
    cases = [
        (bad_side, lob.INVALID_MESSAGE),
        (lob.Message(*(jnp.int32(v) for v in (6, 0, 100, 5, 2, 0, 0))), lob.INVALID_MESSAGE),
        (lob.limit(lob.BID, 0, 0, 1), lob.INVALID_QTY),  # before price and duplicate
        (lob.limit(lob.BID, 201, 101, 2), lob.INVALID_QTY),
        (lob.limit(lob.BID, 201, 5, 1), lob.INVALID_PRICE),  # before duplicate
        (lob.limit(lob.ASK, 0, 5, 2, ioc=True), lob.INVALID_PRICE),
        (lob.cancel(9, 0), lob.INVALID_QTY),  # before unknown id
        (lob.modify(1, 101), lob.INVALID_QTY),
        (lob.modify(1, 0), lob.INVALID_QTY),
        (lob.market(lob.ASK, 0, 3), lob.INVALID_QTY),
    ]
    for msg, status in cases:
        assert rejected(b.apply(msg), status), (msg, status)
    assert b.orders(lob.BID) == [(100, 5, 1, 0)]
    res = b.apply(lob.market(lob.ASK, 2, 3))  # price 0 is fine for a market order
    assert res["status"] == lob.OK and res["filled"] == 2
    res = b.apply(lob.cancel(1, 1000))  # more than max_qty: cancels the whole order
    assert res["status"] == lob.OK and res["cancelled"] == 3 and res["remaining"] == 0
    c = b.counts()
    assert (c["ok"], c["invalid_message"], c["invalid_qty"], c["invalid_price"]) == (3, 2, 6, 2)


def test_full_side_reject(make):
    """Policy reject: a remainder that cannot rest is dropped with SIDE_FULL; its fills stand."""
    b = make(2, full_policy=lob.REJECT)
    b.apply(lob.limit(lob.BID, 100, 1, 1))
    b.apply(lob.limit(lob.BID, 99, 1, 2))
    res = b.apply(lob.limit(lob.BID, 101, 4, 3, owner=5))
    assert res["status"] == lob.SIDE_FULL and res["side"] == lob.BID and res["filled"] == 0 and res["remaining"] == 4
    assert res["evicted_id"] == -1 and res["evicted_qty"] == 0
    b.apply(lob.limit(lob.ASK, 102, 2, 5, owner=6))
    res = b.apply(lob.limit(lob.BID, 103, 5, 6))
    assert res["status"] == lob.SIDE_FULL and res["filled"] == 2 and res["remaining"] == 3
    assert fills(res) == [(2, 102, 5, 6)]
    assert b.orders(lob.BID) == [(100, 1, 1, 0), (99, 1, 2, 0)] and b.orders(lob.ASK) == []
    c = b.counts()
    assert c["side_full"] == 2 and c["buy_volume"] == 2 and c["evictions"] == 0


def test_full_side_evict(make):
    """Policy evict: a strictly better order evicts the worst (reported); an equal-or-worse one is dropped."""
    b = make(2, full_policy=lob.EVICT)
    b.apply(lob.limit(lob.BID, 100, 4, 1, owner=1))
    b.apply(lob.limit(lob.BID, 99, 6, 2, owner=2))
    res = b.apply(lob.limit(lob.BID, 100, 3, 3, owner=3))
    assert res["status"] == lob.OK and (res["evicted_id"], res["evicted_owner"], res["evicted_qty"]) == (2, 2, 6)
    assert b.orders(lob.BID) == [(100, 4, 1, 1), (100, 3, 3, 3)]
    for oid, price in [(4, 100), (5, 99)]:  # equal to the worst, or worse: dropped
        res = b.apply(lob.limit(lob.BID, price, 1, oid))
        assert res["status"] == lob.SIDE_FULL and res["remaining"] == 1 and res["evicted_id"] == -1
    assert b.orders(lob.BID) == [(100, 4, 1, 1), (100, 3, 3, 3)]
    res = b.apply(lob.limit(lob.BID, 101, 2, 6, owner=4))  # the best: goes first, evicts id 3
    assert (res["evicted_id"], res["evicted_owner"], res["evicted_qty"]) == (3, 3, 3)
    assert b.orders(lob.BID) == [(101, 2, 6, 4), (100, 4, 1, 1)]
    c = b.counts()
    assert c["evictions"] == 2 and c["side_full"] == 2 and c["ok"] == 4


def test_sweep_longer_than_max_fills(make):
    """A sweep of more orders than max_fills executes fully; the arrays list the first max_fills."""
    b = make(4, max_fills=2)
    for oid, price in enumerate([100, 101, 102, 103]):
        b.apply(lob.limit(lob.ASK, price, 1, oid, owner=10 + oid))
    res = b.apply(lob.market(lob.BID, 4, 9))
    assert res["status"] == lob.OK and res["filled"] == 4 and res["num_fills"] == 4 and res["remaining"] == 0
    assert res["fill_qty"] == [1, 1] and res["fill_price"] == [100, 101]
    assert res["fill_passive_id"] == [0, 1] and res["fill_passive_owner"] == [10, 11]
    assert b.orders(lob.ASK) == []
    if isinstance(b, JaxImpl):
        assert int(lob.last_trade_price(b.book)) == 103  # the last fill, though not listed


def test_extreme_quantities_and_prices(make):
    """Quantities up to largest_max_qty and prices up to MAX_PRICE fill exactly; volume counters pass int32."""
    q = lob.largest_max_qty(3)  # 536870911: three resting plus one incoming still fit in int32
    b = make(3)
    for oid, price in [(1, lob.MAX_PRICE), (2, lob.MAX_PRICE), (3, lob.MAX_PRICE - 1)]:
        assert b.apply(lob.limit(lob.ASK, price, q, oid))["status"] == lob.OK
    assert b.orders(lob.ASK) == [(lob.MAX_PRICE - 1, q, 3, 0), (lob.MAX_PRICE, q, 1, 0), (lob.MAX_PRICE, q, 2, 0)]
    assert rejected(b.apply(lob.limit(lob.BID, lob.MAX_PRICE + 1, 1, 4)), lob.INVALID_PRICE)
    assert rejected(b.apply(lob.limit(lob.BID, 1, q + 1, 4)), lob.INVALID_QTY)
    res = b.apply(lob.limit(lob.BID, lob.MAX_PRICE, q, 4))
    assert res["status"] == lob.OK and fills(res) == [(q, lob.MAX_PRICE - 1, 3, 0)] and res["remaining"] == 0
    for k in range(4):  # four more full-size trades: buy volume 5q > 2**31
        res = b.apply(lob.market(lob.BID, q, 10 + k))
        assert res["filled"] == q and res["num_fills"] == 1
        b.apply(lob.limit(lob.ASK, lob.MAX_PRICE, q, 20 + k))
    res = b.apply(lob.cancel(22))
    assert res["cancelled"] == q and b.orders(lob.ASK) == [(lob.MAX_PRICE, q, 23, 0)]
    c = b.counts()
    assert c["buy_volume"] == 5 * q == 2684354555 and c["sell_volume"] == 0


def test_self_trade_allowed(make):
    """An owner's order trades against its own resting order."""
    b = make(8)
    b.apply(lob.limit(lob.ASK, 100, 3, 1, owner=5))
    res = b.apply(lob.limit(lob.BID, 100, 2, 2, owner=5))
    assert res["status"] == lob.OK and fills(res) == [(2, 100, 1, 5)] and res["remaining"] == 0
    assert b.orders(lob.ASK) == [(100, 1, 1, 5)] and b.orders(lob.BID) == []


def all_views(book: lob.Book) -> dict:
    """Every view of one book (jitted in the test: one compiled call)."""
    return dict(l2=lob.l2(book, 3), bid=lob.best_bid(book), ask=lob.best_ask(book), mid=lob.mid(book),
                spread=lob.spread(book), imbalance=lob.imbalance(book), imbalance2=lob.imbalance(book, depth=2),
                last=lob.last_trade_price(book), volume=lob.traded_volume(book), l3=lob.l3(book, lob.BID))


def test_views_on_known_book(apply_jit):
    """l2, mid, spread, imbalance, best bid/ask, last trade price and traded volume on a known book."""
    views = jax.jit(all_views)
    book = lob.empty(8)
    v = views(book)
    assert np.isnan(float(v["mid"])) and int(v["spread"]) == 0 and float(v["imbalance"]) == 0.0
    assert int(v["bid"]) == 0 and int(v["ask"]) == 0 and int(v["last"]) == 0
    for msg in [lob.limit(lob.BID, 100, 3, 1), lob.limit(lob.BID, 100, 2, 2), lob.limit(lob.BID, 99, 4, 3),
                lob.limit(lob.ASK, 102, 5, 4), lob.limit(lob.ASK, 104, 1, 5)]:
        book, _ = apply_jit(book, msg)
    v = views(book)
    levels = v["l2"]
    assert levels.bid_price.tolist() == [100, 99, 0] and levels.bid_qty.tolist() == [5, 4, 0]
    assert levels.ask_price.tolist() == [102, 104, 0] and levels.ask_qty.tolist() == [5, 1, 0]
    assert int(v["bid"]) == 100 and int(v["ask"]) == 102
    assert float(v["mid"]) == 101.0 and int(v["spread"]) == 2
    assert float(v["imbalance"]) == 0.0  # (5 - 5) / 10
    assert float(v["imbalance2"]) == pytest.approx(0.2)  # (9 - 6) / 15
    assert v["l3"].order_id.tolist() == [1, 2, 3] + [-1] * 5 and int(v["l3"].n) == 3
    assert v["l3"].qty.tolist() == [3, 2, 4] + [0] * 5
    book, _ = apply_jit(book, lob.market(lob.BID, 6, 7))  # 5 @ 102, 1 @ 104
    v = views(book)
    assert int(v["last"]) == 104 and v["volume"].tolist() == [6.0, 0.0]
    book, _ = apply_jit(book, lob.market(lob.ASK, 1, 8))  # 1 @ 100
    v = views(book)
    assert int(v["last"]) == 100 and v["volume"].tolist() == [6.0, 1.0]
    assert np.isnan(float(v["mid"])) and int(v["spread"]) == 0  # no asks left
    assert float(v["imbalance"]) == 1.0 and int(v["ask"]) == 0 and int(v["bid"]) == 100
    counts = lob.counts(book)
    assert counts["buy_volume"] == 6 and counts["sell_volume"] == 1 and counts["ok"] == 7


def test_vmap_apply_matches_one_by_one(apply_jit):
    """jax.vmap(lob.apply) over a batch of books equals applying to each book alone."""
    setup = lob.stack([lob.limit(lob.BID, 100, 5, 1), lob.limit(lob.ASK, 101, 5, 1), lob.limit(lob.BID, 99, 2, 1)])
    msgs = lob.stack([lob.market(lob.ASK, 3, 2), lob.limit(lob.BID, 101, 7, 2), lob.cancel(1, 1)])
    books = lob.empty(4, max_fills=2, batch_shape=(3,))
    batched = jax.jit(jax.vmap(lob.apply))
    books, _ = batched(books, setup)
    books, results = batched(books, msgs)
    for i in range(3):
        book, _ = apply_jit(lob.empty(4, max_fills=2), jax.tree.map(lambda x: x[i], setup))
        book, res = apply_jit(book, jax.tree.map(lambda x: x[i], msgs))
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[i], books), book)
        chex.assert_trees_all_equal(jax.tree.map(lambda x: x[i], results), res)
    assert results.filled.tolist() == [3, 5, 0] and results.cancelled.tolist() == [0, 0, 1]


def test_apply_many_jit_does_not_retrace(apply_jit):
    """apply_many under jit traces once for two streams of the same shape, and equals apply one by one."""

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(book, msgs):
        return lob.apply_many(book, msgs)

    book = lob.empty(4, max_fills=2)
    streams = [
        lob.stack([lob.limit(lob.BID, 100, 5, 1), lob.limit(lob.ASK, 100, 2, 2), lob.cancel(1)]),
        lob.stack([lob.limit(lob.ASK, 90, 1, 3), lob.market(lob.BID, 4, 4), lob.modify(3, 2)]),
    ]
    try:
        for msgs in streams:
            final, results = run(book, msgs)
            expect, rows = book, []
            for t in range(3):
                expect, res = apply_jit(expect, jax.tree.map(lambda x: x[t], msgs))
                rows.append(res)
            chex.assert_trees_all_equal(final, expect)
            chex.assert_trees_all_equal(results, jax.tree.map(lambda *x: jnp.stack(x), *rows))
    finally:
        chex.clear_trace_counter()


def test_constructor_errors():
    """Invalid static settings and concrete bad sides raise ValueError naming the field."""
    with pytest.raises(ValueError, match="side"):
        lob.limit(side=2, price=100, qty=1, order_id=1)
    with pytest.raises(ValueError, match="side"):
        lob.market(side=-1, qty=1, order_id=1)
    with pytest.raises(ValueError, match="capacity"):
        lob.empty(capacity=0)
    with pytest.raises(ValueError, match="max_qty"):
        lob.empty(4, max_fills=4, max_qty=lob.largest_max_qty(4) + 1)
    with pytest.raises(ValueError, match="max_fills"):
        lob.empty(4, max_fills=5)
    with pytest.raises(ValueError, match="max_price"):
        lob.empty(4, max_fills=4, max_price=lob.MAX_PRICE + 1)
    with pytest.raises(ValueError, match="full_policy"):
        lob.empty(4, max_fills=4, full_policy="drop")
    with pytest.raises(ValueError, match="side"):
        lob.l3(lob.empty(4, max_fills=4), 2)
    assert lob.empty(4, max_fills=4, max_qty=lob.largest_max_qty(4)).max_qty == INT32_MAX // 5

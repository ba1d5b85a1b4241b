"""The JAX book against the reference on the benchmark's realistic order flow, at capacities where
the prefix sums take every shift stage (the small-capacity differential tests use only a few), and
on the same flow cut by trading halts (the uncross auction at capacities 16 and 128)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.lob_throughput import order_flow
from jaxmarket import lob
from tests.reference_lob import RESULT_FIELDS, ReferenceBook

MESSAGES = 1500
HALT_EVERY, HALT_AT, RESUME_AT = 100, 40, 80  # in each block of 100 messages: halted from 40 to 80
MSG_FIELDS = ("kind", "side", "price", "qty", "order_id", "new_order_id", "owner")
ACTED = (lob.OK, lob.SIDE_FULL, lob.HELD)


def with_halts(msgs: lob.Message) -> lob.Message:
    """The flow with message 40 of every 100 replaced by HALT and message 80 by RESUME."""
    t = jnp.arange(msgs.kind.shape[0]) % HALT_EVERY
    kind = jnp.where(t == HALT_AT, lob.HALT, jnp.where(t == RESUME_AT, lob.RESUME, msgs.kind))
    return msgs.replace(kind=kind.astype(jnp.int32))


def compare_with_reference(msgs: lob.Message, book: lob.Book, results: lob.Result, ref: ReferenceBook) -> np.ndarray:
    """Every result field of every message, then the final book and counters; returns the statuses."""
    stream = np.stack([np.asarray(getattr(msgs, f)) for f in MSG_FIELDS], 1)
    got = {f: np.asarray(getattr(results, f)) for f in RESULT_FIELDS}
    for t, msg in enumerate(stream):
        want = ref.apply(*(int(v) for v in msg))
        acted = want["status"] in ACTED
        for f in RESULT_FIELDS:
            if f == "side" and not acted:
                continue
            assert np.array_equal(got[f][t], want[f]), \
                f"message {t} {msg.tolist()}: {f} = {got[f][t]}, expected {want[f]}"
    np.testing.assert_array_equal(np.asarray(book.orders), ref.orders_array())
    assert lob.counts(book) == ref.counts()
    return got


@pytest.mark.parametrize("capacity, policy", [(16, lob.REJECT), (16, lob.EVICT), (128, lob.REJECT), (100, lob.EVICT)])
def test_order_flow_matches_reference(capacity, policy):
    """Every result field after every message, and the final book and counters, are identical."""
    msgs = order_flow(jax.random.key(capacity), MESSAGES)
    book, results = jax.jit(lob.apply_many)(lob.empty(capacity, full_policy=policy), msgs)
    got = compare_with_reference(msgs, book, results, ReferenceBook(capacity, full_policy=policy))
    statuses = set(got["status"].tolist())
    assert {lob.OK, lob.UNKNOWN_ID} <= statuses  # the flow cancels orders that are already gone
    assert got["num_fills"].max() > 1  # sweeps across several orders happen
    if capacity == 16:
        assert lob.SIDE_FULL in statuses or lob.counts(book)["evictions"] > 0


@pytest.mark.parametrize("capacity, policy", [(16, lob.EVICT), (128, lob.REJECT)])
def test_order_flow_with_halts_matches_reference(capacity, policy):
    """The flow with a halt in every 100 messages: held orders, the uncross at each RESUME (against
    the reference's every-price search) and the book after it are identical; the book is crossed
    only while halted."""
    msgs = with_halts(order_flow(jax.random.key(capacity + 1), MESSAGES))

    def step(book, msg):
        book, res = lob.apply(book, msg)
        return book, (res, book.halted, book.n, lob.best_bid(book), lob.best_ask(book))

    run = jax.jit(lambda m: jax.lax.scan(step, lob.empty(capacity, full_policy=policy, halts=True), m))
    book, (results, halted, n, bid, ask) = run(msgs)
    got = compare_with_reference(msgs, book, results, ReferenceBook(capacity, full_policy=policy, halts=True))
    two_sided = np.all(np.asarray(n) > 0, axis=1)
    crossed = two_sided & (np.asarray(bid) >= np.asarray(ask))
    assert not np.any(crossed & ~np.asarray(halted)) and np.any(crossed)  # crossed only, and sometimes, when halted
    resumes = np.asarray(msgs.kind) == lob.RESUME
    assert np.sum(resumes & (got["filled"] > 0)) >= 5  # uncrosses that trade
    assert np.sum(got["status"] == lob.HELD) >= 20
    assert lob.counts(book)["auction_volume"] == int(got["filled"][resumes].sum()) > 0

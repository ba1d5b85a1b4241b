"""The JAX book against the reference on the benchmark's realistic order flow, at capacities where
the prefix sums take every shift stage (the small-capacity differential tests use only a few)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from benchmarks.lob_throughput import order_flow
from jaxmarket import lob
from tests.reference_lob import RESULT_FIELDS, ReferenceBook

MESSAGES = 1500


@pytest.mark.parametrize("capacity, policy", [(16, lob.REJECT), (16, lob.EVICT), (128, lob.REJECT), (100, lob.EVICT)])
def test_order_flow_matches_reference(capacity, policy):
    """Every result field after every message, and the final book and counters, are identical."""
    msgs = order_flow(jax.random.PRNGKey(capacity), MESSAGES)
    book, results = jax.jit(lob.apply_many)(lob.empty(capacity, full_policy=policy), msgs)
    ref = ReferenceBook(capacity, full_policy=policy)
    stream = np.stack([np.asarray(getattr(msgs, f)) for f in ("kind", "side", "price", "qty", "order_id", "new_order_id", "owner")], 1)
    got = {f: np.asarray(getattr(results, f)) for f in RESULT_FIELDS}
    for t, msg in enumerate(stream):
        want = ref.apply(*(int(v) for v in msg))
        acted = want["status"] in (lob.OK, lob.SIDE_FULL)
        for f in RESULT_FIELDS:
            if f == "side" and not acted:
                continue
            assert np.array_equal(got[f][t], want[f]), f"message {t} {msg.tolist()}: {f} = {got[f][t]}, expected {want[f]}"
    np.testing.assert_array_equal(np.asarray(book.orders), ref.orders_array())
    assert lob.counts(book) == ref.counts()
    statuses = set(got["status"].tolist())
    assert {lob.OK, lob.UNKNOWN_ID} <= statuses  # the flow cancels orders that are already gone
    assert got["num_fills"].max() > 1  # sweeps across several orders happen
    if capacity == 16:
        assert lob.SIDE_FULL in statuses or lob.counts(book)["evictions"] > 0

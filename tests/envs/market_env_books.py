"""Plain-Python readers of an env's book (no JAX), shared by the Execution-v0 and DailyInvestor-v0
tests: each side's orders, levels, the ABIDES-Gym features and a market order's sweep."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket import lob
from jaxmarket.lob.book import ORDER_ID, OWNER, PRICE, QTY


def side_orders(book, side):
    """``[(price, qty, id, owner)]`` of one side, priority order."""
    o = np.asarray(book.orders[side])
    return [tuple(int(x) for x in o[[PRICE, QTY, ORDER_ID, OWNER], i]) for i in range(int(book.n[side]))]


def np_levels(book, side, depth=None):
    levels = []
    for price, qty, _, _ in side_orders(book, side):
        if levels and levels[-1][0] == price:
            levels[-1][1] += qty
        else:
            levels.append([price, qty])
    return levels if depth is None else levels[:depth]


def np_imbalance(book, depth=None):
    bid = sum(q for _, q in np_levels(book, lob.BID, depth))
    ask = sum(q for _, q in np_levels(book, lob.ASK, depth))
    return 0.5 if bid + ask == 0 else bid / (bid + ask)


def np_last(book, r_bar):
    return int(book.last_trade_price) if int(book.last_trade_price) > 0 else r_bar


def np_mid(book, r_bar):
    bids, asks = side_orders(book, lob.BID), side_orders(book, lob.ASK)
    if bids and asks:
        return (bids[0][0] + asks[0][0]) / 2
    if bids or asks:
        return (bids or asks)[0][0]
    return np_last(book, r_bar)


def np_spread(book):
    bids, asks = side_orders(book, lob.BID), side_orders(book, lob.ASK)
    return asks[0][0] - bids[0][0] if bids and asks else 0


def np_sweep(book, side, qty):
    """``(filled, notional)`` of a market order walking the opposite side."""
    filled = notional = 0
    for price, avail, _, _ in side_orders(book, 1 - side):
        take = min(qty - filled, avail)
        filled, notional = filled + take, notional + take * price
        if filled == qty:
            break
    return filled, notional


def np_resting(book, order_id):
    return sum(q for s in (0, 1) for _, q, i, _ in side_orders(book, s) if i == order_id)


def level_ids(book, side, price):
    return [i for p, _, i, _ in side_orders(book, side) if p == price]


def assert_same_state(a, b, skip=()):
    """Equal pytrees, leaf by leaf, except leaves whose path contains a name in ``skip``."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
        name = jax.tree_util.keystr(path)
        if not any(s in name for s in skip):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)


def seeded(step):
    """A jitted ``env.step`` called as ``step(seed, state, action, params)`` with a Python seed and action."""

    def call(seed, state, action, params):
        return step(jax.random.key(seed), state, jnp.int32(action), params)

    return call

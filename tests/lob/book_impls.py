"""The JAX book and the plain-Python reference behind one interface (``apply``, ``orders``,
``counts``), for the rule-by-rule tests that run on both, and readers of their results."""

from __future__ import annotations

from typing import Callable

import numpy as np

from jaxmarket import lob
from tests.reference_lob import RESULT_FIELDS, ReferenceBook

MSG_FIELDS = ("kind", "side", "price", "qty", "order_id", "new_order_id", "owner")


def result_dict(res: lob.Result) -> dict:
    return {f: np.asarray(getattr(res, f)).tolist() for f in RESULT_FIELDS}


class JaxImpl:
    """The JAX book, one message at a time, through the jitted ``apply_fn`` (see ``jax_impl``)."""

    apply_fn: Callable = staticmethod(lob.apply)

    def __init__(self, capacity, **kw):
        self.book = lob.empty(capacity, **kw)  # the default max_fills: min(8, capacity)

    def apply(self, msg: lob.Message) -> dict:
        self.book, res = self.apply_fn(self.book, msg)
        return result_dict(res)

    def orders(self, side) -> list[tuple]:
        v = lob.l3(self.book, side)
        return [(int(v.price[i]), int(v.qty[i]), int(v.order_id[i]), int(v.owner[i])) for i in range(int(v.n))]

    def counts(self) -> dict:
        return lob.counts(self.book)


def jax_impl(apply: Callable) -> type[JaxImpl]:
    """``JaxImpl`` applying messages with ``apply`` (a jitted ``lob.apply``)."""
    return type("JaxImpl", (JaxImpl,), {"apply_fn": staticmethod(apply)})


class RefImpl:
    """The reference book behind the same interface."""

    def __init__(self, capacity, **kw):
        self.book = ReferenceBook(capacity, **kw)

    def apply(self, msg: lob.Message) -> dict:
        return self.book.apply(*(int(getattr(msg, f)) for f in MSG_FIELDS))

    def orders(self, side) -> list[tuple]:
        return [(o.price, o.qty, o.order_id, o.owner) for o in self.book.sides[side]]

    def counts(self) -> dict:
        return self.book.counts()


def fills(res: dict) -> list[tuple]:
    """Listed fills as (qty, price, passive id, passive owner)."""
    rows = zip(res["fill_qty"], res["fill_price"], res["fill_passive_id"], res["fill_passive_owner"])
    return [tuple(r) for r in rows if r[0] > 0]


def rejected(res: dict, status: int) -> bool:
    return (res["status"] == status and res["filled"] == res["remaining"] == res["cancelled"] == res["num_fills"] == 0
            and fills(res) == [] and res["evicted_id"] == -1)

"""No integer is narrowed silently: message fields, ``lob.empty`` arguments and defaults.

Concrete values outside int32 (or non-integral floats) raise ``ValueError`` naming the field and
the int32 range; traced ones (64-bit under ``jax.enable_x64``, floats) make the message
``MALFORMED``, rejected as ``INVALID_MESSAGE`` and counted, with the book unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarket import lob
from jaxmarket.core.validation import INT32_MAX, INT32_MIN
from tests.reference_lob import ReferenceBook

INT32_RANGE = rf"\[{INT32_MIN}, {INT32_MAX}\] \(int32\)"
WIDE = 2**32 + 5  # wraps to 5 in int32
OUT_OF_RANGE = [np.int64(WIDE), WIDE, INT32_MAX + 1, INT32_MIN - 1, np.uint32(INT32_MAX + 1), np.uint64(2**63),
                np.array([1, WIDE]), [3, 2**40], 2**70]
NOT_INTEGERS = [100.5, np.float32(0.25), float("nan"), np.inf, np.array([1.0, 2.5])]

# (constructor, its keyword arguments with valid values); each field is replaced by a bad value in turn.
CONSTRUCTORS = [
    (lob.limit, dict(side=lob.BID, price=100, qty=10, order_id=7, owner=1)),
    (lob.market, dict(side=lob.ASK, qty=10, order_id=7, owner=1)),
    (lob.cancel, dict(order_id=7, qty=3)),
    (lob.modify, dict(order_id=7, new_qty=3)),
    (lob.replace, dict(order_id=7, new_order_id=8, price=100, qty=3)),
    (lambda **kw: lob.Message(**kw), dict(kind=lob.LIMIT, side=lob.BID, price=100, qty=10, order_id=7, new_order_id=0,
                                          owner=1)),
]
FIELD_CASES = [(make, kw, field) for make, kw in CONSTRUCTORS for field in kw]


def ids(case) -> str:
    make, _, field = case
    return f"{getattr(make, '__name__', 'Message')}-{field}"


def test_issue_inputs(apply_jit):
    """The issue: an id, a later cancel and a price of 2**32 + k are refused, not taken as k."""
    book, res = apply_jit(lob.empty(8), lob.limit(side=lob.BID, price=100, qty=10, order_id=5, owner=1))
    assert int(res.status) == lob.OK
    with pytest.raises(ValueError, match=rf"order_id = .*4294967301.* {INT32_RANGE}"):
        lob.limit(side=lob.BID, price=100, qty=10, order_id=np.int64(2**32 + 5), owner=1)
    with pytest.raises(ValueError, match=rf"order_id = .*4294967301.* {INT32_RANGE}"):
        lob.cancel(np.int64(2**32 + 5))
    with pytest.raises(ValueError, match=rf"price = .*4294967396.* {INT32_RANGE}"):
        lob.limit(side=lob.BID, price=np.int64(2**32 + 100), qty=10, order_id=6)
    with pytest.raises(ValueError, match=rf"order_id = 4294967301 is out of range: valid range is {INT32_RANGE}"):
        lob.limit(side=lob.BID, price=100, qty=10, order_id=2**32 + 5, owner=1)  # a Python int: not OverflowError
    assert lob.l3(book, lob.BID).order_id[:1].tolist() == [5]  # order 5 still rests, untouched


@pytest.mark.parametrize("case", FIELD_CASES, ids=ids)
@pytest.mark.parametrize("bad", OUT_OF_RANGE, ids=lambda v: repr(v)[:24])
def test_out_of_range_field_raises(case, bad):
    """Every integer field of every constructor (and of Message itself) refuses values outside int32."""
    make, kw, field = case
    with pytest.raises(ValueError, match=rf"{field} = .* is out of range: valid range is {INT32_RANGE}"):
        make(**{**kw, field: bad})


@pytest.mark.parametrize("case", FIELD_CASES, ids=ids)
@pytest.mark.parametrize("bad", NOT_INTEGERS, ids=repr)
def test_non_integral_field_raises(case, bad):
    """A concrete float that is not an integer (or not finite) is refused, never truncated."""
    make, kw, field = case
    with pytest.raises(ValueError, match=rf"{field} = .* is not an integer: valid range is {INT32_RANGE}"):
        make(**{**kw, field: bad})


def test_bounds_and_integral_values_are_accepted():
    """The int32 bounds themselves, wide dtypes holding small values and integral floats pass exactly."""
    msg = lob.limit(lob.BID, np.int64(INT32_MAX), np.uint64(7), INT32_MIN, owner=np.float64(3.0))
    assert (int(msg.price), int(msg.qty), int(msg.order_id), int(msg.owner)) == (INT32_MAX, 7, INT32_MIN, 3)
    assert msg.price.dtype == jnp.int32
    stream = lob.cancel(np.array([1, 2], np.int64), qty=np.array([4.0, 5.0]))
    assert stream.order_id.tolist() == [1, 2] and stream.qty.tolist() == [4, 5] and stream.qty.dtype == jnp.int32
    with pytest.raises(ValueError, match="side = 2 is not valid"):  # in range, but not a side
        lob.market(side=2, qty=1, order_id=1)


def test_concrete_jax_arrays_under_x64_raise():
    """A concrete int64 jax array (possible under jax_enable_x64) is checked like a numpy one."""
    with jax.enable_x64(True):
        wide = jnp.asarray(2**32 + 5, jnp.int64)
        assert wide.dtype == jnp.int64
        with pytest.raises(ValueError, match=rf"order_id = .* {INT32_RANGE}"):
            lob.cancel(wide)
        with pytest.raises(ValueError, match=rf"qty = .* {INT32_RANGE}"):
            lob.Message(*(jnp.int32(0),) * 3, wide, *(jnp.int32(0),) * 3)
        assert int(lob.cancel(jnp.asarray(5, jnp.int64)).order_id) == 5


def test_traced_int64_under_x64_is_invalid_message():
    """Inside jit under jax.enable_x64: the issue's id and price as traced int64 are rejected
    (INVALID_MESSAGE, counted), never wrapped to the resting order 5; in-range int64 works."""
    with jax.enable_x64(True):
        book, _ = jax.jit(lob.apply)(lob.empty(8), lob.limit(lob.BID, 100, 10, 5, 1))
        submit = jax.jit(lambda b, oid, price: lob.apply(b, lob.limit(lob.BID, price, 10, oid, 1)))
        cancel = jax.jit(lambda b, oid: lob.apply(b, lob.cancel(oid)))
        for after, res in [submit(book, jnp.int64(2**32 + 5), jnp.int64(101)),
                           submit(book, jnp.int64(6), jnp.int64(2**32 + 100)),
                           submit(book, jnp.int64(INT32_MIN - 1), jnp.int64(101)),
                           cancel(book, jnp.int64(2**32 + 5))]:
            assert int(res.status) == lob.INVALID_MESSAGE and int(res.filled) == 0 and int(res.cancelled) == 0
            np.testing.assert_array_equal(np.asarray(after.orders), np.asarray(book.orders))
            assert lob.counts(after)["invalid_message"] == 1 and after.orders.dtype == jnp.int32
        after, res = submit(book, jnp.int64(6), jnp.int64(101))  # in range: an ordinary order
        assert int(res.status) == lob.OK and lob.l3(after, lob.BID).order_id[:2].tolist() == [6, 5]
        after, res = cancel(book, jnp.int64(5))
        assert int(res.status) == lob.OK and int(res.cancelled) == 10
        # A Message built directly from traced int64 fields, through apply_many (a scan): the same.
        def wide_cancels(oid):
            head = (jnp.full(2, v, jnp.int64) for v in (lob.CANCEL, 0, 0, lob.CANCEL_ALL))
            return lob.Message(*head, oid, *(jnp.zeros(2, jnp.int64),) * 2)

        raw = jax.jit(lambda b, oid: lob.apply_many(b, wide_cancels(oid)))
        after, res = raw(book, jnp.asarray([2**32 + 5, 5], jnp.int64))
        assert res.status.tolist() == [lob.INVALID_MESSAGE, lob.OK] and int(after.n[lob.BID]) == 0


def test_traced_floats_are_checked():
    """A traced float field: integral values are taken exactly, others make the message INVALID_MESSAGE."""
    book = lob.empty(8)
    submit = jax.jit(lambda b, price, qty: lob.apply(b, lob.limit(lob.BID, price, qty, 1)))
    for price, qty in [(100.5, 10.0), (100.0, jnp.nan), (3e9, 1.0), (100.0, -jnp.inf)]:
        after, res = submit(book, jnp.float32(price), jnp.float32(qty))
        assert int(res.status) == lob.INVALID_MESSAGE and int(after.n.sum()) == 0
    after, res = submit(book, jnp.float32(100.0), jnp.float32(10.0))
    assert int(res.status) == lob.OK and lob.l3(after, lob.BID).price[:1].tolist() == [100]
    msg = jax.jit(lambda p: lob.limit(lob.BID, p, 10, 1))(jnp.float32(100.5))
    assert int(msg.kind) == lob.MALFORMED and int(msg.price) == 0  # nothing truncated


def test_int32_messages_add_no_work():
    """The check is decided from the dtype at trace time: an int32 message passes through as_int32
    with no operation at all."""
    jaxpr = jax.make_jaxpr(lob.as_int32)(lob.limit(lob.BID, 100, 10, 1))
    assert len(jaxpr.eqns) == 0
    wide = jax.make_jaxpr(lob.as_int32)(lob.Message(*(jnp.zeros((), jnp.float32),) * 7))
    assert len(wide.eqns) > 0


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(capacity=np.int64(2**32 + 4)), "capacity"),
        (dict(capacity=4.5), "capacity"),
        (dict(capacity=0), "capacity"),
        (dict(capacity=4, max_fills=np.int64(2**32 + 2)), "max_fills"),
        (dict(capacity=4, max_fills=5), "max_fills"),
        (dict(capacity=4, max_price=np.int64(2**32 + 1)), "max_price"),
        (dict(capacity=4, max_qty=np.int64(2**33)), "max_qty"),
        (dict(capacity=4, max_qty=2.5), "max_qty"),
        (dict(capacity=4, batch_shape=(np.int64(-1),)), r"batch_shape\[0\]"),
        (dict(capacity=4, batch_shape=(2, 2.5)), r"batch_shape\[1\]"),
        (dict(capacity=4, batch_shape=4), "batch_shape"),
        (dict(capacity=4, halts="yes"), "halts"),
        (dict(capacity=4, full_policy="drop"), "full_policy"),
    ],
)
def test_empty_refuses_bad_arguments(kwargs, field):
    """lob.empty names the argument of a value out of range or not an integer, before compiling."""
    with pytest.raises(ValueError, match=field):
        lob.empty(**kwargs)


@pytest.mark.parametrize("capacity", [1, 2, 4, 7, 8, 9, 256])
def test_every_default_is_valid_for_every_capacity(capacity):
    """lob.empty(capacity) needs no other argument: max_fills defaults to min(8, capacity) and
    max_qty to largest_max_qty(capacity); the reference book agrees."""
    book = lob.empty(capacity)
    assert book.max_fills == min(8, capacity) and book.max_qty == lob.largest_max_qty(capacity)
    assert (book.max_price, book.full_policy, book.halts) == (lob.MAX_PRICE, lob.REJECT, False)
    assert not bool(book.halted) and book.orders.shape == (2, 4, capacity)
    assert ReferenceBook(capacity).max_fills == min(8, capacity)
    assert lob.empty(4.0).capacity == 4  # an integral float is an integer


def test_capacity_four_with_defaults_lists_every_fill(apply_jit):
    """The issue's lob.empty(capacity=4): a sweep of 4 orders lists all 4 fills (max_fills = 4)."""
    book = lob.empty(capacity=4)
    for oid, price in enumerate([100, 101, 102, 103], start=1):
        book, _ = apply_jit(book, lob.limit(lob.ASK, price, 2, oid, owner=oid))
    book, res = apply_jit(book, lob.market(lob.BID, 8, 9))
    assert res.fill_qty.tolist() == [2, 2, 2, 2] and res.fill_price.tolist() == [100, 101, 102, 103]
    assert res.fill_passive_id.tolist() == [1, 2, 3, 4] and int(res.num_fills) == 4 and int(res.filled) == 8

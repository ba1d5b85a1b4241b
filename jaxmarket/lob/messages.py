"""Messages: one pytree type for every kind, built by the constructors below.

Each constructor takes Python numbers or arrays (broadcast together, so one call can build a
whole message array for ``apply_many``) and returns a ``Message`` of int32 arrays. Fields a kind
does not use are 0. Invalid quantities, prices and ids are not errors here: the book rejects them
with a status, as an exchange would. A concrete side that is neither ``BID`` nor ``ASK`` raises.

No value is narrowed to int32 silently. Every field must be an integer in
``[INT32_MIN, INT32_MAX] = [-2**31, 2**31 - 1]``:

- a **concrete** value outside it, or a non-integral or non-finite float (Python and numpy
  numbers and arrays, concrete jax arrays), raises ``ValueError`` naming the field, the value and
  the range, in the constructors and in ``Message(...)`` itself (so a message built directly
  cannot reach ``jit``, whose argument conversion would wrap ``np.int64(2**32 + 5)`` to ``5``);
- a **traced** value of a dtype that can hold other values (int64 and uint32/uint64 under
  ``jax_enable_x64``, any float) is checked inside ``jit``: if it is not an int32 integer the
  message's ``kind`` becomes ``MALFORMED`` and every field 0, so the book rejects it as
  ``INVALID_MESSAGE`` and counts it. ``as_int32`` does the same for a ``Message`` built directly
  from such arrays; ``apply`` calls it. Whether a check is needed is decided from the dtype, at
  trace time: int32 (and narrower) fields pass through with no added operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarket.core.validation import check_int32 as _check_int32
from jaxmarket.core.validation import fits_int32_dtype, is_concrete, is_concrete_array
from jaxmarket.lob.constants import (
    ASK,
    BID,
    CANCEL,
    CANCEL_ALL,
    HALT,
    INT32_MAX,
    INT32_MIN,
    IOC,
    LIMIT,
    MALFORMED,
    MARKET,
    MODIFY,
    REPLACE,
    RESUME,
)

FIELDS = ("kind", "side", "price", "qty", "order_id", "new_order_id", "owner")
INT32_RANGE = f"[{INT32_MIN}, {INT32_MAX}] (int32)"


def check_int32(field: str, value: Any) -> None:
    """Raise ``ValueError`` unless a concrete ``value`` holds only integers in the int32 range
    (``jaxmarket.core.validation.check_int32`` with ``integers_only``); tracers are skipped."""
    _check_int32(field, value, integers_only=True)
# Float bounds of int32, both exact in every float dtype: a float x fits when LOW <= x < HIGH.
FLOAT_LOW, FLOAT_HIGH = float(INT32_MIN), float(INT32_MAX) + 1.0


@struct.dataclass
class Message:
    """A book message; all fields int32 of one shape (scalars, or ``(T,)`` for a stream).

    Prefer the constructors (``limit``, ``market``, ``cancel``, ``modify``, ``replace``, ``halt``,
    ``resume``), which fill the fields a kind does not use with 0.

    Args:
        kind: ``LIMIT``, ``IOC``, ``MARKET``, ``CANCEL``, ``MODIFY``, ``REPLACE``, ``HALT`` or
            ``RESUME`` (another value is rejected by ``apply`` as ``INVALID_MESSAGE``).
        side: ``BID`` or ``ASK`` for a new order; a resting order keeps its own side.
        price: ticks (LIMIT, IOC, REPLACE).
        qty: lots: the order size; the quantity to cancel (CANCEL); the new quantity (MODIFY).
        order_id: the new order's id (LIMIT, IOC, MARKET); the resting order's id otherwise.
        new_order_id: the replacing order's id (REPLACE).
        owner: agent id, reported to the other side of a fill.

    Raises:
        ValueError: a concrete field is not an integer in ``[INT32_MIN, INT32_MAX]``. Traced
            fields of a wider dtype are checked by ``apply`` instead (``as_int32``).
    """

    kind: jax.Array  # LIMIT, IOC, MARKET, CANCEL, MODIFY, REPLACE, HALT or RESUME
    side: jax.Array  # BID or ASK (LIMIT, IOC, MARKET); a resting order keeps its own side
    price: jax.Array  # ticks (LIMIT, IOC, REPLACE)
    qty: jax.Array  # lots: order size; quantity to cancel (CANCEL); new quantity (MODIFY)
    order_id: jax.Array  # the new order's id (LIMIT, IOC, MARKET); the resting order's id otherwise
    new_order_id: jax.Array  # REPLACE: id of the replacing order
    owner: jax.Array  # agent id, reported to the other side of a fill (LIMIT, IOC, MARKET)

    def __post_init__(self) -> None:
        # Also runs when JAX rebuilds a Message from leaves; it reads only concrete values of a
        # dtype wider than int32 (int32 arrays and tracers are skipped at no cost).
        for field in FIELDS:
            check_int32(field, getattr(self, field))


def _fits_int32(x: jax.Array) -> jax.Array:
    """Traced check, per element: ``x`` (of a dtype wider than int32) is an int32 integer."""
    if jnp.issubdtype(x.dtype, jnp.floating):
        return jnp.isfinite(x) & (x == jnp.round(x)) & (x >= FLOAT_LOW) & (x < FLOAT_HIGH)
    if jnp.issubdtype(x.dtype, jnp.unsignedinteger):
        return x <= INT32_MAX
    return (x >= INT32_MIN) & (x <= INT32_MAX)


def _to_int32(field: str, value: Any) -> tuple[jax.Array, jax.Array | None]:
    """``value`` as an int32 array, and for a traced wide dtype a bool array: where it did not fit
    (those elements read 0). Concrete values are checked and raise ``ValueError`` instead."""
    check_int32(field, value)
    if isinstance(value, jax.core.Tracer):
        if jnp.issubdtype(value.dtype, jnp.complexfloating):
            raise ValueError(f"{field} has dtype {value.dtype}: expected integers in {INT32_RANGE}")
        if fits_int32_dtype(value.dtype):
            return value.astype(jnp.int32), None
        fits = _fits_int32(value)
        return jnp.where(fits, value, 0).astype(jnp.int32), ~fits
    if is_concrete_array(value):
        return value.astype(jnp.int32), None  # checked above: every element fits
    if not is_concrete(value):  # a list or tuple holding tracers
        return _to_int32(field, jnp.asarray(value))
    return jnp.asarray(np.asarray(value).astype(np.int64).astype(np.int32)), None  # checked above: fits


def _build(values: dict[str, Any]) -> Message:
    """A Message from field values (any mix of numbers, arrays and tracers), broadcast together."""
    converted = [_to_int32(f, values[f]) for f in FIELDS]
    fields = jnp.broadcast_arrays(*(c for c, _ in converted))
    flags = [bad for _, bad in converted if bad is not None]
    if flags:  # a traced wide value: decided statically, so int32 input pays nothing
        malformed = jnp.broadcast_to(jnp.any(jnp.stack(jnp.broadcast_arrays(*flags)), axis=0), fields[0].shape)
        fields = [jnp.where(malformed, MALFORMED if f == "kind" else 0, x) for f, x in zip(FIELDS, fields)]
    return Message(*fields)


def as_int32(msg: Message) -> Message:
    """``msg`` with int32 fields. Fields that are int32 already are returned as they are (no
    operation is added); a wider traced field (int64, uint32/64, float) that is not an int32
    integer makes the whole message ``MALFORMED`` (rejected by ``apply`` as ``INVALID_MESSAGE``)."""
    if all(np.dtype(getattr(msg, f).dtype) == np.int32 for f in FIELDS):
        return msg
    return _build({f: getattr(msg, f) for f in FIELDS})


def _check_side(side: Any) -> None:
    check_int32("side", side)  # the int32 range first, so that 2**32 is named as out of range
    if is_concrete(side) and not np.all(np.isin(np.asarray(side), (BID, ASK))):
        raise ValueError(f"side = {side!r} is not valid: choose lob.BID ({BID}) or lob.ASK ({ASK})")


def _message(kind: int, side: Any = 0, price: Any = 0, qty: Any = 0, order_id: Any = 0, new_order_id: Any = 0,
             owner: Any = 0) -> Message:
    return _build(dict(kind=kind, side=side, price=price, qty=qty, order_id=order_id, new_order_id=new_order_id,
                       owner=owner))


def limit(side: Any, price: Any, qty: Any, order_id: Any, owner: Any = 0, *, ioc: bool = False) -> Message:
    """A limit order: matches while prices cross, then rests at ``price``.

    Args:
        side: ``BID`` (buy) or ``ASK`` (sell).
        price: the limit, int32 ticks (valid in ``[1, book.max_price]``).
        qty: lots (valid in ``[1, book.max_qty]``).
        order_id: the new order's id, unique among resting orders, >= 0.
        owner: agent id, reported to the other side of each fill.
        ioc: immediate-or-cancel: the unfilled remainder is dropped instead of resting.

    Any argument but ``ioc`` may be a scalar or a ``(T,)`` array (a stream), concrete or traced.

    Returns:
        A ``Message`` of kind ``LIMIT`` (or ``IOC``), int32 fields broadcast to one shape.

    Raises:
        ValueError: a concrete side other than ``BID``/``ASK``, or a concrete field that is not an
            int32 integer.
    """
    _check_side(side)
    return _message(IOC if ioc else LIMIT, side, price, qty, order_id, 0, owner)


def market(side: Any, qty: Any, order_id: Any, owner: Any = 0) -> Message:
    """A market order: walks the opposite side; what the book cannot fill is dropped.

    Args:
        side: ``BID`` (buy) or ``ASK`` (sell).
        qty: lots (valid in ``[1, book.max_qty]``).
        order_id: the order's id (reported in the fills; it never rests).
        owner: agent id, reported to the other side of each fill.

    Returns:
        A ``Message`` of kind ``MARKET`` (int32 fields, scalars or a ``(T,)`` stream).

    Raises:
        ValueError: as ``limit``.
    """
    _check_side(side)
    return _message(MARKET, side, 0, qty, order_id, 0, owner)


def cancel(order_id: Any, qty: Any = None) -> Message:
    """Cancel ``qty`` lots of a resting order. A partial cancel keeps the order's queue position;
    cancelling at least the resting quantity removes the order.

    Args:
        order_id: the resting order's id (an unknown id is rejected as ``UNKNOWN_ID``).
        qty: lots to cancel, >= 1; ``None``: all of it (``CANCEL_ALL``).

    Returns:
        A ``Message`` of kind ``CANCEL`` (int32 fields, scalars or a ``(T,)`` stream).

    Raises:
        ValueError: a concrete field that is not an int32 integer.
    """
    return _message(CANCEL, qty=CANCEL_ALL if qty is None else qty, order_id=order_id)


def modify(order_id: Any, new_qty: Any) -> Message:
    """Set a resting order's quantity: a reduction keeps its queue position, an increase moves it
    to the back of its price level.

    Args:
        order_id: the resting order's id.
        new_qty: the new quantity, lots in ``[1, book.max_qty]``.

    Returns:
        A ``Message`` of kind ``MODIFY`` (int32 fields, scalars or a ``(T,)`` stream).

    Raises:
        ValueError: as ``cancel`` (naming ``new_qty``).
    """
    check_int32("new_qty", new_qty)  # named as the caller wrote it (the message field is qty)
    return _message(MODIFY, qty=new_qty, order_id=order_id)


def replace(order_id: Any, new_order_id: Any, price: Any, qty: Any) -> Message:
    """Cancel a resting order and submit a limit order with a new id, price and quantity on the
    same side, for the same owner, as one atomic message (if any part is invalid, nothing happens).

    Args:
        order_id: the resting order's id.
        new_order_id: the replacing order's id (unique among resting orders, or ``order_id``).
        price: the new limit, int32 ticks in ``[1, book.max_price]``.
        qty: the new quantity, lots in ``[1, book.max_qty]``.

    Returns:
        A ``Message`` of kind ``REPLACE`` (int32 fields, scalars or a ``(T,)`` stream).

    Raises:
        ValueError: as ``cancel``.
    """
    return _message(REPLACE, price=price, qty=qty, order_id=order_id, new_order_id=new_order_id)


def halt() -> Message:
    """Suspend matching (a trading halt): orders rest even when they cross, and an IOC or market
    order that would match is dropped (status ``HELD``).

    Returns:
        A scalar ``Message`` of kind ``HALT``; a book made without ``halts=True`` rejects it as
        ``INVALID_MESSAGE``.
    """
    return _message(HALT)


def resume() -> Message:
    """End a halt: uncross the book in one single-price call auction, then match continuously
    again.

    Returns:
        A scalar ``Message`` of kind ``RESUME``; a book made without ``halts=True`` rejects it as
        ``INVALID_MESSAGE``.
    """
    return _message(RESUME)


def stack(messages: Sequence[Message]) -> Message:
    """Stack single messages into a stream for ``apply_many``: fields of shape ``(T,)``."""
    if not messages:
        raise ValueError("messages = [] is empty: stack needs at least one message")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *messages)


def concatenate(streams: Sequence[Message]) -> Message:
    """Join message streams end to end along their first axis."""
    if not streams:
        raise ValueError("streams = [] is empty: concatenate needs at least one stream")
    return jax.tree.map(lambda *xs: jnp.concatenate([jnp.atleast_1d(x) for x in xs]), *streams)

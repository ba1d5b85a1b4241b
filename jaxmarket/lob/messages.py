"""Messages: one pytree type for every kind, built by the constructors below.

Each constructor takes Python numbers or arrays (broadcast together, so one call can build a
whole message array for ``apply_many``) and returns a ``Message`` of int32 arrays. Fields a kind
does not use are 0. Invalid quantities, prices and ids are not errors here: the book rejects them
with a status, as an exchange would. A concrete side that is neither ``BID`` nor ``ASK`` raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarket.core.validation import is_concrete
from jaxmarket.lob.constants import ASK, BID, CANCEL, CANCEL_ALL, IOC, LIMIT, MARKET, MODIFY, REPLACE


@struct.dataclass
class Message:
    """A book message; all fields int32 of one shape (scalars, or ``(T,)`` for a stream)."""

    kind: jax.Array  # LIMIT, IOC, MARKET, CANCEL, MODIFY or REPLACE
    side: jax.Array  # BID or ASK (LIMIT, IOC, MARKET); a resting order keeps its own side
    price: jax.Array  # ticks (LIMIT, IOC, REPLACE)
    qty: jax.Array  # lots: order size; quantity to cancel (CANCEL); new quantity (MODIFY)
    order_id: jax.Array  # the new order's id (LIMIT, IOC, MARKET); the resting order's id otherwise
    new_order_id: jax.Array  # REPLACE: id of the replacing order
    owner: jax.Array  # agent id, reported to the other side of a fill (LIMIT, IOC, MARKET)


def _check_side(side: Any) -> None:
    if is_concrete(side) and not np.all(np.isin(np.asarray(side), (BID, ASK))):
        raise ValueError(f"side = {side!r} is not valid: choose lob.BID ({BID}) or lob.ASK ({ASK})")


def _message(kind: int, side: Any = 0, price: Any = 0, qty: Any = 0, order_id: Any = 0, new_order_id: Any = 0,
             owner: Any = 0) -> Message:
    fields = jnp.broadcast_arrays(*(jnp.asarray(v, jnp.int32) for v in (kind, side, price, qty, order_id, new_order_id, owner)))
    return Message(*fields)


def limit(side: Any, price: Any, qty: Any, order_id: Any, owner: Any = 0, *, ioc: bool = False) -> Message:
    """A limit order: matches while prices cross, then rests at ``price`` (``ioc=True``: the
    remainder is dropped instead)."""
    _check_side(side)
    return _message(IOC if ioc else LIMIT, side, price, qty, order_id, 0, owner)


def market(side: Any, qty: Any, order_id: Any, owner: Any = 0) -> Message:
    """A market order: walks the opposite side; what the book cannot fill is dropped."""
    _check_side(side)
    return _message(MARKET, side, 0, qty, order_id, 0, owner)


def cancel(order_id: Any, qty: Any = None) -> Message:
    """Cancel ``qty`` lots of a resting order (``None``: all of it). A partial cancel keeps the
    order's queue position; cancelling at least the resting quantity removes the order."""
    return _message(CANCEL, qty=CANCEL_ALL if qty is None else qty, order_id=order_id)


def modify(order_id: Any, new_qty: Any) -> Message:
    """Set a resting order's quantity: a reduction keeps its queue position, an increase moves it
    to the back of its price level."""
    return _message(MODIFY, qty=new_qty, order_id=order_id)


def replace(order_id: Any, new_order_id: Any, price: Any, qty: Any) -> Message:
    """Cancel a resting order and submit a limit order with a new id, price and quantity on the
    same side, for the same owner, as one atomic message (if any part is invalid, nothing happens)."""
    return _message(REPLACE, price=price, qty=qty, order_id=order_id, new_order_id=new_order_id)


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

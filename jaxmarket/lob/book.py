"""The book state: a pytree of fixed capacity, and ``empty`` to make one.

Each side is an array of ``capacity`` slots kept in priority order: best price first, and at one
price the earliest order first (bids from the highest price down, asks from the lowest up). The
first ``n[side]`` slots hold orders; the rest are empty (price 0, quantity 0, id and owner
``EMPTY_ID``). Keeping the sides sorted is what lets a sweep be a prefix sum rather than a loop.

Trading halts are a static option (``empty(..., halts=True)``): such a book accepts ``HALT`` and
``RESUME`` messages and carries a ``halted`` flag; while it is set the book may be crossed. A book
made with ``halts=False`` (the default) rejects them as ``INVALID_MESSAGE`` and its ``apply`` runs
no halt or auction code at all (see ``matching``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import struct

from jaxmarket.core.validation import check_bool, check_choice, check_int
from jaxmarket.lob import counter
from jaxmarket.lob.constants import EMPTY_ID, FULL_POLICIES, INT32_MAX, MAX_PRICE, NUM_STATUSES, REJECT

# Field rows of `orders`, per side.
PRICE, QTY, ORDER_ID, OWNER = 0, 1, 2, 3
EMPTY_SLOT = (0, 0, EMPTY_ID, EMPTY_ID)  # field values of an empty slot, in row order

DEFAULT_MAX_FILLS = 8  # fills reported per message, capped at the capacity (a longer sweep is executed and summarised)
MAX_CAPACITY = 2**24  # orders per side


@struct.dataclass
class Book:
    """A limit order book, made by ``empty`` (the static fields have no defaults, so that no
    combination of them is invalid by accident). Array fields are int32 except ``halted`` (bool);
    leading batch axes are allowed (``vmap``)."""

    orders: jax.Array  # (2, 4, capacity): [side, PRICE/QTY/ORDER_ID/OWNER, slot], priority order
    n: jax.Array  # (2,): orders resting per side
    last_trade_price: jax.Array  # (): ticks; 0 before the first trade (continuous or auction)
    volume: jax.Array  # (2, 2) counter: continuous traded quantity by aggressor side (BID = buyer-initiated)
    status_counts: jax.Array  # (NUM_STATUSES, 2) counter: messages per result status
    evictions: jax.Array  # (2,) counter: orders evicted by the EVICT full-side policy
    halted: jax.Array  # () bool: matching suspended (a HALT without its RESUME yet); always False unless halts
    auction_volume: jax.Array  # (2,) counter: quantity executed by RESUME uncrosses (each lot counted once)
    max_price: int = struct.field(pytree_node=False)
    max_qty: int = struct.field(pytree_node=False)
    max_fills: int = struct.field(pytree_node=False)
    full_policy: str = struct.field(pytree_node=False)
    halts: bool = struct.field(pytree_node=False)  # HALT and RESUME accepted (else INVALID_MESSAGE)

    @property
    def capacity(self) -> int:
        return self.orders.shape[-1]


def largest_max_qty(capacity: int) -> int:
    """The largest order quantity for which a side's prefix sums cannot overflow int32."""
    return INT32_MAX // (capacity + 1)


def empty(
    capacity: int,
    *,
    max_fills: int | None = None,
    max_price: int = MAX_PRICE,
    max_qty: int | None = None,
    full_policy: str = REJECT,
    batch_shape: Sequence[int] = (),
    halts: bool = False,
) -> Book:
    """An empty book. Every default is valid with every valid value of the other arguments.

    Args:
        capacity: orders per side (static), an integer in ``[1, 2**24]``.
        max_fills: fills listed per result (static), in ``[1, capacity]``; ``None``:
            ``min(8, capacity)``.
        max_price: the highest valid price, ticks, in ``[1, MAX_PRICE]``.
        max_qty: the largest order quantity, lots, in ``[1, largest_max_qty(capacity)]``;
            ``None``: the upper bound.
        full_policy: what a full side does with a new resting order, ``"reject"`` or ``"evict"``
            (see ``constants``).
        batch_shape: leading axes (integers >= 0) for a batch of independent books.
        halts: accept ``HALT``/``RESUME`` (trading halts and the uncross auction); off by default,
            since under ``vmap`` the auction's work would be paid on every message.

    Returns:
        A ``Book`` with ``orders`` int32 ``(*batch_shape, 2, 4, capacity)`` (every slot empty),
        ``n`` int32 ``(*batch_shape, 2)`` zeros, no trade yet and zero counters.

    Raises:
        ValueError: naming the argument, its value and the valid range; integer arguments must be
            integers (an integral float such as ``4.0`` is accepted), never narrowed.
    """
    check_int("capacity", capacity, 1, MAX_CAPACITY)
    capacity = int(capacity)
    max_fills = min(DEFAULT_MAX_FILLS, capacity) if max_fills is None else max_fills
    check_int("max_fills", max_fills, 1, capacity)
    check_int("max_price", max_price, 1, MAX_PRICE)
    limit = largest_max_qty(capacity)
    max_qty = limit if max_qty is None else max_qty
    check_int("max_qty", max_qty, 1, limit)
    check_choice("full_policy", full_policy, FULL_POLICIES)
    check_bool("halts", halts)
    if isinstance(batch_shape, (str, bytes)) or not isinstance(batch_shape, Sequence):
        raise ValueError(f"batch_shape = {batch_shape!r} is not valid: expected a tuple of integers >= 0")
    for axis, size in enumerate(batch_shape):
        check_int(f"batch_shape[{axis}]", size, 0, INT32_MAX)
    batch_shape = tuple(int(size) for size in batch_shape)
    slot = jnp.asarray(EMPTY_SLOT, jnp.int32)[:, None]
    return Book(
        orders=jnp.broadcast_to(slot, (*batch_shape, 2, len(EMPTY_SLOT), capacity)),
        n=jnp.zeros((*batch_shape, 2), jnp.int32),
        last_trade_price=jnp.zeros(batch_shape, jnp.int32),
        volume=counter.zeros((*batch_shape, 2)),
        status_counts=counter.zeros((*batch_shape, NUM_STATUSES)),
        evictions=counter.zeros(batch_shape),
        halted=jnp.zeros(batch_shape, bool),
        auction_volume=counter.zeros(batch_shape),
        max_price=int(max_price),
        max_qty=int(max_qty),
        max_fills=int(max_fills),
        full_policy=full_policy,
        halts=bool(halts),
    )

"""The book state: a pytree of fixed capacity, and ``empty`` to make one.

Each side is an array of ``capacity`` slots kept in priority order: best price first, and at one
price the earliest order first (bids from the highest price down, asks from the lowest up). The
first ``n[side]`` slots hold orders; the rest are empty (price 0, quantity 0, id and owner
``EMPTY_ID``). Keeping the sides sorted is what lets a sweep be a prefix sum rather than a loop.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxmarket.core.validation import check_choice, check_int
from jaxmarket.lob import counter
from jaxmarket.lob.constants import EMPTY_ID, FULL_POLICIES, INT32_MAX, MAX_PRICE, NUM_STATUSES, REJECT

# Field rows of `orders`, per side.
PRICE, QTY, ORDER_ID, OWNER = 0, 1, 2, 3
EMPTY_SLOT = (0, 0, EMPTY_ID, EMPTY_ID)  # field values of an empty slot, in row order

DEFAULT_MAX_FILLS = 8  # fills reported per message (a longer sweep is executed and summarised)


@struct.dataclass
class Book:
    """A limit order book. Array fields are int32; leading batch axes are allowed (``vmap``)."""

    orders: jax.Array  # (2, 4, capacity): [side, PRICE/QTY/ORDER_ID/OWNER, slot], priority order
    n: jax.Array  # (2,): orders resting per side
    last_trade_price: jax.Array  # (): ticks; 0 before the first trade
    volume: jax.Array  # (2, 2) counter: traded quantity by aggressor side (BID = buyer-initiated)
    status_counts: jax.Array  # (NUM_STATUSES, 2) counter: messages per result status
    evictions: jax.Array  # (2,) counter: orders evicted by the EVICT full-side policy
    max_price: int = struct.field(pytree_node=False, default=MAX_PRICE)
    max_qty: int = struct.field(pytree_node=False, default=1)
    max_fills: int = struct.field(pytree_node=False, default=DEFAULT_MAX_FILLS)
    full_policy: str = struct.field(pytree_node=False, default=REJECT)

    @property
    def capacity(self) -> int:
        return self.orders.shape[-1]


def largest_max_qty(capacity: int) -> int:
    """The largest order quantity for which a side's prefix sums cannot overflow int32."""
    return INT32_MAX // (capacity + 1)


def empty(
    capacity: int,
    *,
    max_fills: int = DEFAULT_MAX_FILLS,
    max_price: int = MAX_PRICE,
    max_qty: int | None = None,
    full_policy: str = REJECT,
    batch_shape: tuple[int, ...] = (),
) -> Book:
    """An empty book with ``capacity`` slots per side (static).

    ``max_fills``: fills listed per result. ``max_price``: highest valid price in ticks.
    ``max_qty``: largest order quantity (default and upper bound ``largest_max_qty(capacity)``).
    ``full_policy``: ``"reject"`` or ``"evict"`` (see ``constants``). ``batch_shape``: leading
    axes for a batch of independent books.
    """
    check_int("capacity", capacity, 1, 2**24)
    check_int("max_fills", max_fills, 1, capacity)
    check_int("max_price", max_price, 1, MAX_PRICE)
    limit = largest_max_qty(capacity)
    max_qty = limit if max_qty is None else max_qty
    check_int("max_qty", max_qty, 1, limit)
    check_choice("full_policy", full_policy, FULL_POLICIES)
    slot = jnp.asarray(EMPTY_SLOT, jnp.int32)[:, None]
    return Book(
        orders=jnp.broadcast_to(slot, (*batch_shape, 2, len(EMPTY_SLOT), capacity)),
        n=jnp.zeros((*batch_shape, 2), jnp.int32),
        last_trade_price=jnp.zeros(batch_shape, jnp.int32),
        volume=counter.zeros((*batch_shape, 2)),
        status_counts=counter.zeros((*batch_shape, NUM_STATUSES)),
        evictions=counter.zeros(batch_shape),
        max_price=int(max_price),
        max_qty=int(max_qty),
        max_fills=int(max_fills),
        full_policy=full_policy,
    )

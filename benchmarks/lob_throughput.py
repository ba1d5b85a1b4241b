"""Order-book messages/s for 1 to 65,536 books and capacities 64 to 1024, beside gymnax CartPole
steps/s (random actions) at the same batch size in the same process.

The message mix is a synthetic order flow around a fixed mid of 1,000 ticks (``order_flow``):
limit orders at a geometric distance from the mid (some cross), IOC and market orders, cancels,
modifies and replaces of recent orders (some already gone, so some are rejected as unknown).

    python -m benchmarks.lob_throughput [--batches 1 16 256 1024 4096 16384 65536]
                                        [--capacities 64 128 256 512 1024] [--messages 2000000]
                                        [--halts] [--no-cartpole]

``--halts`` makes the books with ``halts=True`` (the same flow, no HALT messages): what the
trading-halt option costs ordinary messages, since under ``vmap`` the uncross auction runs on
every message. ``--batches`` and ``--capacities`` accept no values to skip either sweep.
"""

from __future__ import annotations

import argparse

import gymnax
import jax
import jax.numpy as jnp

from benchmarks.common import best_time, report
from benchmarks.env_throughput import rollout_fn
from jaxmarket import lob

MID = 1_000  # ticks
MIX = {  # message kind -> share of the flow
    lob.LIMIT: 0.45, lob.IOC: 0.05, lob.MARKET: 0.05, lob.CANCEL: 0.30, lob.MODIFY: 0.08, lob.REPLACE: 0.07,
}
MEAN_DISTANCE = 4.0  # ticks from the mid, geometric; a negative distance crosses
CROSS_SHARE = 0.1  # share of limit orders placed through the mid
MAX_SIZE = 100  # lots, uniform in [1, MAX_SIZE]
TARGET_WINDOW = 64  # cancels, modifies and replaces pick one of the last this-many orders
DEFAULT_CAPACITY = 128


def order_flow(key: jax.Array, num_messages: int) -> lob.Message:
    """One book's synthetic message stream, fields of shape ``(num_messages,)``."""
    keys = jax.random.split(key, 7)
    t = num_messages
    kinds = jnp.asarray(list(MIX), jnp.int32)
    kind = jax.random.choice(keys[0], kinds, (t,), p=jnp.asarray(list(MIX.values())))
    side = jax.random.bernoulli(keys[1], 0.5, (t,)).astype(jnp.int32)
    distance = jax.random.geometric(keys[2], 1 / MEAN_DISTANCE, (t,)).astype(jnp.int32)
    distance = jnp.where(jax.random.bernoulli(keys[3], CROSS_SHARE, (t,)), -distance, distance)
    price = jnp.where(side == lob.BID, MID - distance, MID + distance)
    qty = jax.random.randint(keys[4], (t,), 1, MAX_SIZE + 1)
    ids = jnp.arange(t, dtype=jnp.int32)
    target = jnp.maximum(ids - jax.random.randint(keys[5], (t,), 1, TARGET_WINDOW + 1), 0)
    targets = (kind == lob.CANCEL) | (kind == lob.MODIFY) | (kind == lob.REPLACE)
    return lob.Message(kind=kind, side=side, price=price, qty=qty, order_id=jnp.where(targets, target, ids),
                       new_order_id=ids + t, owner=jax.random.randint(keys[6], (t,), 0, 16))


def book_fn(capacity: int, halts: bool = False):
    """Jitted: apply a ``(T, B)`` message array to ``B`` fresh books, reducing the results."""

    def run(msgs: lob.Message) -> jax.Array:
        books = lob.empty(capacity, batch_shape=msgs.kind.shape[1:], halts=halts)

        def body(books, m):
            books, res = jax.vmap(lob.apply)(books, m)
            return books, res.filled.sum() + res.num_fills.sum() + res.status.sum()

        books, out = jax.lax.scan(body, books, msgs)
        return out.sum() + books.n.sum()

    return jax.jit(run)


def messages_for(num_books: int, steps: int) -> lob.Message:
    streams = jax.vmap(order_flow, (0, None))(jax.random.split(jax.random.key(0), num_books), steps)
    return jax.tree.map(lambda x: jnp.asarray(x.T), streams)  # (T, B)


def measure(num_books: int, capacity: int, total: int, cartpole: bool, halts: bool = False) -> None:
    steps = max(20, total // num_books)
    msgs = messages_for(num_books, steps)
    seconds = best_time(book_fn(capacity, halts), msgs)
    rate = num_books * steps / seconds
    row = dict(what="lob messages/s, synthetic flow", num_books=num_books, capacity=capacity, messages_per_book=steps,
               halts=halts, msgs_per_s=round(rate))
    if cartpole:
        env, params = gymnax.make("CartPole-v1")
        cp = num_books * steps / best_time(rollout_fn(env, params, num_books, steps), jax.random.key(0))
        row.update(cartpole_steps_per_s=round(cp), ratio_to_cartpole=round(rate / cp, 4))
    report(**row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 16, 256, 1024, 4096, 16384, 65536])
    parser.add_argument("--capacities", type=int, nargs="*", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--capacity-books", type=int, default=1024, help="books for the capacity sweep")
    parser.add_argument("--messages", type=int, default=2_000_000, help="messages per timed call (at least 20 per book)")
    parser.add_argument("--halts", action="store_true", help="books with trading halts on (lob.empty(..., halts=True))")
    parser.add_argument("--no-cartpole", action="store_true", help="skip the CartPole comparison of the batch sweep")
    args = parser.parse_args()
    for num_books in args.batches:
        measure(num_books, DEFAULT_CAPACITY, args.messages, cartpole=not args.no_cartpole, halts=args.halts)
    for capacity in args.capacities:
        measure(args.capacity_books, capacity, args.messages, cartpole=False, halts=args.halts)


if __name__ == "__main__":
    main()

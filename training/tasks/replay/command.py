"""``jaxmarket replay``: a LOBSTER file through one book with trading halts on; prints the replay
speed, the status counts, what the halts held, each RESUME's uncross, the file's cross prints and
the top of the final book."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Literal

import jax
import numpy as np
import tyro

from jaxmarket import lob
from jaxmarket.core.validation import check_int
from jaxmarket.data import load_lobster
from training.tasks.registry import register

@dataclasses.dataclass(frozen=True)
class ReplayConfig:
    """Replay a LOBSTER message file through the order book (trading halts on) and report it."""

    messages: tyro.conf.Positional[str]
    """a LOBSTER message file (..._message_N.csv)"""
    tick: int = 100
    """LOBSTER price units per tick (100: one cent)"""
    capacity: int = 1024
    """orders per side"""
    full_policy: Literal["reject", "evict"] = lob.REJECT
    """what a full book does with a new order (lob.FULL_POLICIES)"""
    depth: int = 5
    """price levels to print"""


def print_halts(stream: Any, results: Any, counts: dict[str, int]) -> None:
    """What the halts held and dropped, and the uncross at each RESUME."""
    kind, status = np.asarray(stream.messages.kind), results.status
    held = status == lob.HELD
    rested = held & np.isin(kind, (lob.LIMIT, lob.REPLACE, lob.MODIFY))
    dropped = held & ~rested
    print(f"halts: {int(np.sum(kind == lob.HALT))} HALT (quoting included), {int(np.sum(kind == lob.RESUME))} RESUME; "
          f"held while halted: {int(rested.sum())} orders rested unmatched, {int(dropped.sum())} IOC/market orders "
          f"dropped ({int(np.asarray(stream.messages.qty)[dropped].sum()):,} lots)")
    resumes = np.flatnonzero(kind == lob.RESUME)
    print(f"uncross at RESUME: {len(resumes)} (auction volume {counts['auction_volume']:,})")
    for t in resumes:
        volume, price, orders = int(results.filled[t]), int(results.fill_price[t, 0]), int(results.num_fills[t])
        print(f"  t={stream.times[t]:.6f}  volume {volume:,}" + (f" at {price} ticks, {orders} orders" if volume else ""))


def print_book(stream: Any, book: Any, depth: int) -> None:
    """The file's cross prints and the top ``depth`` levels of the final book."""
    crosses = stream.crosses
    print(f"recorded cross prints (LOBSTER type 6, not applied): {len(crosses.times)}")
    for t, price, size, oid in zip(crosses.times, crosses.price, crosses.size, crosses.order_id):
        print(f"  t={t:.6f}  {int(size):,} at {int(price)} ticks (id {int(oid)})")
    levels = lob.l2(book, depth)
    print("level  bid qty  bid price  ask price  ask qty")
    for i in range(depth):
        print(f"{i + 1:5d}  {int(levels.bid_qty[i]):7d}  {int(levels.bid_price[i]):9d}  {int(levels.ask_price[i]):9d}  "
              f"{int(levels.ask_qty[i]):7d}")


def run(config: ReplayConfig) -> None:
    """Replay ``config.messages`` and print the report (module docstring).

    Raises:
        ValueError: a bad setting or a malformed file; OSError: the file cannot be read.
    """
    check_int("--depth", config.depth, 1)  # before the replay, not after it
    stream = load_lobster(config.messages, tick=config.tick)
    book = lob.empty(config.capacity, full_policy=config.full_policy, halts=True)
    replay = jax.jit(lob.apply_many).lower(book, stream.messages).compile()  # compile once, untimed
    start = time.perf_counter()
    book, results = jax.block_until_ready(replay(book, stream.messages))
    seconds = time.perf_counter() - start
    count = len(stream.times)
    print(f"{count:,} messages replayed in {seconds:.3f} s ({count / seconds:,.0f} messages/s, one book); "
          f"skipped rows by LOBSTER type: {stream.skipped}")
    counts = lob.counts(book)
    print("counts:", json.dumps(counts))
    print_halts(stream, jax.tree.map(np.asarray, results), counts)
    print_book(stream, book, config.depth)


register(("replay",), ReplayConfig, run, "replay a LOBSTER message file through the order book")

"""The LOBSTER loader: a generated LOBSTER-format day replays into the book it describes."""

from __future__ import annotations

import numpy as np
import pytest

from jaxmarket import lob
from jaxmarket.data import EVENT_MAPPING, load_lobster
from training.cli import main

TICK = 100  # LOBSTER price units per cent
ROWS = 3000


def generate_day(rng: np.random.Generator, rows: int) -> tuple[list[tuple], dict[int, list[list[int]]]]:
    """LOBSTER rows of a consistent trading day, and the visible book they leave.

    The generator keeps the true book itself (per side: [price, size, id] in priority order) and
    writes what LOBSTER would record: submissions, partial cancels, deletions, executions of the
    order at the front of a side, plus hidden executions and a halt that change nothing visible.
    """
    book: dict[int, list[list[int]]] = {1: [], -1: []}  # direction -> orders, best first
    out, next_id, time = [], 1, 34_200.0
    for _ in range(rows):
        time += rng.exponential(0.01)
        event = rng.choice([1, 2, 3, 4, 5, 7], p=[0.45, 0.12, 0.2, 0.18, 0.04, 0.01])
        direction = int(rng.choice([1, -1]))
        orders = book[direction]
        if event in (2, 3, 4) and not orders:
            event = 1
        if event == 1:
            best_other = book[-direction][0][0] if book[-direction] else (10_010 if direction == 1 else 9_990)
            # passive prices only: LOBSTER records a marketable order as executions, not a submission
            price = best_other - direction * int(rng.integers(1, 8))
            size = int(rng.integers(1, 500))
            better = [o for o in orders if (o[0] >= price if direction == 1 else o[0] <= price)]
            orders.insert(len(better), [price, size, next_id])
            out.append((time, 1, next_id, size, price * TICK, direction))
            next_id += 1
        elif event in (2, 3):
            order = orders[int(rng.integers(len(orders)))]
            size = order[1] if event == 3 else int(rng.integers(1, order[1] + 1))
            if event == 2 and size == order[1]:
                size = max(order[1] - 1, 1) if order[1] > 1 else size
                event = 3 if size == order[1] else 2
            out.append((time, event, order[2], size, order[0] * TICK, direction))
            order[1] -= size
            if order[1] == 0:
                orders.remove(order)
        elif event == 4:
            order = orders[0]
            size = int(rng.integers(1, order[1] + 1))
            out.append((time, 4, order[2], size, order[0] * TICK, direction))
            order[1] -= size
            if order[1] == 0:
                orders.pop(0)
        elif event == 5:
            out.append((time, 5, 0, int(rng.integers(1, 100)), 10_000 * TICK, direction))
        else:
            out.append((time, 7, 0, 0, -TICK, -1))
    return out, book


def write(path, rows) -> None:
    with open(path, "w") as f:
        for time, event, order_id, size, price, direction in rows:
            f.write(f"{time:.9f},{event},{order_id},{size},{price},{direction}\n")


def test_generated_day_replays_exactly(tmp_path):
    """Replaying the loaded stream rebuilds the generator's book order by order."""
    rows, truth = generate_day(np.random.default_rng(0), ROWS)
    path = tmp_path / "AAPL_2012-06-21_34200000_57600000_message_10.csv"
    write(path, rows)
    stream = load_lobster(path, tick=TICK)
    kinds = np.array([r[1] for r in rows])
    assert stream.skipped == {5: int(np.sum(kinds == 5)), 6: 0, 7: int(np.sum(kinds == 7))}
    assert len(stream.times) == np.isin(kinds, (1, 2, 3, 4)).sum()

    book = lob.empty(capacity=512)
    book, results = lob.apply_many(book, stream.messages)
    assert np.all(np.asarray(results.status) == lob.OK)
    executed = np.asarray(results.filled)[stream.event_types == 4]
    sizes = np.array([r[3] for r in rows if r[1] == 4])
    np.testing.assert_array_equal(executed, sizes)  # every execution fills exactly its size
    for side, direction in ((lob.BID, 1), (lob.ASK, -1)):
        view = lob.l3(book, side)
        n = int(view.n)
        got = np.stack([view.price[:n], view.qty[:n], view.order_id[:n]], axis=1).tolist()
        assert got == truth[direction]


def test_mapping_row_by_row(tmp_path):
    """Each LOBSTER event type becomes the documented message."""
    rows = [
        (34200.1, 1, 11, 100, 1_000_500, 1),  # buy 100 @ $100.05
        (34200.2, 2, 11, 30, 1_000_500, 1),  # cancel 30
        (34200.3, 3, 11, 70, 1_000_500, 1),  # delete
        (34200.4, 4, 12, 5, 1_000_600, -1),  # sell order 12 executed: a buy IOC at its price
        (34200.5, 5, 0, 9, 1_000_600, 1),
        (34200.6, 6, 0, 9, 1_000_600, 1),
        (34200.7, 7, 0, 0, -1, -1),
    ]
    path = tmp_path / "m.csv"
    write(path, rows)
    s = load_lobster(path, tick=TICK, owner=3)
    m = s.messages
    assert m.kind.tolist() == [lob.LIMIT, lob.CANCEL, lob.CANCEL, lob.IOC]
    assert m.side.tolist()[0] == lob.BID and m.side.tolist()[3] == lob.BID
    assert m.price.tolist() == [10_005, 0, 0, 10_006]
    assert m.qty.tolist() == [100, 30, lob.CANCEL_ALL, 5]
    assert m.order_id.tolist() == [11, 11, 11, lob.EMPTY_ID]
    assert m.owner.tolist() == [3, 3, 3, 3]
    assert s.times.tolist() == [34200.1, 34200.2, 34200.3, 34200.4]
    assert s.skipped == {5: 1, 6: 1, 7: 1}
    assert set(EVENT_MAPPING) == set(range(1, 8))


@pytest.mark.parametrize(
    "row, message",
    [
        ("34200.1,8,1,10,1000000,1", "type"),
        ("34200.1,1,1,10,1000000,0", "direction"),
        ("34200.1,1,1,0,1000000,1", "size"),
        ("34200.1,1,1,10,1000050,1", "price"),
        ("34200.1,1,-4,10,1000000,1", "order id"),
    ],
)
def test_malformed_rows_are_named(tmp_path, row, message):
    """A bad value raises ValueError naming its row and column."""
    path = tmp_path / "bad.csv"
    path.write_text("34200.0,1,1,10,1000000,1\n" + row + "\n")
    with pytest.raises(ValueError, match=f"row 2: {message}"):
        load_lobster(path, tick=TICK)


def test_wrong_column_count(tmp_path):
    """A file with the wrong number of columns is refused, saying how many it has."""
    path = tmp_path / "bad.csv"
    path.write_text("34200.0,1,1,10,1000000\n")
    with pytest.raises(ValueError, match="5 columns"):
        load_lobster(path)


def test_replay_command(tmp_path, capsys):
    """`jaxmarket replay FILE` replays a LOBSTER file and prints the counts and the top levels."""
    rows, truth = generate_day(np.random.default_rng(1), 500)
    path = tmp_path / "day.csv"
    write(path, rows)
    main(["replay", str(path), "--capacity", "256", "--depth", "3"])
    out = capsys.readouterr().out
    replayed = sum(r[1] in (1, 2, 3, 4) for r in rows)
    assert f"{replayed:,} messages replayed" in out and '"unknown_id": 0' in out
    best_bid = truth[1][0][0]
    level_one = next(line for line in out.splitlines() if line.strip().startswith("1 "))
    assert int(level_one.split()[2]) == best_bid


def test_replay_missing_file_exits_with_a_message(tmp_path):
    """A missing file ends the command with a message naming it, not a traceback."""
    with pytest.raises(SystemExit) as error:
        main(["replay", str(tmp_path / "absent.csv")])
    assert "absent.csv" in str(error.value)

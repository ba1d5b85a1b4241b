"""The LOBSTER loader: a generated LOBSTER-format day replays into the book it describes; halts
(type 7) hold matching until trading resumes and the book uncrosses; cross prints (type 6) are
recorded, not applied."""

from __future__ import annotations

import jax
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
    order at the front of a side, plus hidden executions and halts that change nothing visible: a
    halt (price -1), then quoting (0), then the resume (1), with no execution and only passive
    submissions in between, so the resume's uncross trades nothing.
    """
    book: dict[int, list[list[int]]] = {1: [], -1: []}  # direction -> orders, best first
    out, next_id, time = [], 1, 34_200.0
    halt_state = 1  # the price column of the last type 7 row: -1 halted, 0 quoting, 1 trading
    for _ in range(rows):
        time += rng.exponential(0.01)
        event = rng.choice([1, 2, 3, 4, 5, 7], p=[0.44, 0.12, 0.2, 0.18, 0.04, 0.02])
        direction = int(rng.choice([1, -1]))
        orders = book[direction]
        if event in (4, 5) and halt_state != 1:
            event = 3  # no trading while halted: a deletion instead
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
            halt_state = {1: -1, -1: 0, 0: 1}[halt_state]
            out.append((time, 7, 0, 0, halt_state, -1))
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
    assert stream.skipped == {5: int(np.sum(kinds == 5)), 6: 0}
    assert len(stream.times) == np.isin(kinds, (1, 2, 3, 4, 7)).sum()
    assert np.sum(kinds == 7) >= 30 and len(stream.crosses.times) == 0

    book = lob.empty(capacity=512, halts=True)
    book, results = lob.apply_many(book, stream.messages)
    assert np.all(np.asarray(results.status) == lob.OK)
    assert lob.counts(book)["auction_volume"] == 0
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
        (34200.6, 7, 0, 0, -1, -1),  # halt
        (34200.7, 7, 0, 0, 0, -1),  # quoting: still halted
        (34200.8, 6, -3, 900, 1_000_700, 1),  # the halt cross: recorded, not replayed
        (34200.8, 7, 0, 0, 1, -1),  # trading resumes
    ]
    path = tmp_path / "m.csv"
    write(path, rows)
    s = load_lobster(path, tick=TICK, owner=3)
    m = s.messages
    assert m.kind.tolist() == [lob.LIMIT, lob.CANCEL, lob.CANCEL, lob.IOC, lob.HALT, lob.HALT, lob.RESUME]
    assert m.side.tolist() == [lob.BID, 0, 0, lob.BID, 0, 0, 0]
    assert m.price.tolist() == [10_005, 0, 0, 10_006, 0, 0, 0]
    assert m.qty.tolist() == [100, 30, lob.CANCEL_ALL, 5, 0, 0, 0]
    assert m.order_id.tolist() == [11, 11, 11, lob.EMPTY_ID, 0, 0, 0]
    assert m.owner.tolist() == [3, 3, 3, 3, 0, 0, 0]
    assert s.times.tolist() == [34200.1, 34200.2, 34200.3, 34200.4, 34200.6, 34200.7, 34200.8]
    assert s.event_types.tolist() == [1, 2, 3, 4, 7, 7, 7]
    assert s.skipped == {5: 1, 6: 1}
    assert s.crosses.times.tolist() == [34200.8] and s.crosses.price.tolist() == [10_007]
    assert s.crosses.size.tolist() == [900] and s.crosses.order_id.tolist() == [-3]
    assert set(EVENT_MAPPING) == set(range(1, 8))


@pytest.mark.parametrize(
    "row, message",
    [
        ("34200.1,8,1,10,1000000,1", "type"),
        ("34200.1,1,1,10,1000000,0", "direction"),
        ("34200.1,1,1,0,1000000,1", "size"),
        ("34200.1,1,1,10,1000050,1", "price"),
        ("34200.1,1,-4,10,1000000,1", "order id"),  # negative ids only on crosses (type 6)
        ("34200.1,3,-1,10,1000000,1", "order id"),
        ("34200.1,1,4294967301,10,1000000,1", "order id = 4294967301 is not valid"),  # 2**32 + 5, shown exactly
        ("34200.1,1,2147483648,10,1000000,1", "order id = 2147483648 is not valid"),  # 2**31, not "2.14748e+09"
        ("nan,1,1,10,1000000,1", "time"),
        ("34199.9,1,1,10,1000000,1", "time = 34199.9 is not valid: expected not earlier than the row before"),
        ("34200.1,6,-2147483649,10,1000000,1", "order id"),
        ("34200.1,1,1,4294967306,1000000,1", "size"),  # 2**32 + 10
        ("34200.1,6,-1,-5,1000000,1", "size"),
        ("34200.1,1,1,10,429496730000,1", "price"),  # 2**32 ticks
        ("34200.1,6,-1,10,1000050,1", "price"),  # a cross price off the tick grid
        ("34200.1,7,0,0,-100,-1", "price"),  # type 7: -1, 0 or 1 only
        ("34200.1,7,0,0,2,-1", "price"),
    ],
)
def test_malformed_rows_are_named(tmp_path, row, message):
    """A bad value raises ValueError naming its row and column."""
    path = tmp_path / "bad.csv"
    path.write_text("34200.0,1,1,10,1000000,1\n" + row + "\n")
    with pytest.raises(ValueError, match=f"row 2: {message}"):
        load_lobster(path, tick=TICK)


@pytest.mark.parametrize("text, message", [
    ("", "no rows"),
    ("Time,Type,OrderID,Size,Price,Direction\n34200.0,1,1,10,1000000,1\n", "not a LOBSTER message file"),
])
def test_empty_files_and_header_lines_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_lobster(path, tick=TICK)


def test_wrong_column_count(tmp_path):
    """A file with the wrong number of columns is refused, saying how many it has."""
    path = tmp_path / "bad.csv"
    path.write_text("34200.0,1,1,10,1000000\n")
    with pytest.raises(ValueError, match="5 columns"):
        load_lobster(path)


def test_loader_arguments_are_checked(tmp_path):
    """tick and owner are checked before reading: an int64 owner of 2**32 + 1 is refused, not wrapped."""
    path = tmp_path / "m.csv"
    write(path, [(34200.1, 1, 11, 100, 1_000_500, 1)])
    for kwargs, field in [(dict(owner=np.int64(2**32 + 1)), "owner"), (dict(owner=2**31), "owner"),
                          (dict(owner=-(2**31) - 1), "owner"), (dict(owner=1.5), "owner"), (dict(tick=0), "tick"),
                          (dict(tick=2.5), "tick")]:
        with pytest.raises(ValueError, match=field):
            load_lobster(path, **kwargs)
    assert load_lobster(path, owner=np.int64(2**31 - 1)).messages.owner.tolist() == [2**31 - 1]


# The issue's file: a halt, then a crossing buy and sell (type 1 rows), then trading resumes.
ISSUE_ROWS = [
    (36000.0, 7, 0, 0, -1, -1),  # halt
    (36000.1, 1, 1, 110, 1_000_200, 1),  # buy 110 at $100.02
    (36000.2, 1, 2, 150, 999_900, -1),  # sell 150 at $99.99: crosses the buy
    (36100.0, 7, 0, 0, 1, -1),  # trading resumes
]


def test_halt_holds_matching_until_trading_resumes(tmp_path):
    """The issue's file: no fill during the halt (the sell rests, HELD); at the resume the book
    uncrosses in one auction. By hand: demand 110 at every price up to 10002, supply 150 from
    9999, so every price in [9999, 10002] trades 110 with imbalance 40; no trade before, so the
    lowest, 9999, clears. The buy fills whole, the sell keeps 40."""
    path = tmp_path / "halt.csv"
    write(path, ISSUE_ROWS)
    stream = load_lobster(path, tick=TICK)
    assert stream.messages.kind.tolist() == [lob.HALT, lob.LIMIT, lob.LIMIT, lob.RESUME]
    book, results = jax.jit(lob.apply_many)(lob.empty(16, halts=True), stream.messages)
    assert np.asarray(results.status).tolist() == [lob.OK, lob.OK, lob.HELD, lob.OK]
    assert np.asarray(results.filled).tolist() == [0, 0, 0, 110]  # nothing until trading resumes
    assert np.asarray(results.num_fills)[3] == 2
    assert np.asarray(results.fill_qty)[3, :2].tolist() == [110, 110]
    assert np.asarray(results.fill_price)[3, :2].tolist() == [9_999, 9_999]
    assert np.asarray(results.fill_passive_id)[3, :2].tolist() == [1, 2]
    counts = lob.counts(book)
    assert (counts["held"], counts["auction_volume"], counts["buy_volume"], counts["sell_volume"]) == (1, 110, 0, 0)
    assert int(lob.last_trade_price(book)) == 9_999 and not bool(book.halted)
    assert lob.l3(book, lob.ASK).qty[:1].tolist() == [40] and int(book.n[lob.BID]) == 0


def test_halt_with_quoting_and_cross_print(tmp_path):
    """A halt after a trade, with a quoting period and LOBSTER's halt-cross print. By hand: the
    trade at 10000 leaves ask 1 with 60. In the halt, buy 150 at 10002 and sell 110 at 9999 rest
    (both HELD); an IOC sell that would match is dropped (HELD). At the resume: demand 150 up to
    10002; supply 110 at 9999 and 170 from 10000; volume 110 at 9999, 150 on [10000, 10002]
    (imbalance 20 throughout); the last trade, 10000, is in it and clears. The buy fills whole,
    the sell 110 whole, ask 1 keeps 20. The cross print (150 at 10000, id -3) is recorded only."""
    rows = [
        (34200.0, 1, 1, 100, 1_000_000, -1),  # sell 100 at $100.00
        (34200.1, 4, 1, 40, 1_000_000, -1),  # 40 of it executed: last trade 10000
        (34300.0, 7, 0, 0, -1, -1),
        (34300.1, 1, 2, 150, 1_000_200, 1),
        (34300.2, 1, 3, 110, 999_900, -1),
        (34300.3, 3, 2, 150, 1_000_200, 1),  # the buy is deleted ...
        (34300.4, 1, 4, 150, 1_000_200, 1),  # ... and sent again as id 4
        (34350.0, 7, 0, 0, 0, -1),  # quoting
        (34400.0, 6, -3, 150, 1_000_000, -1),
        (34400.0, 7, 0, 0, 1, -1),
    ]
    path = tmp_path / "cross.csv"
    write(path, rows)
    stream = load_lobster(path, tick=TICK)
    halted_ioc = lob.limit(lob.ASK, 9_990, 5, lob.EMPTY_ID, ioc=True)
    msgs = lob.concatenate([jax.tree.map(lambda x: x[:7], stream.messages), halted_ioc,  # an IOC during the halt
                            jax.tree.map(lambda x: x[7:], stream.messages)])
    book, results = jax.jit(lob.apply_many)(lob.empty(16, halts=True), msgs)
    status, filled = np.asarray(results.status).tolist(), np.asarray(results.filled).tolist()
    assert status == [lob.OK, lob.OK, lob.OK, lob.HELD, lob.HELD, lob.OK, lob.HELD, lob.HELD, lob.OK, lob.OK]
    assert filled == [0, 40, 0, 0, 0, 0, 0, 0, 0, 150]
    assert np.asarray(results.remaining)[7] == 5  # the held IOC is dropped whole
    assert np.asarray(results.fill_price)[9, :3].tolist() == [10_000] * 3
    assert np.asarray(results.fill_qty)[9, :3].tolist() == [150, 110, 40]
    assert np.asarray(results.fill_passive_id)[9, :3].tolist() == [4, 3, 1]
    assert lob.l3(book, lob.ASK).qty[:1].tolist() == [20] and int(book.n[lob.BID]) == 0
    counts = lob.counts(book)
    assert (counts["held"], counts["auction_volume"], counts["buy_volume"]) == (4, 150, 40)
    assert stream.crosses.times.tolist() == [34400.0] and stream.crosses.price.tolist() == [10_000]
    assert stream.crosses.size.tolist() == [150] and stream.crosses.order_id.tolist() == [-3]


def test_replay_command(tmp_path, capsys):
    """`jaxmarket replay FILE` replays a LOBSTER file and prints the counts and the top levels."""
    rows, truth = generate_day(np.random.default_rng(1), 500)
    path = tmp_path / "day.csv"
    write(path, rows)
    main(["replay", str(path), "--capacity", "256", "--depth", "3"])
    out = capsys.readouterr().out
    replayed = sum(r[1] in (1, 2, 3, 4, 7) for r in rows)
    assert f"{replayed:,} messages replayed" in out and '"unknown_id": 0' in out
    best_bid = truth[1][0][0]
    level_one = next(line for line in out.splitlines() if line.strip().startswith("1 "))
    assert int(level_one.split()[2]) == best_bid


def test_replay_prints_halts_uncrosses_and_cross_prints(tmp_path, capsys):
    """On the issue's file plus a cross print, the replay says what was held, the uncross volume
    and price, and the recorded cross print."""
    path = tmp_path / "halt.csv"
    write(path, [*ISSUE_ROWS[:3], (36100.0, 6, -3, 110, 999_900, 1), ISSUE_ROWS[3]])
    main(["replay", str(path), "--capacity", "16", "--depth", "1"])
    out = capsys.readouterr().out
    assert '"held": 1' in out and '"auction_volume": 110' in out
    assert "1 HALT (quoting included), 1 RESUME" in out
    assert "held while halted: 1 orders rested unmatched, 0 IOC/market orders dropped (0 lots)" in out
    assert "t=36100.000000  volume 110 at 9999 ticks, 2 orders" in out
    assert "t=36100.000000  110 at 9999 ticks (id -3)" in out


def test_replay_small_capacity_with_defaults(tmp_path, capsys):
    """`--capacity 4` works with every other setting at its default (max_fills becomes 4, not 8)."""
    path = tmp_path / "halt.csv"
    write(path, ISSUE_ROWS)
    main(["replay", str(path), "--capacity", "4", "--depth", "1"])
    out = capsys.readouterr().out
    assert "4 messages replayed" in out and "t=36100.000000  volume 110 at 9999 ticks, 2 orders" in out
    level_one = next(line for line in out.splitlines() if line.strip().startswith("1 "))
    assert level_one.split() == ["1", "0", "0", "9999", "40"]


def test_replay_missing_file_exits_with_a_message(tmp_path):
    """A missing file ends the command with a message naming it, not a traceback."""
    with pytest.raises(SystemExit) as error:
        main(["replay", str(tmp_path / "absent.csv")])
    assert "absent.csv" in str(error.value)

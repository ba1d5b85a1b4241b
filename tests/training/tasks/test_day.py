"""One simulated day (``training.tasks.day.simulate``) and ``jaxmarket day``, on small markets and short days."""

import numpy as np
import pytest

from jaxmarket.background import MarketParams
from training.tasks.day import simulate as md
from training.cli import main

SMALL = {"n_noise": 100, "n_value": 10, "n_momentum": 2, "max_arrival_slots": 32, "max_noise_per_advance": 8}
MINUTES = 20
SHORT_DAY = {"close_s": MarketParams().open_s + MINUTES * 60.0}


def check_market_series(series, rows):
    for name in md.MARKET_COLUMNS:
        assert series[name].shape == (rows,), name
    np.testing.assert_array_equal(np.diff(series["time"]), 60.0)
    both = np.isfinite(series["best_bid"]) & np.isfinite(series["best_ask"])
    assert both.sum() > rows // 2, "the book should be two-sided most of the time"
    np.testing.assert_allclose(series["mid"][both], (series["best_bid"][both] + series["best_ask"][both]) / 2)
    np.testing.assert_allclose(series["spread"][both], series["best_ask"][both] - series["best_bid"][both])
    assert np.all(series["spread"][both] >= 1)
    assert np.all(series["bid_depth"] >= 0) and np.all(series["ask_depth"] >= 0)
    assert np.all(np.abs(series["mid"] - series["fundamental"]) < 1000)  # within $10 of the fundamental
    assert int(series["book_events"]) > 0


def test_market_day_series():
    series = md.simulate_market(seed=0, minutes=MINUTES, **SMALL, **SHORT_DAY)
    check_market_series(series, MINUTES)
    assert series["time"][0] == series["open_s"] + 60 and series["time"][-1] == SHORT_DAY["close_s"]
    assert not any(name in series for name in md.AGENT_COLUMNS)
    assert md.simulate_market(seed=0, minutes=None, **SMALL, **SHORT_DAY)["time"].shape == (MINUTES,)
    with pytest.raises(ValueError, match="unknown market field"):
        md.simulate_market(minutes=1, n_nosie=3)


def test_execution_day_fills_add_up():
    series = md.simulate_day("jaxmarket/Execution-v0", seed=1, **SMALL)  # TWAP
    length = int(series["length"])
    assert 1 <= length <= 10  # the default 10-step window; TWAP can finish early
    check_market_series(series, length)
    np.testing.assert_array_equal(series["act_time"][1:], series["time"][:-1])
    np.testing.assert_array_equal(series["time"] - series["act_time"], 60.0)
    # The recorded fills add up to the final state's done_qty (a buy: every fill positive).
    assert np.all(series["fills"] >= 0)
    assert series["fills"].sum() == int(series["done_qty"]) > 0
    np.testing.assert_allclose(series["reward"].sum(), series["return"], rtol=1e-6)
    traded = series["fills"] != 0
    assert np.all(np.isfinite(series["fill_price"][traded])) and np.all(np.isnan(series["fill_price"][~traded]))
    assert np.all(np.abs(series["fill_price"][traded] - series["mid"][traded]) < 1000)


def test_cli_day_writes_a_png(tmp_path, capsys):
    out = tmp_path / "x.png"
    main(["day", "execution", "--policy", "passive", "--out", str(out),
          *[f"--market.{k.replace('_', '-')}={v}" for k, v in SMALL.items()]])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    text = capsys.readouterr().out
    for phrase in ("Execution-v0 under passive", "min simulated", "mean |mid - fundamental|", "median spread",
                   "book events", "return", str(out)):
        assert phrase in text


@pytest.mark.parametrize("argv, word", [(["day", "bogus"], "bogus"), (["day", "execution", "--policy", "hodl"], "hodl")])
def test_cli_day_rejects_a_bad_choice(argv, word, capsys):
    with pytest.raises(SystemExit) as error:
        main(argv)
    assert error.value.code == 2  # a usage error
    assert word in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["day", "execution", "--policy", "random"], ["day", "market", "--policy", "twap"]])
def test_cli_day_rejects_a_policy_of_another_env(argv):
    with pytest.raises(SystemExit) as error:  # each env's subcommand lists its own policies
        main(argv)
    assert error.value.code == 2

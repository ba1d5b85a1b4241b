"""The ``jaxmarket`` command line, end to end on small budgets."""

import json
import re
from pathlib import Path

import pytest

from training.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_envs_lists_market_making(capsys):
    main(["envs"])
    assert "jaxmarket/MarketMaking-AS-v0" in capsys.readouterr().out


def test_demo_trains_compares_and_plots(tmp_path, capsys):
    main(["demo", "--total-timesteps", "200000", "--episodes", "200", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    for name in ("PPO (learned)", "Cartea–Jaimungal (optimal)", "Avellaneda–Stoikov inventory", "h(0, 0) = 68.256"):
        assert name in out
    assert (tmp_path / "quotes.png").stat().st_size > 10_000
    rows = json.loads((tmp_path / "comparison.json").read_text())["rows"]
    optimal = next(r for r in rows if r["policy"].startswith("Cartea"))
    assert abs(optimal["exact"] / 68.256 - 1) < 0.005
    main(["evaluate", "--checkpoint", str(tmp_path / "final"), "--episodes", "100"])
    assert "PPO (checkpoint)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, text", [
    (["evaluate", "--set", "sigma=-1", "--episodes", "10"], "sigma = -1"),
    (["evaluate", "--set", "sigma", "--episodes", "10"], "FIELD=VALUE"),
    (["evaluate", "--episodes", "0"], "num_episodes = 0"),
    (["train", "market-making", "--num-envs", "102", "--no-progress"], "num_minibatches = 4 does not divide num_envs = 102"),
])
def test_bad_input_exits_with_a_message(argv, text):
    with pytest.raises(SystemExit) as error:
        main(argv)
    assert text in str(error.value)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh)\n(.*?)\n```", readme, re.S)
    assert len(commands) >= 2, "the README opens with the demo command and the test command"
    test_command = commands[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()

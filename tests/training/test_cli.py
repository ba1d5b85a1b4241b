"""The ``jaxmarket`` command line, end to end on small budgets."""

import json
import re
from pathlib import Path

import pytest

from training.cli import main

ROOT = Path(__file__).resolve().parents[2]


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


def test_train_otc_checkpoints_and_evaluate_sweeps_types(tmp_path, capsys):
    small = ["--num-envs", "16", "--total-rounds", "2048", "--episodes", "4", "--set", "n_rounds=4", "--no-progress"]
    main(["train", "otc", "--out", str(tmp_path), "--lt", "heuristic", *small])
    out = capsys.readouterr().out
    assert "training lp on jaxmarket/OTC-v0" in out and "| heuristic LPs |" in out
    assert (tmp_path / "final" / "metadata.json").is_file() and (tmp_path / "evaluation.md").is_file()
    header = (tmp_path / "log.csv").read_text().splitlines()[0]
    assert header.startswith("update,agent_steps,wall_s,steps_per_s,lp_episode_return") and "lt_" not in header
    main(["evaluate", "--checkpoint", str(tmp_path / "final"), "--grid", "lp.gamma=0,2", "--grid", "lp.omega=1",
          "--agents", "1", "--episodes", "4", "--out", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| lp.gamma | lp.omega | LPs | lp_return |")
    rows = [line.split(" | ")[:3] for line in lines[2:] if line.startswith("| ")]
    assert rows == [["| 0", "1", "learned"], ["| 0", "1", "heuristic LPs"], ["| 2", "1", "learned"],
                    ["| 2", "1", "heuristic LPs"]]  # every grid point, learned and heuristic LPs
    with pytest.raises(SystemExit, match=r"grid field of lp = 'beta'"):
        main(["evaluate", "--checkpoint", str(tmp_path / "final"), "--grid", "lp.beta=1"])
    with pytest.raises(SystemExit, match="FAMILY.FIELD=V1,V2"):
        main(["evaluate", "--checkpoint", str(tmp_path / "final"), "--grid", "gamma=1"])


@pytest.mark.parametrize("argv, text", [
    (["train", "otc", "--lp", "heuristic", "--lt", "heuristic", "--no-progress"], "no learned family"),
    (["train", "otc", "--total-timesteps", "100", "--no-progress"], "--total-rounds"),
    (["train", "otc", "--set", "p_connect=2", "--no-progress"], "p_connect = 2"),
])
def test_train_otc_bad_input_exits_with_a_message(argv, text):
    with pytest.raises(SystemExit) as error:
        main(argv)
    assert text in str(error.value)

"""The ``jaxmarket`` command line, end to end on small budgets."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

from training.cli import main, parse
from training.tasks.registry import commands

ROOT = Path(__file__).resolve().parents[2]


def test_envs_lists_market_making(capsys):
    main(["envs"])
    assert "jaxmarket/MarketMaking-AS-v0" in capsys.readouterr().out


def test_demo_trains_compares_and_plots(tmp_path, capsys):
    main(["demo", "--ppo.total-timesteps", "200000", "--episodes", "200", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    for name in ("PPO (learned)", "Cartea–Jaimungal (optimal)", "Avellaneda–Stoikov inventory", "h(0, 0) = 68.256"):
        assert name in out
    assert (tmp_path / "quotes.png").stat().st_size > 10_000
    rows = json.loads((tmp_path / "comparison.json").read_text())["rows"]
    optimal = next(r for r in rows if r["policy"].startswith("Cartea"))
    assert abs(optimal["exact"] / 68.256 - 1) < 0.005
    main(["evaluate", "--checkpoint", str(tmp_path / "final"), "--episodes", "100"])
    assert "PPO (checkpoint)" in capsys.readouterr().out
    for extra, text in ((["--env.sigma", "3"], "a checkpoint brings its own"),
                        (["--agents", "2"], "--checkpoint is not an OTC checkpoint")):
        with pytest.raises(SystemExit, match=text):  # refused, not ignored
            main(["evaluate", "--checkpoint", str(tmp_path / "final"), "--episodes", "100", *extra])


@pytest.mark.parametrize("argv, text", [
    (["evaluate", "--env.sigma", "-1", "--episodes", "10"], "sigma = -1"),
    (["evaluate", "--episodes", "0"], "num_episodes = 0"),
    (["evaluate", "--grid", "lp.gamma=0,1"], "--grid and --agents sweep agent types of an OTC checkpoint"),
    (["evaluate", "--agents", "2"], "no --checkpoint was given"),
    (["train", "market-making", "--ppo.num-envs", "102", "--no-progress"],
     "num_minibatches = 4 does not divide num_envs = 102"),
])
def test_bad_input_exits_with_a_message(argv, text):
    with pytest.raises(SystemExit) as error:
        main(argv)
    assert str(error.value).startswith("jaxmarket: ") and "\n" not in str(error.value)
    assert text in str(error.value)


def test_a_bad_seed_is_refused_before_training_starts(tmp_path, capsys):
    with pytest.raises(SystemExit, match="--seed = -1 is out of range"):
        main(["train", "market-making", "--seed", "-1", "--out", str(tmp_path), "--no-progress"])
    assert capsys.readouterr().out == ""  # not even the training headline
    assert not (tmp_path / "log.csv").exists()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh)\n(.*?)\n```", readme, re.S)
    assert len(commands) >= 2, "the README opens with the demo command and the test command"
    test_command = commands[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_train_otc_checkpoints_and_evaluate_sweeps_types(tmp_path, capsys):
    small = ["--ppo.num-envs", "16", "--ppo.total-rounds", "2048", "--episodes", "4", "--env.n-rounds", "4",
             "--no-progress"]
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
    (["train", "otc", "--env.p-connect", "2", "--no-progress"], "p_connect = 2"),
    (["train", "otc", "--ppo.learn", "lp", "--no-progress"], "follow --lp and --lt"),
])
def test_train_otc_bad_input_exits_with_a_message(argv, text):
    with pytest.raises(SystemExit) as error:
        main(argv)
    assert text in str(error.value)


def test_a_flag_reaches_its_field():
    config = parse(["train", "market-making", "--ppo.learning-rate", "0.01", "--env.sigma", "3.0"])
    assert config.ppo.learning_rate == 0.01 and config.env.sigma == 3.0
    assert (config.env.phi, config.env.alpha) == (0.01, 0.001)  # the demo's criterion stays the default
    assert config.ppo.num_envs == 512  # the rest of the task's preset


def test_the_presets_are_the_defaults():
    from training.tasks.execution import comparison as ex
    from training.tasks.market_making import comparison as mm
    from training.tasks.otc import train as otc_train

    assert parse(["demo"]).ppo == mm.PPO_CONFIG and parse(["train", "execution"]).ppo == ex.PPO_CONFIG
    otc = parse(["train", "otc"])
    assert otc.ppo == otc_train.PPO_CONFIG and (otc.preset, otc.lp, otc.lt) == ("market", "learn", "learn")
    assert parse(["day", "execution", "--env.parent-size", "500", "--market.n-noise", "50"]).env.parent_size == 500
    assert parse(["experiment", "clients", "--schedule-checkpoint", "x"]).schedule_checkpoint == "x"


@pytest.mark.parametrize("argv", [
    ["train", "execution", "--env.sigma", "2"],  # a market-making field
    ["train", "otc", "--ppo.total-timesteps", "100"],  # single-agent PPO's budget; OTC counts rounds
    ["train", "market-making", "--episodes", "10"],  # the demo's, not train's
    ["evaluate", "--env.sigma", "abc"],  # not a number
])
def test_a_flag_of_another_task_is_a_usage_error(argv):
    with pytest.raises(SystemExit) as error:
        parse(argv)
    assert error.value.code == 2


POSITIONAL_EXAMPLES = {"messages": "m.csv", "config": "toy", "run_dir": "runs/mm", "dataset_id": "jaxmarket/x-v0"}  # a value for each command's positional argument


def _flags(default, prefix=""):
    """(flag, default) of every field of a config dataclass instance, nested dataclasses included."""
    import dataclasses

    for f in dataclasses.fields(default):
        value = getattr(default, f.name)
        name = prefix + f.name.replace("_", "-")
        if dataclasses.is_dataclass(value):
            yield from _flags(value, name + ".")
        elif isinstance(value, dict):  # a type distribution: one group of flags per entry
            yield name + ".", None
        else:
            yield "--" + name, value


def _shown(value):
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value) if all(not isinstance(v, tuple) for v in value) else None
    return str(value)


@pytest.mark.parametrize("path", sorted(commands()), ids=" ".join)
def test_help_lists_every_field_with_its_default(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")  # one column of flag groups
    command = commands()[path]
    with pytest.raises(SystemExit) as error:
        parse([*path, "--help"])
    assert error.value.code == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    if "messages" in command.config.__dataclass_fields__:  # replay's positional file
        assert "LOBSTER message file" in text
    if "config" in command.config.__dataclass_fields__:  # calibrate's positional config
        assert "CONFIG" in text and "TOML file" in text
    if "run_dir" in command.config.__dataclass_fields__:  # plot's positional run directory
        assert "RUN_DIR" in text and "log.csv" in text
    dataset_id = command.config.__dataclass_fields__.get("dataset_id")
    positional_id = dataset_id is not None and dataset_id.default is dataclasses.MISSING
    if positional_id:  # info's and train-offline's positional dataset id
        assert "DATASET_ID" in text and "the dataset id" in text
    fields = command.config.__dataclass_fields__
    positional = {name: value for name, value in POSITIONAL_EXAMPLES.items()
                  if name in fields and fields[name].default is dataclasses.MISSING
                  and fields[name].default_factory is dataclasses.MISSING}
    default = command.config(**positional)
    for flag, default in _flags(default):
        if flag.removeprefix("--").replace("-", "_") in positional:
            continue
        assert flag in text, flag
        shown = _shown(default)
        if shown is not None and not flag.endswith("."):
            entries = [m.start() for m in re.finditer(re.escape(flag) + r"(?![\w.-])", text)]
            said = f"(default: {shown})" if default != () else "(repeatable)"  # an empty list of repeated flags
            assert any(said in text[i:i + 400] for i in entries), (flag, shown)  # in its entry

"""A calibration's TOML config (``training.tasks.calibrate.spec``) and its build
(``training.tasks.calibrate.run.build``): the shipped configs load and build; every bad input is a
``ValueError`` naming the key, the value and what is valid, raised before the trainer is made (so
before anything compiles)."""

from __future__ import annotations

import numpy as np
import pytest

from training.tasks.calibrate import run as calibrate_run
from training.tasks.calibrate.run import build
from training.tasks.calibrate.spec import BUILTIN, load, parse

# The toy config (training/tasks/calibrate/configs/toy.toml) without its comments: the base of the bad inputs.
TOY = """
description = "toy"

[market]
preset = "market"
n_lps = 3
n_lts = 2
n_flow = 12

[market.params]
n_rounds = 32
p_connect = [0.8, 0.8, 0.8]

[roles]
lp = "learn"
lt = "learn"

[[free]]
field = "p_connect"
low = 0.02
high = 0.98
start = 0.3

[[free]]
field = "lp_supertype.omega.high[0]"
low = 0.2
high = 1.0
start = 0.9

[[targets]]
metric = "market_share[0]"
target = 0.40
weight = 1.0

[[targets]]
metric = "flow_ecn"
target = 0.20
weight = 1.0

[calibrator]
groups = 8
learning_rate = 0.1
init_std = 0.5

[ppo]
num_rounds = 16
num_minibatches = 2

[scale.small]
env_steps = 1_500_000
num_envs = 64
eval_episodes = 1024

[scale.full]
env_steps = 50_000_000
num_envs = 2048
eval_episodes = 4096
"""
PER_ITERATION = 64 * 32 * 2  # num_envs x n_rounds x phases (Stackelberg)


def toy(*edits: tuple[str, str]) -> str:
    """The toy text with each ``(old, new)`` replaced once (``old`` must occur exactly once)."""
    text = TOY
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def no_trainer(monkeypatch):
    """Make building a trainer or calibrator fail the test: the errors must come before them."""
    def refuse(*args, **kwargs):
        raise AssertionError("the trainer was built before the config was refused")

    monkeypatch.setattr(calibrate_run, "make_trainer", refuse)
    monkeypatch.setattr(calibrate_run, "make_calibrator", refuse)


def build_text(text: str, scale: str = "small"):
    return build(parse(text, "test.toml"), scale)


# --- the shipped configs ------------------------------------------------------------------------------------

def test_the_inline_toy_text_parses_like_the_shipped_one():
    """The inline text follows the shipped toy config in what these tests change: agents, free entries, targets."""
    toy_spec, shipped = parse(TOY, "test.toml"), load("toy")
    for key in ("n_lps", "n_lts", "n_flow", "n_rounds"):
        assert toy_spec.overrides[key] == shipped.overrides[key], key
    assert toy_spec.free == shipped.free
    assert [(t.metric, t.values.tolist(), t.weight) for t in toy_spec.targets] == \
        [(t.metric, t.values.tolist(), t.weight) for t in shipped.targets]


def test_toy_builds():
    spec = load("toy")
    assert spec.overrides["n_lps"] == 3 and spec.overrides["n_rounds"] == 32
    size = spec.scales["small"]
    per_iteration = size["num_envs"] * 32 * 2  # num_envs x n_rounds x phases
    built = build(spec, "small")
    assert built.iterations == size["env_steps"] // per_iteration >= 1
    assert built.env_steps == built.iterations * per_iteration <= size["env_steps"]
    assert built.target_names == ("market_share[0]", "flow_ecn")
    assert built.eval_episodes == size["eval_episodes"]


def test_toy_frees_each_lps_connectivity():
    """The toy config's ``field = "p_connect"`` is documented as each LP's own connectivity (p_connect[0],
    p_connect[1], p_connect[2]): LP 0's market-share target needs LP 0's connectivity apart from the others'."""
    built = build(load("toy"), "small")
    assert built.entry_names == ("p_connect[0]", "p_connect[1]", "p_connect[2]", "lp_supertype.omega.high[0]")


def test_eurusd_builds():
    spec = load("eurusd")
    assert spec.overrides["n_lts"] == 0 and spec.roles["lp"] == "learn"
    assert spec.report == ("volatility_profile",)
    built = build(spec, "small")
    assert built.entry_names == ("annual_vol", "impact", *(f"hour_profile[{h}]" for h in range(24)))
    assert built.target_names == ("realized_vol", *(f"volume_profile[{h}]" for h in range(24)))
    volume = spec.targets[1].values
    assert volume.shape == (24,) and np.isclose(volume.sum(), 1.0) and (volume > 0).all()
    assert 0.0 < spec.targets[0].values[0] < 0.5  # EUR/USD's annualized volatility, a fraction
    size = spec.scales["small"]
    assert built.iterations == size["env_steps"] // (size["num_envs"] * 96 * 2) >= 1


def test_builtin_names():
    assert set(BUILTIN) == {"toy", "eurusd"}
    with pytest.raises(ValueError, match="neither a shipped config"):
        load("toy2")


def test_a_config_file_loads(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(toy(("target = 0.40", "target = 0.5")))
    spec = load(str(path))
    assert spec.source == str(path) and spec.targets[0].values.tolist() == [0.5]


# --- bad inputs ---------------------------------------------------------------------------------------------

def assert_refused(text: str, *parts: str, scale: str = "small") -> str:
    """``build`` of ``text`` raises ValueError whose message holds every one of ``parts``; returns the message."""
    with pytest.raises(ValueError) as err:
        build_text(text, scale)
    message = str(err.value)
    for part in parts:
        assert part in message, (part, message)
    return message


PARSE_ERRORS = {
    "unknown metric": (
        toy(('metric = "flow_ecn"', 'metric = "flow_ecm"')), ["targets[1].metric", "'flow_ecm'", "'flow_ecn'"]),
    "index on a scalar metric": (
        toy(('metric = "flow_ecn"', 'metric = "flow_ecn[0]"')), ["targets[1].metric", "'flow_ecn[0]'", "scalar"]),
    "metric index out of range": (
        toy(('metric = "market_share[0]"', 'metric = "market_share[3]"')),
        ["targets[0].metric", "'market_share[3]'", "[0, 2]"]),
    "unknown reported metric": (
        toy(('description = "toy"', 'description = "toy"\nreport = ["volume_profil"]')),
        ["report[0]", "'volume_profil'", "'volume_profile'"]),
    "impossible share": (toy(("target = 0.40", "target = 1.3")), ["targets[0].target", "1.3", "[0.0, 1.0]"]),
    "negative fraction": (toy(("target = 0.20", "target = -0.2")), ["targets[1].target", "-0.2", "[0.0, 1.0]"]),
    "target of the wrong length": (
        toy(('metric = "market_share[0]"\ntarget = 0.40', 'metric = "market_share"\ntarget = [0.4, 0.3]')),
        ["targets[0].target", "2 values", "3 entries"]),
    "data target of a metric without data": (
        toy(("target = 0.20", 'target = "eurusd"')), ["targets[1].target", "'eurusd'", "realized_vol"]),
    "negative weight": (
        toy(("target = 0.20\nweight = 1.0", "target = 0.20\nweight = -0.5")), ["targets[1].weight", "-0.5", "[0, inf)"]),
    "all weights zero": (
        toy(("target = 0.40\nweight = 1.0", "target = 0.40\nweight = 0.0"),
            ("target = 0.20\nweight = 1.0", "target = 0.20\nweight = 0")),
        ["targets", "every weight is 0", "> 0"]),
    "misspelt table": (toy(('[[targets]]\nmetric = "flow_ecn"', '[[targetz]]\nmetric = "flow_ecn"')), ["['targetz']"]),
    "no target": (
        toy(('[[targets]]\nmetric = "market_share[0]"\ntarget = 0.40\nweight = 1.0\n', ""),
            ('[[targets]]\nmetric = "flow_ecn"\ntarget = 0.20\nweight = 1.0\n', "")),
        ["targets = None", "[[targets]]"]),
    "no free parameter": (
        toy(('[[free]]\nfield = "p_connect"\nlow = 0.02\nhigh = 0.98\nstart = 0.3\n', ""),
            ('[[free]]\nfield = "lp_supertype.omega.high[0]"\nlow = 0.2\nhigh = 1.0\nstart = 0.9\n', "")),
        ["free = None", "[[free]]"]),
    "unknown top-level key": (toy(('description = "toy"', 'description = "toy"\nseed = 3')), ["test.toml", "['seed']", "'targets'"]),
    "unknown market key": (toy(("n_flow = 12", "n_flows = 12")), ["market", "['n_flows']", "'n_flow'"]),
    "unknown market parameter": (toy(("n_rounds = 32", "n_rounds = 32\nanual_vol = 0.1")), ["'anual_vol'", "'annual_vol'"]),
    "market parameter out of range": (
        toy(("n_rounds = 32", "n_rounds = 32\nannual_vol = -0.1")), ["annual_vol", "-0.1", "[0.0, inf]"]),
    "unknown role": (toy(('lt = "learn"', 'lt = "lurn"')), ["lt", "'lurn'", "'learn'"]),
    "unknown free key": (toy(("start = 0.3", "start = 0.3\nstep = 0.1")), ["free[0]", "['step']", "'start'"]),
    "free entry without a start": (toy(("start = 0.3\n", "")), ["free[0]", "'start'"]),
    "unknown calibrator key": (toy(("groups = 8", "group = 8")), ["calibrator", "['group']", "'groups'"]),
    "calibrator iterations are the budget's": (
        toy(("groups = 8", "groups = 8\niterations = 5")), ["calibrator", "['iterations']"]),
    "ppo num_envs is the scale's": (toy(("num_rounds = 16", "num_rounds = 16\nnum_envs = 8")), ["ppo", "['num_envs']"]),
    "unknown scale": (toy(("[scale.full]", "[scale.huge]")), ["scale", "['huge']", "'full'"]),
    "scale without env_steps": (toy(("env_steps = 1_500_000\n", "")), ["scale.small", "'env_steps'"]),
    "non-positive num_envs": (toy(("num_envs = 64", "num_envs = 0")), ["scale.small.num_envs", "0"]),
    "invalid TOML": (toy(("n_lps = 3", "n_lps = = 3")), ["test.toml", "not valid TOML"]),
    "invalid TOML (unclosed table)": (toy(("[roles]", "[roles")), ["test.toml", "not valid TOML"]),
}


@pytest.mark.parametrize("case", sorted(PARSE_ERRORS))
def test_bad_config_is_refused(case, no_trainer):
    text, parts = PARSE_ERRORS[case]
    assert_refused(text, *parts)


BUILD_ERRORS = {
    "unknown field": (toy(('field = "p_connect"', 'field = "p_conect"')), ["free[0].field", "'p_conect'", "'p_connect'"]),
    "fixed field": (toy(('field = "p_connect"', 'field = "n_rounds"')), ["free[0].field", "'n_rounds'"]),
    "not a field path": (toy(('field = "p_connect"', 'field = "p_connect.low"')), ["free[0].field", "'p_connect.low'"]),
    "unknown type field": (
        toy(('field = "lp_supertype.omega.high[0]"', 'field = "lp_supertype.omeg.high[0]"')),
        ["free[1].field", "'omeg'", "'omega'"]),
    "unknown distribution parameter": (
        toy(('field = "lp_supertype.omega.high[0]"', 'field = "lp_supertype.omega.std[0]"')),
        ["free[1].field", "Uniform", "'high'"]),
    "per-agent index out of range": (
        toy(('field = "p_connect"', 'field = "p_connect[7]"')), ["free[0].field", "'p_connect[7]'", "[0, 2]"]),
    "supertype index out of range": (
        toy(('field = "lp_supertype.omega.high[0]"', 'field = "lp_supertype.omega.high[3]"')),
        ["free[1].field", "index 3", "[0, 2]"]),
    "index on a scalar field": (toy(('field = "p_connect"', 'field = "annual_vol[0]"')), ["free[0].field", "annual_vol"]),
    "empty bounds": (toy(("low = 0.02\nhigh = 0.98", "low = 0.5\nhigh = 0.5")), ["free[0]", "[0.5, 0.5]", "low < high"]),
    "reversed bounds": (toy(("low = 0.02\nhigh = 0.98", "low = 0.9\nhigh = 0.1")), ["free[0]", "[0.9, 0.1]", "low < high"]),
    "p_connect above 1": (
        toy(("high = 0.98", "high = 1.5")), ["free[0]", "p_connect", "1.5", "[0.0, 1.0]"]),
    "per-LP p_connect above 1": (
        toy(('field = "p_connect"\nlow = 0.02\nhigh = 0.98', 'field = "p_connect[1]"\nlow = 0.02\nhigh = 1.5')),
        ["free[0]", "p_connect", "1.5", "[0.0, 1.0]"]),
    "annual_vol below 0": (
        toy(('field = "p_connect"\nlow = 0.02\nhigh = 0.98\nstart = 0.3',
             'field = "annual_vol"\nlow = -0.1\nhigh = 0.3\nstart = 0.1')),
        ["free[0]", "annual_vol", "-0.1", "[0.0, inf]"]),
    "hour multiplier below 0": (
        toy(('field = "p_connect"\nlow = 0.02', 'field = "hour_profile[5]"\nlow = -1.0')),
        ["free[0]", "hour_profile", "-1.0", "[0.0, inf]"]),
    "omega above 1": (toy(("high = 1.0\nstart = 0.9", "high = 1.2\nstart = 0.9")), ["free[1]", "omega", "1.2"]),
    "start above the bounds": (toy(("start = 0.3", "start = 0.99")), ["free[0].start", "0.99", "(0.02, 0.98)"]),
    "start on a bound": (toy(("start = 0.3", "start = 0.02")), ["free[0].start", "0.02", "(0.02, 0.98)"]),
    "non-numeric bound": (toy(("low = 0.02\nhigh = 0.98", 'low = "0.02"\nhigh = 0.98')), ["free[0].low", "'0.02'", "number"]),
    "budget below one iteration": (
        toy(("env_steps = 1_500_000", "env_steps = 4_000")),
        ["scale.small.env_steps", "4,000", "one outer iteration", f"[{PER_ITERATION:,}, inf)"]),
    "free twice": (
        toy(('field = "lp_supertype.omega.high[0]"', 'field = "p_connect"')), ["free", "'p_connect[0]'", "twice"]),
    "fewer than 2 groups": (toy(("groups = 8", "groups = 1")), ["groups = 1", "[2, "]),
    "unknown method": (toy(("groups = 8", 'groups = 8\nmethod = "sgd"')), ["method = 'sgd'", "'cma_es'"]),
}


@pytest.mark.parametrize("case", sorted(BUILD_ERRORS))
def test_bad_free_parameter_or_budget_is_refused(case, no_trainer):
    text, parts = BUILD_ERRORS[case]
    parse(text, "test.toml")  # the text parses: build refuses it
    assert_refused(text, *parts)


def test_budget_of_exactly_one_iteration_builds():
    built = build_text(toy(("env_steps = 1_500_000", f"env_steps = {PER_ITERATION}")))
    assert built.iterations == 1 and built.env_steps == PER_ITERATION


def test_budget_just_below_one_iteration_is_refused(no_trainer):
    assert_refused(toy(("env_steps = 1_500_000", f"env_steps = {PER_ITERATION - 1}")), "scale.small.env_steps",
                   f"{PER_ITERATION - 1:,}")


def test_the_full_scale_budget_is_checked_at_that_scale(no_trainer):
    text = toy(("env_steps = 50_000_000", "env_steps = 100_000"))  # num_envs 2048: 131,072 steps an iteration
    assert_refused(text, "scale.full.env_steps", "100,000", "131,072", scale="full")


def test_unknown_scale_and_method_are_refused(no_trainer):
    spec = parse(TOY, "test.toml")
    with pytest.raises(ValueError, match=r"scale = 'medium'.*\['full', 'small'\]"):
        build(spec, "medium")
    with pytest.raises(ValueError, match=r"method = 'sgd'"):
        build(spec, "small", method="sgd")


@pytest.mark.parametrize(
    ("edit", "parts"),
    [
        (("groups = 8", "groups = 3"), ["groups = 3", "num_envs = 64"]),
        (("num_rounds = 16", "num_rounds = 5"), ["num_rounds = 5", "(32)"]),
    ],
)
def test_settings_checked_against_the_trainer_are_refused(edit, parts):
    """Checked when the calibrator meets the agents' trainer (still before anything compiles)."""
    assert_refused(toy(edit), *parts)

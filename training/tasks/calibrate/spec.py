"""A calibration's configuration, read from a TOML file (``tomllib``) and checked before anything compiles.

    description = "..."
    [market]                    # the OTC market: a preset of training.tasks.otc.train, agent counts
    preset = "market"
    n_lps = 3
    [market.params]             # OTCParams fields (numbers or lists)
    n_rounds = 32
    [roles]                     # "learn", "heuristic" or "random" per family (default: both learn)
    lt = "random"
    [[free]]                    # one table per free parameter (training.tasks.calibrate.fields)
    field = "p_connect[0]"
    low = 0.05
    high = 1.0
    start = 0.5
    [[targets]]                 # one table per target metric (jaxmarket.otc.metrics)
    metric = "market_share[0]"
    target = 0.4                # a number, a list (a vector metric), or "eurusd": the bundled series' value
    weight = 1.0
    report = ["volatility_profile"]   # metrics also reported (not targeted)
    [calibrator]                # training.learners.calibration.CalibrationConfig fields except iterations
    groups = 8
    [ppo]                       # MAPPOConfig fields except num_envs, total_rounds and learn
    num_rounds = 16
    [scale.small]               # a size: env_steps (the budget), num_envs, eval_episodes
    env_steps = 1_000_000
    num_envs = 64
    eval_episodes = 1024
    [scale.full]
    ...

Every error is a ``ValueError`` naming the TOML key (``targets[1].target``), the value and what is valid.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from jaxmarket.core.validation import check_int
from jaxmarket.data import eurusd_statistics
from jaxmarket.otc.metrics import METRIC_RANGES, metric_size, parse_metric
from jaxmarket.otc.market import OTCConfig
from training.learners.calibration import CalibrationConfig
from training.learners.mappo import MAPPOConfig
from training.tasks.calibrate import fields
from training.tasks.otc import train as otc_train

CONFIG_PACKAGE = "training.tasks.calibrate"
CONFIG_DIR = "configs"
BUILTIN = ("toy", "eurusd")
"""The configs that ship with the package: ``jaxmarket calibrate toy`` runs ``configs/toy.toml``."""
DATA_TARGET = "eurusd"
"""A target given as this string is the statistic of the bundled EUR/USD 2017 hourly series."""
DATA_METRICS = ("realized_vol", "volume_profile", "volatility_profile")
SCALES = ("small", "full")
TOP_KEYS = ("description", "market", "roles", "free", "targets", "report", "calibrator", "ppo", "scale")
MARKET_COUNTS = ("n_lps", "n_lts", "n_flow", "n_tiers", "reference")
SCALE_KEYS = ("env_steps", "num_envs", "eval_episodes")
FIXED_PPO = ("num_envs", "total_rounds", "learn")


@dataclasses.dataclass(frozen=True)
class Target:
    """One target: the metric's name, its parsed entries, the target value per entry, the weight."""

    metric: str
    values: np.ndarray  # (entries,)
    weight: float
    key: str  # the metric's key in episode_metrics
    index: int | None

    def names(self) -> list[str]:
        """One name per entry: the metric's, with ``[i]`` for the entries of a vector metric."""
        if self.values.size == 1:
            return [self.metric]
        return [f"{self.metric}[{i}]" for i in range(self.values.size)]


@dataclasses.dataclass(frozen=True)
class Spec:
    """A checked calibration config (see the module docstring)."""

    source: str
    description: str
    preset: str
    overrides: dict[str, Any]  # jm.make overrides: agent counts and OTCParams fields
    roles: dict[str, str]
    free: tuple[dict[str, Any], ...]  # {"field", "low", "high", "start"} as given
    targets: tuple[Target, ...]
    report: tuple[str, ...]
    calibrator: dict[str, Any]
    ppo: dict[str, Any]
    scales: dict[str, dict[str, int]]


def resolve(config: str) -> tuple[str, str]:
    """The text of a config and where it came from: a shipped name (``BUILTIN``) or a TOML path.

    Raises:
      ValueError: neither a shipped name nor a readable file.
    """
    if config in BUILTIN:
        text = resources.files(CONFIG_PACKAGE).joinpath(CONFIG_DIR, f"{config}.toml").read_text()
        return text, f"{config} (shipped: training/tasks/calibrate/configs/{config}.toml)"
    path = Path(config)
    if not path.is_file():
        raise ValueError(f"config = {config!r} is neither a shipped config {list(BUILTIN)} nor a TOML file")
    return path.read_text(), str(path)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} = {value!r} must be a table")
    return value


def _unknown(table: dict[str, Any], valid: tuple[str, ...] | list[str], where: str) -> None:
    extra = sorted(set(table) - set(valid))
    if extra:
        raise ValueError(f"{where}: unknown keys {extra}; valid keys are {sorted(valid)}")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where} = {value!r} must be a finite number")
    return float(value)


def _target_values(item: dict[str, Any], metric: str, key: str, index: int | None, size: int, where: str
                   ) -> np.ndarray:
    """The target per entry, from a number, a list or the bundled series' statistic."""
    value = item.get("target")
    if value == DATA_TARGET:
        if key not in DATA_METRICS:
            raise ValueError(f"{where}.target = {value!r}: only {list(DATA_METRICS)} have a value on the data")
        data = np.atleast_1d(np.asarray(eurusd_statistics()[key], np.float64))
        values = data if index is None else data[index : index + 1]
    elif isinstance(value, list):
        values = np.asarray([_number(v, f"{where}.target[{i}]") for i, v in enumerate(value)], np.float64)
    else:
        values = np.asarray([_number(value, f"{where}.target")], np.float64)
    if values.size != size:
        raise ValueError(f"{where}.target has {values.size} values: metric {metric!r} has {size} entries")
    low, high = METRIC_RANGES[key]
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size:
        raise ValueError(f"{where}.target = {values[bad[0]]!r} is impossible for {metric!r}: its values lie in "
                         f"[{low}, {high}] (shares and fractions as fractions, not percent)")
    return values


def _targets(items: Any, config: OTCConfig) -> tuple[Target, ...]:
    if not isinstance(items, list) or not items:
        raise ValueError(f"targets = {items!r}: need at least one [[targets]] table")
    out = []
    for i, item in enumerate(items):
        where = f"targets[{i}]"
        item = _table(item, where)
        _unknown(item, ("metric", "target", "weight"), where)
        if "metric" not in item or "target" not in item:
            raise ValueError(f"{where}: needs 'metric' and 'target'")
        try:
            key, index = parse_metric(item["metric"], config)
        except ValueError as err:
            raise ValueError(f"{where}.metric: {err}") from None
        size = 1 if index is not None else metric_size(key, config)
        values = _target_values(item, item["metric"], key, index, size, where)
        weight = _number(item.get("weight", 1.0), f"{where}.weight")
        if weight < 0:
            raise ValueError(f"{where}.weight = {weight!r} is out of range: valid range is [0, inf)")
        out.append(Target(item["metric"], values, weight, key, index))
    if not any(t.weight > 0 for t in out):
        raise ValueError("targets: every weight is 0: at least one target needs a weight > 0")
    return tuple(out)


def _dataclass_fields(table: dict[str, Any], cls: type, fixed: tuple[str, ...], where: str) -> dict[str, Any]:
    valid = [f.name for f in dataclasses.fields(cls) if f.name not in fixed]
    _unknown(table, valid, where)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}


def _scales(table: dict[str, Any]) -> dict[str, dict[str, int]]:
    _unknown(table, SCALES, "scale")
    if "small" not in table:
        raise ValueError("scale: needs a [scale.small] table (env_steps, num_envs, eval_episodes)")
    out = {}
    for name, scale in table.items():
        scale = _table(scale, f"scale.{name}")
        _unknown(scale, SCALE_KEYS, f"scale.{name}")
        for key in SCALE_KEYS:
            if key not in scale:
                raise ValueError(f"scale.{name}: needs {key!r}")
            check_int(f"scale.{name}.{key}", scale[key], 1, math.inf)
        out[name] = {k: int(scale[k]) for k in SCALE_KEYS}
    return out


def parse(text: str, source: str) -> Spec:
    """Read and check a config's TOML text.

    Raises:
      ValueError: invalid TOML, an unknown key, a bad market, free parameter, target, weight,
        calibrator, PPO or scale setting (see the module docstring).
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{source}: not valid TOML: {err}") from None
    _unknown(raw, TOP_KEYS, source)
    market = dict(_table(raw.get("market", {}), "market"))
    _unknown(market, ("preset", "params", *MARKET_COUNTS), "market")
    preset = market.pop("preset", "market")
    params = dict(_table(market.pop("params", {}), "market.params"))
    overrides = {**market, **{k: np.asarray(v, np.float32) if isinstance(v, list) else v for k, v in params.items()}}
    env, _ = otc_train.make_env(preset, overrides)  # checks the market
    roles = otc_train.check_roles(dict(_table(raw.get("roles", {}), "roles")))
    free = raw.get("free")
    if not isinstance(free, list) or not free:
        raise ValueError(f"free = {free!r}: need at least one [[free]] table (field, low, high, start)")
    for i, item in enumerate(free):
        where = f"free[{i}]"
        _unknown(_table(item, where), ("field", "low", "high", "start"), where)
        for key in ("field", "low", "high", "start"):
            if key not in item:
                raise ValueError(f"{where}: needs {key!r}")
    targets = _targets(raw.get("targets"), env.config)
    report = raw.get("report", [])
    if not isinstance(report, list):
        raise ValueError(f"report = {report!r} must be a list of metric names")
    for i, name in enumerate(report):
        try:
            parse_metric(name, env.config)
        except ValueError as err:
            raise ValueError(f"report[{i}]: {err}") from None
    calibrator = _dataclass_fields(_table(raw.get("calibrator", {}), "calibrator"), CalibrationConfig,
                                   ("iterations",), "calibrator")
    ppo = _dataclass_fields(_table(raw.get("ppo", {}), "ppo"), MAPPOConfig, FIXED_PPO, "ppo")
    spec = Spec(source, str(raw.get("description", "")), preset, overrides, roles, tuple(free), targets,
                tuple(report), calibrator, ppo, _scales(_table(raw.get("scale", {}), "scale")))
    return spec


def load(config: str) -> Spec:
    """``parse`` of a shipped config name or a TOML path (``resolve``)."""
    return parse(*resolve(config))


def free_entries(spec: Spec, config: OTCConfig, params: Any) -> tuple[list[fields.Entry], np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """The free entries, with their low, high and start (d,) each, the bounds checked against the fields.

    Raises:
      ValueError: a bad field path (``fields.parse``), bounds that are empty or outside the field's
        valid range, or a start outside ``(low, high)``.
    """
    entries, lows, highs, starts = [], [], [], []
    for i, item in enumerate(spec.free):
        where = f"free[{i}]"
        parsed = fields.parse(item["field"], config, params, f"{where}.field")
        low, high = _number(item["low"], f"{where}.low"), _number(item["high"], f"{where}.high")
        start = _number(item["start"], f"{where}.start")
        promoted = fields.promote(params, parsed, config)
        for entry in parsed:
            fields.check_bounds(promoted, config, entry, low, high, where)
        if not low < start < high:
            raise ValueError(f"{where}.start = {start!r} must lie strictly inside its bounds ({low}, {high})")
        entries += parsed
        lows += [low] * len(parsed)
        highs += [high] * len(parsed)
        starts += [start] * len(parsed)
    names = [e.name for e in entries]
    duplicate = sorted({n for n in names if names.count(n) > 1})
    if duplicate:
        raise ValueError(f"free: {duplicate[0]!r} is free twice")
    return entries, np.asarray(lows), np.asarray(highs), np.asarray(starts)

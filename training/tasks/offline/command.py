"""``jaxmarket dataset record|info|train-offline``: record a behaviour policy into a Minari dataset,
describe a dataset, and train an offline learner (behaviour cloning or IQL) on one.

    jaxmarket dataset record --env-id jaxmarket/OTC-LP-v0 --policy heuristic --noise 0.1 --transitions 1000000
    jaxmarket dataset info jaxmarket/otc-lp/heuristic-v0
    jaxmarket dataset train-offline jaxmarket/otc-lp/heuristic-v0 --algorithm iql --out runs/iql
    jaxmarket train market-making --warm-start runs/bc/final       # PPO from an offline policy
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import tyro
from tqdm import tqdm

import jaxmarket as jm
from jaxmarket.core.evaluate import episode_steps
from jaxmarket.core.validation import check_int
from jaxmarket.data import dataset_info, from_minari, to_minari
from training.learners import bc, iql
from training.learners.bc import BCConfig
from training.learners.iql import IQLConfig
from training.learners.normalize import STD_EPS
from training.learners.warm_start import return_stats
from training.tasks import common
from training.tasks.offline.behaviour import behaviour_policy, noise_label, reference_scores
from training.tasks.registry import register

DEFAULT_ENV_ID = "jaxmarket/OTC-LP-v0"
DEFAULT_TRANSITIONS = 1_000_000
DEFAULT_NOISE = 0.1
DEFAULT_EPISODES_PER_CHUNK = 1024  # episodes recorded, taken to the host and written at a time
REFERENCE_EPISODES = 1000  # evaluation episodes of the reference scores and of a trained policy
OFFLINE_PRESET_UPDATES = 100_000  # gradient steps of the command's default runs


DatasetId = Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="DATASET_ID")]


@dataclasses.dataclass(frozen=True)
class RecordConfig:
    """Record episodes of a behaviour policy (with exploration noise) and write them as a Minari dataset."""

    env_id: str = DEFAULT_ENV_ID
    """the registered env id (jaxmarket envs lists them)"""
    env_overrides: str | None = None
    """the env's parameter overrides as a JSON object, e.g. '{"n_rounds": 48}'; None: the env's defaults"""
    policy: tuple[str, ...] = ("heuristic",)
    """behaviour policies (per env: OTC-LP-v0 and OTC-v0 heuristic; MarketMaking-AS-v0 optimal, as-symmetric;
    Execution-v0 twap, always-passive, always-market; any env random); several split the episodes evenly"""
    noise: float = DEFAULT_NOISE
    """exploration noise in [0, 1]: Box actions get Gaussian noise of this fraction of each entry's range, Discrete
    actions are uniform with this probability"""
    noise_space: Literal["action", "policy"] = "action"
    """where a Box action's noise is added: action (clipped to the bounds) or policy (in the squashed policy's
    unbounded variable, so that behaviour cloning can represent it exactly)"""
    transitions: int = DEFAULT_TRANSITIONS
    """env steps to record (rounded up to whole episodes), >= 1"""
    seed: int = 0
    """recording seed: chunk c of policy p records with seed + c + p * chunks"""
    dataset_id: str | None = None
    """the Minari dataset id ([namespace/]name-v<version>); None: jaxmarket/<env>/<policies>-v0"""
    data_path: str | None = None
    """the datasets root; None: $MINARI_DATASETS_PATH, else ~/.minari/datasets"""
    family: str | None = None
    """the family to store, for a multi-agent env (OTC-v0: lp or lt)"""
    episodes_per_chunk: int = DEFAULT_EPISODES_PER_CHUNK
    """episodes recorded and written at a time (bounds the memory), >= 1"""
    reference_episodes: int = REFERENCE_EPISODES
    """episodes of the random and best-baseline evaluations stored as reference scores (0: none)"""
    progress: bool = True
    """show a progress bar"""


@dataclasses.dataclass(frozen=True)
class InfoConfig:
    """Describe a Minari dataset: its env, spaces, size, the policy that made it and its reference scores."""

    dataset_id: DatasetId
    """the dataset id"""
    data_path: str | None = None
    """the datasets root; None: $MINARI_DATASETS_PATH, else ~/.minari/datasets"""


def offline_preset(cls: type) -> Any:
    """The command's default offline config: the learner's defaults with ``OFFLINE_PRESET_UPDATES`` steps."""
    return cls(num_updates=OFFLINE_PRESET_UPDATES)


@dataclasses.dataclass(frozen=True)
class TrainOfflineConfig(common.TrainFlags):
    """Train an offline learner (behaviour cloning or IQL) on a Minari dataset, checkpoint it as a PPO policy and
    score it against the dataset's reference scores."""

    dataset_id: DatasetId = dataclasses.field(kw_only=True)
    """the dataset id"""
    algorithm: Literal["bc", "iql"] = "iql"
    """bc: behaviour cloning (with a fitted critic); iql: implicit Q-learning"""
    out: str = "runs/offline"
    """run directory: log.csv, TensorBoard events, run.json, resumable checkpoints and the policy (OUT/final), a PPO
    policy checkpoint (jaxmarket evaluate and --warm-start read it); evaluation.json"""
    data_path: str | None = None
    """the datasets root; None: $MINARI_DATASETS_PATH, else ~/.minari/datasets"""
    bc: BCConfig = dataclasses.field(default_factory=lambda: offline_preset(BCConfig))
    """behaviour-cloning hyperparameters (with --algorithm bc)"""
    iql: IQLConfig = dataclasses.field(default_factory=lambda: offline_preset(IQLConfig))
    """IQL hyperparameters (with --algorithm iql)"""
    warm_start_gamma: float | None = None
    """fit the critic in PPO's reward-scaled units for a warm start with this discount (the PPO run's gamma); None:
    the learner's reward_scale as given"""
    episodes: int = REFERENCE_EPISODES
    """evaluation episodes of the trained policy (0: none)"""
    eval_seed: int = 1
    """evaluation seed"""


def parse_overrides(text: str | None) -> dict[str, Any]:
    """The env overrides of ``--env-overrides``: a JSON object (None: no overrides).

    Raises:
        ValueError: not JSON, or not an object.
    """
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"env_overrides = {text!r} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"env_overrides = {text!r}: expected a JSON object of parameter overrides")
    return value


def default_dataset_id(env_id: str, policies: tuple[str, ...]) -> str:
    """``jaxmarket/<env name, lower case>/<policies joined by +>-v0``."""
    return f"jaxmarket/{env_id.rsplit('/', 1)[-1].lower()}/{'+'.join(policies)}-v0"


def record_chunks(env: Any, params: Any, policies: list[Any], num_episodes: int, seed: int, episodes_per_chunk: int,
                  progress: bool) -> Iterator[jm.Trajectories]:
    """The recording, chunk by chunk: ``num_episodes`` split evenly between ``policies`` (the first ones
    taking one more where it does not divide), each in chunks of at most ``episodes_per_chunk`` episodes
    recorded with ``seed + c + p * chunks`` (chunk ``c`` of policy ``p``)."""
    shares = [num_episodes // len(policies) + (p < num_episodes % len(policies)) for p in range(len(policies))]
    chunks = max(math.ceil(share / episodes_per_chunk) for share in shares)
    bar = tqdm(total=num_episodes, unit="episode", disable=not progress)
    for p, (policy, share) in enumerate(zip(policies, shares)):
        for c in range(math.ceil(share / episodes_per_chunk)):
            size = min(episodes_per_chunk, share - c * episodes_per_chunk)
            yield jm.record(env, params, policy, size, seed=seed + c + p * chunks)
            bar.update(size)
    bar.close()


def run_record(config: RecordConfig) -> None:
    """``jaxmarket dataset record``: record, write, print the dataset's summary."""
    overrides = parse_overrides(config.env_overrides)
    check_int("transitions", config.transitions, 1)
    check_int("episodes_per_chunk", config.episodes_per_chunk, 1)
    check_int("reference_episodes", config.reference_episodes, 0)
    if not config.policy:
        raise ValueError("policy = (): give at least one behaviour policy")
    env, params = jm.make(config.env_id, **overrides)
    policies = [behaviour_policy(config.env_id, env, params, name, config.noise, config.noise_space)
                for name in config.policy]
    steps = episode_steps(env, params)
    num_episodes = math.ceil(config.transitions / steps)
    dataset_id = config.dataset_id or default_dataset_id(config.env_id, config.policy)
    low = high = best = None
    if config.reference_episodes:
        low, high, best = reference_scores(config.env_id, env, params, config.reference_episodes, config.seed)
    noise = f" (noise {config.noise}{noise_label(config.noise_space)})" if config.noise else ""
    name = "+".join(config.policy) + noise
    print(f"recording {num_episodes:,} episodes ({num_episodes * steps:,} steps) of {name} on {config.env_id} "
          f"into {dataset_id}")
    to_minari(record_chunks(env, params, policies, num_episodes, config.seed, config.episodes_per_chunk,
                            config.progress),
              dataset_id, env, params, family=config.family, env_id=config.env_id, env_kwargs=overrides,
              algorithm_name=name, seed=config.seed, ref_min_score=low, ref_max_score=high,
              description=f"{name} on {config.env_id}" + (f"; ref_max_score: {best}" if best else ""),
              data_path=config.data_path, episodes_per_chunk=config.episodes_per_chunk)
    print(json.dumps(dataset_info(dataset_id, config.data_path), indent=2))


def run_info(config: InfoConfig) -> None:
    """``jaxmarket dataset info``: the dataset's summary as JSON."""
    print(json.dumps(dataset_info(config.dataset_id, config.data_path), indent=2))


def normalized_score(value: float, low: float | None, high: float | None) -> float | None:
    """D4RL's normalized score ``100 (value - low) / (high - low)`` (Fu et al. 2020, sec. 5; Minari's
    ``get_normalized_score``), None without both reference scores or where they are equal."""
    if low is None or high is None or high == low:
        return None
    return 100.0 * (value - low) / (high - low)


def offline_trainer(algorithm: str, learner_config: Any, env: Any, params: Any, transitions: Any,
                    family: str | None) -> Any:
    """The offline learner's trainer (``bc.make_trainer`` or ``iql.make_trainer``)."""
    module = {"bc": bc, "iql": iql}[algorithm]
    return module.make_trainer(learner_config, env, params, transitions, family)


def run_train_offline(config: TrainOfflineConfig) -> dict[str, Any]:
    """``jaxmarket dataset train-offline``: load, train with checkpoints, evaluate; returns the evaluation."""
    info = dataset_info(config.dataset_id, config.data_path)
    overrides = info.get("env_kwargs") or {}
    env, params = jm.make(info["env_id"], **overrides)
    trajectories = from_minari(config.dataset_id, data_path=config.data_path)
    transitions = jm.to_transitions(trajectories, info["family"])
    learner_config = config.bc if config.algorithm == "bc" else config.iql
    extra: dict[str, Any] = {}
    if config.warm_start_gamma is not None:
        stats = return_stats(trajectories, config.warm_start_gamma, info["family"])
        scale = 1.0 / math.sqrt(float(stats.var) + STD_EPS)
        learner_config = dataclasses.replace(learner_config, reward_scale=scale)
        extra["return_stats"] = {"mean": float(stats.mean), "var": float(stats.var), "count": float(stats.count)}
    trainer = offline_trainer(config.algorithm, learner_config, env, params, transitions, info["family"])
    metadata = {"env_id": info["env_id"], "env_overrides": overrides, "dataset_id": config.dataset_id,
                "algorithm": config.algorithm, **extra}
    headline = (f"training {config.algorithm} on {config.dataset_id} ({len(transitions):,} transitions): "
                f"{learner_config.num_updates:,} gradient steps of {learner_config.batch_size}")
    runner, _, wall = common.train(trainer, config, config.out, metadata, headline, "gradient steps")
    result: dict[str, Any] = {"dataset_id": config.dataset_id, "algorithm": config.algorithm, "train_wall_s": wall}
    if config.episodes and info["family"] is None:
        returns = jm.evaluate(env, params, trainer.policy(runner), config.episodes, config.eval_seed)["return"]
        mean, se = float(returns.mean()), float(returns.std(ddof=1) / math.sqrt(len(returns))) if len(returns) > 1 else 0.0
        result.update(episodes=config.episodes, mean_return=mean, se=se,
                      normalized_score=normalized_score(mean, info["ref_min_score"], info["ref_max_score"]))
        print(f"{config.algorithm} policy: mean return {mean:.3f} ± {se:.3f} over {config.episodes:,} episodes; "
              f"references: random {info['ref_min_score']}, best baseline {info['ref_max_score']}; normalized score "
              f"{result['normalized_score']}")
    Path(config.out).mkdir(parents=True, exist_ok=True)
    (Path(config.out) / "evaluation.json").write_text(json.dumps(result, indent=2))
    return result


register(("dataset", "record"), RecordConfig, run_record, "record a behaviour policy into a Minari dataset")
register(("dataset", "info"), InfoConfig, run_info, "describe a Minari dataset")
register(("dataset", "train-offline"), TrainOfflineConfig, run_train_offline,
         "train behaviour cloning or IQL on a Minari dataset")

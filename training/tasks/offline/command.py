"""``jaxmarket dataset record|info|train-offline``: record a behaviour policy into a Minari dataset,
describe a dataset, and train an offline learner (behaviour cloning or IQL) on one.

    jaxmarket dataset record --env-id jaxmarket/OTC-LP-v0 --policy heuristic --noise 0.1 --transitions 1000000
    jaxmarket dataset info jaxmarket/otc-lp-v0/heuristic-v0
    jaxmarket dataset train-offline jaxmarket/otc-lp-v0/heuristic-v0 --algorithm iql --out runs/iql
    jaxmarket train market-making --warm-start runs/bc/final       # PPO from an offline policy

Seeds: ``record`` records chunk ``c`` of policy ``p`` with seed ``seed + c + p * chunks`` and stores
the range of seeds used in the dataset (``recording_seeds``). ``jm.evaluate`` draws episode ``i``
from the ``i``-th key of its seed, as ``jm.record`` does, so an evaluation with a recording seed
would replay recorded episodes' randomness: the reference scores and ``train-offline``'s evaluation
use ``EVAL_SEED``, far from the recording seeds, and ``train-offline`` refuses an ``--eval-seed``
among them.
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
from jaxmarket.core.agents import MultiAgent, adapter
from jaxmarket.core.evaluate import episode_steps
from jaxmarket.core.keys import MAX_SEED
from jaxmarket.core.validation import check_choice, check_int, check_range
from jaxmarket.data import dataset_info, from_minari, to_minari
from jaxmarket.data.datasets import check_new_dataset_id
from training.learners import bc, iql, loop
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
EVAL_SEED = 1_000_000
"""The seed of every evaluation here (the reference scores of ``record``, ``train-offline``'s default
``--eval-seed``). ``jm.evaluate`` has ``jm.record``'s key schedule, so an evaluation seed among a
dataset's recording seeds (one per recorded chunk, from ``--seed`` up: tens for the default sizes)
would replay recorded episodes: this one is far above the recording seeds of any ``--seed`` below
it by more than the chunks recorded."""
ALGORITHMS = ("bc", "iql")
POLICY_SEPARATOR = "_"  # joins several policies in a default dataset id (Minari's ids allow letters, digits, - and _)


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
    """first recording seed, >= 0: the episodes are recorded in chunks of --episodes-per-chunk, chunk c of policy p
    with seed + c + p * chunks (chunks: those of the first policy); the dataset stores the range of seeds used
    (recording_seeds), which train-offline's --eval-seed must avoid"""
    dataset_id: str | None = None
    """the Minari dataset id ([namespace/]name-v<version>), which must not exist yet; None:
    jaxmarket/<env name in lower case>/<policies joined by _>-v0, e.g. jaxmarket/otc-lp-v0/heuristic-v0"""
    data_path: str | None = None
    """the datasets root; None: $MINARI_DATASETS_PATH, else ~/.minari/datasets"""
    family: str | None = None
    """the family to store, required for a multi-agent env (OTC-v0: lp or lt); None for a single-agent env"""
    episodes_per_chunk: int = DEFAULT_EPISODES_PER_CHUNK
    """episodes recorded and written at a time (bounds the memory), >= 1"""
    reference_episodes: int = REFERENCE_EPISODES
    """episodes of the random-policy and best-baseline (noise-free) evaluations stored as the reference scores
    ref_min_score and ref_max_score, evaluated with the evaluation seed EVAL_SEED = 1000000 (train-offline's
    default), not a recording seed; 0: none (a multi-agent env has none)"""
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
    """the discount of the PPO run to warm-start, in [0, 1]: sets the learner's gamma (the critic's TD discount) to it
    and its reward_scale to one over the standard deviation of the data's discounted returns at it (PPO's reward
    scaling), so that the critic is in the PPO run's units; None: the learner's gamma and reward_scale as given"""
    episodes: int = REFERENCE_EPISODES
    """evaluation episodes of the trained policy, >= 0 (0: none; a multi-agent family's policy is not evaluated)"""
    eval_seed: int = EVAL_SEED
    """evaluation seed, in [0, 2^32 - 1] and outside the dataset's recording seeds (dataset info: recording_seeds);
    the default is the seed of the dataset's reference scores"""


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
    """``jaxmarket/<env name, lower case>/<policies joined by _>-v0``, e.g.
    ``jaxmarket/otc-lp-v0/heuristic-v0`` or ``jaxmarket/execution-v0/twap_always-passive-v0``."""
    return f"jaxmarket/{env_id.rsplit('/', 1)[-1].lower()}/{POLICY_SEPARATOR.join(policies)}-v0"


def plural(count: int, noun: str) -> str:
    """``"1 episode"``, ``"1,000 episodes"``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def number(value: float | None, decimals: int) -> str:
    """``value`` rounded to ``decimals`` places, ``n/a`` for None."""
    return "n/a" if value is None else f"{value:.{decimals}f}"


def episode_shares(num_episodes: int, policies: int, episodes_per_chunk: int) -> tuple[list[int], int]:
    """Each policy's episodes (an even split, the first ones taking one more where it does not
    divide) and ``chunks``, the most chunks of ``episodes_per_chunk`` any of them takes (the first's)."""
    shares = [num_episodes // policies + (p < num_episodes % policies) for p in range(policies)]
    return shares, max(math.ceil(share / episodes_per_chunk) for share in shares)


def recording_seeds(seed: int, num_episodes: int, policies: int, episodes_per_chunk: int) -> tuple[int, int]:
    """``(first, end)``: ``record_chunks`` records with seeds ``first <= s < end`` (chunk ``c`` of
    policy ``p`` with ``seed + c + p * chunks``; a policy with fewer chunks leaves gaps)."""
    shares, chunks = episode_shares(num_episodes, policies, episodes_per_chunk)
    used = [seed + c + p * chunks for p, share in enumerate(shares)
            for c in range(math.ceil(share / episodes_per_chunk))]
    return min(used), max(used) + 1


def record_chunks(env: Any, params: Any, policies: list[Any], num_episodes: int, seed: int, episodes_per_chunk: int,
                  progress: bool) -> Iterator[jm.Trajectories]:
    """The recording, chunk by chunk: ``num_episodes`` split evenly between ``policies`` (the first ones
    taking one more where it does not divide), each in chunks of at most ``episodes_per_chunk`` episodes
    recorded with ``seed + c + p * chunks`` (chunk ``c`` of policy ``p``)."""
    shares, chunks = episode_shares(num_episodes, len(policies), episodes_per_chunk)
    bar = tqdm(total=num_episodes, unit="episode", disable=not progress)
    for p, (policy, share) in enumerate(zip(policies, shares)):
        for c in range(math.ceil(share / episodes_per_chunk)):
            size = min(episodes_per_chunk, share - c * episodes_per_chunk)
            yield jm.record(env, params, policy, size, seed=seed + c + p * chunks)
            bar.update(size)
    bar.close()


def check_family(env: Any, family: str | None) -> None:
    """A multi-agent env needs one of its families, a single-agent env none (what ``to_minari`` checks
    on the first recorded chunk, checked before anything is recorded)."""
    if isinstance(adapter(env), MultiAgent):
        families = tuple(env.families)
        if family not in families:
            raise ValueError(f"family = {family!r}: a multi-agent env needs one of {list(families)} "
                             f"(a dataset holds one family)")
    elif family is not None:
        raise ValueError(f"family = {family!r}: a single-agent env has no families (leave --family out)")


def run_record(config: RecordConfig) -> None:
    """``jaxmarket dataset record``: check everything, then evaluate the reference scores, record,
    write and print the dataset's summary."""
    overrides = parse_overrides(config.env_overrides)
    check_int("transitions", config.transitions, 1)
    check_int("episodes_per_chunk", config.episodes_per_chunk, 1)
    check_int("reference_episodes", config.reference_episodes, 0)
    check_int("seed", config.seed, 0, MAX_SEED)
    if not config.policy:
        raise ValueError("policy = (): give at least one behaviour policy")
    dataset_id = config.dataset_id or default_dataset_id(config.env_id, config.policy)
    check_new_dataset_id(dataset_id, config.data_path)
    env, params = jm.make(config.env_id, **overrides)
    check_family(env, config.family)
    policies = [behaviour_policy(config.env_id, env, params, name, config.noise, config.noise_space)
                for name in config.policy]
    steps = episode_steps(env, params)
    num_episodes = math.ceil(config.transitions / steps)
    first, end = recording_seeds(config.seed, num_episodes, len(policies), config.episodes_per_chunk)
    if end - 1 > MAX_SEED:
        raise ValueError(f"seed = {config.seed}: the recording would use seeds up to {end - 1}, above the largest seed "
                         f"{MAX_SEED}: give a smaller --seed")
    if config.reference_episodes and first <= EVAL_SEED < end:
        raise ValueError(f"seed = {config.seed}: the recording seeds [{first}, {end}) include the evaluation seed "
                         f"{EVAL_SEED} of the reference scores, which would replay recorded episodes: give a --seed "
                         f"below {EVAL_SEED - (end - first) + 1} or above {EVAL_SEED}")
    low = high = best = None
    if config.reference_episodes:
        low, high, best = reference_scores(config.env_id, env, params, config.reference_episodes, EVAL_SEED)
    noise = f" (noise {config.noise}{noise_label(config.noise_space)})" if config.noise else ""
    name = "+".join(config.policy) + noise
    print(f"recording {plural(num_episodes, 'episode')} ({plural(num_episodes * steps, 'step')}) of {name} on "
          f"{config.env_id} into {dataset_id} (seeds {first} to {end - 1})")
    to_minari(record_chunks(env, params, policies, num_episodes, config.seed, config.episodes_per_chunk,
                            config.progress),
              dataset_id, env, params, family=config.family, env_id=config.env_id, env_kwargs=overrides,
              algorithm_name=name, seed=config.seed, ref_min_score=low, ref_max_score=high,
              description=f"{name} on {config.env_id}" + (f"; ref_max_score: {best}" if best else ""),
              data_path=config.data_path, episodes_per_chunk=config.episodes_per_chunk,
              recording_seeds=(first, end))
    print(json.dumps(dataset_info(dataset_id, config.data_path), indent=2))


def run_info(config: InfoConfig) -> None:
    """``jaxmarket dataset info``: the dataset's summary as JSON."""
    print(json.dumps(dataset_info(config.dataset_id, config.data_path), indent=2))


def normalized_score(value: float, low: float | None, high: float | None) -> float | None:
    """D4RL's normalized score ``100 (value - low) / (high - low)`` (Fu et al. 2020, sec. 5: 0 the
    random policy's return, 100 the reference policy's), None without both reference scores or where
    they are equal. Minari's ``get_normalized_score`` is the same ratio as a fraction, without the
    factor 100: this score is 100 times Minari's."""
    if low is None or high is None or high == low:
        return None
    return 100.0 * (value - low) / (high - low)


def offline_trainer(algorithm: str, learner_config: Any, env: Any, params: Any, transitions: Any,
                    family: str | None) -> Any:
    """The offline learner's trainer (``bc.make_trainer`` or ``iql.make_trainer``; ``algorithm`` checked
    by the caller)."""
    module = {"bc": bc, "iql": iql}[algorithm]
    return module.make_trainer(learner_config, env, params, transitions, family)


def check_eval_seed(eval_seed: int, seeds: tuple[int, int] | list[int] | None, source: str) -> None:
    """Refuse an evaluation seed among the recording seeds ``[first, end)`` of ``source``: ``jm.evaluate``
    shares ``jm.record``'s key schedule, so it would replay recorded episodes (``seeds`` None: a dataset
    written before they were stored, not checked).

    Raises:
        ValueError: ``eval_seed`` in ``[first, end)``, naming them and a seed to use instead.
    """
    if seeds is not None and seeds[0] <= eval_seed < seeds[1]:
        other = f"the default {EVAL_SEED}" if not seeds[0] <= EVAL_SEED < seeds[1] else str(seeds[1])
        raise ValueError(f"eval_seed = {eval_seed} is one of the recording seeds [{seeds[0]}, {seeds[1]}) of "
                         f"{source}: the evaluation would replay recorded episodes. Give an --eval-seed "
                         f"outside them, e.g. {other}")


def not_evaluated_reason(config: TrainOfflineConfig, info: dict[str, Any]) -> str | None:
    """Why the trained policy is not evaluated (None: it is)."""
    if info["family"] is not None:
        return (f"the dataset holds the {info['family']!r} family of the multi-agent env {info['env_id']}, whose "
                f"policy is scored only together with the other families' policies; warm-start a multi-agent run "
                f"from it (e.g. jaxmarket train otc --warm-start {info['family']}={Path(config.out) / loop.FINAL})")
    if not config.episodes:
        return "--episodes 0"
    return None


def run_train_offline(config: TrainOfflineConfig) -> dict[str, Any]:
    """``jaxmarket dataset train-offline``: check the flags, load, train with checkpoints, evaluate;
    returns the evaluation (also written to OUT/evaluation.json)."""
    check_choice("algorithm", config.algorithm, ALGORITHMS)
    learner_config = config.bc if config.algorithm == "bc" else config.iql
    if config.warm_start_gamma is not None:
        check_range("warm_start_gamma", config.warm_start_gamma, 0.0, 1.0)
    check_int("episodes", config.episodes, 0)
    check_int("eval_seed", config.eval_seed, 0, MAX_SEED)
    check_int("seed", config.seed, 0, MAX_SEED)
    loop.check_checkpointing(config.checkpoint_interval, config.keep_checkpoints)
    learner_config.check()
    info = dataset_info(config.dataset_id, config.data_path)
    reason = not_evaluated_reason(config, info)
    if reason is None:
        check_eval_seed(config.eval_seed, info.get("recording_seeds"), info["dataset_id"])
    overrides = info.get("env_kwargs") or {}
    env, params = jm.make(info["env_id"], **overrides)
    trajectories = from_minari(config.dataset_id, data_path=config.data_path)
    transitions = jm.to_transitions(trajectories, info["family"])
    extra: dict[str, Any] = {}
    if config.warm_start_gamma is not None:
        stats = return_stats(trajectories, config.warm_start_gamma, info["family"])
        scale = 1.0 / math.sqrt(float(stats.var) + STD_EPS)
        learner_config = dataclasses.replace(learner_config, gamma=config.warm_start_gamma, reward_scale=scale)
        extra["return_stats"] = {"mean": float(stats.mean), "var": float(stats.var), "count": float(stats.count)}
    trainer = offline_trainer(config.algorithm, learner_config, env, params, transitions, info["family"])
    # the fingerprint makes loop.run's run.json differ, and so refuses to resume, when the data were replaced
    metadata = {"env_id": info["env_id"], "env_overrides": overrides, "dataset_id": config.dataset_id,
                "dataset_fingerprint": info["fingerprint"], "algorithm": config.algorithm, **extra}
    headline = (f"training {config.algorithm} on {config.dataset_id} ({plural(len(transitions), 'transition')}): "
                f"{plural(learner_config.num_updates, 'gradient step')} of {learner_config.batch_size}")
    runner, _, wall = common.train(trainer, config, config.out, metadata, headline, "gradient steps")
    result: dict[str, Any] = {"dataset_id": config.dataset_id, "algorithm": config.algorithm, "train_wall_s": wall,
                              "evaluated": reason is None}
    if reason is None:
        returns = jm.evaluate(env, params, trainer.policy(runner), config.episodes, config.eval_seed)["return"]
        mean = float(returns.mean())
        se = float(returns.std(ddof=1) / math.sqrt(len(returns))) if len(returns) > 1 else None
        score = normalized_score(mean, info["ref_min_score"], info["ref_max_score"])
        result.update(episodes=config.episodes, eval_seed=config.eval_seed, mean_return=mean, se=se,
                      normalized_score=score)
        print(f"{config.algorithm} policy: mean return {number(mean, 3)} ± {number(se, 3)} over "
              f"{plural(config.episodes, 'episode')} (seed {config.eval_seed}); references: random "
              f"{number(info['ref_min_score'], 3)}, best baseline {number(info['ref_max_score'], 3)}; normalized score "
              f"{number(score, 1)}")
    else:
        result["reason"] = reason
        print(f"not evaluated: {reason}")
    Path(config.out).mkdir(parents=True, exist_ok=True)
    (Path(config.out) / "evaluation.json").write_text(json.dumps(result, indent=2))
    return result


register(("dataset", "record"), RecordConfig, run_record, "record a behaviour policy into a Minari dataset")
register(("dataset", "info"), InfoConfig, run_info, "describe a Minari dataset")
register(("dataset", "train-offline"), TrainOfflineConfig, run_train_offline,
         "train behaviour cloning or IQL on a Minari dataset")

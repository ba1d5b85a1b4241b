"""The OTC commands: ``jaxmarket train otc`` (multi-agent PPO, then the learned LPs against the
heuristic dealers), ``jaxmarket otc`` (one episode, summarised and plotted); ``evaluate`` runs
``evaluate`` here for OTC checkpoints (a sweep over agent types).

Flags that cannot be given on the command line: ``--env.series`` and ``--env.tier-probs`` are
arrays (only their default, None, parses; ``--market.reference replay`` replays the bundled
series); ``--market.turn-order`` takes its default's shape (one list of families per phase);
the type distributions (``--env.lp-supertype.*``, ``--env.lt-supertype.*``) of ``train otc`` come
from ``--preset`` and are refused there when changed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import tyro

import jaxmarket as jm
from jaxmarket.otc.market import OTCConfig, OTCParams
from training.learners import checkpoint
from training.learners.mappo import MAPPOConfig, trained_policy
from training.tasks import common
from training.tasks.otc import episode as otc_episode
from training.tasks.otc import evaluate as otc_evaluate
from training.tasks.otc import train as otc_train
from training.tasks.otc.plots import plot_episode
from training.tasks.registry import register

Role = Literal["learn", "heuristic", "random"]
Preset = Literal["market", "clients", "schedule", "default"]
SUPERTYPE_FIELDS = ("lp_supertype", "lt_supertype")  # set by the preset, not from the command line


@dataclasses.dataclass(frozen=True)
class TrainConfig(common.TrainFlags):
    """Multi-agent PPO on OTC-v0 (dealers and clients learn at once), then the learned LPs against
    the heuristic dealers on the same types and seeds."""

    out: str = "runs/otc"
    """run directory: log.csv, TensorBoard events, run.json, resumable checkpoints, the policies (OUT/final),
    evaluation.md"""
    episodes: int = otc_evaluate.DEFAULT_EPISODES
    """evaluation episodes"""
    eval_seed: int = 1
    """evaluation seed"""
    preset: Preset = "market"
    """market: wide type ranges, the experiments' market; clients or schedule: the client
    experiment's markets; default: OTC-v0 as it is"""
    lp: Role = otc_train.LEARN
    """the LPs learn, play the heuristic dealer, or act at random"""
    lt: Role = otc_train.LEARN
    """the RL clients learn, play cheapest-quote, or act at random"""
    warm_start: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """start a learned family from a policy checkpoint of that family, FAMILY=DIR (e.g. lp=runs/bc_lp/final, the
    OUT/final of 'jaxmarket dataset train-offline' on the family's turns of an OTC-v0 recording); its network fields
    (hidden sizes, activation, squashing, observation normalisation) must be this run's; repeat for more families"""
    ppo: MAPPOConfig = dataclasses.field(default_factory=lambda: otc_train.PPO_CONFIG)
    """multi-agent PPO hyperparameters (default: the task's preset; ``learn`` follows --lp and --lt)"""
    market: OTCConfig = dataclasses.field(default_factory=OTCConfig)
    """the market's static configuration (agent counts, tiers, turn order, reference price)"""
    env: OTCParams = dataclasses.field(default_factory=OTCParams)
    """the market's numeric parameters (OTCParams; the type distributions come from --preset)"""


@dataclasses.dataclass(frozen=True)
class EpisodeConfig:
    """Simulate one episode of the OTC dealer market (OTC-v0), print a table per LP and plot it."""

    policy: Literal["heuristic", "random"] = "heuristic"
    """heuristic: curve-pricing hedging LPs and cheapest-quote clients; random: uniform actions"""
    seed: int = 0
    """episode seed"""
    out: str = "runs/otc/otc_episode.png"
    """the PNG to write"""
    market: OTCConfig = dataclasses.field(default_factory=OTCConfig)
    """the market's static configuration (agent counts, tiers, turn order, reference: gbm or replay
    of the bundled EUR/USD 2017 hourly series)"""
    env: OTCParams = dataclasses.field(default_factory=OTCParams)
    """the market's numeric parameters (OTCParams)"""


def parse_warm_starts(items: tuple[str, ...]) -> dict[str, str]:
    """The ``--warm-start`` items as ``{family: checkpoint directory}``.

    Args:
        items: ``FAMILY=DIR`` strings.

    Returns:
        The directories by family, in the order given.

    Raises:
        ValueError: an item without ``=``, with an empty family or directory, or a family given twice.
    """
    out: dict[str, str] = {}
    for item in items:
        family, sep, directory = item.partition("=")
        family, directory = family.strip(), directory.strip()
        if not sep or not family or not directory:
            raise ValueError(f"warm_start = {item!r}: expected FAMILY=DIR, e.g. lp=runs/bc_lp/final")
        if family in out:
            raise ValueError(f"warm_start: family {family!r} given twice ({out[family]!r} and {directory!r})")
        out[family] = directory
    return out


def run_train(config: TrainConfig) -> None:
    """Train, checkpoint, then print the sweep of the learned market and write ``out/evaluation.md``.

    Raises:
        ValueError: a type distribution or ``--ppo.learn`` was changed, a setting is out of range, or
            a ``--warm-start`` is malformed, for a family that is not learned, or does not fit
            (``otc_train.build``).
    """
    overrides = common.overrides(config.market, config.env)
    for name in SUPERTYPE_FIELDS:
        if name in overrides:
            raise ValueError(f"{name}: the type distributions come from --preset {config.preset!r}; "
                             "change them in Python (training.tasks.otc.train.PRESETS)")
    if config.ppo.learn != MAPPOConfig().learn:
        raise ValueError(f"learn = {config.ppo.learn!r}: the learned families follow --lp and --lt")
    roles = {"lp": config.lp, "lt": config.lt}
    warm_start = parse_warm_starts(config.warm_start)
    trainer = otc_train.build(config.ppo, config.preset, overrides, roles, warm_start)
    ppo, env = trainer.config, trainer.env
    warm_text = ", ".join(f"{family} from {directory}" for family, directory in warm_start.items())
    headline = (f"training {', '.join(trainer.learned)} on {otc_train.ENV_ID} (preset {config.preset!r}, "
                f"{env.num_agents}, {env.config.n_flow} flow clients, roles {roles}): "
                f"{ppo.num_updates * ppo.batch_size:,} rounds, {ppo.num_envs} envs, "
                f"on {common.platform(trainer.mesh.size)}" + (f", warm-started: {warm_text}" if warm_start else ""))
    metadata = otc_train.metadata(config.preset, overrides, roles, warm_start)
    runner, rows, wall = common.train(trainer, config, config.out, metadata, headline, "agent-steps")
    sweep = otc_evaluate.sweep(trainer, trained_policy(trainer, runner), {}, config.episodes, config.eval_seed)
    table = otc_evaluate.format_table(sweep)
    print(table)
    (Path(config.out) / "evaluation.md").write_text(f"{table}\n\nTraining: {rows[-1]['agent_steps']:,.0f} agent-steps "
                                                    f"in {wall:.1f} s wall on {common.platform()}.\n")


def run_episode(config: EpisodeConfig) -> None:
    """One episode under the chosen policy: the per-LP table and the plot."""
    market = config.market
    env, params = jm.make(otc_episode.ENV_ID, **common.overrides(market, config.env))
    policy = otc_episode.policies()[config.policy](env)
    record = otc_episode.simulate_episode(env, params, policy, seed=config.seed)
    title = (f"OTC-v0 under the {config.policy} policy: {market.n_lps} LPs, {market.n_lts} RL + {market.n_flow} flow "
             f"clients, {market.reference} reference, {int(params.n_rounds)} rounds (seed {config.seed})")
    print(otc_episode.summarize(record))
    print(f"plot: {plot_episode(record, config.out, title)}")


def is_checkpoint(directory: str) -> bool:
    """Whether ``directory`` holds a checkpoint of an OTC run (by its metadata)."""
    return checkpoint.read_metadata(directory).get("env_id") == otc_train.ENV_ID


def evaluate(directory: str, grid: tuple[str, ...], agents: int | None, episodes: int | None, eval_seed: int,
             out: str | None) -> None:
    """A sweep of an OTC checkpoint over a grid of agent types (``FAMILY.FIELD=V1,V2,...`` items),
    learned LPs next to the heuristic dealers; with ``out``, the table is written to
    ``out/evaluation.md``.

    Raises:
        ValueError: a bad grid item or checkpoint.
    """
    trainer, policy, _ = otc_train.load(directory)
    points = otc_evaluate.parse_grid(list(grid))
    episodes = otc_evaluate.DEFAULT_EPISODES if episodes is None else episodes
    table = otc_evaluate.format_table(otc_evaluate.sweep(trainer, policy, points, episodes, eval_seed, agents))
    print(table)
    if out:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "evaluation.md").write_text(table + "\n")
        print(f"table: {folder / 'evaluation.md'}")


register(("train", "otc"), TrainConfig, run_train, "multi-agent PPO on OTC-v0: dealers and clients learn at once")
register(("otc",), EpisodeConfig, run_episode, "simulate one episode of the OTC dealer market (OTC-v0) and plot it")

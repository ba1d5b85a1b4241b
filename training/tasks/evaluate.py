"""``jaxmarket evaluate``: a checkpoint against its task's reference policies. A market-making
checkpoint (or none) is compared with the analytic policies (``market_making.command.evaluate``);
an OTC checkpoint is swept over a grid of agent types (``otc.command.evaluate``); a policy
checkpoint of any other single-agent env (PPO's, or an offline learner's) is compared with the
env's behaviour policies and the random policy over the same episodes (``evaluate_policy``)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

import jaxmarket as jm
from jaxmarket.envs.market_making import MarketMakingParams
from training.learners import checkpoint
from training.tasks.market_making import command as market_making
from training.tasks.market_making.comparison import ENV_ID as MARKET_MAKING_ID
from training.tasks.offline.behaviour import BEHAVIOURS
from training.tasks.otc import command as otc
from training.tasks.registry import register

POLICY_EPISODES = 1000  # default evaluation episodes of a single-agent policy checkpoint


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """Evaluate a checkpoint: market making against the analytic policies (without a checkpoint,
    the analytic policies alone), or an OTC run over a grid of agent types."""

    checkpoint: str | None = None
    """a directory written by training (.../final)"""
    episodes: int | None = None
    """evaluation episodes (None: 10,000 for market making, 256 for OTC)"""
    eval_seed: int = 1
    """evaluation seed"""
    out: str | None = None
    """directory for the table (and the quotes plot of a market-making checkpoint)"""
    grid: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """OTC checkpoints: pin a type field to each value, FAMILY.FIELD=V1,V2,... (e.g. lp.gamma=0,1,2);
    repeat --grid for more fields: every combination"""
    agents: int | None = None
    """OTC checkpoints: pin the grid's fields for the first N agents of the family only (None: all)"""
    env: MarketMakingParams = dataclasses.field(default_factory=market_making.criterion_params)
    """market making without a checkpoint: the model and the criterion (a checkpoint brings its own)"""


def run(config: EvaluateConfig) -> None:
    """Evaluate as the checkpoint's task says (module docstring).

    Raises:
        ValueError: ``--grid`` or ``--agents`` without an OTC checkpoint, ``--env.*`` with a
            checkpoint, or a bad setting or checkpoint.
    """
    family = checkpoint.read_metadata(config.checkpoint).get("family") if config.checkpoint else None
    if family is not None:
        raise ValueError(f"--checkpoint {config.checkpoint}: a policy of the {family!r} family alone (trained offline "
                         f"on that family's turns); it acts only beside the other families' policies: start a "
                         f"multi-agent run from it (jaxmarket train otc --warm-start {family}=DIR)")
    if config.checkpoint and otc.is_checkpoint(config.checkpoint):
        otc.evaluate(config.checkpoint, config.grid, config.agents, config.episodes, config.eval_seed, config.out)
        return
    given = "--checkpoint is not an OTC checkpoint" if config.checkpoint else "no --checkpoint was given"
    if config.grid or config.agents is not None:
        raise ValueError(f"--grid and --agents sweep agent types of an OTC checkpoint ('jaxmarket train otc'); {given}")
    if config.checkpoint and config.env != market_making.criterion_params():
        raise ValueError("--env.* sets the model evaluated without a checkpoint; a checkpoint brings its own "
                         f"({config.checkpoint})")
    if config.checkpoint and checkpoint.read_metadata(config.checkpoint).get("env_id") != MARKET_MAKING_ID:
        evaluate_policy(config.checkpoint, config.episodes, config.eval_seed, config.out)
        return
    market_making.evaluate(config.checkpoint, config.env, config.episodes, config.eval_seed, config.out)


def evaluate_policy(directory: str, episodes: int | None, eval_seed: int, out: str | None) -> dict[str, Any]:
    """A single-agent policy checkpoint (``ppo.save_policy``'s format: PPO's or an offline learner's)
    against the random policy and the env's noise-free behaviour policies
    (``training.tasks.offline.behaviour.BEHAVIOURS``), over the same episodes of the checkpoint's env.

    Args:
        directory: the checkpoint directory (a run's ``final``).
        episodes: evaluation episodes per policy, >= 2 (None: ``POLICY_EPISODES``).
        eval_seed: the evaluation seed.
        out: a directory for ``evaluation.md`` and ``evaluation.json``, or None.

    Returns:
        ``{"env_id", "episodes", "eval_seed", "rows"}``, a row per policy with its mean return, its
        standard error and its paired difference from the checkpoint's policy (and that one's s.e.).

    Raises:
        ValueError: no checkpoint there, or ``episodes`` < 2.
    """
    episodes = POLICY_EPISODES if episodes is None else episodes
    if episodes < 2:
        raise ValueError(f"episodes = {episodes}: at least 2 (for standard errors)")
    env, params, policy, metadata = checkpoint.load(directory)
    env_id = metadata["env_id"]
    policies = {"checkpoint": policy, "random": jm.random_policy(env)}
    policies.update({name: make(env, params) for name, make in BEHAVIOURS.get(env_id, {}).items()})
    returns = {name: np.asarray(jm.evaluate(env, params, p, episodes, eval_seed)["return"], np.float64)
               for name, p in policies.items()}
    rows = []
    for name, r in returns.items():
        diff = r - returns["checkpoint"]
        rows.append({"policy": name, "mean": float(r.mean()), "se": float(r.std(ddof=1) / math.sqrt(episodes)),
                     "minus_checkpoint": float(diff.mean()),
                     "minus_checkpoint_se": float(diff.std(ddof=1) / math.sqrt(episodes))})
    lines = [f"{env_id} ({metadata.get('algorithm', 'ppo')} checkpoint {directory}), {episodes:,} episodes (seed "
             f"{eval_seed})", "", "| policy | mean return ± s.e. | minus the checkpoint (paired) ± s.e. |",
             "|---|---|---|"]
    for row in rows:
        paired = ("" if row["policy"] == "checkpoint"
                  else f"{row['minus_checkpoint']:+.3f} ± {row['minus_checkpoint_se']:.3f}")
        lines.append(f"| {row['policy']} | {row['mean']:.3f} ± {row['se']:.3f} | {paired} |")
    table = "\n".join(lines)
    print(table)
    result = {"env_id": env_id, "episodes": episodes, "eval_seed": eval_seed, "rows": rows}
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "evaluation.md").write_text(table + "\n")
        (folder / "evaluation.json").write_text(json.dumps(result, indent=2))
    return result


register(("evaluate",), EvaluateConfig, run, "evaluate a checkpoint and the reference policies")

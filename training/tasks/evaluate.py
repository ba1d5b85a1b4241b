"""``jaxmarket evaluate``: a checkpoint against its task's reference policies. A market-making
checkpoint (or none) is compared with the analytic policies (``market_making.command.evaluate``);
an OTC checkpoint is swept over a grid of agent types (``otc.command.evaluate``)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import tyro

from jaxmarket.envs.market_making import MarketMakingParams
from training.tasks.market_making import command as market_making
from training.tasks.otc import command as otc
from training.tasks.registry import register


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
    if config.checkpoint and otc.is_checkpoint(config.checkpoint):
        otc.evaluate(config.checkpoint, config.grid, config.agents, config.episodes, config.eval_seed, config.out)
        return
    given = "--checkpoint is not an OTC checkpoint" if config.checkpoint else "no --checkpoint was given"
    if config.grid or config.agents is not None:
        raise ValueError(f"--grid and --agents sweep agent types of an OTC checkpoint ('jaxmarket train otc'); {given}")
    if config.checkpoint and config.env != market_making.criterion_params():
        raise ValueError("--env.* sets the model evaluated without a checkpoint; a checkpoint brings its own "
                         f"({config.checkpoint})")
    market_making.evaluate(config.checkpoint, config.env, config.episodes, config.eval_seed, config.out)


register(("evaluate",), EvaluateConfig, run, "evaluate a checkpoint and the reference policies")

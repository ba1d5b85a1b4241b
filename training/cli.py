"""The ``jaxmarket`` command line: each task registers its subcommands (``training.tasks.registry``);
every field of a subcommand's config, nested ones included, is a flag (``--ppo.learning-rate``,
``--env.sigma``); ``jaxmarket SUBCOMMAND --help`` lists them with their meanings and defaults.

    jaxmarket demo                                  # train PPO, compare with the optimum, plot
    jaxmarket train market-making --out runs/mm     # train and checkpoint
    jaxmarket train execution --out runs/execution  # PPO on Execution-v0 against TWAP and always-market
    jaxmarket evaluate --checkpoint runs/mm/final   # compare a checkpoint with the analytic policies
    jaxmarket envs                                  # list the registered environments
    jaxmarket replay MESSAGES.csv                   # replay a LOBSTER message file through the book
    jaxmarket day                                   # simulate a trading day, plot it: runs/day/day.png
    jaxmarket day execution --policy twap           # ... or one episode of an env (daily-investor, execution)
    jaxmarket otc                                   # one OTC-v0 dealer-market episode: runs/otc/otc_episode.png
    jaxmarket train otc --out runs/otc              # multi-agent PPO: dealers and clients learn at once
    jaxmarket evaluate --checkpoint runs/otc/final --grid lp.gamma=0,1,2   # a sweep over agent types
    jaxmarket experiment skew --checkpoint runs/otc/final                  # one of the OTC experiments
    jaxmarket dataset record --env-id jaxmarket/OTC-LP-v0 --policy heuristic   # a Minari dataset of logged episodes
    jaxmarket dataset train-offline jaxmarket/otc-lp-v0/heuristic-v0 --algorithm iql --out runs/iql
    jaxmarket train market-making --warm-start runs/bc/final              # PPO from an offline policy
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Annotated, Any, Union

import tyro

from training.tasks import distributed
from training.tasks.registry import Command, commands, command_for, register

PROG = "jaxmarket"
GROUP_HELP = {  # the help line of each group of subcommands
    "train": "train on a task: market-making, execution or otc",
    "experiment": "run one experiment (OTC learned behaviours; offline RL, warm starts, held-out types)",
    "dataset": "record, describe and learn from Minari datasets of logged interaction",
    "day": "simulate one trading day (the market alone or an env episode) and plot it",
}


@dataclasses.dataclass(frozen=True)
class EnvsConfig:
    """List the registered environments."""


def run_envs(config: EnvsConfig) -> None:
    """Print the registered environment ids, one a line."""
    del config
    import jaxmarket as jm

    print("\n".join(jm.registered()))


register(("envs",), EnvsConfig, run_envs, "list the registered environments")


def _subcommand(command: Command) -> Any:
    return Annotated[command.config, tyro.conf.subcommand(command.path[-1], description=command.help)]


def _group(name: str, members: list[Command]) -> type:
    """A dataclass holding the group's subcommands as one field (defaulting to its default member, if any)."""
    choice = Union[tuple(_subcommand(c) for c in members)]  # noqa: UP007 (a runtime union of annotated types)
    default = next((c.config for c in members if c.default), None)
    field = dataclasses.field(default_factory=default) if default else dataclasses.field()
    wrapper = dataclasses.make_dataclass(f"{name.title()}Commands", [(name, choice, field)], frozen=True)
    wrapper.__doc__ = GROUP_HELP.get(name, name)
    return wrapper


def command_type() -> tuple[Any, set[type]]:
    """The tyro type of the whole command line (a union of the subcommands and groups), and the
    group classes (whose single field holds the chosen subcommand)."""
    options: list[Any] = []
    groups: dict[str, list[Command]] = {}
    for path, command in sorted(commands().items(), key=lambda item: item[0] == ("envs",)):  # envs last
        if len(path) == 1:
            options.append(_subcommand(command))
        else:
            if path[0] not in groups:
                options.append(path[0])  # a placeholder, keeping the order of first registration
            groups.setdefault(path[0], []).append(command)
    wrappers = {name: _group(name, members) for name, members in groups.items()}
    options = [Annotated[wrappers[o], tyro.conf.subcommand(o, description=GROUP_HELP.get(o, o))]
               if isinstance(o, str) else o for o in options]
    return Union[tuple(options)], set(wrappers.values())  # noqa: UP007


def parse(argv: list[str] | None = None) -> Any:
    """The config of the subcommand ``argv`` names, built from its flags; nothing runs.

    Args:
        argv: the arguments after ``jaxmarket`` (default: ``sys.argv[1:]``).

    Returns:
        The subcommand's config dataclass.

    Raises:
        SystemExit: code 2 for a usage error (an unknown subcommand or flag, a flag of another
            subcommand, a value of the wrong type), 0 after ``--help``.
    """
    kind, wrappers = command_type()
    config = tyro.cli(kind, args=sys.argv[1:] if argv is None else argv, prog=PROG, description=__doc__,
                      config=(tyro.conf.OmitSubcommandPrefixes,))
    if type(config) in wrappers:
        config = getattr(config, dataclasses.fields(config)[0].name)
    return config


def main(argv: list[str] | None = None) -> None:
    """Join the other processes of a multi-process run (``--coordinator``, ``--num-processes``,
    ``--process-id`` or a cluster scheduler's variables; ``training.tasks.distributed``), which must
    happen before the commands' modules are imported (processes other than 0 print nothing), then
    parse ``argv`` and run the subcommand;
    bad settings or a missing file exit with a one-line ``jaxmarket: ...`` message (``ValueError``,
    ``OSError``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        several = distributed.initialize_from_args(argv)
    except ValueError as error:
        raise SystemExit(f"jaxmarket: {error}") from None
    if several and distributed.process_index():
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - process 0 alone prints; kept open until exit
    config = parse(argv)
    try:
        command_for(config).run(config)
    except (ValueError, OSError) as error:  # bad settings or a missing file: say what is wrong, no traceback
        raise SystemExit(f"jaxmarket: {error}") from None


if __name__ == "__main__":
    main(sys.argv[1:])

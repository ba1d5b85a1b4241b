"""The command registry: each task registers its ``jaxmarket`` subcommands here, a frozen config
dataclass (its fields are the subcommand's flags) and the function that runs it;
``training.cli`` builds the command line from what is registered.

    register(("train", "execution"), TrainConfig, run, "PPO on Execution-v0 against TWAP")
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

# The modules whose import registers the tasks' commands, in the order ``jaxmarket --help`` lists them.
COMMAND_MODULES = (
    "training.tasks.market_making.command",
    "training.tasks.execution.command",
    "training.tasks.otc.command",
    "training.tasks.evaluate",
    "training.tasks.otc.experiments.command",
    "training.tasks.calibrate.command",
    "training.tasks.replay.command",
    "training.tasks.day.command",
    "training.tasks.plot.command",
    "training.tasks.offline.command",
    "training.tasks.offline.experiments",
)


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: its words (``("train", "otc")``), its config class, what runs it, its help
    line, and whether it is its group's default (run when the group is given alone)."""

    path: tuple[str, ...]
    config: type
    run: Callable[[Any], None]
    help: str
    default: bool = False


_COMMANDS: dict[tuple[str, ...], Command] = {}


def register(path: tuple[str, ...], config: type, run: Callable[[Any], None], help: str,
             default: bool = False) -> None:
    """Register the subcommand ``path`` (one word, or a group and a word) run by ``run(config)``.

    Args:
        path: the subcommand's words, e.g. ``("demo",)`` or ``("train", "otc")``.
        config: a frozen dataclass whose fields (documented, with defaults) are the flags.
        run: runs the parsed config.
        help: one line for the list of subcommands.
        default: whether this subcommand runs when its group is given without one.

    Raises:
        ValueError: the path is taken, is not one or two words, or the config class already
            serves another subcommand.
    """
    if path in _COMMANDS:
        raise ValueError(f"path = {path!r} is already registered")
    if len(path) not in (1, 2):
        raise ValueError(f"path = {path!r}: expected one or two words")
    if any(c.config is config for c in _COMMANDS.values()):
        raise ValueError(f"config = {config.__name__} already serves another subcommand: give each its own class")
    _COMMANDS[path] = Command(path, config, run, help, default)


def commands() -> dict[tuple[str, ...], Command]:
    """Every registered subcommand by path (importing ``COMMAND_MODULES`` registers the tasks')."""
    for name in COMMAND_MODULES:
        importlib.import_module(name)
    return dict(_COMMANDS)


def command_for(config: Any) -> Command:
    """The registered subcommand whose config class is ``type(config)``.

    Raises:
        KeyError: no subcommand has that config class.
    """
    for command in _COMMANDS.values():
        if type(config) is command.config:
            return command
    raise KeyError(f"no subcommand takes a {type(config).__name__}")

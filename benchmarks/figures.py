"""What each field of a benchmark's JSON line is: a figure (a measured number with a unit), the
batch size, or part of the configuration. The suite (``benchmarks/suite.py``) and the A/B driver
(``benchmarks/compare_trees.py``) both split the lines of the ``benchmarks/*_throughput.py``
scripts with :func:`split_row`; this module imports neither JAX nor the project, so a driver can
use it without starting a backend.

A line such as ``{"what": "lob messages/s, synthetic flow", "num_books": 1024, "capacity": 128,
"messages_per_book": 488, "halts": false, "msgs_per_s": 1080000, "device": ..., "date": ...}``
becomes one figure (``msgs_per_s``, messages/s) at batch size 1024 with the configuration
``capacity=128 halts=False messages_per_book=488``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

HIGHER = "higher"  # a larger value is better (a rate)
LOWER = "lower"  # a smaller value is better (a wall time, an overhead)
NEITHER = "neither"  # a quality figure: it should not change at all

# field name -> (unit, which direction is better); every other field except METADATA and the batch
# fields is configuration, so a figure missing here would be read as configuration
FIGURE_UNITS: dict[str, tuple[str, str]] = {
    # env_throughput, ppo_throughput
    "market_making": ("env steps/s", HIGHER),
    "cartpole": ("env steps/s", HIGHER),
    "ratio_to_cartpole": ("ratio", HIGHER),
    # lob_throughput
    "msgs_per_s": ("messages/s", HIGHER),
    "cartpole_steps_per_s": ("env steps/s", HIGHER),
    # market_throughput (its env columns are the env ids without the "jaxmarket/" prefix)
    "Execution-v0": ("env steps/s", HIGHER),
    "DailyInvestor-v0": ("env steps/s", HIGHER),
    "days_per_s": ("days/s", HIGHER),
    # ppo_throughput
    "train_wall_s": ("s", LOWER),
    "share_of_h00": ("ratio", NEITHER),
    "loop_steps_per_s": ("env steps/s", HIGHER),
    "loop_overhead": ("fraction", LOWER),
    "cartpole_same_config": ("env steps/s", HIGHER),
    # mappo_throughput
    "agent_steps_per_s": ("agent-steps/s", HIGHER),
    "rounds_per_s": ("rounds/s", HIGHER),
    "wall_s": ("s", LOWER),
    # calibration_throughput
    "env_steps_per_s": ("env steps/s", HIGHER),
    "overhead": ("fraction", LOWER),
    # dataset_throughput
    "record_transitions_per_s": ("transitions/s", HIGHER),
    "record_call_s": ("s", LOWER),
    "write_mb_per_s": ("MB/s", HIGHER),
    "read_mb_per_s": ("MB/s", HIGHER),
    "minari_read_mb_per_s": ("MB/s", HIGHER),
    "dataset_mb": ("MB", NEITHER),
    # offline_throughput
    "grad_steps_per_s": ("gradient steps/s", HIGHER),
}
OTC_FIGURE = re.compile(r"^\d+x\d+_(vec|vmap)$")  # otc_throughput's "<lps>x<clients>_<mode>" columns
OTC_UNIT = ("env steps/s", HIGHER)
BATCH_FIELDS = ("num_envs", "num_books", "num_episodes")  # the batch size, whichever the script names
METADATA = ("device", "date")  # fields that describe the run, not the configuration


@dataclass(frozen=True)
class Figure:
    """One measured number of one JSON line.

    Attributes:
        what: the line's ``what`` field (which benchmark printed it).
        configuration: the other configuration fields as ``name=value`` pairs, sorted by name,
            space-separated (empty when there are none).
        batch_size: the number of envs or books, or ``None`` if the line names neither.
        figure: the field name, e.g. ``"msgs_per_s"``.
        value: the number (float; ``int`` fields are converted).
        unit: e.g. ``"messages/s"``.
        better: ``"higher"``, ``"lower"`` or ``"neither"``.
        device: the line's ``device`` field (empty if absent).
        date: the line's ``date`` field (empty if absent).
    """

    what: str
    configuration: str
    batch_size: int | None
    figure: str
    value: float
    unit: str
    better: str
    device: str
    date: str

    def key(self) -> tuple[str, str, int | None, str]:
        """What identifies the figure across runs: ``(what, configuration, batch_size, figure)``."""
        return (self.what, self.configuration, self.batch_size, self.figure)


def figure_unit(name: str) -> tuple[str, str] | None:
    """The ``(unit, better)`` of a field, or ``None`` if the field is not a figure.

    Args:
        name: a field name of a benchmark's JSON line.

    Returns:
        ``(unit, better)`` for a figure, ``None`` for a configuration or metadata field.
    """
    if name in FIGURE_UNITS:
        return FIGURE_UNITS[name]
    return OTC_UNIT if OTC_FIGURE.match(name) else None


def split_row(row: dict[str, Any]) -> list[Figure]:
    """The figures of one benchmark JSON line, each with the line's configuration.

    Args:
        row: one parsed line, as ``benchmarks.common.report`` prints it.

    Returns:
        One :class:`Figure` per numeric figure field, in the line's field order; a figure whose
        value is not a number (e.g. ``null``) is skipped.
    """
    batch = next((int(row[name]) for name in BATCH_FIELDS if name in row), None)
    config = {name: value for name, value in row.items()
              if name not in (*METADATA, *BATCH_FIELDS, "what") and figure_unit(name) is None}
    configuration = " ".join(f"{name}={_text(config[name])}" for name in sorted(config))
    figures = []
    for name, value in row.items():
        unit = figure_unit(name)
        if unit is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        figures.append(Figure(what=str(row.get("what", "")), configuration=configuration, batch_size=batch,
                              figure=name, value=float(value), unit=unit[0], better=unit[1],
                              device=str(row.get("device", "")), date=str(row.get("date", ""))))
    return figures


def parse_lines(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The JSON object lines of a benchmark's standard output, and the other lines.

    Args:
        text: the whole standard output of one benchmark process.

    Returns:
        ``(rows, other)``: each line that parses as a JSON object, and every other non-empty line.
    """
    rows, other = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            rows.append(parsed)
        else:
            other.append(stripped)
    return rows, other


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def markdown_cell(value: Any) -> str:
    """A value as a markdown table cell: pipes escaped, newlines turned into spaces.

    Args:
        value: anything with a ``str``.

    Returns:
        The cell's text.
    """
    return str(value).replace("|", "\\|").replace("\n", " ")


def format_number(value: float) -> str:
    """A figure for a table: integers with thousands separators, others with 4 significant digits.

    Args:
        value: the number.

    Returns:
        Its text, e.g. ``"1,080,000"`` or ``"0.9412"``.
    """
    if math.isfinite(value) and value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.4g}"

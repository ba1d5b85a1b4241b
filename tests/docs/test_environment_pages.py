"""Every registered environment has a page in docs/environments/ whose ``## Parameters`` table lists
exactly the env's settings, with the code's defaults.

The table's rows are the fields of the env's parameter dataclass (``dataclasses.fields(type(params))``)
and the keyword arguments of its constructor (``inspect.signature(type(env).__init__)``, without
``self`` and ``**kwargs``). The envs on the background market take their static settings through
``**overrides`` instead (``MarketEnv.__init__``: the fields of ``MarketConfig``, by name), so for them
the constructor's keywords are ``MarketConfig``'s fields.

The default cell holds one backticked Python expression:

- a literal (a number, a string, ``None``, ``True``/``False``, a tuple of them) is compared with the
  code's default: an integer with an integer exactly, a float with a float within float32 rounding,
  anything else exactly (a float written for an integer default, or the reverse, fails);
- otherwise it is a name the code defines (``FLAT_HOUR_PROFILE``) or a call of one without
  arguments (``default_lp_supertype()``), from ``NAMES`` below, whose value must equal the default.

The ``kind`` column says ``static`` for a constructor argument and ``traced`` for a parameter field.
Each env is built once with its defaults; nothing is stepped or compiled.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import numbers
import re
from pathlib import Path
from typing import Any

import pytest

import jaxmarket as jm
from jaxmarket.background import MarketConfig
from jaxmarket.envs.market_env import MarketEnv
from jaxmarket.otc import market, seasonality, types

ROOT = Path(__file__).resolve().parents[2]
PAGES_DIR = ROOT / "docs" / "environments"
PAGES = {
    "jaxmarket/MarketMaking-AS-v0": "market_making.md",
    "jaxmarket/DailyInvestor-v0": "daily_investor.md",
    "jaxmarket/Execution-v0": "execution.md",
    "jaxmarket/OTC-v0": "otc.md",
    "jaxmarket/OTC-LP-v0": "otc_lp.md",
}
HEADING = "## Parameters"
HEADER = ["name", "default", "kind", "unit", "range", "meaning"]
KINDS = ("static", "traced")
FLOAT32_REL = 2.0**-23  # two numbers that round to the same float32 differ by at most this, relatively
NAMES = {  # the non-literal defaults a page may name
    "FLAT_HOUR_PROFILE": seasonality.FLAT_HOUR_PROFILE,
    "STACKELBERG": market.STACKELBERG,
    "SIMULTANEOUS": market.SIMULTANEOUS,
    "default_lp_supertype": types.default_lp_supertype,
    "default_lt_supertype": types.default_lt_supertype,
}
CELL_SPLIT = re.compile(r"(?<!\\)\|")  # a cell boundary: a pipe not escaped as \|
CODE = re.compile(r"^`([^`]+)`$")


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    default: str  # the expression inside the backticks
    kind: str
    line: int  # 1-based line of the page, for messages


def split_row(line: str) -> list[str]:
    """The cells of a markdown table row ``| a | b |``, stripped."""
    return [cell.strip() for cell in CELL_SPLIT.split(line.strip().strip("|"))]


def parameter_table(page: Path) -> list[Row]:
    """The rows of the first table after the ``## Parameters`` heading of ``page``.

    Raises:
      AssertionError: no such heading, no table under it, another header, a malformed row.
    """
    lines = page.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == HEADING]
    assert len(starts) == 1, f"{page.name}: need exactly one {HEADING!r} heading, found {len(starts)}"
    i = starts[0] + 1
    while i < len(lines) and not lines[i].lstrip().startswith("|"):
        assert not lines[i].startswith("#"), f"{page.name}: no table under {HEADING!r} before line {i + 1}"
        i += 1
    assert i < len(lines), f"{page.name}: no table under {HEADING!r}"
    header = split_row(lines[i])
    assert header == HEADER, f"{page.name}:{i + 1}: the table's header is {header}, need {HEADER}"
    assert set(split_row(lines[i + 1])) <= {"---", ":---", "---:", ":---:"}, f"{page.name}:{i + 2}: no separator"
    rows = []
    for number in range(i + 2, len(lines)):
        line = lines[number]
        if not line.lstrip().startswith("|"):
            break
        cells = split_row(line)
        where = f"{page.name}:{number + 1}"
        assert len(cells) == len(HEADER), f"{where}: {len(cells)} cells, need {len(HEADER)}"
        cell = dict(zip(HEADER, cells))
        name, default = CODE.match(cell["name"]), CODE.match(cell["default"])
        assert name, f"{where}: the name {cell['name']!r} is not one backticked word"
        assert default, f"{where}: the default {cell['default']!r} is not one backticked expression"
        assert cell["kind"] in KINDS, f"{where}: kind {cell['kind']!r} is not one of {KINDS}"
        for column in ("unit", "range", "meaning"):
            assert cell[column], f"{where}: empty {column}"
        rows.append(Row(name.group(1), default.group(1), cell["kind"], number + 1))
    return rows


def constructor_defaults(env: Any) -> dict[str, Any]:
    """The env's constructor keywords and their defaults (see the module docstring)."""
    signature = inspect.signature(type(env).__init__)
    skipped = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    found = {name: p.default for name, p in signature.parameters.items() if name != "self" and p.kind not in skipped}
    assert all(d is not inspect.Parameter.empty for d in found.values()), f"{type(env).__name__}: a required argument"
    if isinstance(env, MarketEnv):
        config = MarketConfig()
        found.update({f.name: getattr(config, f.name) for f in dataclasses.fields(MarketConfig)})
    return found


def parameter_defaults(params: Any) -> dict[str, Any]:
    """The fields of the env's parameter dataclass and their default values."""
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(type(params))}


def documented_value(expression: str) -> Any:
    """The value a default cell stands for: a literal, or a name of ``NAMES`` (called if written ``f()``)."""
    try:
        return ast.literal_eval(expression)
    except (ValueError, SyntaxError):
        pass
    node = ast.parse(expression, mode="eval").body
    if isinstance(node, ast.Name) and node.id in NAMES:
        return NAMES[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in NAMES \
            and not node.args and not node.keywords:
        return NAMES[node.func.id]()
    raise AssertionError(f"default `{expression}` is neither a literal nor one of {sorted(NAMES)}")


def same(documented: Any, code: Any) -> bool:
    """Whether a documented default equals the code's (see the module docstring)."""
    if isinstance(code, bool) or isinstance(documented, bool):
        return type(documented) is bool and isinstance(code, bool) and documented == code
    if isinstance(code, numbers.Integral) or isinstance(documented, numbers.Integral):
        return isinstance(documented, int) and isinstance(code, numbers.Integral) and documented == int(code)
    if isinstance(code, numbers.Real) or isinstance(documented, numbers.Real):
        return (isinstance(documented, float) and isinstance(code, numbers.Real)
                and math.isclose(documented, float(code), rel_tol=FLOAT32_REL, abs_tol=0.0))
    if isinstance(code, (tuple, list)):
        return (isinstance(documented, (tuple, list)) and len(documented) == len(code)
                and all(same(d, c) for d, c in zip(documented, code)))
    if isinstance(code, dict):
        return isinstance(documented, dict) and documented.keys() == code.keys() \
            and all(same(documented[k], code[k]) for k in code)
    return type(documented) is type(code) and documented == code


@pytest.fixture(scope="module")
def built() -> dict[str, tuple[Any, Any]]:
    """Every registered env with its default parameters, built once."""
    return {env_id: jm.make(env_id) for env_id in jm.registered()}


def test_every_registered_env_has_a_page():
    missing = [env_id for env_id in jm.registered() if env_id not in PAGES]
    assert missing == [], f"registered envs without a page in docs/environments/: {missing}"
    for env_id in jm.registered():
        page = PAGES_DIR / PAGES[env_id]
        assert page.is_file(), f"{env_id}: {page.relative_to(ROOT)} does not exist"
        assert f"`{env_id}`" in page.read_text(encoding="utf-8"), f"{page.name} does not name `{env_id}`"


@pytest.mark.parametrize("env_id", jm.registered())
def test_the_parameter_table_matches_the_code(built, env_id):
    assert env_id in PAGES, f"{env_id} has no page"
    page = PAGES_DIR / PAGES[env_id]
    assert page.is_file(), f"{env_id}: {page.relative_to(ROOT)} does not exist"
    env, params = built[env_id]
    static, traced = constructor_defaults(env), parameter_defaults(params)
    assert not set(static) & set(traced), f"{env_id}: a name is both a constructor argument and a field"
    rows = parameter_table(page)

    names = [row.name for row in rows]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    assert duplicated == [], f"{page.name}: rows listed twice: {duplicated}"
    expected = set(static) | set(traced)
    assert set(names) == expected, (f"{page.name}: missing rows {sorted(expected - set(names))}, "
                                    f"rows the code does not have {sorted(set(names) - expected)}")

    wrong = []
    for row in rows:
        kind = "static" if row.name in static else "traced"
        code = static[row.name] if kind == "static" else traced[row.name]
        if row.kind != kind:
            wrong.append(f"line {row.line}: `{row.name}` is {kind}, the page says {row.kind}")
        elif not same(documented_value(row.default), code):
            wrong.append(f"line {row.line}: `{row.name}` defaults to {code!r} in the code, the page says `{row.default}`")
    assert wrong == [], f"{page.name}:\n" + "\n".join(wrong)

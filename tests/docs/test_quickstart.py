"""docs/quickstart.md runs as written: its fenced ``bash`` and ``python`` blocks are extracted and
run in order, each must exit 0, and the files the page says the run writes must exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"
README = ROOT / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.M | re.S)

# The quickstart's install block. It is the setup half of the README's first command, which CI
# has already run in a superset form (the README's test command installs ".[dev]" into .venv
# before pytest starts), so re-running it would only reinstall the package into the environment
# running this test. It is the one block skipped, matched exactly: any other line runs.
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -q -e ."

# What the quickstart says its commands write (each path appears in the page).
WRITES = [
    "runs/quickstart/log.csv",
    "runs/quickstart/run.json",
    "runs/quickstart/checkpoints",
    "runs/quickstart/final",
    "runs/quickstart/comparison.md",
    "runs/quickstart/quotes.png",
    "runs/quickstart/training_curves.png",
]

BLOCK_TIMEOUT_S = 300  # one block; the whole page takes well under a minute on a 2-core CPU


def blocks(text: str) -> list[tuple[str, str]]:
    """The page's fenced code blocks as ``(language, code)``, in order."""
    return [(lang, code) for lang, code in BLOCK.findall(text)]


def runnable(text: str) -> list[tuple[str, str]]:
    """The blocks the test runs: every ``bash`` and ``python`` block except the install block."""
    return [(lang, code) for lang, code in blocks(text)
            if lang in ("bash", "python") and code.strip() != INSTALL]


def test_every_block_is_bash_or_python_and_the_install_block_is_the_readmes():
    page = QUICKSTART.read_text()
    languages = [lang for lang, _ in blocks(page)]
    assert languages and set(languages) <= {"bash", "python"}, languages
    installs = [code for lang, code in blocks(page) if code.strip() == INSTALL]
    assert len(installs) == 1, "the quickstart has exactly one install block, the one skipped"
    first_readme_command = re.findall(r"```(?:bash|sh)\n(.*?)\n```", README.read_text(), re.S)[0].strip()
    assert first_readme_command.startswith(INSTALL + " && "), (
        "the quickstart's install block must stay the setup half of the README's first command")


def test_the_written_files_are_the_ones_the_page_names():
    page = QUICKSTART.read_text()
    for path in WRITES:
        name = path.removeprefix("runs/quickstart/")
        assert f"`{name}" in page or path in page, f"docs/quickstart.md does not mention {path}"


@pytest.mark.slow
def test_the_quickstart_runs(tmp_path):
    venv = Path(sys.prefix)
    assert (venv / "bin" / "jaxmarket").exists(), f"run the tests from the project's .venv ({venv} has no jaxmarket)"
    (tmp_path / ".venv").symlink_to(venv)  # the page's .venv/bin/... commands, with outputs in tmp_path
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    todo = runnable(QUICKSTART.read_text())
    assert [lang for lang, _ in todo].count("bash") >= 3 and any(lang == "python" for lang, _ in todo)
    for i, (lang, code) in enumerate(todo):
        if lang == "bash":
            command = ["bash", "-euo", "pipefail", "-c", code]
        else:
            script = tmp_path / f"block_{i}.py"
            script.write_text(code)
            command = [str(tmp_path / ".venv" / "bin" / "python"), str(script)]
        proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT_S)
        assert proc.returncode == 0, (
            f"quickstart block {i} ({lang}) exited {proc.returncode}:\n{code}\n"
            f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    missing = [path for path in WRITES if not (tmp_path / path).exists()]
    assert missing == [], f"the quickstart did not write {missing}"
    assert len((tmp_path / "runs/quickstart/log.csv").read_text().splitlines()) == 11  # header + 10 chunks

"""The suite's ``--dist loadgroup`` keeps each ``xdist_group`` on one worker process, so an
expensive cached fixture (a trained market, a built docs site) is made once per run. A pytest
that renames test ids where pytest-xdist no longer can (9.2) silently spreads the groups, and the
suite's time grows by every duplicated fixture: this runs a tiny suite the same way and checks."""

import os
import subprocess
import sys
import textwrap

GROUPED = textwrap.dedent('''
    import os
    import pytest

    @pytest.mark.xdist_group("one")
    @pytest.mark.parametrize("i", range(4))
    def test_grouped(i, tmp_path_factory):
        (tmp_path_factory.getbasetemp().parent.parent / f"grouped_{i}").write_text(str(os.getpid()))

    @pytest.mark.parametrize("i", range(8))
    def test_free(i):
        pass
''')


def test_loadgroup_runs_a_group_in_one_worker_process(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_grouped.py").write_text(GROUPED)
    base = tmp_path / "runs" / "base"
    base.parent.mkdir()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p",
                             "no:cacheprovider", f"--basetemp={base}", str(suite)],
                            capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    pids = {(tmp_path / "runs" / f"grouped_{i}").read_text() for i in range(4)}
    assert len(pids) == 1, f"the group ran in processes {pids}"

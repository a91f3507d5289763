"""The static checks of scripts/lint.sh (run by scripts/test.sh before pytest) refuse what they are there for.

Each check runs on a scratch copy of the packages with one deliberate fault, as CI would meet it; the committed
code itself passing them is what scripts/test.sh checks first.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    for pkg in ("core", "workers", "ui", "cli"):
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def tool(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def append(path: Path, code: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + code, encoding="utf-8")


def test_the_test_command_runs_every_check_first_and_stops_on_a_failure():
    test_sh = (REPO / "scripts" / "test.sh").read_text(encoding="utf-8")
    lint_sh = (REPO / "scripts" / "lint.sh").read_text(encoding="utf-8")
    assert "set -euo pipefail" in test_sh and test_sh.index("bash scripts/lint.sh") < test_sh.index("-m pytest")
    assert "set -euo pipefail" in lint_sh
    for command in ('"$BIN/ruff" check .', '"$BIN/mypy"', '"$BIN/lint-imports"'):
        assert command in lint_sh


def test_import_linter_refuses_qt_in_core_a_second_way_to_workers_and_a_hidden_cycle(scratch):
    assert tool("lint-imports", cwd=scratch).returncode == 0, "the scratch copy starts clean"
    append(scratch / "core" / "shifts.py", "\n\ndef _late() -> None:\n    import PySide6  # noqa: F401\n")
    append(scratch / "ui" / "event_log.py", "\n\ndef _late() -> None:\n    import workers.pipeline  # noqa: F401\n")
    (scratch / "core" / "scratch_a.py").write_text("import core.scratch_b  # noqa: F401\n", encoding="utf-8")
    (scratch / "core" / "scratch_b.py").write_text("def _late() -> None:\n    import core.scratch_a  # noqa: F401\n",
                                                   encoding="utf-8")
    out = tool("lint-imports", cwd=scratch)
    assert out.returncode != 0
    assert "core.shifts -> PySide6" in out.stdout
    assert "ui.event_log -> workers.pipeline" in out.stdout
    assert "No cycles are allowed in core" in out.stdout and "scratch_" in out.stdout


def test_mypy_refuses_an_untyped_function_and_a_wrong_type_in_core(scratch):
    bad = scratch / "core" / "scratch_fault.py"
    bad.write_text("def untyped(x):\n    return x\n\n\ncount: int = 'three'\n", encoding="utf-8")
    out = tool("mypy", "--config-file", "pyproject.toml", "core/scratch_fault.py", cwd=scratch)
    assert out.returncode != 0
    assert "[no-untyped-def]" in out.stdout and "[assignment]" in out.stdout


def test_ruff_refuses_an_unused_import(scratch):
    append(scratch / "core" / "shifts.py", "\nimport json\n")
    out = tool("ruff", "check", "core/shifts.py", cwd=scratch)
    assert out.returncode != 0 and "F401" in out.stdout

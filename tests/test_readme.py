"""README examples are runnable: every bash block after ``<!-- readme-test -->`` runs.

Blocks run in a temporary directory holding copies of the repository's config folders
(as if run from a checkout), with this interpreter's ``bin`` first on PATH (so
``mtrec`` is the installed console script).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

MARK = "<!-- readme-test -->"


def readme_blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    blocks = []
    for part in text.split(MARK)[1:]:
        m = re.match(r"\s*```bash\n(.*?)```", part, re.S)
        assert m, "a readme-test marker must be followed by a ```bash block"
        blocks.append(m.group(1))
    return blocks


def test_readme_has_tested_examples():
    assert readme_blocks(), "README lost its tested quickstart"


@pytest.mark.parametrize("index", range(len(readme_blocks())))
def test_readme_example_runs(index, tmp_path):
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("RAY_AUTH_MODE", "disabled")
    env["MTREC_README_TEST"] = "1"
    (tmp_path / "runs").mkdir()
    for folder in ("rl_configs", "tune_configs", "examples"):
        if (REPO_ROOT / folder).is_dir():
            shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    res = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_blocks()[index]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, f"README block {index} failed:\n{res.stdout}\n{res.stderr}"

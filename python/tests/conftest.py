import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).resolve().parent / "configs"


def run_cli(*args, cwd=None):
    """Run ``python -m moec`` in a subprocess; returns CompletedProcess (text)."""
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    return subprocess.run(
        [sys.executable, "-m", "moec", *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


def load_config(name):
    return json.loads((CONFIGS / name).read_text())


@pytest.fixture
def write_config(tmp_path):
    """Write a (modified) config dict to a temp file and return its path."""

    def write(cfg, name="config.json"):
        p = tmp_path / name
        p.write_text(json.dumps(cfg))
        return p

    return write

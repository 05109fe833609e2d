import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).resolve().parent / "configs"

# Unexpected exceptions re-raise (a traceback) instead of becoming "moec: error: internal
# error", so a test that expects one clean error line catches every unhandled path.
os.environ["MOEC_TRACEBACK"] = "1"


def run_cli(*args, cwd=None):
    """Run ``python -m moec`` in a subprocess; returns CompletedProcess (text)."""
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), MOEC_TRACEBACK="1")
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


def one_error_line(proc, *patterns):
    """Exit code 2, exactly one stderr line, starting "moec: error: ", no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("moec: error: "), proc.stderr
    for p in patterns:
        assert p in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def write_config(tmp_path):
    """Write a (modified) config dict to a temp file and return its path."""

    def write(cfg, name="config.json"):
        p = tmp_path / name
        p.write_text(json.dumps(cfg))
        return p

    return write

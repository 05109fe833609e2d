"""Runs `python -m moec ARGS` inside the calling process.

The integration checks call the moec command line hundreds of times; an
interpreter start-up with NumPy costs 0.5 to 2 s of CPU on a 2-core CI
machine, more than most of the calls themselves. The command line is the
same (`moec.__main__.main`, argparse and all); only the process is reused.
The caller must be single-threaded (stdout and stderr are redirected while
moec runs): the checks run their cases in worker processes, not threads.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "python"))

from moec.__main__ import main as _moec_main  # noqa: E402


def moec(*args) -> str:
    """Runs the moec command line on `args`; returns its stdout, raises
    RuntimeError with its output when it exits non-zero."""
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = _moec_main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    if code:
        raise RuntimeError(
            f"python -m moec {' '.join(argv)} failed ({code}):\n{out.getvalue()}{err.getvalue()}"
        )
    return out.getvalue()

#!/usr/bin/env python3
"""Fails if a test, test script or CMake test rule runs a bare ``python``/``python3``.

Tests must run the interpreter that scripts/setup.sh prepared and CMake resolved
(``%python`` in lit, ``${MOEC_PYTHON}`` in CMake, ``$PYTHON`` in scripts given it):
a bare name is looked up on the test's PATH, which lit scrubs, and can reach an
interpreter without NumPy on a fresh machine.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BARE = re.compile(r"(?<![%\w/.$-])python3?(?![\w./-])")
SHEBANG_OK = re.compile(r"^#!/usr/bin/env python3$")


def run_lines(path: Path):
    """(line number, command) of each RUN line of a lit test."""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.search(r"RUN:(.*)", line)
        if m:
            yield n, m.group(1)


def cmake_lines(path: Path):
    for n, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("#", 1)[0]
        if "COMMAND" in code or "add_test" in code:
            yield n, code


def script_lines(path: Path):
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if n == 1 and SHEBANG_OK.match(line):
            continue
        code = line.split("#", 1)[0]
        # `PYTHON=${PYTHON:-python3}` is a caller-overridable default, not a call.
        code = re.sub(r"\$\{PYTHON:-python3?\}", "", code)
        yield n, code


def main(root: Path) -> int:
    checks = []
    for ext in ("*.mlir", "*.test"):
        # Inputs/ holds fixtures that lit does not run (this script's own among them).
        checks += [
            (p, run_lines)
            for p in (root / "test").rglob(ext)
            if "Inputs" not in p.relative_to(root).parts[:-2]
        ]
    checks += [(p, cmake_lines) for p in root.rglob("CMakeLists.txt") if "build" not in p.parts]
    checks += [(p, script_lines) for p in (root / "examples").glob("*.sh")]
    checks += [(root / ".ci" / "run", script_lines)]
    bad = []
    for path, lines in checks:
        if not path.exists():
            continue
        for n, text in lines(path):
            if BARE.search(text):
                bad.append(f"{path.relative_to(root)}:{n}: bare python call: {text.strip()}")
    for line in bad:
        print(line, file=sys.stderr)
    print(f"checked {len(checks)} files, {len(bad)} bare python call(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))

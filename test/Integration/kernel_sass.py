#!/usr/bin/env python3
"""Counts the tensor-core and shared-memory staging instructions of each kernel
a CUDA model embeds.

  kernel_sass.py --cuobjdump PATH model.so

moe-compile embeds each kernel's fatbin (magic 0xBA55ED50, then a 16-byte
header that gives the size) in model.so's read-only data, where cuobjdump does
not look. This script cuts every fatbin out, disassembles it with
`cuobjdump -sass` (which needs nvdisasm beside it or on NVDISASM_PATH), and
prints one line per kernel, in the order of the library's data:

  kernel 6: 8 HMMA, 0 HGMMA, 0 LDGSTS, 0 BAR.SYNC

(LDGSTS: cp.async copies into shared memory; BAR.SYNC: block barriers), then `tensor-core kernels: N of M`. Exits non-zero if a fatbin does not
disassemble.
"""
import argparse
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

MAGIC = struct.pack("<I", 0xBA55ED50)


def fatbins(data: bytes):
    at = data.find(MAGIC)
    while at >= 0:
        _version, header, size = struct.unpack_from("<HHQ", data, at + 4)
        yield data[at : at + header + size]
        at = data.find(MAGIC, at + header + size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuobjdump", required=True)
    parser.add_argument("model", type=Path)
    args = parser.parse_args()
    blobs = list(fatbins(args.model.read_bytes()))
    if not blobs:
        print(f"{args.model}: no embedded fatbin", file=sys.stderr)
        return 1
    with_tensor_cores = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n, blob in enumerate(blobs):
            path = Path(tmp) / f"kernel{n}.fatbin"
            path.write_bytes(blob)
            proc = subprocess.run(
                [args.cuobjdump, "-sass", str(path)], capture_output=True, text=True
            )
            if proc.returncode != 0 or "Function" not in proc.stdout:
                print(f"kernel {n}: cuobjdump failed: {proc.stderr.strip()}", file=sys.stderr)
                return 1
            hmma = len(re.findall(r"\bHMMA\.", proc.stdout))
            hgmma = len(re.findall(r"\bHGMMA\.", proc.stdout))
            ldgsts = len(re.findall(r"\bLDGSTS\b", proc.stdout))
            bars = len(re.findall(r"\bBAR\.SYNC\b", proc.stdout))
            with_tensor_cores += bool(hmma or hgmma)
            print(f"kernel {n}: {hmma} HMMA, {hgmma} HGMMA, {ldgsts} LDGSTS, {bars} BAR.SYNC")
    print(f"tensor-core kernels: {with_tensor_cores} of {len(blobs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

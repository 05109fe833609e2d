"""moec: Python side of the moec MoE compiler.

Importer (Hugging Face config -> ``moe.layer`` MLIR), random checkpoint-named weights, and an
independent NumPy reference implementation of the MoE semantics in ``docs/semantics.md``.
"""

__version__ = "0.1.0"

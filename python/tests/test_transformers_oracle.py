"""The reference against outputs of the MoE blocks that transformers itself ran.

``test/Integration/transformers/<family>[-<version>]/`` holds, per family, the config.json and
model.safetensors that transformers' ``save_pretrained`` wrote, inputs ``x<T>.npy`` and the
block's outputs ``y<T>.npy`` (made by ``test/Integration/make_transformers_fixtures.py``). Each
case goes through the user's path: config -> LayerSpec (``auto`` semantics, from the config's
``transformers_version``), weights through the sources, the float64 reference.
"""

import json

import numpy as np
import pytest
from conftest import PYTHON_DIR
from moec.configs import layer_spec_from_config
from moec.reference import reference_from_spec
from moec.safetensors_io import Checkpoint
from moec.weights import load_operands

FIXTURES = PYTHON_DIR.parent / "test" / "Integration" / "transformers"
CASES = sorted(p for p in FIXTURES.glob("*") if (p / "info.json").exists())


def test_fixtures_are_present():
    """The fixtures are committed: their absence is a broken checkout, not a skip."""
    assert len(CASES) >= 8, f"transformers fixtures missing in {FIXTURES}"


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_reference_matches_transformers(case):
    info = json.loads((case / "info.json").read_text())
    spec = layer_spec_from_config(
        json.loads((case / "config.json").read_text()), info["layer"]
    )
    ops = load_operands(spec, Checkpoint(case / "model.safetensors"))
    for t in info["tokens"]:
        x = np.load(case / f"x{t}.npy")
        want = np.load(case / f"y{t}.npy").astype(np.float64).reshape(x.shape)
        y = reference_from_spec(spec, ops, x.reshape(-1, x.shape[-1]))[0].reshape(
            want.shape
        )
        err = np.max(np.abs(y - want)) / max(np.max(np.abs(want)), 1e-30)
        assert err <= 1e-5, f"{case.name}, T = {t}: normwise relative error {err:.1e}"

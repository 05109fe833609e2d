"""The command-line boundary: every failure is exit code 2 and one ``moec: error:`` line, never
a traceback. Hand-picked cases, then a seeded property test over mutated configs and files."""

import concurrent.futures
import json
import random

import numpy as np
import pytest
from conftest import CONFIGS, load_config, one_error_line, run_cli
from moec import __main__ as cli
from moec.configs import KEY_ALIASES, SCHEMAS

MIXTRAL = CONFIGS / "mixtral-tiny.json"


def write_mixtral_weights(path):
    """Random weights of the Mixtral test config's layer 0 at `path`."""
    args = [
        "random-weights",
        str(MIXTRAL),
        "--layer",
        "0",
        "--seed",
        "1",
        "-o",
        str(path),
    ]
    assert cli.main(args) == 0


@pytest.fixture
def weights_and_input(tmp_path):
    w = tmp_path / "w.safetensors"
    write_mixtral_weights(w)
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32))
    return w, x


def reference(tmp_path, w, x, *extra, out="y.npy"):
    return run_cli(
        "reference",
        MIXTRAL,
        "--layer",
        0,
        "--weights",
        w,
        "--input",
        x,
        "-o",
        tmp_path / out,
        *extra,
    )


@pytest.mark.parametrize(
    "raw,msg",
    [
        (b'{"model_type": "mixtral", "hidden_size": 64\xff}', "not UTF-8 text"),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        (b"[1, 2]", "config must be a JSON object"),
        (b"42", "config must be a JSON object"),
        (
            b'{"model_type": "mixtral", "model_type": "qwen3_moe"}',
            "duplicate key 'model_type'",
        ),
        (b'{"model_type": ["mixtral"]}', 'unsupported model_type ["mixtral"]'),
        (b"", "invalid JSON"),
    ],
)
def test_bad_config_files(tmp_path, raw, msg):
    p = tmp_path / "config.json"
    p.write_bytes(raw)
    one_error_line(run_cli("import", p, "--layer", 0, "-o", tmp_path / "o.mlir"), msg)


@pytest.mark.parametrize(
    "key,value,msg",
    [
        (
            "num_local_experts",
            "16",
            "config key num_local_experts must be an integer, got '16' (a string)",
        ),
        (
            "hidden_act",
            ["silu"],
            'config key hidden_act must be a string, got ["silu"] (a list)',
        ),
        ("hidden_act", {"a": 1}, "must be a string"),
        ("num_local_experts", 10**12, "at most 2147483647"),
        ("hidden_size", -64, "must be a positive integer"),
        ("num_experts_per_tok", 9, "top_k = 9 exceeds the number of experts 8"),
    ],
)
def test_bad_config_values(tmp_path, write_config, key, value, msg):
    cfg = load_config("mixtral-tiny.json")
    cfg[key] = value
    one_error_line(
        run_cli("import", write_config(cfg), "--layer", 0, "-o", tmp_path / "o.mlir"),
        msg,
    )


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--seed", "-1"], "argument --seed: must be >= 0, got -1"),
        (["--seed", "x"], "argument --seed: expected an integer, got 'x'"),
        (
            ["--seed", "1", "--scale", "nan"],
            "argument --scale: must be a finite number > 0, got nan",
        ),
        (["--seed", "1", "--scale", "inf"], "must be a finite number > 0, got inf"),
        (["--seed", "1", "--scale", "0"], "must be a finite number > 0, got 0"),
        (["--seed", "1", "--scale", "-2"], "must be a finite number > 0"),
        (["--seed", "1", "--dtype", "f64"], "argument --dtype: invalid choice: 'f64'"),
        (["--seed", "1", "--layout", "fused"], "argument --layout: invalid choice"),
        ([], "the following arguments are required: --seed"),
    ],
)
def test_bad_arguments(tmp_path, args, msg):
    r = run_cli("random-weights", MIXTRAL, "--layer", 0, "-o", tmp_path / "w.st", *args)
    one_error_line(r, msg)
    assert not (tmp_path / "w.st").exists()


def test_bad_arguments_other_commands(tmp_path):
    one_error_line(
        run_cli("import", MIXTRAL, "--layer", -1, "-o", tmp_path / "o"), "must be >= 0"
    )
    one_error_line(
        run_cli(
            "import",
            MIXTRAL,
            "--layer",
            0,
            "-o",
            tmp_path / "o",
            "--capacity-factor",
            "nan",
        ),
        "finite",
    )
    one_error_line(
        run_cli("import", MIXTRAL, "--layer", 0, "-o", tmp_path / "o", "--tokens", "0"),
        "must be > 0",
    )
    one_error_line(run_cli("nonsense"), "invalid choice: 'nonsense'")
    one_error_line(run_cli(), "the following arguments are required: command")


def test_output_is_exactly_the_given_path(tmp_path, weights_and_input):
    w, x = weights_and_input
    r = reference(tmp_path, w, x, out="out.bin")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.bin").exists() and not (tmp_path / "out.bin.npy").exists()
    assert np.load(tmp_path / "out.bin").shape == (5, 64)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"D": 8, "F": 4, "E": 4, "k": 2}))
    r = run_cli(
        "gen-layer",
        "--spec",
        spec,
        "-o",
        tmp_path / "m.mlir",
        "--weights",
        tmp_path / "w2",
        "--input",
        tmp_path / "x.bin",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.bin").exists() and not (tmp_path / "x.bin.npy").exists()
    assert (tmp_path / "w2").exists()


def npy_bytes(a):
    import io

    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


@pytest.mark.parametrize(
    "make,msg",
    [
        (
            lambda: npy_bytes(np.zeros((5, 64), np.float32))[:-7],
            "not a valid .npy array",
        ),
        (
            lambda: npy_bytes(np.zeros((5, 64), np.float32))[:40],
            "not a valid .npy array",
        ),
        (lambda: b"", "not a valid .npy array"),
        (lambda: b"\x93NUMPY\x01\x00garbage", "not a valid .npy array"),
        (
            lambda: npy_bytes(np.array([{"a": 1}] * 3, dtype=object)),
            "not a valid .npy array",
        ),
        (
            lambda: npy_bytes(np.zeros((5, 64), np.int32)),
            "input must be floating point, got int32",
        ),
        (
            lambda: npy_bytes(np.zeros((5, 32), np.float32)),
            "input must be [T, 64], got shape [5, 32]",
        ),
        (
            lambda: npy_bytes(np.zeros(64, np.float32)),
            "input must be [T, 64], got shape [64]",
        ),
        (lambda: npy_bytes(np.zeros((1, 5, 64), np.float32)), "got shape [1, 5, 64]"),
        (lambda: npy_bytes(np.zeros((5, 64), np.complex64)), "floating point"),
    ],
)
def test_bad_inputs(tmp_path, weights_and_input, make, msg):
    w, _ = weights_and_input
    x = tmp_path / "bad.npy"
    x.write_bytes(make())
    one_error_line(reference(tmp_path, w, x), msg)
    assert not (tmp_path / "y.npy").exists()


def test_npz_is_not_an_input(tmp_path, weights_and_input):
    w, _ = weights_and_input
    np.savez(tmp_path / "x.npz", x=np.zeros((5, 64), np.float32))
    one_error_line(reference(tmp_path, w, tmp_path / "x.npz"), "not a valid .npy array")


def test_missing_paths(tmp_path, weights_and_input):
    w, x = weights_and_input
    one_error_line(
        run_cli("import", tmp_path / "nope.json", "--layer", 0, "-o", tmp_path / "o"),
        "nope.json: No such file",
    )
    one_error_line(
        run_cli("import", tmp_path, "--layer", 0, "-o", tmp_path / "o"),
        "Is a directory",
    )
    one_error_line(
        run_cli("import", MIXTRAL, "--layer", 0, "-o", tmp_path / "no" / "o"),
        "No such file",
    )
    one_error_line(reference(tmp_path, tmp_path / "none.st", x), "none.st")
    one_error_line(reference(tmp_path, w, tmp_path / "none.npy"), "none.npy")


def test_sizes_too_large(tmp_path, write_config):
    cfg = load_config("mixtral-tiny.json")
    cfg.update(num_local_experts=2**20, intermediate_size=2**20, hidden_size=2**20)
    r = run_cli(
        "random-weights",
        write_config(cfg),
        "--layer",
        0,
        "--seed",
        0,
        "-o",
        tmp_path / "w",
    )
    one_error_line(r, "not enough free disk space", "TiB")
    cfg.update(
        num_local_experts=2**21,
        intermediate_size=1,
        hidden_size=1,
        num_experts_per_tok=1,
    )
    r = run_cli(
        "random-weights",
        write_config(cfg),
        "--layer",
        0,
        "--seed",
        0,
        "-o",
        tmp_path / "w",
    )
    one_error_line(r, "tensors do not fit one safetensors header", "--layout stacked")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"D": 2**30, "F": 1, "E": 1, "k": 1, "T_run": 2**30}))
    r = run_cli(
        "gen-layer",
        "--spec",
        spec,
        "-o",
        tmp_path / "m",
        "--weights",
        tmp_path / "w",
        "--input",
        tmp_path / "x",
    )
    one_error_line(r, "the input would need")


def test_internal_errors_are_one_line_too(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MOEC_TRACEBACK", raising=False)

    def broken(args):
        raise KeyError("oops")

    monkeypatch.setattr(cli, "cmd_import", broken)
    rc = cli.main(["import", str(MIXTRAL), "--layer", "0", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err == "moec: error: internal error: KeyError: 'oops'\n"


# --- property test: seeded random mutations ------------------------------------------------

BAD_TYPES = {
    "int": lambda v, r: r.choice([str(v), 1.5, [v], {"v": v}, True, "x"]),
    "bool": lambda v, r: r.choice(["false", "true", 0, 1, [v], "no"]),
    "number": lambda v, r: r.choice([str(v), True, [v], {"v": v}]),
    "str": lambda v, r: r.choice([1, [v], {"v": v}, False, 2.5]),
    "int_list": lambda v, r: r.choice(["1", 1, ["1"], [1.5], {"a": 1}, [True]]),
}
REQUIRED = {
    "mixtral": [
        "hidden_size",
        "intermediate_size",
        "num_local_experts",
        "num_experts_per_tok",
    ],
    "qwen2_moe": [
        "hidden_size",
        "moe_intermediate_size",
        "num_experts",
        "num_experts_per_tok",
        "shared_expert_intermediate_size",
    ],
    "qwen3_moe": [
        "hidden_size",
        "moe_intermediate_size",
        "num_experts",
        "num_experts_per_tok",
    ],
    "olmoe": ["hidden_size", "intermediate_size", "num_experts", "num_experts_per_tok"],
    "deepseek_v2": [
        "hidden_size",
        "moe_intermediate_size",
        "n_routed_experts",
        "num_experts_per_tok",
    ],
    "deepseek_v3": [
        "hidden_size",
        "moe_intermediate_size",
        "n_routed_experts",
        "num_experts_per_tok",
    ],
    "switch_transformers": ["d_model", "d_ff", "num_experts"],
    "gpt_oss": [
        "hidden_size",
        "intermediate_size",
        "num_local_experts",
        "num_experts_per_tok",
    ],
}
CHOICE_KEYS = {
    "mixtral": ["hidden_act"],
    "qwen2_moe": ["hidden_act"],
    "qwen3_moe": ["hidden_act"],
    "olmoe": ["hidden_act"],
    "deepseek_v2": ["hidden_act", "scoring_func", "topk_method"],
    "deepseek_v3": ["hidden_act", "scoring_func", "topk_method"],
    "switch_transformers": ["dense_act_fn"],
    "gpt_oss": [],
}
FAMILY_LAYER = {"deepseek_v2": 1, "deepseek_v3": 1, "switch_transformers": 1}


def spellings(family, key):
    return KEY_ALIASES[family].get(key, (key,))


def present_spelling(cfg, family, key):
    return next((s for s in spellings(family, key) if s in cfg), None)


def mutate_config(cfg, r):
    """One mutation that makes the config invalid, as (kind, new config or raw bytes)."""
    family = cfg["model_type"]
    cfg = json.loads(json.dumps(cfg))
    kind = r.choice(
        ["type", "type", "missing", "size", "choice", "model_type", "truncate", "utf8"]
    )
    if kind == "type":
        key, t = r.choice(sorted(SCHEMAS[family].items()))
        s = present_spelling(cfg, family, key) or key
        cfg[s] = BAD_TYPES[t](cfg.get(s, 1), r)
    elif kind == "missing":
        for s in spellings(family, r.choice(REQUIRED[family])):
            cfg.pop(s, None)
    elif kind == "size":
        key = r.choice(REQUIRED[family])
        bad = [-1, -64, 2**31, 10**30] + (
            [0] if key != "shared_expert_intermediate_size" else []
        )
        cfg[present_spelling(cfg, family, key) or key] = r.choice(bad)
    elif kind == "choice" and CHOICE_KEYS[family]:
        cfg[r.choice(CHOICE_KEYS[family])] = r.choice(["tanh", "gelu_new", "", "SILU"])
    elif kind == "truncate":
        text = json.dumps(cfg).encode()
        return kind, text[: r.randrange(0, text.rindex(b"}"))]
    elif kind == "utf8":
        text = json.dumps(cfg).encode()
        i = r.randrange(0, len(text))
        return kind, text[:i] + r.choice(
            [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80"]
        ) + text[i:]
    else:
        cfg["model_type"] = r.choice(["llama", "", "Mixtral", 3, None])
        kind = "model_type"
    return kind, cfg


def check_one(case):
    """Runs one mutated case; returns an error description or None."""
    proc = run_cli(*case["argv"])
    ok = (
        proc.returncode == 2
        and "Traceback" not in proc.stderr
        and len(proc.stderr.splitlines()) == 1
        and proc.stderr.startswith("moec: error: ")
    )
    return (
        None if ok else f"{case['what']}: rc={proc.returncode} stderr={proc.stderr!r}"
    )


def build_cases(tmp_path, count=80, seed=20261):
    r = random.Random(seed)
    configs = sorted(CONFIGS.glob("*.json"))
    w = tmp_path / "w.safetensors"
    write_mixtral_weights(w)
    good_w = w.read_bytes()
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 64), np.float32))
    good_x = x.read_bytes()
    cases = []
    for i in range(count):
        base = r.choice(configs)
        cfg = json.loads(base.read_text())
        layer = FAMILY_LAYER.get(cfg["model_type"], 0)
        what = r.random()
        if what < 0.7:  # a broken config through import / random-weights / reference
            kind, new = mutate_config(cfg, r)
            for _ in range(r.randrange(0, 2)):  # sometimes a second mutation on top
                if (
                    isinstance(new, dict)
                    and isinstance(new.get("model_type"), str)
                    and new["model_type"] in SCHEMAS
                ):
                    kind2, new = mutate_config(new, r)
                    kind += "+" + kind2
            p = tmp_path / f"c{i}.json"
            p.write_bytes(new if isinstance(new, bytes) else json.dumps(new).encode())
            cmd = r.choice(["import", "import", "random-weights", "reference"])
            argv = [cmd, p, "--layer", layer]
            argv += {
                "import": ["-o", tmp_path / f"o{i}.mlir"],
                "random-weights": ["--seed", 1, "-o", tmp_path / f"w{i}"],
                "reference": [
                    "--weights",
                    w,
                    "--input",
                    x,
                    "-o",
                    tmp_path / f"y{i}.npy",
                ],
            }[cmd]
            cases.append({"argv": argv, "what": f"{base.name} {kind} {cmd} ({p})"})
        else:  # a broken weights or input file for reference
            target = r.choice(["weights", "input"])
            data = bytearray(good_w if target == "weights" else good_x)
            if r.random() < 0.5:
                del data[r.randrange(0, len(data) - 1) :]
            else:
                for _ in range(r.randrange(1, 4)):
                    j = r.randrange(0, min(len(data), 200))
                    data[j] = r.randrange(256)
            p = tmp_path / f"f{i}.{'safetensors' if target == 'weights' else 'npy'}"
            p.write_bytes(bytes(data))
            ww, xx = (p, x) if target == "weights" else (w, p)
            argv = [
                "reference",
                MIXTRAL,
                "--layer",
                0,
                "--weights",
                ww,
                "--input",
                xx,
                "-o",
                tmp_path / f"y{i}.npy",
            ]
            cases.append(
                {"argv": argv, "what": f"mutated {target} {p}", "may_pass": True}
            )
    return cases


def test_property_malformed_inputs_give_one_error_line(tmp_path):
    cases = build_cases(tmp_path)
    must_fail = [c for c in cases if not c.get("may_pass")]
    may_pass = [c for c in cases if c.get("may_pass")]
    assert len(must_fail) > 50
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(check_one, must_fail) if f]
        # a mutated data byte can leave a valid file: success is fine, a traceback is not
        loose = list(pool.map(lambda c: run_cli(*c["argv"]), may_pass))
    assert not failures, "\n".join(failures)
    for c, proc in zip(may_pass, loose):
        assert "Traceback" not in proc.stderr, (c["what"], proc.stderr)
        assert proc.returncode in (0, 2), (c["what"], proc.stderr)
        if proc.returncode == 2:
            assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(
                "moec: error: "
            )

"""scripts/benchmark.py: its smoke mode, its arithmetic (FLOPs, ratios, rounds) and its refusals; no timing is judged."""

import importlib
import importlib.util
import json
import os
import sys

import numpy as np
import pytest
import torch
from helpers import ROOT, run

import scratch

SCRIPTS = ROOT / "scripts"


def strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"{constant} in the JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def bench(monkeypatch):
    """scripts/benchmark.py imported as a module, with OMP_NUM_THREADS unset before it loads."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    spec = importlib.util.spec_from_file_location("benchmark", SCRIPTS / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "benchmark", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_one_thread_is_the_default(bench):
    assert os.environ["OMP_NUM_THREADS"] == "1"


def test_smoke_run_writes_every_group_as_strict_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = run("scripts/benchmark.py", "--synthetic", "--limit-steps", "2", "--rounds", "3", "--peak-size", "512",
               "--groups", "mlp,lightning,layers", "--json", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (section,) = strict_json(out.read_text())["sections"]
    assert section["environment"]["OMP_NUM_THREADS"] == "1" and "1 threads" in section["environment"]["torch_backend"]
    groups = section["groups"]
    assert {g: [row["name"] for row in groups[g]["rows"]] for g in groups} == {
        "mlp": ["numpy_float64", "numpy_float32", "torch_eager_float32"],
        "lightning": ["torch_loop_cpu", "lightning_cpu"],
        "layers": ["numpy_conv_forward", "torch_conv_forward", "numpy_maxpool", "torch_maxpool"],
    }
    for group in groups.values():
        rows = {row["name"]: row for row in group["rows"]}
        for row in rows.values():
            assert len(row["seconds"]) == 3 and row["seconds_per_block"] == np.median(row["seconds"])
            assert row["samples_per_s"] == pytest.approx(row["samples_per_block"] / row["seconds_per_block"])
        for r in group["ratios"]:
            num, den = (rows[name] for name in r["name"].split(" / "))
            per_round = [(a / num["samples_per_block"]) / (b / den["samples_per_block"])
                         for a, b in zip(num["seconds"], den["seconds"], strict=True)]
            assert r["median"] == pytest.approx(np.median(per_round)) and r["low"] == pytest.approx(min(per_round))
            assert r["unreliable"]  # 3 rounds are too few for a figure
    assert groups["mlp"]["rows"][0]["samples_per_block"] == 2 * 128
    assert "numpy_float32 / torch_eager_float32" in proc.stdout and "UNRELIABLE" in proc.stdout
    assert "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are not set" in proc.stdout


def test_multi_thread_rows_are_a_separate_flagged_section(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench.main(["--synthetic", "--limit-steps", "1", "--rounds", "1", "--groups", "lightning", "--threads", "2",
                       "--json", str(out)])  # the multi-thread section runs in a subprocess
    assert code == 0, capsys.readouterr().err
    one, multi = strict_json(out.read_text())["sections"]
    assert one["environment"]["OMP_NUM_THREADS"] == "1" and multi["environment"]["OMP_NUM_THREADS"] == "2"
    assert multi["section"].startswith("MULTI-THREAD")
    assert [row["name"] for row in multi["groups"]["lightning"]["rows"]] == ["torch_loop_cpu", "lightning_cpu"]


def test_flops_count_the_products_actually_done(bench):
    train_flops = importlib.import_module("benchmark_rows").train_flops
    mlp = 2 * (2 * 784 * 256 + 3 * 256 * 128 + 3 * 128 * 10)  # the first layer's input gradient is never computed
    assert train_flops(scratch.mlp([784, 256, 128, 10])) == mlp
    conv1, conv2 = 9 * 1 * 32 * 28 * 28, 9 * 32 * 64 * 14 * 14  # multiply-adds: 'same' padding, then 2x2 pooling
    assert train_flops(scratch.cnn()) == 2 * (2 * conv1 + 3 * conv2 + 3 * 64 * 7 * 7 * 128 + 3 * 128 * 10)


def row(bench, name, seconds, samples=1):
    return bench.Row(name, lambda: 0.0, samples, seconds=list(seconds))


def test_ratio_is_the_median_of_per_round_ratios_and_flags_a_wide_spread(bench):
    tight = bench.ratio(row(bench, "a", [2.0] * 11 + [9.0], 2), row(bench, "b", [0.5] * 12), 1.2, rounds=12)
    assert (tight.median, tight.q1, tight.q3, tight.low, tight.high) == (2.0, 2.0, 2.0, 2.0, 9.0)
    assert not tight.unreliable  # one slow round moves the range, not the median or the IQR
    wide = bench.ratio(row(bench, "a", [1.0, 2.0, 3.0, 4.0] * 3), row(bench, "b", [1.0] * 12), 1.2, rounds=12)
    assert wide.median == 2.5 and wide.unreliable
    assert bench.ratio(row(bench, "a", [1.0] * 4), row(bench, "b", [1.0] * 4), 1.2, rounds=4).unreliable


def test_rows_take_turns_in_rotating_order_with_the_peak_between_rounds(bench, monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "peak_gflops", lambda n, device, dtype: calls.append(f"peak {dtype}") or 1.0)
    rows = [bench.Row(name, lambda name=name: calls.append(name) or 1.0, 1) for name in "ABC"]
    bench.run_rounds(rows, bench.parse_args(["--rounds", "3"]), peaks := {})
    peak = ["peak float32", "peak float64"]
    assert calls == ["A", "B", "C", *"ABC", *peak, *"BCA", *peak, *"CAB", *peak]
    assert [r.seconds for r in rows] == [[1.0] * 3] * 3 and peaks == {"cpu_float32": 1.0, "cpu_float64": 1.0}


def test_a_fraction_of_the_peak_over_100_percent_is_an_error(bench, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(bench, "peak_gflops", lambda n, device, dtype: 1e-3)  # a peak far below any row's rate
    out = tmp_path / "bench.json"
    code = bench.main(["--synthetic", "--limit-steps", "1", "--rounds", "1", "--groups", "mlp", "--json", str(out)])
    assert code == 2 and "over 100%" in capsys.readouterr().err and not out.exists()


def test_limit_steps_0_is_refused(bench, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--synthetic", "--limit-steps", "0", "--rounds", "1", "--groups", "mlp"])
    assert exit_info.value.code == 2 and "--limit-steps must be >= 1, got 0" in capsys.readouterr().err


def test_a_folder_as_the_json_path_is_refused_before_any_work(bench, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--synthetic", "--limit-steps", "1", "--rounds", "1", "--groups", "mlp", "--json", str(tmp_path)])
    assert exit_info.value.code == 2 and f"--json {tmp_path}: expected a file path" in capsys.readouterr().err


def test_without_data_points_at_synthetic(bench, capsys, tmp_path):
    assert bench.main(["--data-dir", str(tmp_path), "--limit-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "mnist data not found" in err and "--synthetic" in err


def test_gpu_check_is_valid_bash_and_needs_an_out_dir(tmp_path):
    bash_n = "import subprocess, sys; sys.exit(subprocess.call(['bash', '-n', sys.argv[1]]))"  # parse, run nothing
    assert run("-c", bash_n, SCRIPTS / "gpu_check.sh", cwd=tmp_path).returncode == 0
    proc = run("scripts/gpu_check.sh", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: bash scripts/gpu_check.sh OUT_DIR")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_gpu_check_without_a_gpu_says_so_and_exits_2(tmp_path):
    proc = run("scripts/gpu_check.sh", tmp_path / "out", cwd=tmp_path, env={"PYTHON": sys.executable})
    message = ("gpu_check: no CUDA GPU is visible to torch (torch.cuda.is_available() is False); run it on a machine "
               "with an NVIDIA GPU")
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.splitlines() == [message]
    assert list((tmp_path / "out").iterdir()) == []  # nothing started

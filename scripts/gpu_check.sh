#!/usr/bin/env bash
# Everything this project checks on a GPU, in one run of at most 8 minutes, for a machine with an NVIDIA GPU:
#   1. the CUDA parity tests (pytest -k "cuda or bf16") and 2. `mlp-parity check --device cuda` (float64 and float32), with TF32
#      off (NVIDIA_TF32_OVERRIDE=0; the checker switches it off too);
#   3. one Lightning MNIST epoch of the MLP on the GPU with gpu_resident true, 4. the same with the DataLoader, and
#   5. with bf16-mixed precision;
#   6. the benchmark's GPU rows (scripts/benchmark.py --groups gpu);
#   7. the MLP's time to 98% validation accuracy (mnist.yaml, stopped by EarlyStopping's threshold).
# Writes OUT_DIR/gpu_check.json (every step's exit code and seconds, and its figures) and one log per step.
#
#     MLP_PARITY_DATA=/path/to/data bash scripts/gpu_check.sh OUT_DIR      # PYTHON=... picks the interpreter
#
# Exit: 0 when every step passed, 1 when one failed or ran out of time (gpu_check.json says which), 2 when it cannot
# start (no OUT_DIR, no GPU, no MNIST).
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: bash scripts/gpu_check.sh OUT_DIR (a folder for gpu_check.json and the step logs)" >&2
    exit 2
fi
mkdir -p "$1" 2>/dev/null || { echo "gpu_check: cannot create the folder $1" >&2; exit 2; }
out="$(cd "$1" && pwd)"
cd "$(dirname "$0")/.."
python="${PYTHON:-python}"
if ! "$python" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    echo "gpu_check: no CUDA GPU is visible to torch (torch.cuda.is_available() is False); run it on a machine" \
         "with an NVIDIA GPU" >&2
    exit 2
fi
if ! "$python" -c "import sys; from scratch import data; sys.exit(bool(data.missing_files('mnist')))"; then
    echo "gpu_check: MNIST not found under \${MLP_PARITY_DATA:-data/}: set MLP_PARITY_DATA to the folder holding" \
         "MNIST/raw/" >&2
    exit 2
fi

deadline=$((SECONDS + 450))  # 7.5 minutes for the steps, the rest for start-up and the summary
: >"$out/steps.tsv"
step() {  # step NAME LIMIT_S COMMAND...: run it within its limit and the deadline, log it, record its exit code
    local name=$1 limit=$2 left=$((deadline - SECONDS)) start=$SECONDS code=124
    shift 2
    if [ "$left" -gt 0 ]; then
        timeout "$((limit < left ? limit : left))" "$@" >"$out/$name.log" 2>&1
        code=$?
    else
        echo "not run: the 8-minute budget was spent" >"$out/$name.log"
    fi
    printf '%s\t%s\t%s\n' "$name" "$code" "$((SECONDS - start))" >>"$out/steps.tsv"
    echo "$name: exit $code, $((SECONDS - start)) s"
}
lit() {  # lit NAME ARGS...: scripts/train_mnist.py on the GPU, its run folder under OUT_DIR/NAME
    local name=$1
    shift
    step "$name" 60 "$python" scripts/train_mnist.py --trainer.accelerator gpu --trainer.devices 1 \
        --trainer.enable_progress_bar false --trainer.default_root_dir "$out/$name" "$@"
}

step cuda_tests 90 env NVIDIA_TF32_OVERRIDE=0 "$python" -m pytest parity_tests -k "cuda or bf16" -q -p no:cacheprovider
step check_float64 40 env NVIDIA_TF32_OVERRIDE=0 "$python" -m torch_impl.cli check --device cuda --json
step check_float32 40 env NVIDIA_TF32_OVERRIDE=0 "$python" -m torch_impl.cli check --device cuda --dtype float32 --json
lit epoch_gpu_resident --trainer.max_epochs 1 --data.gpu_resident true
lit epoch_dataloader --trainer.max_epochs 1 --data.gpu_resident false
lit epoch_bf16_mixed --trainer.max_epochs 1 --data.gpu_resident true --trainer.precision bf16-mixed
step benchmark_gpu 75 "$python" scripts/benchmark.py --groups gpu --json "$out/benchmark_gpu.json"
lit time_to_98 --data.gpu_resident true --trainer.max_epochs 20 \
    --trainer.callbacks+=lightning.pytorch.callbacks.EarlyStopping --trainer.callbacks.monitor val_acc \
    --trainer.callbacks.mode max --trainer.callbacks.stopping_threshold 0.98 --trainer.callbacks.patience 100

"$python" - "$out" <<'EOF'
"""Gather the steps' exit codes, times and figures into OUT_DIR/gpu_check.json."""
import json
import sys
from pathlib import Path

import torch

from scratch.io import save_json

out = Path(sys.argv[1])
result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "steps": {}}
for line in (out / "steps.tsv").read_text().splitlines():
    name, code, seconds = line.split("\t")
    step = {"exit_code": int(code), "seconds": int(seconds), "log": f"{name}.log"}
    log = (out / f"{name}.log").read_text(errors="replace")
    if name.startswith("check_"):
        try:
            step["report"] = json.loads(log)
        except json.JSONDecodeError:
            step["last_lines"] = log.splitlines()[-5:]
    summaries = sorted((out / name).glob("*/version_*/summary.json"))
    if summaries:
        step["summary"] = json.loads(summaries[-1].read_text())
    if name == "benchmark_gpu" and (out / "benchmark_gpu.json").is_file():
        step["benchmark"] = json.loads((out / "benchmark_gpu.json").read_text())
    if name == "cuda_tests":
        step["last_lines"] = log.splitlines()[-3:]
    result["steps"][name] = step
result["passed"] = all(step["exit_code"] == 0 for step in result["steps"].values())
save_json(out / "gpu_check.json", result)
print(f"wrote {out / 'gpu_check.json'}: " + ("every step passed" if result["passed"] else "a step failed"))
sys.exit(0 if result["passed"] else 1)
EOF

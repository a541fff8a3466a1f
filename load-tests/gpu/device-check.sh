#!/usr/bin/env bash
# GPU device check for a host with an NVIDIA GPU: real discovery, then a kernel
# in gVisor with nvproxy (the host worker's GPU code path) running a matrix
# multiply with CuPy. Read-only towards the GPU: it never changes MIG mode,
# clocks, persistence or any other device setting (only nvidia-smi -q -x runs).
# Without a GPU it prints one "skipped" line and exits 0.
set -euo pipefail

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "skipped: no NVIDIA GPU (nvidia-smi not found)"
  exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${QUIRE_GPU_CHECK_CACHE:-$HOME/.cache/quire/gpu-check}"
VENV="$CACHE/kernel-env-cuda12"
RUNSC="${QUIRE_RUNSC_PATH:-$(command -v runsc || echo /usr/bin/runsc)}"
mkdir -p "$CACHE"

if [ ! -x "$RUNSC" ]; then
  echo "device-check: runsc not found at $RUNSC; install gVisor (apt-get install runsc) or set QUIRE_RUNSC_PATH" >&2
  exit 1
fi
if [ ! -d "$ROOT/node_modules" ]; then
  (cd "$ROOT" && npm ci --no-audit --no-fund)
fi
# The kernel environment plus a CUDA runtime that ships its own libraries (the
# driver's libcuda comes from the host, mounted read-only by the host worker).
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import cupy, ipykernel' >/dev/null 2>&1; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet -r "$ROOT/sandbox-runtimes/kernel-env/requirements.txt" 'cupy-cuda12x==13.*'
fi

cd "$ROOT"
QUIRE_KERNEL_ENV="$VENV" QUIRE_RUNSC_PATH="$RUNSC" \
  exec node --enable-source-maps -r @swc-node/register "$ROOT/services/host-worker/src/gpu/device-check.ts"

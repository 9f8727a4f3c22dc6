#!/usr/bin/env bash
# GPU check + throughput of carpus inference on a lent GPU machine. UNVERIFIED: written in a task
# without a GPU; run it where one is lent (see ENGINEERING-NOTES.md, onnxruntime-node section).
#
#   bash bench/gpu-inference.sh            (from the repository root, after npm ci)
#
# 1. Finds the CUDA provider libraries of onnxruntime (libonnxruntime_providers_{shared,cuda}.so)
#    that match onnxruntime-node's version: $ORT_CUDA_LIB_DIR, else the npm package
#    com.github.asus4.onnxruntime.linux-x64-gpu (ORT 1.29.0 for CUDA 13: pairs with
#    onnxruntime-node@1.29.0), else a Python onnxruntime-gpu's capi folder; copies them next to
#    onnxruntime-node's binding (bin/napi-v6/linux/x64, where it dlopens them).
#    Reviewed 2026-11-27 against the installed onnxruntime-node 1.30.0 (package.json ^1.30.0): the
#    provider libraries must come from the same ORT release as the binding's libonnxruntime.so.1
#    (ENGINEERING-NOTES.md: "matching the exact ORT version"), so with 1.30.0 neither the asus4
#    package (1.29.0) nor a Python onnxruntime-gpu of another version can work: the script now stops
#    (exit 3) on a known version mismatch instead of warning and failing later inside the session.
#    Ways out on a GPU machine: ORT_CUDA_LIB_DIR with 1.30.0 CUDA provider libraries, or
#    onnxruntime-node@1.29.0 installed (npm install --no-save --ignore-scripts) together with the
#    asus4 package. ALLOW_ORT_MISMATCH=1 tries anyway.
# 2. Puts the cuBLAS / cuDNN / CUDA runtime of the PyTorch wheels (nvidia-* Python packages) on
#    LD_LIBRARY_PATH.
# 3. Runs bench/inference-gpu.ts with CARPUS_EXECUTION_PROVIDERS=cuda only: it fails unless the
#    CUDA provider really loads; then batch 1, 8, 32 throughput. Also runs the CPU provider on the
#    same machine for comparison. Results: $OUT/gpu-inference.json (or ./gpu-inference.json).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-.}"
PY=${PYTHON:-python3}

ORT_VERSION=$(node -p "require('onnxruntime-node/package.json').version")
BINDING_DIR=$(node -p "require('path').join(require('path').dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', 'linux', 'x64')")
echo "onnxruntime-node $ORT_VERSION, binding in $BINDING_DIR"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || { echo "no GPU (nvidia-smi failed)"; exit 1; }

find_provider_dir() {
  if [ -n "${ORT_CUDA_LIB_DIR:-}" ] && [ -f "$ORT_CUDA_LIB_DIR/libonnxruntime_providers_cuda.so" ]; then echo "$ORT_CUDA_LIB_DIR"; return; fi
  local d
  d=$(find node_modules/com.github.asus4.onnxruntime.linux-x64-gpu -name libonnxruntime_providers_cuda.so -printf '%h\n' 2>/dev/null | head -1 || true)
  if [ -n "$d" ]; then echo "$d"; return; fi
  d=$($PY -c "import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))" 2>/dev/null || true)
  if [ -n "$d" ] && [ -f "$d/libonnxruntime_providers_cuda.so" ]; then echo "$d"; return; fi
}
PROV_DIR=$(find_provider_dir || true)
if [ -z "$PROV_DIR" ]; then
  echo "CUDA provider libraries for onnxruntime not found: set ORT_CUDA_LIB_DIR to a folder with"
  echo "libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so built for onnxruntime $ORT_VERSION"
  exit 2
fi
echo "CUDA provider libraries: $PROV_DIR"
# The ORT release the provider libraries belong to, when it can be known.
PROV_VERSION=""
case "$PROV_DIR" in
  *asus4*) PROV_VERSION=1.29.0 ;;
  */onnxruntime/capi) PROV_VERSION=$($PY -c "import onnxruntime; print(onnxruntime.__version__)" 2>/dev/null || true) ;;
esac
if [ -n "$PROV_VERSION" ] && [ "$PROV_VERSION" != "$ORT_VERSION" ]; then
  echo "CUDA provider libraries are onnxruntime $PROV_VERSION, onnxruntime-node is $ORT_VERSION: the provider will not load."
  echo "Use ORT_CUDA_LIB_DIR with $ORT_VERSION libraries, or npm install --no-save --ignore-scripts onnxruntime-node@$PROV_VERSION."
  [ "${ALLOW_ORT_MISMATCH:-0}" = 1 ] || exit 3
fi
cp -f "$PROV_DIR"/libonnxruntime_providers_shared.so "$PROV_DIR"/libonnxruntime_providers_cuda.so "$BINDING_DIR"/

NV_LIBS=$($PY - <<'PY' 2>/dev/null || true
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
dirs = sorted({os.path.dirname(p) for r in roots for p in glob.glob(os.path.join(r, '*', 'lib', '*.so*'))})
print(':'.join(dirs))
PY
)
export LD_LIBRARY_PATH="${NV_LIBS}${NV_LIBS:+:}${LD_LIBRARY_PATH:-}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
ldd "$BINDING_DIR/libonnxruntime_providers_cuda.so" | grep -i "not found" && echo "(missing libraries above: the CUDA provider will not load)" || true

echo "== CUDA provider only (fails if CUDA does not load)"
CARPUS_ORT_LOG_LEVEL=warning npx tsx bench/inference-gpu.ts --providers cuda --seconds "${SECONDS_PER_BATCH:-10}" | tee "$OUT_DIR/gpu-inference.json"
echo "== CPU provider on the same machine"
npx tsx bench/inference-gpu.ts --providers cpu --seconds "${SECONDS_PER_BATCH:-10}" | tee "$OUT_DIR/cpu-inference-same-machine.json"

#!/bin/bash
# Builds the model zoo (ONNX models + test data + ONNX Runtime reference outputs)
# into a cache outside the clone and points models/zoo at it.
#
#   models/build_zoo.sh [--only NAME,...] [--strict] [--force] [--prune]
#
# CACHE = ${ONYX_ZOO_CACHE:-~/.cache/onyx/zoo}/<hash of the generator>, where the
# hash covers models/*.py, models/arch/*.py, models/ort_run.js, models/tensor_pb.js and the pinned
# onnxruntime-node version, so a change to any of them builds a fresh zoo and
# repeated runs on one machine reuse it. A model is rebuilt only when its
# CACHE/NAME/.complete marker is missing (it is written last, so an interrupted
# build is redone). Missing Debian packages are installed with apt-get, and
# onnxruntime-node (pinned) with npm into ${ONYX_NPM_DIR:-~/.cache/onyx/npm}.
#
#   --strict   a missing architecture file (models/arch/*.py) is an error
#   --force    rebuild the selected models even when they are complete
#   --prune    afterwards delete the zoos of other generator hashes in the cache
# Exit status: 0 when every selected model is complete, 1 otherwise.
set -euo pipefail

ORT_VERSION=1.23.2
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
ZOO_ARGS=()
PRUNE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --only) ZOO_ARGS+=(--only "$2"); shift 2 ;;
        --only=*) ZOO_ARGS+=(--only "${1#--only=}"); shift ;;
        --strict|--force) ZOO_ARGS+=("$1"); shift ;;
        --prune) PRUNE=1; shift ;;
        -h|--help) sed -n "2,18p" "$0"; exit 0 ;;
        *) echo "build_zoo.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# ---- Debian packages ---------------------------------------------------------
need=""
[ -x "$PY" ] || need="$need python3"
if [ -x "$PY" ]; then
    # one interpreter start that does not import torch (that alone takes seconds).
    # A spec without an origin is a namespace package, not the module: libonnx-testdata
    # alone leaves an empty dist-packages/onnx/ directory behind.
    need="$need $("$PY" -c '
import importlib.util
def missing(mod):
    spec = importlib.util.find_spec(mod)
    return spec is None or spec.origin is None
print(" ".join(pkg for mod, pkg in (("torch", "python3-torch"), ("torchvision", "python3-torchvision"),
      ("onnx", "python3-onnx"), ("numpy", "python3-numpy")) if missing(mod)))')"
else
    need="$need python3-torch python3-torchvision python3-onnx python3-numpy"
fi
# Debian's torch links the generic libblas.so.3; with only the reference BLAS the
# DINOv2 exports take ~10x longer (Linear/MatMul at ~1-3 GFLOP/s). OpenBLAS takes
# over libblas.so.3 through update-alternatives when installed.
ls /usr/lib/*/openblas*/libblas.so.3 >/dev/null 2>&1 || need="$need libopenblas0-pthread"
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
need=$(echo $need)
if [ -n "$need" ]; then
    echo "build_zoo.sh: installing$need"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
fi

# ---- onnxruntime-node (pinned) -------------------------------------------------
export ONYX_NPM_DIR=${ONYX_NPM_DIR:-$HOME/.cache/onyx/npm}
ort_pkg=$ONYX_NPM_DIR/node_modules/onnxruntime-node/package.json
have=$(node -p "require('$ort_pkg').version" 2>/dev/null || true)
if [ "$have" != "$ORT_VERSION" ]; then
    echo "build_zoo.sh: installing onnxruntime-node@$ORT_VERSION into $ONYX_NPM_DIR"
    mkdir -p "$ONYX_NPM_DIR"
    # --ignore-scripts: the postinstall step tries to download from a host that is
    # not reachable here; the CPU binaries are inside the npm package itself.
    (cd "$ONYX_NPM_DIR" &&
        { [ -f package.json ] || echo '{"name":"onyx-ort","private":true}' > package.json; } &&
        npm install --no-audit --no-fund --ignore-scripts --save-exact --loglevel=error \
            "onnxruntime-node@$ORT_VERSION" >/dev/null)
    node -e "require('$ONYX_NPM_DIR/node_modules/onnxruntime-node')" ||
        { echo "build_zoo.sh: onnxruntime-node does not load" >&2; exit 1; }
fi

# ---- cache keyed by the generator ----------------------------------------------
HASH=$(cd "$HERE" && {
        for f in $(ls ./*.py arch/*.py ort_run.js tensor_pb.js | LC_ALL=C sort); do
            printf '%s\n' "$f"; cat "$f"
        done
        echo "onnxruntime-node@$ORT_VERSION"
    } | sha256sum | cut -c1-16)
CACHE_ROOT=${ONYX_ZOO_CACHE:-$HOME/.cache/onyx/zoo}
mkdir -p "$CACHE_ROOT/$HASH"
CACHE_ROOT=$(cd "$CACHE_ROOT" && pwd)
CACHE=$CACHE_ROOT/$HASH
echo "build_zoo.sh: zoo cache $CACHE"

start=$(date +%s)
status=0
# one builder per cache at a time (e.g. a developer and CI on the same machine)
(
    flock 9
    PYTHONDONTWRITEBYTECODE=1 "$PY" "$HERE/zoo.py" build --out "$CACHE" ${ZOO_ARGS[@]+"${ZOO_ARGS[@]}"}
) 9>"$CACHE/.lock" || status=$?
echo "build_zoo.sh: done in $(( $(date +%s) - start )) s; report: $CACHE/report.md"

# ---- models/zoo -> CACHE --------------------------------------------------------
link=$HERE/zoo
if [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "build_zoo.sh: $link exists and is not a symlink; leaving it alone" >&2
    exit 1
fi
ln -sfn "$CACHE" "$link"
if [ "$PRUNE" = 1 ] && [ "$status" = 0 ]; then
    for d in "$CACHE_ROOT"/*/; do
        d=${d%/}
        case "$(basename "$d")" in
            "$HASH") ;;
            [0-9a-f]*) [ -f "$d/.lock" ] && { echo "build_zoo.sh: pruning $d"; rm -rf "$d"; } ;;
        esac
    done
fi
exit $status

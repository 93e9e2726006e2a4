#!/usr/bin/env bash
# The Python peer pipeline (../shared/peers/python-ort: the same three ONNX models, OpenCV + onnxruntime,
# one thread) and facegate's bench:lfw on the same photos, one right after the other, ROUNDS times
# (interleaved: python, facegate, python, facegate, ...), then one table with both.
#
#   bash bench/python-peer.sh [--pairs FILE] [--images DIR] [--rounds N] [--json OUT]
#
# PYTHON (default ~/.ort-venv/bin/python; created with the peer's requirements when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
D="${FACEGATE_DATASETS:-../shared/datasets}"
PAIRS="$D/lfw-dev/pairsDevTest.txt"
IMAGES="$D/lfw-dev/images"
ROUNDS=1
JSON=bench/results/python-peer.json
PEER="${PYTHON_PEER:-../shared/peers/python-ort}"
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) PAIRS="$2"; shift 2 ;;
    --images) IMAGES="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --json) JSON="$2"; shift 2 ;;
    *) echo "usage: bash bench/python-peer.sh [--pairs FILE] [--images DIR] [--rounds N] [--json OUT]" >&2; exit 2 ;;
  esac
done
PY="${PYTHON:-$HOME/.ort-venv/bin/python}"
if ! "$PY" -c "import onnxruntime, cv2, numpy" 2>/dev/null; then
  echo "setting up the peer's venv at ~/.ort-venv" >&2
  python3 -m venv "$HOME/.ort-venv"
  "$HOME/.ort-venv/bin/pip" install -q -r "$PEER/requirements.txt"
  PY="$HOME/.ort-venv/bin/python"
fi
[ -f models/onnx/fr_feature.onnx ] || bun run models
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
echo "load before: $(cat /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  # CPU seconds (user + system) of each whole run, start-up included: steadier than wall time on a busy machine.
  TIMEFORMAT='%U %S'
  echo "round $r/$ROUNDS: python" >&2
  { time "$PY" "$PEER/python_ort.py" --pairs "$PAIRS" --images "$IMAGES" --models models/onnx \
    --scores "$OUT/python-$r-scores.txt" --json "$OUT/python-$r.json" >/dev/null ; } 2> "$OUT/python-$r.cpu"
  echo "round $r/$ROUNDS: facegate" >&2
  { time bun bench/lfw.ts --pairs "$PAIRS" --images "$IMAGES" --profile --json "$OUT/facegate-$r.json" >/dev/null 2>/dev/null ; } 2> "$OUT/facegate-$r.cpu"
done
echo "load after: $(cat /proc/loadavg)"
bun bench/python-peer.ts --pairs "$PAIRS" --dir "$OUT" --rounds "$ROUNDS" --json "$JSON"

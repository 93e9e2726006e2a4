#!/usr/bin/env bash
# bench/lfw-paired.ts against another commit (default: 46591cd, main before issue 11): exports that
# commit into a temporary folder with this checkout's node_modules and models, then runs the paired
# benchmark (stage medians only for a side that has lib/engine/profile.ts).
#
#   bash bench/lfw-before-after.sh [COMMIT] [-- lfw-paired options, e.g. --limit 500 --json OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
COMMIT="${1:-46591cd}"
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
BASE="$(mktemp -d)"
trap 'rm -rf "$BASE"' EXIT
git archive "$COMMIT" | tar -x -C "$BASE"
ln -s "$PWD/node_modules" "$BASE/node_modules"
rm -rf "$BASE/models/onnx" && ln -s "$PWD/models/onnx" "$BASE/models/onnx"
echo "base: $COMMIT ($(git log -1 --format=%s "$COMMIT" | cut -c1-80))"
bun bench/lfw-paired.ts --base "$BASE" "$@"

#!/usr/bin/env bash
# Runs every benchmark in sequence on an otherwise idle machine and writes bench/results/*.json.
# The README's tables come from this script's output. Takes about 15-20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
D="${FACEGATE_DATASETS:-../shared/datasets}"
R=bench/results
mkdir -p "$R"
echo "load before: $(cat /proc/loadavg)"
run() { printf '\n### %s\n' "$*"; "$@"; }
run bun run bench:lfw -- --pairs "$D/lfw-dev/pairsDevTest.txt" --images "$D/lfw-dev/images" --json "$R/lfw-onnx.json" --scores "$R/lfw-onnx-scores.txt"
run bun run bench:lfw -- --pairs "$D/lfw-dev/pairsDevTrain.txt" --images "$D/lfw-dev/images" --json "$R/lfw-onnx-devtrain.json" --scores "$R/lfw-onnx-devtrain-scores.txt"
run bun run bench:lfw -- --pairs "$D/lfw-dev/pairsDevTest.txt" --images "$D/lfw-dev/images" --engine human --pick center --json "$R/lfw-human.json"
run bun run bench:openset -- --targets 0.01,0.001 --json "$R/openset.json"
run bun run bench:openset -- --variant two --score max --json "$R/openset-max.json"
run bash bench/python-peer.sh --rounds 3 --json "$R/python-peer.json"
run bash bench/lfw-before-after.sh 46591cd -- --json "$R/lfw-before-after.json"
run bun run bench:ort-options -- --json "$R/ort-options.json"
run bun run bench:search -- --json "$R/search.json"
run bun run bench:enroll -- --json "$R/enroll.json"
run bun run bench:load -- --seconds 10 --json "$R/load.json"
run bun run bench:nats -- --requests 400 --concurrency 4 --rounds 5 --json "$R/nats.json"
run bun run bench:kiosk -- --json "$R/kiosk.json"
run bun run bench:liveness -- --json "$R/liveness.json"
run bun run bench:kv-markers -- --json "$R/kv-markers.json"
run bun run bench:events -- --json "$R/events.json"
run bun run bench:erase -- --json "$R/erase.json"
run bun run fuzz -- --seed 1 --count 10000 --json "$R/fuzz.json"
echo "load after: $(cat /proc/loadavg)"

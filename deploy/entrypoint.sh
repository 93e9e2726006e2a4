#!/bin/sh
# The image's entrypoint: picks the role from the first argument (else FACEGATE_ROLE, else "server")
# and execs it, so the role's Bun process is PID 1 and receives SIGTERM itself (it drains, exits 0).
#
#   server     `bun run start`: embedded (ONNX + SQLite in DATA_DIR), or the gateway when NATS_URL is set
#   embedded   the same, refusing a NATS_URL
#   gateway    the HTTP gateway in front of NATS workers (needs NATS_URL)
#   worker     a NATS worker (WORKER_ID defaults to the container's host name: replicas need no settings)
#   facegate   the operator CLI (`facegate enroll ...`, `facegate export -`)
#   models     the model check (`models --check`)
#   anything else is run as a program (`bash`, `bun ...`)
set -eu
cd /app
role="${FACEGATE_ROLE:-server}"
if [ "$#" -gt 0 ]; then role="$1"; shift; fi
case "$role" in
  server) exec bun server/main.ts "$@" ;;
  embedded)
    if [ -n "${NATS_URL:-}" ]; then echo "facegate: the embedded role runs without NATS; unset NATS_URL (or use the gateway role)" >&2; exit 2; fi
    exec bun server/main.ts "$@" ;;
  gateway)
    if [ -z "${NATS_URL:-}" ]; then echo "facegate: the gateway role needs NATS_URL (e.g. nats://nats-1:4222,nats://nats-2:4222)" >&2; exit 2; fi
    exec bun server/main.ts "$@" ;;
  worker)
    WORKER_ID="${WORKER_ID:-${HOSTNAME:-$(cat /proc/sys/kernel/hostname)}}"
    export WORKER_ID
    exec bun server/compose/worker.ts "$@" ;;
  facegate) exec bun server/cli/facegate.ts "$@" ;;
  models) exec bun server/cli/facegate.ts models "$@" ;;
  *) exec "$role" "$@" ;;
esac

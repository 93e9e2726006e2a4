#!/bin/sh
# Runs the health checks of a compose project's podman containers, every INTERVAL seconds (default 2),
# until stopped. Podman schedules HEALTHCHECKs with systemd timers; on a host whose PID 1 is not
# systemd (many CI machines and containers) nothing runs them, every container stays "starting", and
# `depends_on: condition: service_healthy` waits forever. With systemd this is not needed.
#
#   deploy/podman-healthchecks.sh facegate &      # the project name given to compose with -p
set -u
project="${1:?usage: podman-healthchecks.sh PROJECT [INTERVAL]}"
interval="${2:-2}"
trap 'exit 0' TERM INT
while :; do
  for id in $(podman ps -q --filter "label=com.docker.compose.project=$project"); do
    podman healthcheck run "$id" >/dev/null 2>&1
  done
  sleep "$interval" &
  wait $!
done

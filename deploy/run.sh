#!/usr/bin/env bash
# N replicas of the playground behind HAProxy on 127.0.0.1:8500; Ctrl-C stops everything.
#   deploy/run.sh 2                 # two replicas, every named scene pre-warmed
#   deploy/run.sh 2 --detach        # return once up; stop with: python deploy/deploy.py stop
# Installs nothing. Needs haproxy (Debian/Ubuntu: apt-get install -y haproxy).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v haproxy >/dev/null 2>&1; then
  echo "haproxy is not installed: apt-get install -y haproxy" >&2
  exit 1
fi
exec python deploy/deploy.py up "${1:-2}" "${@:2}"

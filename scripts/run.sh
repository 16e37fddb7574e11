#!/usr/bin/env bash
# The two set-up commands of the README:
#   bash scripts/run.sh main   install everything, build, install sysbox-ts, start its daemons, register
#                              sysbox-runc with Docker and run a system container printing /proc/self/uid_map
#   bash scripts/run.sh test   install everything, build, and run the whole test suite (unit, integration, e2e)
# The heaviest suite (SYSBOX_HEAVY=1: 100 containers at once instead of 20) and the full benchmark: bash scripts/run.sh heavy
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_root
cmd=${1:-}
case "$cmd" in
  main|test|heavy) ;;
  *) log "usage: bash scripts/run.sh main|test|heavy"; exit 2 ;;
esac
install_apt
install_node
start_dockerd
pnpm_install_build

case "$cmd" in
  main)
    bash scripts/install.sh
    log "docker run --rm --runtime=sysbox-runc sysbox-test/busybox cat /proc/self/uid_map"
    /usr/bin/docker run --rm --runtime=sysbox-runc sysbox-test/busybox cat /proc/self/uid_map
    ;;
  test)
    exec bash scripts/test.sh
    ;;
  heavy)
    SYSBOX_HEAVY=1 bash scripts/test.sh
    pnpm bench
    ;;
esac

#!/usr/bin/env bash
# The whole test suite: unit (every package), integration (root, real kernel), e2e (Docker). Expects
# `scripts/run.sh test` to have installed the toolchain and built; prints `N passed, M failed` at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
set +e
install_node
RESULTS=$(mktemp -d)
export SYSBOX_TEST_RESULTS="$RESULTS"
status=0
step() { log "== $1"; shift; "$@" || status=1; }

step "unit tests" pnpm -r --no-bail --workspace-concurrency=1 --filter '!@sysbox/e2e' exec sh -c \
  'test -f vitest.config.ts || exit 0; vitest run --reporter=default --reporter=json --outputFile.json="$SYSBOX_TEST_RESULTS/unit-$(basename $PWD).json"'
step "integration tests (root, real kernel)" pnpm -r --no-bail --workspace-concurrency=1 --filter '!@sysbox/e2e' exec sh -c \
  'test -f vitest.int.config.ts || exit 0; vitest run --config vitest.int.config.ts --passWithNoTests --reporter=default --reporter=json --outputFile.json="$SYSBOX_TEST_RESULTS/int-$(basename $PWD).json"'
step "install" bash scripts/install.sh
step "e2e tests (Docker, runc beside sysbox-runc)" sh -c 'cd e2e && pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$SYSBOX_TEST_RESULTS/e2e.json"'

node scripts/summarize.mjs "$RESULTS"
sum=$?
[ $status -eq 0 ] && [ $sum -eq 0 ] && exit 0
exit 1

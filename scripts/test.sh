#!/usr/bin/env bash
# The whole test suite: unit (every package), install, integration (root, real kernel), e2e (Docker). Expects
# `scripts/run.sh test` to have installed the toolchain and built; prints `N passed, M failed, K expected-fail` at
# the end (scripts/summarize.mjs). Every step is recorded with its exit status, so a step that fails without a
# failing test (a crash, a global setup that throws, an install that fails) is counted as failed, by name.
# The install comes before the integration tests: it builds the image some of them use (sysbox-test/busybox).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
set +e
install_node
RESULTS=$(mktemp -d)
export SYSBOX_TEST_RESULTS="$RESULTS"
status=0

# step NAME RESULT-FILE COMMAND...: RESULT-FILE is the vitest JSON report the step writes ('-' for none)
step() {
  local name=$1 result=$2
  shift 2
  log "== $name"
  "$@"
  local rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$result" >> "$RESULTS/steps.tsv"
  [ $rc -eq 0 ] || status=1
}

# vitest DIR CONFIG NAME [ARGS...]: runs one package's tests with a JSON report named NAME.json
vitest_json() {
  local dir=$1 config=$2 name=$3
  shift 3
  (cd "$dir" && pnpm exec vitest run --config "$config" --passWithNoTests --reporter=default --reporter=json --outputFile.json="$RESULTS/$name.json" "$@")
}

packages=(native packages/* apps/*)
for dir in "${packages[@]}"; do
  [ -f "$dir/vitest.config.ts" ] || continue
  n=unit-$(basename "$dir")
  step "unit tests: $dir" "$n.json" vitest_json "$dir" vitest.config.ts "$n"
done
step "install" - bash scripts/install.sh
for dir in "${packages[@]}"; do
  [ -f "$dir/vitest.int.config.ts" ] || continue
  n=int-$(basename "$dir")
  step "integration tests (root, real kernel): $dir" "$n.json" vitest_json "$dir" vitest.int.config.ts "$n"
done
# (the count reporter prints the per-runtime counts and writes e2e.expected-fail.json: the test.fails cases)
step "e2e tests (Docker, runc beside sysbox-runc)" e2e.json vitest_json e2e vitest.config.ts e2e --reporter=./src/count-reporter.ts

node scripts/summarize.mjs "$RESULTS"
sum=$?
[ $status -eq 0 ] && [ $sum -eq 0 ] && exit 0
exit 1

// The ONE place that says which sysbox-runc expectations don't hold yet.
//
// A test whose name is listed here runs as `test.fails` in the sysbox-runc column: it passes while the feature is
// missing and turns red as soon as the feature works — then delete its line here and it becomes a normal test.
// Names are the exact test names (the string after the runtime in the vitest output). runc's column never
// consults this list. `SYSBOX_E2E_NO_PENDING=1 pnpm test:e2e` runs every test as a normal test and prints the
// sysbox-runc tests failing now in this file's format.
//
// Every other sysbox-runc test passed against the build of 2026-11-23 ~06:45 UTC (`runtime: mgr SIGKILL and restart
// keeps ranges` needs a sysbox-mgr the harness started: it refuses to kill someone else's, see src/daemons.ts).
export const PENDING: ReadonlySet<string> = new Set<string>([
]);

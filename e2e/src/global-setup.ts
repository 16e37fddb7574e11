// vitest globalSetup: prepares the host once (harness.ts), starts the sysbox daemons that this build has, and
// after the suite stops the ones that were not running before it. Those that were (e.g. started by the project's
// scripts/install.sh, which tests may stop and restart) are running again when the suite ends.
import { prepareHost, log } from './harness.ts';
import { daemonSpecs, startDaemon, stopDaemon, type DaemonSpec } from './daemons.ts';
import { removeLabelledContainers } from './docker.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const t0 = Date.now();
  // one id per run, inherited by the test workers: labels this run's containers
  process.env.SYSBOX_E2E_RUN_ID ??= String(process.pid);
  const launchers = await prepareHost();
  const stale = await removeLabelledContainers();
  if (stale) log(`removed ${stale} container(s) left by an earlier run`);
  const started: DaemonSpec[] = [];
  for (const spec of daemonSpecs()) {
    const r = await startDaemon(spec);
    if (r.started) started.push(spec);
    log(`${spec.name}: ${r.available ? `running (pid ${r.pid}${r.started ? ', started by the harness' : ', already running'})` : `not running — ${r.reason}`}`);
  }
  log(`host ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (sysbox-runc launcher ${launchers.runc ? 'present' : 'MISSING'})`);
  return async () => {
    const left = await removeLabelledContainers();
    if (left) log(`removed ${left} container(s) the suite left behind`);
    // Stop what this run started; tests that restarted a daemon wrote a fresh pid file, so stop by pid file.
    for (const spec of started.reverse()) {
      await stopDaemon(spec);
      log(`${spec.name} stopped`);
    }
    // The ones that ran before the suite run after it (a test may have stopped one and its restore failed).
    const before = daemonSpecs().filter((s) => !started.some((x) => x.name === s.name));
    for (const spec of before) {
      const r = await startDaemon(spec);
      if (!r.available) log(`${spec.name}: could not be restarted after the suite — ${r.reason}`);
    }
  };
}

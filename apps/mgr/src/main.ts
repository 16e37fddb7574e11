// sysbox-mgr: its flags and its start (./daemon.ts) in the daemon kit's main; the service itself is in service.ts.
import { runDaemon } from '@sysbox/daemon-kit';
import { startDaemon } from './daemon.js';
import { parseFlags, USAGE } from './flags.js';

await runDaemon({ name: 'sysbox-mgr', usage: USAGE, parse: parseFlags, start: (flags, log) => startDaemon(flags, { log }) });

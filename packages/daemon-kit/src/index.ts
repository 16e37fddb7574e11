// @sysbox/daemon-kit: what sysbox-mgr and sysbox-fs share as daemons, written once. Each app keeps only what is its
// own (its flags beyond the common ones, its start and stop).
//
//   runDaemon({ name, usage, parse, start })   main: flags, --help, logger, start, SIGTERM/SIGINT, uncaught errors
//   parseDaemonFlags(name, argv, defaults, options)   --socket, --pid-file, --log-level, --log-file, --help + the app's
//   makeLogger(name, flags)                    pino JSON to a file (async, flushed at exit) or stderr
//   holdingPidFile(name, match, path, start)   a start under the pid file (refused beside a live instance)
//
// Unlike the libraries in packages/, this kit is for a daemon's main: runDaemon installs signal handlers and exits
// the process, as it says.
export { UsageError, StartError } from './errors.js';
export { parseDaemonFlags, COMMON_USAGE, LOG_LEVELS, type CommonFlags, type LogLevel } from './flags.js';
export { makeLogger, type DaemonLogger } from './logger.js';
export { claimPidFile, holdingPidFile, releasePidFile } from './pidfile.js';
export { runDaemon, type DaemonSpec, type RunningDaemon } from './main.js';

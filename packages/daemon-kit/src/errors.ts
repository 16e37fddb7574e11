/** Bad flags: main prints `<daemon>: <message>` and exits 1. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A start that can't go on (another instance runs, a socket can't be bound...): `<daemon>: <message>`, exit 1. */
export class StartError extends Error {
  override readonly name = 'StartError';
}

/** Every error @sysbox/idmap throws is an IdmapError; `code` says which kind. */
export type IdmapErrorCode =
  | 'EXHAUSTED' // no free range left
  | 'BAD_SUBID' // a subuid/subgid file could not be parsed or holds no usable entry
  | 'BAD_STATE' // persisted allocator state is malformed or inconsistent
  | 'INVALID' // a bad argument (empty container id, bad size, ...)
  | 'OUTSIDE_POOL' // reserve(): the range is not inside the pool (the subordinate IDs)
  | 'IN_USE' // reserve(): the range overlaps a range another container holds
  | 'IO'; // a host operation (file, useradd) failed

export class IdmapError extends Error {
  override readonly name: string = 'IdmapError';
  constructor(
    readonly code: IdmapErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown by RangeAllocator.allocate when every range is held. */
export class RangeExhaustedError extends IdmapError {
  override readonly name = 'RangeExhaustedError';
  constructor(
    readonly holders: number,
    readonly total: number,
  ) {
    super('EXHAUSTED', `no free ID range: ${holders} containers hold all ${total} ranges`);
  }
}

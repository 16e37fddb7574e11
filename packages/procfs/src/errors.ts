/** What a handler answers instead of content; the FUSE layer turns `errno` into the reply. */
export type ProcfsErrno = 'EINVAL' | 'EACCES' | 'ENOENT' | 'EIO' | 'EPERM';

export class ProcfsError extends Error {
  override readonly name = 'ProcfsError';
  constructor(
    readonly errno: ProcfsErrno,
    message: string,
  ) {
    super(message);
  }
}

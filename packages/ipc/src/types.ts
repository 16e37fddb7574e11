// Types of the gRPC layer (no code): method tables derived from the generated services, call and serve options.

export interface MessageFns<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromPartial(object: any): T;
}
export interface MethodSpec {
  path: string;
  req: MessageFns<any>;
  res: MessageFns<any>;
}
export type MethodTable = Record<string, MethodSpec>;

export interface CallOptions {
  /** per-call deadline, overriding the client's */
  deadlineMs?: number;
}

export interface RawClient {
  call(method: string, req: unknown, opts?: CallOptions): Promise<any>;
  close(): void;
}

export interface ServeOptions {
  /** socket file mode after bind (default 0o600: root-only) */
  mode?: number;
  /** called after each call, e.g. to log it */
  onCall?: (event: { method: string; ms: number; error?: unknown }) => void;
}

export interface IpcServer {
  readonly socketPath: string;
  /** Stops accepting, waits up to graceMs (default 2000) for calls in flight, then removes the socket. */
  close(graceMs?: number): Promise<void>;
}

export type Handlers = Record<string, (req: any) => unknown>;

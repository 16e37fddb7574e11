// A lean gRPC unary client over node:http2 — the same wire protocol as @grpc/grpc-js (HTTP/2, length-prefixed
// protobuf messages, grpc-status trailers), without loading grpc-js. sysbox-runc is started several times per
// container, and grpc-js costs 30–70 ms to load; this client costs a few. The servers stay on grpc-js.
import { connect as h2connect, constants as h2c, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { IpcError, statusName, type ServiceName } from './errors.js';
import type { CallOptions, MethodTable } from './rpc.js';

export interface RawClient {
  call(method: string, req: unknown, opts?: CallOptions): Promise<any>;
  close(): void;
}

function frame(msg: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(5 + msg.length);
  b[0] = 0; // not compressed
  b.writeUInt32BE(msg.length, 1);
  b.set(msg, 5);
  return b;
}

function unframe(buf: Buffer): Buffer | undefined {
  if (buf.length < 5) return undefined;
  const len = buf.readUInt32BE(1);
  return buf.subarray(5, 5 + len);
}

function connError(service: ServiceName, socketPath: string, err: NodeJS.ErrnoException): IpcError {
  if (err.code === 'ECONNREFUSED') return new IpcError('NOT_RUNNING', `${service} is not running (connection refused at ${socketPath})`, service, { cause: err });
  if (err.code === 'ENOENT') return new IpcError('NOT_RUNNING', `${service} is not running (no socket at ${socketPath})`, service, { cause: err });
  if (err.code === 'EACCES' || err.code === 'EPERM') return new IpcError('UNAVAILABLE', `cannot reach ${service}: permission denied on ${socketPath}`, service, { cause: err });
  return new IpcError('UNAVAILABLE', `${service} is unavailable at ${socketPath}: ${err.message}`, service, { cause: err });
}

export function makeH2Client(service: ServiceName, table: MethodTable, socketPath: string, defaultDeadlineMs: number): RawClient {
  let session: Promise<ClientHttp2Session> | undefined;
  let sessionError: IpcError | undefined;
  let closed = false;
  // The unix socket is connected first, so a missing or dead daemon is told apart from a failed call.
  const open = (): Promise<ClientHttp2Session> => {
    session ??= new Promise((resolve, reject) => {
      const sock = netConnect(socketPath);
      sock.once('error', (e: NodeJS.ErrnoException) => {
        session = undefined;
        reject(connError(service, socketPath, e));
      });
      sock.once('connect', () => {
        const s = h2connect('http://localhost', { createConnection: () => sock });
        s.on('error', (e: NodeJS.ErrnoException) => {
          sessionError = connError(service, socketPath, e);
        });
        s.on('close', () => {
          session = undefined;
        });
        s.unref(); // an idle client never keeps the process alive
        resolve(s);
      });
    });
    return session;
  };
  return {
    call(method, req, opts) {
      const spec = table[method];
      if (!spec) return Promise.reject(new IpcError('UNIMPLEMENTED', `${service} has no method ${method}`, service));
      if (closed) return Promise.reject(new IpcError('CLOSED', `${service} client is closed`, service));
      const deadlineMs = opts?.deadlineMs ?? defaultDeadlineMs;
      return open().then((s) => new Promise((resolve, reject) => {
        s.ref();
        const stream = s.request({
          [h2c.HTTP2_HEADER_METHOD]: 'POST',
          [h2c.HTTP2_HEADER_PATH]: spec.path,
          [h2c.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc+proto',
          te: 'trailers',
          'grpc-timeout': `${Math.max(1, Math.ceil(deadlineMs))}m`,
        });
        const chunks: Buffer[] = [];
        let settled = false;
        let headerStatus: string | undefined;
        let headerMessage: string | undefined;
        const done = (err: IpcError | undefined, value?: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          s.unref();
          if (err) reject(err);
          else resolve(value);
        };
        const timer = setTimeout(() => {
          stream.close(h2c.NGHTTP2_CANCEL);
          done(new IpcError('DEADLINE_EXCEEDED', `${service} did not answer within ${deadlineMs}ms`, service));
        }, deadlineMs);
        stream.on('response', (headers) => {
          // A trailers-only answer carries grpc-status in the headers.
          if (headers['grpc-status'] !== undefined) {
            headerStatus = String(headers['grpc-status']);
            headerMessage = headers['grpc-message'] === undefined ? undefined : String(headers['grpc-message']);
          }
        });
        stream.on('data', (c: Buffer) => chunks.push(c));
        let trailers: Record<string, unknown> | undefined;
        stream.on('trailers', (t) => {
          trailers = t;
        });
        stream.on('error', (e: NodeJS.ErrnoException) => done(sessionError ?? connError(service, socketPath, e)));
        stream.on('close', () => {
          if (settled) return;
          if (sessionError) return done(sessionError);
          const code = Number(trailers?.['grpc-status'] ?? headerStatus ?? NaN);
          const rawMsg = trailers?.['grpc-message'] ?? headerMessage;
          if (Number.isNaN(code)) return done(new IpcError('UNAVAILABLE', `${service} closed the call without a status (${socketPath})`, service));
          if (code !== 0) {
            const msg = rawMsg === undefined ? statusName(code) : decodeURIComponent(String(rawMsg));
            return done(new IpcError(statusName(code), msg.split('\n')[0] ?? msg, service));
          }
          const body = unframe(Buffer.concat(chunks));
          try {
            done(undefined, spec.res.decode(body ?? new Uint8Array()));
          } catch (e) {
            done(new IpcError('INTERNAL', `${service}: bad answer to ${method}: ${(e as Error).message}`, service));
          }
        });
        stream.end(frame(spec.req.encode(spec.req.fromPartial(req ?? {})).finish()));
      }));
    },
    close() {
      closed = true;
      void session?.then((s) => s.close(), () => {});
    },
  };
}

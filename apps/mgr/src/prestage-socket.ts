// The prestage socket: sysbox-runc's launcher sends one message per `create` before it starts Node
// (native/csrc/sysbox-runc-prestage.c), "prestage\0<id>\0<bundle>\0<liveness path>\0", and closes. sysbox-mgr
// registers the container and stages its rootfs and mounts meanwhile (MgrService.prestage). No answer is sent: it is a
// hint, and the create's own Register is what counts. Root-only (0600), like the gRPC socket.
import { createServer, type Server } from 'node:net';
import { chmod, unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import { errText } from './errors.js';
import type { PrestageRequest } from './service.js';

const MAX_MESSAGE = 16384;

/** The request in one message, or undefined if it isn't a well-formed prestage message. */
export function parsePrestage(msg: Buffer): PrestageRequest | undefined {
  if (msg.length === 0 || msg[msg.length - 1] !== 0) return undefined;
  const parts = msg.subarray(0, msg.length - 1).toString('utf8').split('\0');
  if (parts.length !== 4 || parts[0] !== 'prestage') return undefined;
  const [, containerId, bundle, livenessPath] = parts as [string, string, string, string];
  return { containerId, bundle, livenessPath };
}

export interface PrestageServer {
  close(): void;
}

export async function servePrestage(path: string, prestage: (req: PrestageRequest) => Promise<string>, log: Logger): Promise<PrestageServer> {
  await unlink(path).catch(() => undefined);
  const server: Server = createServer((sock) => {
    const chunks: Buffer[] = [];
    let size = 0;
    sock.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_MESSAGE) sock.destroy();
      else chunks.push(b);
    });
    sock.on('error', () => undefined);
    sock.on('end', () => {
      sock.destroy();
      const req = parsePrestage(Buffer.concat(chunks));
      if (!req) {
        log.debug({ bytes: size }, 'prestage: malformed message ignored');
        return;
      }
      void prestage(req).then(
        (what) => log.debug({ containerId: req.containerId, what }, 'prestage'),
        (err: unknown) => log.warn({ containerId: req.containerId, err: errText(err) }, 'prestage failed'),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
  server.on('error', (err) => log.warn({ err: errText(err) }, 'prestage socket error'));
  return {
    close() {
      server.close();
      void unlink(path).catch(() => undefined);
    },
  };
}

// ../../../../../tmp/vet-rec/dev/raw.ts
import { realKernel } from "@sysbox/native";
var k = realKernel();
var sock = process.argv[2];
var l = k.listenUnix(sock, 16);
var mode = process.argv[3] ?? "sync";
(async () => {
  const c = await k.accept(l);
  const { fds } = await k.recvFds(c, 4, 65536);
  const fd = fds[0];
  k.seccompNotify.watch(fd, (n) => {
    if (mode === "sync") k.seccompNotify.respond(fd, { id: n.id, continue: true });
    else void Promise.resolve().then(() => k.seccompNotify.respond(fd, { id: n.id, continue: true }));
  }, () => process.exit(0));
  console.log("ready");
})();

#!/usr/bin/env bash
# Installs the built sysbox-ts on this host (as root): deploys sysbox-runc, sysbox-mgr and sysbox-fs under
# /usr/local/lib/sysbox-ts, writes launchers in /usr/local/bin, starts sysbox-mgr, sysbox-fs and sysbox-runc's
# create server, and registers
# sysbox-runc with Docker (runc stays Docker's default). Run after `pnpm build` (scripts/run.sh does both).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_root
install_node
PREFIX=${SYSBOX_PREFIX:-/usr/local/lib/sysbox-ts}
NODE_BIN=$(readlink -f "$TOOLS_DIR/node_modules/.bin/node")

log "deploying to $PREFIX"
mkdir -p "$PREFIX"
for app in runc mgr fs; do
  rm -rf "$PREFIX/$app.new"
  pnpm --filter "@sysbox/$app" deploy --prod "$PREFIX/$app.new" >/dev/null
  rm -rf "$PREFIX/$app.old"
  [ -d "$PREFIX/$app" ] && mv "$PREFIX/$app" "$PREFIX/$app.old"
  mv "$PREFIX/$app.new" "$PREFIX/$app"
  rm -rf "$PREFIX/$app.old"
done

# Launchers: the Node 24 runtime, without NODE_EXTRA_CA_CERTS (it costs ~50 ms per start and the runtime
# makes no TLS connections), with V8's compile cache on (the runtime starts several times per container).
mkdir -p /var/cache/sysbox-ts/compile-cache
write_launcher() { # name app [node flags]
  cat > "/usr/local/bin/$1.tmp" <<EOS
#!/bin/sh
unset NODE_EXTRA_CA_CERTS NODE_OPTIONS
export NODE_COMPILE_CACHE=/var/cache/sysbox-ts/compile-cache
exec $NODE_BIN ${3:+$3 }$PREFIX/$2/dist/main.js "\$@"
EOS
  chmod 755 "/usr/local/bin/$1.tmp"
  mv "/usr/local/bin/$1.tmp" "/usr/local/bin/$1"
}
# sysbox-runc is the front door (native/csrc/sysbox-runc.c): start/kill/delete/exec straight to the engine, create to
# the create server, the rest to the Node CLI named in sysbox-runc.conf beside it.
mkdir -p "$PREFIX/bin"
cp "$PREFIX/runc/node_modules/@sysbox/native/bin/sysbox-runc" "$PREFIX/bin/sysbox-runc.tmp"
printf 'node=%s\nmain=%s\ncache=%s\n' "$NODE_BIN" "$PREFIX/runc/dist/load.cjs" /var/cache/sysbox-ts/compile-cache > "$PREFIX/bin/sysbox-runc.conf.tmp"
mv "$PREFIX/bin/sysbox-runc.conf.tmp" "$PREFIX/bin/sysbox-runc.conf"
chmod 755 "$PREFIX/bin/sysbox-runc.tmp" && mv "$PREFIX/bin/sysbox-runc.tmp" "$PREFIX/bin/sysbox-runc"
ln -sfn "$PREFIX/bin/sysbox-runc" /usr/local/bin/sysbox-runc.tmp && mv -T /usr/local/bin/sysbox-runc.tmp /usr/local/bin/sysbox-runc
# sysbox-mgr: semi-spaces capped at 16 MiB. Under a burst of creates (100 `docker run -d` at once) V8 grows
# them to 64 MiB on this machine, and that memory is never given back: RSS after three bursts was 140-236 MB;
# with the cap, 120-134 MB, and GC time per container about the same (~2-3 ms; a 2 MiB cap made it ~9 ms).
# Live heap after a full GC is ~11-17 MB either way. One create at a time never grows them.
write_launcher sysbox-mgr mgr "--max-semi-space-size=16"
# sysbox-fs: V8's young generation capped at 1 MiB semi-spaces (default up to 16 MiB): its garbage is
# per-request and short-lived, so a burst of reads otherwise grows RSS by ~20 MB for no throughput (issue 5:
# < 80 MB RSS with 20 containers; reads/s unchanged, measured with `pnpm bench -- --case procfs-reads`).
write_launcher sysbox-fs fs "--max-semi-space-size=1"

# The daemons must not inherit fds of whoever runs this script: under `flock /tmp/install.lock install.sh`,
# a daemon holding the lock's fd would keep the lock until its own next restart (everyone else waits).
close_inherited() { for fd in /proc/self/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null || true; }

# <pid file>.install: the pid of the instance this script started. The project's own test suite (e2e/src/daemons.ts)
# may stop and restart such an instance (and leaves one running afterwards); a daemon started by anyone else it
# leaves alone.
mark_installed() { for _ in $(seq 1 50); do [ -s "$1" ] && break; sleep 0.1; done; cp "$1" "$1.install" 2>/dev/null || true; }

# restart_daemon NAME PIDFILE SOCKET LOG COMMAND...: stops the running instance (SIGTERM, SIGKILL after 30 s: a daemon
# busy with a burst of containers may take a while), starts COMMAND, and waits until the new instance (its pid in
# PIDFILE) accepts connections on SOCKET (a socket file left by the old one doesn't count). Marks it as this
# script's (mark_installed).
answers() { python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(sys.argv[1])' "$1" 2>/dev/null; }
restart_daemon() {
  local name=$1 pidfile=$2 socket=$3 logf=$4 old pid
  shift 4
  old=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$old" ] && kill -0 "$old" 2>/dev/null; then
    log "stopping the running $name (pid $old)"
    kill -TERM "$old"
    for _ in $(seq 1 300); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$old" 2>/dev/null; then
      log "$name (pid $old) did not stop within 30 s: SIGKILL"
      kill -KILL "$old" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  log "starting $name"
  (close_inherited; exec setsid "$@" </dev/null >>"$logf" 2>&1) &
  pid=$!
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    [ "$(cat "$pidfile" 2>/dev/null)" = "$pid" ] && answers "$socket" && { mark_installed "$pidfile"; return 0; }
    sleep 0.1
  done
  log "$name did not start (it does not answer on $socket); see $logf"
  tail -5 "$logf" >&2
  exit 1
}

mkdir -p /run/sysbox
# sysbox-mgr: ID ranges, staged mounts.
restart_daemon sysbox-mgr /run/sysbox/mgr.pid /run/sysbox/mgr.sock /var/log/sysbox-mgr.log \
  /usr/local/bin/sysbox-mgr --socket /run/sysbox/mgr.sock --pid-file /run/sysbox/mgr.pid --data-dir /var/lib/sysbox --log-file /var/log/sysbox-mgr.log
# sysbox-fs (FUSE emulation of /proc and /sys). Running containers keep their emulated files: the stopping sysbox-fs
# leaves their FUSE mounts in place (their /dev/fuse fds are in sysbox-mgr's fd store) and the new one adopts them;
# requests made in between wait.
restart_daemon sysbox-fs /run/sysbox/fs.pid /run/sysbox/fs.sock /var/log/sysbox-fs.log \
  /usr/local/bin/sysbox-fs --socket /run/sysbox/fs.sock --pid-file /run/sysbox/fs.pid --log-file /var/log/sysbox-fs.log
# sysbox-runc's create server (`sysbox-runc serve`): runs creates in a warm Node, so that a `docker run` doesn't wait
# for a Node start (apps/runc/src/server.ts); the creates under way finish first. Without it, sysbox-runc runs each
# create in its own Node.
restart_daemon "the sysbox-runc create server" /run/sysbox/runc.pid /run/sysbox/runc.sock /var/log/sysbox-runc-server.log \
  /usr/local/bin/sysbox-runc serve --socket /run/sysbox/runc.sock --pid-file /run/sysbox/runc.pid --log-file /var/log/sysbox-runc-server.log

# Register sysbox-runc with Docker, keeping every other runtime.
start_dockerd
mkdir -p /etc/docker
(
  flock 9
  cfg=/etc/docker/daemon.json
  [ -s "$cfg" ] || echo '{}' > "$cfg"
  jq '.runtimes["sysbox-runc"] = {"path": "/usr/local/bin/sysbox-runc"}' "$cfg" > "$cfg.tmp"
  cat "$cfg.tmp" > "$cfg" && rm -f "$cfg.tmp"
) 9>/tmp/daemon-json.lock
kill -HUP "$(pidof dockerd)"
for _ in $(seq 1 50); do
  /usr/bin/docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q sysbox-runc && break
  sleep 0.2
done

# A small image to try it with (images can't be pulled here: busybox from Debian's busybox-static).
if ! /usr/bin/docker image inspect sysbox-test/busybox >/dev/null 2>&1; then
  log "building image sysbox-test/busybox from /bin/busybox"
  tmp=$(mktemp -d)
  mkdir -p "$tmp/bin" "$tmp/etc" "$tmp/tmp" "$tmp/root" "$tmp/proc" "$tmp/sys" "$tmp/dev"
  cp /bin/busybox "$tmp/bin/busybox"
  for a in $("$tmp/bin/busybox" --list); do [ -e "$tmp/bin/$a" ] || ln -s busybox "$tmp/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$tmp/etc/passwd"
  echo 'root:x:0:' > "$tmp/etc/group"
  tar -C "$tmp" -c . | /usr/bin/docker import -c 'CMD ["sh"]' -c 'ENV PATH=/bin' - sysbox-test/busybox:latest >/dev/null
  rm -rf "$tmp"
fi
log "installed: sysbox-runc $(/usr/local/bin/sysbox-runc --version | head -1), engine $(runc --version | head -1)"

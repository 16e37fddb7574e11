#!/bin/sh
# sysbox-runc launcher (installed as /usr/local/bin/sysbox-runc; @NODE@ and @MAIN@ are filled in at install).
#
# `start` and `kill` of a container sysbox-runc created need no sysbox work: they go straight to the engine
# that created it (recorded in <root>/sysbox/<id>/engine), with the engine's state under <root>/engine,
# without starting Node. `delete` of such a container runs that engine's delete, then removes sysbox-runc's
# state dir <root>/sysbox/<id>: it is the liveness path the container was registered with, and sysbox-mgr,
# watching it, tears the rest down (sysbox-fs views, staged rootfs and mounts, ID range) within milliseconds.
# `delete` of an id that neither sysbox nor the engine knows (Docker deletes every container twice) goes to
# the engine last used (<root>/engine-path). Everything else goes to the Node program.
# `exec` goes to sysbox-runc-exec (native/csrc/sysbox-runc-exec.c): it applies the capability sets recorded
# at create to Docker's process spec and execs the engine, or comes back here for Node when unsure.
# `create`: first sysbox-runc-prestage (native/csrc/sysbox-runc-prestage.c) sends the id, the bundle and the
# state dir to sysbox-mgr's prestage socket (mgr-prestage.sock beside $SYSBOX_MGR_SOCKET, default
# /run/sysbox/mgr.sock): sysbox-mgr registers the container and stages its rootfs and mounts ahead, and create's
# Register and PrepareMounts take that over (a hint only: it never waits, and create does the work if it was
# missed). Then sysbox-runc-create (native/csrc/sysbox-runc-create.c) has the create server (`sysbox-runc serve`,
# listening on $SYSBOX_RUNC_SOCKET, default /run/sysbox/runc.sock) run the create in its warm Node, and forks the
# engine itself when the server asks; with no server, or a create it doesn't serve, it comes back here with
# SYSBOX_RUNC_NO_FASTPATH=1 and Node runs the create.
# `serve` starts the create server (a daemon: Node without the short-lived CLI's V8 flags).
NODE='@NODE@'
MAIN='@MAIN@'
EXEC='@EXEC@'
PRESTAGE='@PRESTAGE@'
CREATE='@CREATE@'

slow() {
  unset NODE_EXTRA_CA_CERTS NODE_OPTIONS
  NODE_COMPILE_CACHE=${SYSBOX_COMPILE_CACHE:-/var/cache/sysbox-ts/compile-cache}
  export NODE_COMPILE_CACHE
  # V8 flags for a short-lived CLI: keep the start-up snapshot's hash seed instead of rehashing every table
  # in it with a random one (~3.5 ms of each start; the random seed guards long-lived processes against
  # hash flooding), and a young generation large enough that a create never runs a scavenge (~3 ms of GC).
  exec "$NODE" --no-rehash-snapshot --min-semi-space-size=16 "$MAIN" "$@"
}

# The prestage hint for `create`: only for the command line Docker's shim uses (global flags, then create with
# its known flags and the id), with absolute paths. $1: the --root parsed below, $2: the position of `create` in
# the command line that follows.
prestage() {
  [ -x "$PRESTAGE" ] || return 0
  proot=$1
  shift $((2 + $2))
  pbundle=$PWD
  pid=
  pskip=
  for a in "$@"; do
    if [ -n "$pskip" ]; then
      [ "$pskip" = bundle ] && pbundle=$a
      pskip=
      continue
    fi
    case $a in
      --bundle | -bundle | -b) pskip=bundle ;;
      --bundle=* | -bundle=* | -b=*) pbundle=${a#*=} ;;
      --console-socket | -console-socket | --pid-file | -pid-file | --preserve-fds | -preserve-fds) pskip=value ;;
      --console-socket=* | -console-socket=* | --pid-file=* | -pid-file=* | --preserve-fds=* | -preserve-fds=*) ;;
      --no-pivot | -no-pivot | --no-new-keyring | -no-new-keyring) ;;
      -*) return 0 ;;
      *) [ -z "$pid" ] || return 0; pid=$a ;;
    esac
  done
  case $pid in '' | */* | .*) return 0 ;; esac
  case $proot in /*) ;; *) return 0 ;; esac
  case $pbundle in /*) ;; *) return 0 ;; esac
  psock=${SYSBOX_MGR_SOCKET:-/run/sysbox/mgr.sock}
  "$PRESTAGE" "${psock%/*}/mgr-prestage.sock" "$pid" "$pbundle" "${proot%/}/sysbox/$pid"
}

[ -n "$SYSBOX_RUNC_NO_FASTPATH" ] && slow "$@"
if [ "$1" = serve ]; then
  unset NODE_EXTRA_CA_CERTS NODE_OPTIONS NODE_COMPILE_CACHE
  exec "$NODE" "$MAIN" "$@"
fi

root=/run/sysbox-runc
cmd=
skip=
id=
n=0
for a in "$@"; do
  n=$((n + 1))
  if [ -n "$skip" ]; then
    [ "$skip" = root ] && root=$a
    skip=
    continue
  fi
  if [ -z "$cmd" ]; then
    case $a in
      --root | -root) skip=root ;;
      --root=* | -root=*) root=${a#*=} ;;
      --log | -log | --log-format | -log-format | --criu | -criu | --rootless | -rootless) skip=value ;;
      --engine | -engine) skip=value ;; # the container's own engine is recorded at create
      --debug | -debug | --systemd-cgroup | -systemd-cgroup | --log=* | -log=* | --log-format=* | -log-format=* | --engine=* | -engine=*) ;;
      start | kill | delete) cmd=$a ;;
      exec) [ -x "$EXEC" ] && exec "$EXEC" "$0" "$@"; slow "$@" ;;
      create)
        prestage "$root" "$n" "$@"
        csock=${SYSBOX_RUNC_SOCKET:-/run/sysbox/runc.sock}
        [ -x "$CREATE" ] && [ -S "$csock" ] && exec "$CREATE" "$0" "$csock" "$@"
        slow "$@" ;;
      *) slow "$@" ;;
    esac
  else
    case $a in
      --all | -a | --all=true | -all) [ "$cmd" = kill ] || slow "$@" ;;
      --force | -f | --force=true | -force) [ "$cmd" = delete ] || slow "$@" ;;
      -*) slow "$@" ;;
      *) id=$a; break ;;
    esac
  fi
done
[ -n "$cmd" ] && [ -n "$id" ] || slow "$@"
case $id in */* | .*) slow "$@" ;; esac
teardown=
if [ "$cmd" = delete ]; then
  if [ -e "$root/sysbox/$id" ]; then
    enginefile=$root/sysbox/$id/engine
    teardown=1
  else
    [ -e "$root/engine/$id" ] && slow "$@"
    enginefile=$root/engine-path
  fi
else
  enginefile=$root/sysbox/$id/engine
fi
[ -r "$enginefile" ] || slow "$@"
read -r engine < "$enginefile" || slow "$@"
[ -x "$engine" ] || slow "$@"

# Rebuild the arguments for the engine: the global --root pointing at the engine's state, sysbox-runc's own
# global --engine left out.
n=$#
i=0
found=
skip=
incmd=
while [ $i -lt $n ]; do
  a=$1
  shift
  i=$((i + 1))
  if [ "$skip" = root ]; then
    a=$root/engine
    skip=
  elif [ "$skip" = engine ]; then
    skip=
    continue
  elif [ -n "$skip" ]; then
    skip=
  elif [ -z "$incmd" ]; then
    case $a in
      --root | -root) skip=root; found=1 ;;
      --root=* | -root=*) a=--root=$root/engine; found=1 ;;
      --engine | -engine) skip=engine; continue ;;
      --engine=* | -engine=*) continue ;;
      --log | -log | --log-format | -log-format | --criu | -criu | --rootless | -rootless) skip=value ;;
      -*) ;;
      *) incmd=1 ;;
    esac
  fi
  set -- "$@" "$a"
done
[ -n "$found" ] || set -- --root "$root/engine" "$@"
[ -n "$teardown" ] || exec "$engine" "$@"
"$engine" "$@"
rc=$?
# Gone from the engine (not a refused delete of a running container): drop our state; sysbox-mgr does the rest.
[ -e "$root/engine/$id" ] || rm -rf "$root/sysbox/$id"
exit $rc

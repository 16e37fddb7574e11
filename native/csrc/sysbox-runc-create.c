// sysbox-runc-create: sysbox-runc's `create` through the create server (apps/runc/src/server.ts).
//
//   sysbox-runc-create LAUNCHER SOCKET ARGS...
//
// ARGS is sysbox-runc's whole command line as Docker's shim gave it. Sends it, with this process's cwd and
// environment, to the create server listening on SOCKET, which runs the create in a warm Node process. When the
// server asks, forks and execs the engine with this process's fds 0..n-1 (the container's stdio and preserved
// fds), environment and cwd, and reports its exit status: the engine's child (the container's init) thus stays a
// descendant of Docker's shim, as with runc. At the end writes the server's error text (if any) to fd 2 and exits
// with the create's exit code.
//
// No server (no socket, nobody listening), or a create the server does not serve (another verb, a relative
// --log, a server shutting down: it says so before doing anything), or the server gone before it accepted the
// create: back to the launcher with SYSBOX_RUNC_NO_FASTPATH=1, i.e. to the Node CLI, which does the whole create
// itself. Once the server accepted it (frame A), a lost server is an error (exit 1), never a second create.
//
// Frames (both ways): [type: 1 byte][length: u32 little-endian][payload: fields separated by NUL].
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROTOCOL "sysbox-runc-create/1"
#define MAX_FRAME (1u << 20)

extern char **environ;

static const char *launcher;
static char **orig_args; // argv + 2: [SOCKET, ARGS...]; the launcher's argv is [LAUNCHER, ARGS...]

static void debug(const char *what, const char *detail) {
  if (getenv("SYSBOX_RUNC_CREATE_DEBUG")) fprintf(stderr, "sysbox-runc-create: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
}

/** Back to the launcher, for the Node CLI. */
static void fallback(const char *why, const char *detail) {
  debug(why, detail);
  setenv("SYSBOX_RUNC_NO_FASTPATH", "1", 1);
  orig_args[0] = (char *)launcher;
  execv(launcher, orig_args);
  fprintf(stderr, "sysbox-runc: can't run %s: %s\n", launcher, strerror(errno));
  _exit(1);
}

/** The server went away after it accepted the create: an error, never a second create. */
static int lost(const char *path) {
  fprintf(stderr, "sysbox-runc: the create server (%s) closed the connection during the create of this container\n", path);
  return 1;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/** Reads exactly n bytes: 0, or -1 on EOF or an error. */
static int read_all(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

struct buf {
  char *p;
  size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      fprintf(stderr, "sysbox-runc: out of memory\n");
      _exit(1);
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

/** One field of a frame's payload; fields are separated by NUL (none after the last). */
static void field(struct buf *b, const char *s, int first) {
  if (!first) put(b, "", 1);
  put(b, s, strlen(s));
}

static void frame_head(char head[5], char type, uint32_t len) {
  head[0] = type;
  head[1] = (char)(len & 0xff);
  head[2] = (char)((len >> 8) & 0xff);
  head[3] = (char)((len >> 16) & 0xff);
  head[4] = (char)((len >> 24) & 0xff);
}

static int send_frame(int fd, char type, const struct buf *payload) {
  char head[5];
  frame_head(head, type, (uint32_t)payload->n);
  if (write_all(fd, head, 5) < 0) return -1;
  return payload->n ? write_all(fd, payload->p, payload->n) : 0;
}

/** Splits a payload into its fields (in place); returns how many. */
static size_t split(char *p, size_t n, char **out, size_t max) {
  size_t k = 0;
  if (max == 0) return 0;
  out[k++] = p;
  for (size_t i = 0; i < n && k < max; i++) {
    if (p[i] == '\0') out[k++] = p + i + 1;
  }
  return k;
}

/** Runs the engine (S frame: nfds, path, argv...) and waits for it: its exit code, or 128 + the signal. */
static int run_engine(char **fields, size_t nf) {
  if (nf < 3) return 1;
  long nfds = strtol(fields[0], NULL, 10);
  if (nfds < 3) nfds = 3;
  const char *path = fields[1];
  char **argv = fields + 2; // NULL-terminated by the caller
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "sysbox-runc: fork: %s\n", strerror(errno));
    return 1;
  }
  if (pid == 0) {
    // only the container's fds reach the engine (the socket is close-on-exec anyway)
    syscall(SYS_close_range, (unsigned)nfds, ~0u, 0);
    execve(path, argv, environ);
    fprintf(stderr, "sysbox-runc: engine %s failed to start: %s\n", path, strerror(errno));
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: sysbox-runc-create LAUNCHER SOCKET ARGS...\n");
    return 1;
  }
  launcher = argv[1];
  orig_args = argv + 2;
  const char *path = argv[2];
  int nargs = argc - 3;
  char **args = argv + 3;

  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(addr.sun_path)) fallback("socket path too long", path);
  memcpy(addr.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fallback("socket", strerror(errno));
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) fallback("no create server", strerror(errno));

  char cwd[4096];
  if (!getcwd(cwd, sizeof(cwd))) fallback("getcwd", strerror(errno));
  struct buf req = {0};
  char num[32];
  field(&req, PROTOCOL, 1);
  field(&req, cwd, 0);
  snprintf(num, sizeof(num), "%d", nargs);
  field(&req, num, 0);
  for (int i = 0; i < nargs; i++) field(&req, args[i], 0);
  size_t nenv = 0;
  for (char **e = environ; *e; e++) nenv++;
  snprintf(num, sizeof(num), "%zu", nenv);
  field(&req, num, 0);
  for (char **e = environ; *e; e++) field(&req, *e, 0);
  if (req.n > MAX_FRAME) fallback("request too large", NULL);
  if (send_frame(fd, 'R', &req) < 0) fallback("server gone", strerror(errno));

  int accepted = 0;
  for (;;) {
    char head[5];
    if (read_all(fd, head, 5) < 0) {
      if (!accepted) fallback("server gone before accepting the create", NULL);
      return lost(path);
    }
    uint32_t len = (uint32_t)(unsigned char)head[1] | (uint32_t)(unsigned char)head[2] << 8 |
                   (uint32_t)(unsigned char)head[3] << 16 | (uint32_t)(unsigned char)head[4] << 24;
    if (len > MAX_FRAME) {
      fprintf(stderr, "sysbox-runc: the create server (%s) sent a frame of %u bytes\n", path, len);
      return 1;
    }
    char *payload = malloc(len + 1);
    if (!payload) {
      fprintf(stderr, "sysbox-runc: out of memory\n");
      return 1;
    }
    if (len && read_all(fd, payload, len) < 0) {
      if (!accepted) fallback("server gone before accepting the create", NULL);
      return lost(path);
    }
    payload[len] = '\0';
    switch (head[0]) {
    case 'F':
      if (accepted) {
        fprintf(stderr, "sysbox-runc: the create server (%s) sent back a create it had accepted\n", path);
        return 1;
      }
      fallback("unserved", payload);
      break;
    case 'A':
      accepted = 1;
      break;
    case 'S': {
      if (!accepted) {
        fprintf(stderr, "sysbox-runc: the create server (%s) asked for the engine before accepting the create\n", path);
        return 1;
      }
      char **fields = calloc((size_t)len + 2, sizeof(char *));
      if (!fields) return 1;
      size_t nf = split(payload, len, fields, (size_t)len + 1);
      fields[nf] = NULL;
      int code = run_engine(fields, nf);
      free(fields);
      struct buf x = {0};
      snprintf(num, sizeof(num), "%d", code);
      field(&x, num, 1);
      if (send_frame(fd, 'X', &x) < 0) {
        return lost(path);
      }
      free(x.p);
      break;
    }
    case 'D': {
      char *fields[2] = {payload, NULL};
      size_t nf = split(payload, len, fields, 2);
      int code = (int)strtol(fields[0], NULL, 10);
      if (nf == 2 && fields[1][0]) {
        size_t n = strlen(fields[1]);
        const char *p = fields[1];
        while (n > 0) {
          ssize_t w = write(2, p, n);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) break;
          p += w;
          n -= (size_t)w;
        }
      }
      return code;
    }
    default:
      fprintf(stderr, "sysbox-runc: the create server (%s) sent an unknown frame '%c'\n", path, head[0]);
      return 1;
    }
    free(payload);
  }
}

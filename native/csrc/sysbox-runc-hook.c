// sysbox-runc-hook: the OCI hooks sysbox-runc's create adds to a container's spec so that sysbox-fs's files
// are placed while the engine runs the container's other hooks (Docker's libnetwork-setkey takes ~90 ms),
// instead of after the engine's create.
//
//   sysbox-runc-hook notify SOCKET   first prestart hook: sends "notify <pid>\n" (the container's init pid,
//                                    from the OCI state on stdin) to sysbox-runc create listening on SOCKET,
//                                    which then registers with sysbox-fs and places the files; returns once
//                                    create has taken the pid ("ok").
//   sysbox-runc-hook wait SOCKET     last createRuntime hook: sends "wait\n" and returns when create answers:
//                                    "ok ..." (the files are placed, or no notify came and create places them
//                                    after the engine), or "fail REASON" (they can't be placed: the hook fails,
//                                    and with it the engine's create). The engine pivots into the rootfs only
//                                    after this hook.
//
// The engine runs both hooks after it has mounted the container's /proc and /sys under the rootfs and before
// pivot_root (runc), so the files go to <rootfs>/proc/... in the container's mount namespace.
// A SOCKET path longer than sun_path is reached through its directory (/proc/self/fd/N/NAME).
// Exit status: 0 when create answered "ok"; 1 when create can't be reached, `wait` is answered "fail", create went
// away while it waited (the create failed), or on bad usage.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_STATE (1 << 20)
#define WAIT_TIMEOUT_MS (120 * 1000)

static int usage(void) {
  fprintf(stderr, "usage: sysbox-runc-hook notify|wait SOCKET (the OCI state on stdin)\n");
  return 1;
}

// The "pid" of the OCI state JSON on stdin (0 if absent). The state is a flat object written by the engine.
static long state_pid(void) {
  static char buf[MAX_STATE + 1];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(0, buf + n, MAX_STATE - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
    if (n == MAX_STATE) break;
  }
  buf[n] = '\0';
  for (char *p = buf; (p = strstr(p, "\"pid\"")) != NULL; p += 5) {
    char *q = p + 5;
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
    if (*q != ':') continue;
    q++;
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
    char *end;
    long pid = strtol(q, &end, 10);
    if (end != q && pid > 0) return pid;
  }
  return 0;
}

static int connect_to(const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  int dirfd = -1;
  if (strlen(path) < sizeof a.sun_path) {
    strcpy(a.sun_path, path);
  } else {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) {
      errno = ENAMETOOLONG;
      return -1;
    }
    char dir[4096];
    size_t dl = (size_t)(slash - path);
    if (dl >= sizeof dir) {
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return -1;
    if (snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", dirfd, slash + 1) >= (int)sizeof a.sun_path) {
      close(dirfd);
      errno = ENAMETOOLONG;
      return -1;
    }
  }
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    int e = errno;
    close(s);
    s = -1;
    errno = e;
  }
  if (dirfd >= 0) close(dirfd);
  return s;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) return usage();
  const char *op = argv[1], *sock = argv[2];
  int notify = !strcmp(op, "notify");
  if (!notify && strcmp(op, "wait")) return usage();
  char msg[64];
  long pid = state_pid(); // read by both: an engine may not like a hook that leaves its stdin unread
  if (notify) {
    if (pid <= 0) {
      fprintf(stderr, "sysbox-runc-hook: notify: no pid in the OCI state on stdin\n");
      return 1;
    }
    snprintf(msg, sizeof msg, "notify %ld\n", pid);
  } else {
    snprintf(msg, sizeof msg, "wait\n");
  }
  // sysbox-runc's create listens while the engine runs these hooks: not reaching it fails the hook (and the
  // engine), never a container without its emulation
  int s = connect_to(sock);
  if (s < 0) {
    fprintf(stderr, "sysbox-runc-hook: %s: cannot reach sysbox-runc create at %s: %s\n", op, sock, strerror(errno));
    return 1;
  }
  if (write_all(s, msg, strlen(msg)) != 0) {
    fprintf(stderr, "sysbox-runc-hook: %s: cannot write to %s: %s\n", op, sock, strerror(errno));
    close(s);
    return 1;
  }
  // one line back ("ok ..."), or EOF if create went away. notify waits for it too, so that create has taken
  // the pid before the engine runs its next hook.
  char buf[256];
  size_t n = 0;
  struct pollfd pfd = {.fd = s, .events = POLLIN};
  for (;;) {
    int r = poll(&pfd, 1, WAIT_TIMEOUT_MS);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      fprintf(stderr, "sysbox-runc-hook: %s: no answer from sysbox-runc create in %d s\n", op, WAIT_TIMEOUT_MS / 1000);
      return 1;
    }
    ssize_t got = read(s, buf + n, sizeof buf - 1 - n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    n += (size_t)got;
    if (memchr(buf, '\n', n) || n == sizeof buf - 1) break;
  }
  close(s);
  buf[n] = '\0';
  if (!strncmp(buf, "ok", 2)) return 0;
  char *nl = strchr(buf, '\n');
  if (nl) *nl = '\0';
  if (!strncmp(buf, "fail ", 5)) {
    fprintf(stderr, "sysbox-runc-hook: %s\n", buf + 5);
    return 1;
  }
  fprintf(stderr, "sysbox-runc-hook: %s: sysbox-runc create went away%s%s\n", op, n ? ": " : "", buf);
  return 1;
}

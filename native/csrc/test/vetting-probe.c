/*
 * vetting-probe: a static probe of sysbox-fs's syscall vetting, run inside containers by the tests and the bench
 * (compiled by them: cc -static -O2 -o vetting-probe vetting-probe.c). Each command prints one line per result,
 * "<what> r=<return> errno=<errno>", and exits 0 unless its usage is wrong.
 *
 *   listener            seccomp(SET_MODE_FILTER, NEW_LISTENER) with an allow-all filter (+ plain SET_MODE_FILTER)
 *   newapi              fsopen, open_tree with and without OPEN_TREE_CLONE, move_mount
 *   openat2 DIR FILE    openat2(open(DIR), FILE, O_RDONLY|O_CLOEXEC, RESOLVE_NO_XDEV|RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH),
 *                       prints the content's first line and whether the fd is close-on-exec; "openat2-nocloexec"
 *                       does the same without O_CLOEXEC
 *   fdmount DIR         mount("tmpfs") onto /proc/self/fd/N (N = open(DIR, O_PATH)), then umount2 of the same
 *   fdproc DIR          mount("proc") onto /proc/self/fd/N (N = open(DIR, O_PATH)), as runc mounts a container's /proc
 *   fdumount PATH       umount2("/proc/thread-self/fd/N") with N = open(PATH, O_PATH)
 *   loop N DIR          N x (mount tmpfs on DIR; umount2 DIR): prints the failures and the ns per pair
 *   getpid N            N x getpid(): prints ns per call
 *   readzero N          N x read(/dev/zero, 1 byte): prints ns per call
 *   race-proc SECS DIR  mount(TYPE) on DIR while a sibling thread rewrites TYPE between "tmpfs" and "proc", for SECS
 *                       seconds or until a raw procfs is mounted (DIR/uptime on procfs itself, not an emulated file):
 *                       prints the tries, the mounts and the raw ones (what a CONTINUE after a check lets through)
 *   race-umount SECS DIR MASKED  umount2(PATH) of a tmpfs mounted on DIR while a sibling thread rewrites PATH between
 *                       DIR and MASKED (a masked directory), for SECS seconds or until MASKED is no longer masked
 *                       (its file system type changed: a mask unmounted over another mask, as an engine's over
 *                       sysbox-runc's locked one, still masks): prints the tries and the unmasked count
 *   notify-loop N DIR SOCK  installs a filter sending mount and umount2 to a listener, hands it to the supervisor at
 *                       SOCK as runc does (SCM_RIGHTS + a JSON state, container id "probe"), then runs "loop N DIR"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/audit.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long r) {
  printf("%s r=%ld errno=%d\n", what, r, r < 0 ? errno : 0);
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmd_listener(void) {
  struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  struct sock_fprog prog = {1, allow};
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  show("seccomp-new-listener", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
  show("seccomp-filter", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
  return 0;
}

static int cmd_newapi(void) {
  show("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
  show("open_tree-clone", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */));
  show("open_tree-path", syscall(SYS_open_tree, AT_FDCWD, "/", 0));
  show("move_mount", syscall(SYS_move_mount, AT_FDCWD, "/tmp", AT_FDCWD, "/mnt", 0));
  return 0;
}

static int cmd_openat2(const char *dir, const char *file, int cloexec) {
  struct open_how how;
  char buf[256];
  int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  long fd;
  ssize_t n;
  if (dfd < 0) {
    show("open-dir", dfd);
    return 0;
  }
  memset(&how, 0, sizeof how);
  how.flags = O_RDONLY | (cloexec ? O_CLOEXEC : 0);
  how.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;
  fd = syscall(SYS_openat2, dfd, file, &how, sizeof how);
  show("openat2", fd);
  if (fd < 0) return 0;
  printf("cloexec=%d\n", (fcntl((int)fd, F_GETFD) & FD_CLOEXEC) ? 1 : 0);
  n = read((int)fd, buf, sizeof buf - 1);
  if (n < 0) n = 0;
  buf[n] = 0;
  if (strchr(buf, '\n')) *strchr(buf, '\n') = 0;
  printf("content=%s\n", buf);
  return 0;
}

/* mount(source, "/proc/self/fd/N", type, flags) with N = open(dir, O_PATH), as runc mounts; prints `<tag> r= errno=` */
static int fd_mount(const char *dir, const char *tag, const char *source, const char *type, unsigned long flags) {
  char p[64];
  int fd = open(dir, O_PATH | O_DIRECTORY);
  if (fd < 0) {
    show("open", fd);
    return 0;
  }
  snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
  show(tag, mount(source, p, type, flags, NULL));
  close(fd);
  return 0;
}

static int cmd_fdproc(const char *dir) { return fd_mount(dir, "fd-proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC); }

static int cmd_fdmount(const char *dir) { return fd_mount(dir, "fd-mount", "fdtmp", "tmpfs", 0); }

static int cmd_fdumount(const char *path) {
  char p[64];
  int fd = open(path, O_PATH);
  if (fd < 0) {
    show("open", fd);
    return 0;
  }
  snprintf(p, sizeof p, "/proc/thread-self/fd/%d", fd);
  show("fd-umount", umount2(p, 0));
  return 0;
}

static int cmd_loop(long n, const char *dir) {
  long fails = 0, i;
  long long t0 = now_ns();
  for (i = 0; i < n; i++) {
    if (mount("none", dir, "tmpfs", 0, NULL) != 0) {
      fails++;
      continue;
    }
    if (umount2(dir, 0) != 0) fails++;
  }
  printf("loop pairs=%ld failures=%ld ns_per_pair=%lld\n", n, fails, (now_ns() - t0) / (n > 0 ? n : 1));
  return 0;
}

static int cmd_getpid(long n) {
  long i;
  long long t0 = now_ns();
  for (i = 0; i < n; i++) syscall(SYS_getpid);
  printf("getpid calls=%ld ns_per_call=%lld\n", n, (now_ns() - t0) / (n > 0 ? n : 1));
  return 0;
}

static int cmd_readzero(long n) {
  char c;
  long i;
  int fd = open("/dev/zero", O_RDONLY);
  long long t0 = now_ns();
  for (i = 0; i < n; i++)
    if (read(fd, &c, 1) != 1) break;
  printf("readzero calls=%ld ns_per_call=%lld\n", i, (now_ns() - t0) / (n > 0 ? n : 1));
  return 0;
}

static int cmd_notify_loop(long n, const char *dir, const char *sock) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mount, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_umount2, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  };
  struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
  struct sockaddr_un sa;
  char state[256], cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov;
  struct msghdr msg;
  struct cmsghdr *c;
  int fd, s;
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  if (fd < 0) return perror("seccomp"), 1;
  s = socket(AF_UNIX, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
  if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) return perror("connect"), 1;
  snprintf(state, sizeof state, "{\"ociVersion\":\"1.0.2\",\"fds\":[\"seccompFd\"],\"pid\":%d,\"state\":{\"id\":\"probe\",\"pid\":%d}}", getpid(), getpid());
  iov.iov_base = state;
  iov.iov_len = strlen(state);
  memset(&msg, 0, sizeof msg);
  memset(cbuf, 0, sizeof cbuf);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(s, &msg, 0) < 0) return perror("sendmsg"), 1;
  close(s);
  close(fd);
  return cmd_loop(n, dir);
}

/* the buffer a sibling thread rewrites while the main thread passes it to mount/umount2 */
static char race_buf[4096];
static const char *race_a, *race_b;
static volatile int race_stop;

static void *race_flip(void *arg) {
  size_t la = strlen(race_a) + 1, lb = strlen(race_b) + 1;
  (void)arg;
  while (!race_stop) {
    memcpy(race_buf, race_a, la);
    memcpy(race_buf, race_b, lb);
  }
  return NULL;
}

static long statfs_type(const char *path) {
  struct statfs sf;
  return statfs(path, &sf) == 0 ? (long)sf.f_type : -1;
}

static int cmd_race_proc(long secs, const char *dir) {
  pthread_t th;
  char up[4096];
  long tries = 0, mounts = 0, raw = 0;
  long long end = now_ns() + secs * 1000000000LL;
  snprintf(up, sizeof up, "%s/uptime", dir);
  race_a = "tmpfs";
  race_b = "proc";
  strcpy(race_buf, race_a);
  pthread_create(&th, NULL, race_flip, NULL);
  while (now_ns() < end && raw == 0) {
    tries++;
    if (mount("none", dir, race_buf, 0, NULL) != 0) continue;
    mounts++;
    if (statfs_type(up) == 0x9fa0) raw++; /* PROC_SUPER_MAGIC: the kernel's own file, not sysbox-fs's */
    umount2(dir, MNT_DETACH);
  }
  race_stop = 1;
  pthread_join(th, NULL);
  printf("race-proc tries=%ld mounts=%ld raw=%ld\n", tries, mounts, raw);
  return 0;
}

static int cmd_race_umount(long secs, const char *dir, const char *masked) {
  pthread_t th;
  struct statfs sf;
  long tries = 0, unmasked = 0;
  long masktype = statfs(masked, &sf) == 0 ? (long)sf.f_type : 0;
  long long end = now_ns() + secs * 1000000000LL;
  race_a = dir;
  race_b = masked;
  strcpy(race_buf, race_a);
  pthread_create(&th, NULL, race_flip, NULL);
  while (now_ns() < end && unmasked == 0) {
    tries++;
    if (mount("none", dir, "tmpfs", 0, NULL) == 0) umount2(race_buf, 0);
    if (statfs(masked, &sf) != 0 || (long)sf.f_type != masktype) unmasked++;
  }
  race_stop = 1;
  pthread_join(th, NULL);
  while (umount2(dir, MNT_DETACH) == 0) {
  }
  printf("race-umount tries=%ld unmasked=%ld\n", tries, unmasked);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 2 && !strcmp(argv[1], "listener")) return cmd_listener();
  if (argc >= 2 && !strcmp(argv[1], "newapi")) return cmd_newapi();
  if (argc >= 4 && !strcmp(argv[1], "openat2")) return cmd_openat2(argv[2], argv[3], 1);
  if (argc >= 4 && !strcmp(argv[1], "openat2-nocloexec")) return cmd_openat2(argv[2], argv[3], 0);
  if (argc >= 3 && !strcmp(argv[1], "fdproc")) return cmd_fdproc(argv[2]);
  if (argc >= 3 && !strcmp(argv[1], "fdmount")) return cmd_fdmount(argv[2]);
  if (argc >= 3 && !strcmp(argv[1], "fdumount")) return cmd_fdumount(argv[2]);
  if (argc >= 4 && !strcmp(argv[1], "loop")) return cmd_loop(atol(argv[2]), argv[3]);
  if (argc >= 3 && !strcmp(argv[1], "getpid")) return cmd_getpid(atol(argv[2]));
  if (argc >= 3 && !strcmp(argv[1], "readzero")) return cmd_readzero(atol(argv[2]));
  if (argc >= 4 && !strcmp(argv[1], "race-proc")) return cmd_race_proc(atol(argv[2]), argv[3]);
  if (argc >= 5 && !strcmp(argv[1], "race-umount")) return cmd_race_umount(atol(argv[2]), argv[3], argv[4]);
  if (argc >= 5 && !strcmp(argv[1], "notify-loop")) return cmd_notify_loop(atol(argv[2]), argv[3], argv[4]);
  fprintf(stderr, "usage: vetting-probe listener|newapi|openat2 DIR FILE|fdmount DIR|fdumount PATH|loop N DIR|getpid N|readzero N\n");
  return 2;
}

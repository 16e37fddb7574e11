/*
 * sysbox-nsenter: one named operation inside another process's namespaces.
 *
 * Node is multi-threaded, and the kernel refuses setns() into a mount namespace
 * and unshare(CLONE_NEWUSER) from a multi-threaded process. This helper is
 * single-threaded, receives what it needs as inherited fds, does one thing and
 * exits. Errors: one line on stderr, "sysbox-nsenter: <op>: <step> <path>: <errno text> (<ERRNO>)".
 *
 * Exit codes: 0 ok, 1 operation failed (errno), 2 usage error.
 *
 *   [--timeout-ms N] before the operation: ends by SIGALRM after N ms.
 *
 *   move-mount --pid PID --target PATH [--mkdir] [--mount-fd N]
 *       mount fd (default 3) is moved onto PATH inside PID's mount namespace.
 *   move-mounts --pid PID [--root DIR] [--skip-missing] [--cover FD:DIR]... FD:PATH...
 *       each mount fd is moved onto its PATH inside PID's mount namespace (one setns for all).
 *       --root DIR: PATHs (and DIRs) are the container's, resolved under DIR: its root before pivot_root, for
 *       an engine's hook (output keeps the container's paths).
 *       --skip-missing: a PATH that does not exist there is skipped (stdout "skipped PATH").
 *       Prints "moved PATH" per mount moved. Stops at the first other failure.
 *       --cover FD:DIR (done first): covers DIR with the directory mount FD while keeping DIR's own entries:
 *       each subdirectory and regular file of DIR is cloned (open_tree OPEN_TREE_CLONE|AT_RECURSIVE), FD is
 *       moved over DIR, then each clone is moved back over DIR/NAME, which FD must hold as a placeholder of
 *       the same kind. Prints "covered DIR", and "hidden DIR/NAME" for an entry FD has no placeholder for (or
 *       a symlink/other entry, which can't be cloned). A failure after FD is in place detaches it again (DIR
 *       is as before). With --skip-missing a missing DIR is "skipped DIR".
 *       --overlay FD:DIR (with the covers): FD is laid over DIR as the upper layer of a read-only overlay whose
 *       lower layer is a clone of DIR itself (overlay_dir): one mount, DIR's entries its own, FD's added.
 *       --mask-file FD:PATH (a /dev/null clone), --mask-dir PATH (an empty read-only tmpfs), --ro PATH (a read-only
 *       bind of itself): laid after the mounts, a missing PATH skipped (for an engine that masks after its hooks).
 *       --lock DIR (last): DIR's mount tree as it now is reaches DIR again by propagation from a mount namespace of
 *       the host's user namespace, so the kernel locks every mount below DIR's own (see staging_ns); an empty
 *       read-only tmpfs carrier stays under it. Prints "locked DIR".
 *   sysctl --pid PID --read PATH | --write PATH VALUE
 *       reads or writes /proc/sys/PATH as PID sees it.
 *   net-exec --pid PID [--sysctl NAME=VALUE]... [-- PROGRAM [ARG]...]
 *       joins PID's network namespace only (as host root: PROGRAM, and every file it opens, are the host's), writes
 *       each /proc/sys/net/NAME of that namespace (e.g. ipv4/conf/all/route_localnet=1), then execs PROGRAM (an
 *       absolute path) if given: the host's iptables-save/-restore on the container's rules.
 *   as-caller --tid TID ACTION [--target PATH | --target-fd N [--target-rest REL]] [--source PATH | --source-fd N
 *             [--source-rest REL]] [--fstype T] [--flags F] [--data D] [--uid U --gid G] ...
 *       performs one call as the (seccomp-notified) thread TID would: joins its user namespace, its mount namespace,
 *       its root and cwd; becomes root there (or --uid/--gid, capabilities dropped unless 0); mount-proc and
 *       mount-sysfs instead join its pid (and fork: procfs takes the mounting task's active pid namespace) or network
 *       namespace and stay host root (see below). A --target-fd/--source-fd is an fd of the caller (pidfd_getfd) used as the path (with REL after
 *       it), never a /proc/self path (that would be this process's). ACTIONs:
 *         mount          mount(2) with --flags/--data; MS_BIND as open_tree(CLONE[|RECURSIVE]) + move_mount,
 *                        MS_REMOUNT|MS_BIND as mount_setattr, MS_MOVE as move_mount (they take fds)
 *         mount-proc     a new procfs on the target, then laid over it: --file FD:REL (a clone of an emulated file,
 *         mount-sysfs    moved onto REL), --mask-file FD:REL (a /dev/null clone), --mask-dir REL (an empty
 *                        read-only tmpfs), --ro REL (a read-only bind of itself), --cover FD:REL and --overlay
 *                        FD:REL (a view, see move-mounts); a missing REL is skipped. A failure detaches the new mount.
 *                        The new mount is made in the host's namespaces (its pid or network namespace the
 *                        caller's) and what is laid over it reaches the caller by propagation, kernel-locked (see
 *                        new_fs_as_caller); the target is resolved as host root in the caller's root and cwd.
 *                        --file-src/--mask-src/--cover-src/--overlay-src HOSTPATH:REL: the same, cloned from HOSTPATH by this
 *                        process before it joins anything ([--rdonly-files] makes file clones read-only; covers are
 *                        read-only, nosuid, nodev, noexec): the FUSE server itself must not look up its own tree.
 *         umount         umount2(2) with --flags
 *         setattr        mount_setattr(2) with --at-flags, --attr-set, --attr-clr, --propagation
 *         openat2        openat2(2) with --flags, --mode, --resolve; the file must be on FUSE (else exit 3); its
 *                        fd is sent over --sock N
 *       Prints "done" on success.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *op = "?";

static const char *errname(int e) {
  switch (e) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM)
    E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE)
    E(EMFILE) E(ENOTTY) E(EFBIG) E(ENOSPC) E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS)
    E(ENOTEMPTY) E(ELOOP) E(EOVERFLOW) E(EOPNOTSUPP) E(ENOTSOCK) E(ESTALE) E(EUSERS)
#undef E
    default: return "E?";
  }
}

static int fail(const char *step, const char *path) {
  int e = errno;
  fprintf(stderr, "sysbox-nsenter: %s: %s%s%s: %s (%s)\n", op, step, path ? " " : "", path ? path : "", strerror(e),
          errname(e));
  return 1;
}

static int usage(const char *msg) {
  fprintf(stderr, "sysbox-nsenter: %s: %s\n", op, msg);
  return 2;
}

static int parse_int(const char *s, int *out) {
  char *end;
  long v;
  if (!s || !*s) return -1;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || *end || v < 0 || v > INT_MAX) return -1;
  *out = (int)v;
  return 0;
}

/* Joins PID's namespace of that type; a no-op if we are already in it (setns to one's own user ns fails). */
static int join_ns(int pid, const char *ns, int nstype) {
  char path[64], self[64];
  struct stat a, b;
  int fd, rc;
  snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, ns);
  snprintf(self, sizeof self, "/proc/self/ns/%s", ns);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("open", path);
  if (fstat(fd, &a) == 0 && stat(self, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
    close(fd);
    return 0;
  }
  rc = setns(fd, nstype);
  if (rc != 0) {
    fail("setns", path);
    close(fd);
    return 1;
  }
  close(fd);
  return 0;
}

/* mkdir -p for the parents of path (not path itself). */
static int mkparents(const char *path) {
  char buf[PATH_MAX];
  char *p;
  if (strlen(path) >= sizeof buf) {
    errno = ENAMETOOLONG;
    return fail("mkdir", path);
  }
  strcpy(buf, path);
  for (p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return fail("mkdir", buf);
    *p = '/';
  }
  return 0;
}

static int op_move_mount(int argc, char **argv) {
  int pid = -1, mfd = 3, mk = 0, i;
  const char *target = NULL;
  struct stat st;
  for (i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--pid") && i + 1 < argc) {
      if (parse_int(argv[++i], &pid)) return usage("bad --pid");
    } else if (!strcmp(argv[i], "--target") && i + 1 < argc) {
      target = argv[++i];
    } else if (!strcmp(argv[i], "--mount-fd") && i + 1 < argc) {
      if (parse_int(argv[++i], &mfd)) return usage("bad --mount-fd");
    } else if (!strcmp(argv[i], "--mkdir")) {
      mk = 1;
    } else {
      return usage("usage: move-mount --pid PID --target PATH [--mkdir] [--mount-fd N]");
    }
  }
  if (pid <= 0 || !target || target[0] != '/') return usage("--pid and an absolute --target are required");
  if (fstat(mfd, &st) != 0) return fail("fstat mount fd", NULL);
  if (join_ns(pid, "mnt", CLONE_NEWNS)) return 1;
  if (mk && access(target, F_OK) != 0) {
    if (mkparents(target)) return 1;
    if (S_ISDIR(st.st_mode)) {
      if (mkdir(target, 0755) != 0 && errno != EEXIST) return fail("mkdir", target);
    } else {
      int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return fail("create", target);
      close(fd);
    }
  }
  if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) != 0) return fail("move_mount", target);
  return 0;
}

#define MAX_COVER_ENTRIES 1024

/* move-mounts --root: the container's root as seen in its mount namespace before pivot_root; container paths
 * are then resolved relative to it (the working directory), e.g. "/proc/uptime" as "proc/uptime". */
static int rooted;

static const char *at_root(const char *p) {
  if (!rooted) return p;
  while (*p == '/') p++;
  return *p ? p : ".";
}

/* out = dir/name (out holds PATH_MAX); -1 with ENAMETOOLONG if it doesn't fit. */
static int join_path(char *out, const char *dir, const char *name) {
  int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
  if (n < 0 || n >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

/* Clones DIR's own entries, moves mount fd over DIR, moves the clones back over their placeholders. */
static int cover_dir(int fd, const char *dir, int skip) {
  static char names[MAX_COVER_ENTRIES][NAME_MAX + 1];
  static int fds[MAX_COVER_ENTRIES];
  char path[PATH_MAX];
  int n = 0, i, rc = 0;
  struct dirent *de;
  DIR *d = opendir(at_root(dir));
  if (!d) {
    if (skip && errno == ENOENT) {
      printf("skipped %s\n", dir);
      return 0;
    }
    return fail("opendir", dir);
  }
  while ((de = readdir(d)) != NULL) {
    unsigned char type = de->d_type;
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
    }
    if (type != DT_DIR && type != DT_REG) {
      printf("hidden %s/%s\n", dir, de->d_name);
      continue;
    }
    if (n == MAX_COVER_ENTRIES) {
      errno = E2BIG;
      rc = fail("readdir", dir);
      goto out;
    }
    fds[n] = (int)open_tree(dirfd(d), de->d_name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW);
    if (fds[n] < 0) {
      rc = join_path(path, dir, de->d_name) ? fail("open_tree", dir) : fail("open_tree", path);
      goto out;
    }
    snprintf(names[n], sizeof names[n], "%s", de->d_name);
    n++;
  }
  if (move_mount(fd, "", AT_FDCWD, at_root(dir), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    rc = fail("move_mount", dir);
    goto out;
  }
  for (i = 0; i < n; i++) {
    if (join_path(path, dir, names[i]) != 0) {
      rc = fail("move_mount", dir);
      if (umount2(at_root(dir), MNT_DETACH) != 0) fail("umount2 (undo)", dir);
      goto out;
    }
    if (move_mount(fds[i], "", AT_FDCWD, at_root(path), MOVE_MOUNT_F_EMPTY_PATH) == 0) continue;
    if (errno == ENOENT) {
      printf("hidden %s\n", path);
      continue;
    }
    rc = fail("move_mount", path);
    /* undo: the container's directory as it was (the clones moved back so far go with the cover) */
    if (umount2(at_root(dir), MNT_DETACH) != 0) fail("umount2 (undo)", dir);
    goto out;
  }
  printf("covered %s\n", dir);
out:
  for (i = 0; i < n; i++) close(fds[i]);
  closedir(d);
  return rc;
}

/* The flags of the views, masks and read-only paths laid over a tree: read-only, nosuid, nodev, noexec. */
#define SEALED (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

/* mount_setattr on the mount fd itself (with AT_RECURSIVE in `at`, every mount below it too); fails as `op` on `what`. */
static int set_attr(int fd, unsigned at, unsigned long long attr_set, unsigned long long propagation, const char *op, const char *what) {
  struct mount_attr a;
  memset(&a, 0, sizeof a);
  a.attr_set = attr_set;
  a.propagation = propagation;
  if (mount_setattr(fd, "", AT_EMPTY_PATH | at, &a, sizeof a) != 0) return fail(op, what);
  return 0;
}

/*
 * Lays the directory mount FD over DIR as the upper layer of a read-only overlay whose lower layer is DIR itself (a
 * clone of the directory as it is, without its submounts): DIR keeps its own entries, served by its own file system,
 * and gets FD's (an entry in both: FD's, a directory in both: merged). One mount, where cover_dir makes one per
 * entry. The overlay's source is "sysboxfs" (the vetter recognises it as a view of sysbox-fs).
 */
static int overlay_dir(int fd, const char *dir, int skip) {
  int own, fs = -1, m = -1, rc = 0;
  own = (int)open_tree(AT_FDCWD, at_root(dir), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (own < 0) {
    if (skip && errno == ENOENT) {
      printf("skipped %s\n", dir);
      return 0;
    }
    return fail("open_tree", dir);
  }
  fs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0) {
    rc = fail("fsopen overlay", dir);
    goto out;
  }
  /* xino: every object reports the overlay's device, as mountinfo shows it (without it a layer's entries get a pseudo
     device each, and the vetter would not know them for the view's) */
  if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "sysboxfs", 0) != 0 || fsconfig(fs, FSCONFIG_SET_STRING, "xino", "on", 0) != 0 ||
      fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, fd) != 0 ||
      fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, own) != 0 || fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) {
    rc = fail("fsconfig overlay", dir);
    goto out;
  }
  m = fsmount(fs, FSMOUNT_CLOEXEC, SEALED);
  if (m < 0) {
    rc = fail("fsmount overlay", dir);
    goto out;
  }
  if (move_mount(m, "", AT_FDCWD, at_root(dir), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    rc = fail("move_mount", dir);
    goto out;
  }
  printf("covered %s\n", dir);
out:
  if (m >= 0) close(m);
  if (fs >= 0) close(fs);
  close(own);
  return rc;
}

#define MAX_LAID 256

struct laid {
  int fd; /* -1 for --mask-dir and --ro */
  char kind; /* f file, m mask-file, d mask-dir, r ro, c cover, o overlay cover */
  const char *rel;
};

static int lay_over(struct laid *l, int n) {
  int i;
  for (i = 0; i < n; i++) {
    const char *rel = l[i].rel;
    while (*rel == '/') rel++;
    if (l[i].kind == 'f' || l[i].kind == 'm') {
      if (move_mount(l[i].fd, "", AT_FDCWD, rel, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
        if (errno == ENOENT) continue;
        return fail("move_mount", rel);
      }
    } else if (l[i].kind == 'd') {
      int fs, m;
      struct stat st;
      if (stat(rel, &st) != 0) {
        if (errno == ENOENT) continue;
        return fail("stat", rel);
      }
      fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
      if (fs < 0) return fail("fsopen tmpfs", rel);
      if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) return fail("fsconfig create", rel);
      m = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
      if (m < 0) return fail("fsmount", rel);
      if (move_mount(m, "", AT_FDCWD, rel, MOVE_MOUNT_F_EMPTY_PATH) != 0) return fail("move_mount", rel);
      close(m);
      close(fs);
    } else if (l[i].kind == 'r') {
      int t = (int)open_tree(AT_FDCWD, rel, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
      if (t < 0) {
        if (errno == ENOENT) continue;
        return fail("open_tree", rel);
      }
      if (set_attr(t, AT_RECURSIVE, SEALED, 0, "mount_setattr", rel)) return 1;
      if (move_mount(t, "", AT_FDCWD, rel, MOVE_MOUNT_F_EMPTY_PATH) != 0) return fail("move_mount", rel);
      close(t);
    } else if (l[i].kind == 'c') {
      if (cover_dir(l[i].fd, rel, 1)) return 1;
    } else if (l[i].kind == 'o') {
      if (overlay_dir(l[i].fd, rel, 1)) return 1;
    }
  }
  return 0;
}

/*
 * Kernel-locked placement. A tree of mounts that reaches a mount namespace of another user namespace by
 * propagation arrives locked below its root (MNT_LOCKED; and MNT_LOCK_READONLY/NOSUID/NODEV/NOEXEC/ATIME for the
 * flags each has, the root included): the container can't unmount those mounts alone, only the whole tree (which
 * reveals the carrier, an empty tmpfs), and a procfs or sysfs mount with a locked cover over a file or a non-empty directory is not
 * "fully visible", so the kernel refuses the container a new raw procfs or sysfs (mount_too_revealing). A check of
 * ours before a call the kernel performs can be raced by a sibling thread rewriting the arguments; these locks
 * can't. The source side lives in a private mount namespace of the host's user namespace that this process
 * unshares (staging_ns): a shared tmpfs on /tmp there, whose clones (carriers) are moved into the container. When
 * this process exits, that namespace goes without propagating its unmounts.
 */
#define STAGE "/tmp"

/* A private mount namespace of this (the host's) user namespace, with a shared tmpfs on STAGE; *pfd: it. */
static int staging_ns(int *pfd) {
  if (unshare(CLONE_NEWNS) != 0) return fail("unshare", "mount namespace");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return fail("make-rprivate", "/");
  if (mount("sysbox-stage", STAGE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0700") != 0) return fail("mount tmpfs", STAGE);
  if (mount(NULL, STAGE, NULL, MS_SHARED, NULL) != 0) return fail("make-shared", STAGE);
  *pfd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (*pfd < 0) return fail("open", "/proc/self/ns/mnt");
  return 0;
}

/* STAGE/<i>, made, and a clone of it (a peer: what is mounted on STAGE/<i> later propagates onto the clone). */
static int carrier(int i, char *dir, size_t len) {
  int c;
  snprintf(dir, len, STAGE "/%d", i);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return fail("mkdir", dir), -1;
  c = (int)open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (c < 0) return fail("open_tree", dir), -1;
  if (set_attr(c, 0, SEALED, 0, "mount_setattr", dir)) return -1;
  return c;
}

/* The placed mount fd and every mount above it leave the staging side's peer groups (in the caller's namespace). */
static int make_private(int fd, const char *what) {
  return set_attr(fd, AT_RECURSIVE, 0, MS_PRIVATE, "make-rprivate", what);
}

static int op_move_mounts(int argc, char **argv) {
  int pid = -1, skip = 0, i, first = -1, ncover = 0, nlaid = 0, nlock = 0, pfd = -1, nsfd = -1;
  const char *root = NULL;
  char *covers[16];
  char overlays[16];
  static struct laid laid[MAX_LAID];
  const char *locks[4];
  int carriers[4], trees[4];
  char stage[4][32], nspath[64];
  for (i = 0; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--pid") && v) {
      if (parse_int(argv[++i], &pid)) return usage("bad --pid");
    } else if (!strcmp(argv[i], "--skip-missing")) {
      skip = 1;
    } else if (!strcmp(argv[i], "--root") && v) {
      root = argv[++i];
    } else if ((!strcmp(argv[i], "--cover") || !strcmp(argv[i], "--overlay")) && v && ncover < 16) {
      overlays[ncover] = argv[i][2] == 'o';
      covers[ncover++] = argv[++i];
    } else if (!strcmp(argv[i], "--mask-file") && v && nlaid < MAX_LAID) {
      char *colon = strchr(argv[++i], ':');
      if (!colon || colon[1] != '/') return usage("--mask-file FD:/absolute/path");
      *colon = 0;
      if (parse_int(argv[i], &laid[nlaid].fd)) return usage("bad FD in --mask-file FD:PATH");
      laid[nlaid].kind = 'm';
      laid[nlaid++].rel = colon + 1;
    } else if ((!strcmp(argv[i], "--mask-dir") || !strcmp(argv[i], "--ro")) && v && v[0] == '/' && nlaid < MAX_LAID) {
      laid[nlaid].fd = -1;
      laid[nlaid].kind = argv[i][2] == 'm' ? 'd' : 'r';
      laid[nlaid++].rel = argv[++i];
    } else if (!strcmp(argv[i], "--lock") && v && v[0] == '/' && nlock < 4) {
      locks[nlock++] = argv[++i];
    } else if (argv[i][0] != '-') {
      first = i;
      break;
    } else {
      return usage("usage: move-mounts --pid PID [--root DIR] [--skip-missing] [--cover FD:DIR]... [--overlay FD:DIR]... [--mask-file FD:PATH]... [--mask-dir PATH]... [--ro PATH]... [--lock DIR]... [FD:PATH]...");
    }
  }
  if (pid <= 0 || (first < 0 && ncover == 0 && nlaid == 0 && nlock == 0)) return usage("--pid and at least one FD:PATH, --cover, mask, --ro or --lock are required");
  if (first < 0) first = argc;
  for (i = 0; i < ncover; i++) {
    int fd;
    char *colon = strchr(covers[i], ':');
    if (!colon || colon[1] != '/') return usage("each cover is FD:/absolute/dir");
    *colon = 0;
    if (parse_int(covers[i], &fd)) return usage("bad FD in --cover FD:DIR");
    *colon = ':';
  }
  for (i = first; i < argc; i++) {
    int fd;
    char *colon = strchr(argv[i], ':');
    if (!colon || colon[1] != '/') return usage("each mount is FD:/absolute/path");
    *colon = 0;
    if (parse_int(argv[i], &fd)) return usage("bad FD in FD:PATH");
    *colon = ':';
  }
  if (root && root[0] != '/') return usage("--root must be an absolute path");
  if (nlock) {
    /* the staging side first, in the host's mount namespace (see staging_ns) */
    snprintf(nspath, sizeof nspath, "/proc/%d/ns/mnt", pid);
    nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return fail("open", nspath);
    if (staging_ns(&pfd)) return 1;
    for (i = 0; i < nlock; i++) {
      carriers[i] = carrier(i, stage[i], sizeof stage[i]);
      if (carriers[i] < 0) return 1;
    }
    if (setns(nsfd, CLONE_NEWNS) != 0) return fail("setns", nspath);
  } else if (join_ns(pid, "mnt", CLONE_NEWNS)) {
    return 1;
  }
  if (root) {
    if (chdir(root) != 0) return fail("chdir", root);
    rooted = 1;
  }
  for (i = 0; i < ncover; i++) {
    char *colon = strchr(covers[i], ':');
    if ((overlays[i] ? overlay_dir : cover_dir)(atoi(covers[i]), colon + 1, skip)) {
      fflush(stdout);
      return 1;
    }
  }
  for (i = first; i < argc; i++) {
    char *colon = strchr(argv[i], ':');
    const char *target = colon + 1;
    int fd = atoi(argv[i]);
    if (move_mount(fd, "", AT_FDCWD, at_root(target), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      if (skip && errno == ENOENT) {
        printf("skipped %s\n", target);
        continue;
      }
      fflush(stdout);
      return fail("move_mount", target);
    }
    printf("moved %s\n", target);
  }
  /* masked and read-only paths (relative to the working directory: the root), a missing one skipped */
  if (nlaid && lay_over(laid, nlaid)) {
    fflush(stdout);
    return 1;
  }
  if (nlock) {
    /* each tree as it is now is cloned, the original detached and the carrier put in its place; then the clone is
       mounted on the carrier's peer in the staging namespace, and arrives on the carrier by propagation, locked */
    for (i = 0; i < nlock; i++) {
      trees[i] = (int)open_tree(AT_FDCWD, at_root(locks[i]), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
      if (trees[i] < 0) return fail("open_tree", locks[i]);
      if (umount2(at_root(locks[i]), MNT_DETACH) != 0) return fail("umount2", locks[i]);
      if (move_mount(carriers[i], "", AT_FDCWD, at_root(locks[i]), MOVE_MOUNT_F_EMPTY_PATH) != 0) return fail("move_mount carrier", locks[i]);
    }
    if (setns(pfd, CLONE_NEWNS) != 0) return fail("setns", "staging namespace");
    for (i = 0; i < nlock; i++) {
      if (move_mount(trees[i], "", AT_FDCWD, stage[i], MOVE_MOUNT_F_EMPTY_PATH) != 0) return fail("move_mount", stage[i]);
    }
    if (setns(nsfd, CLONE_NEWNS) != 0) return fail("setns", nspath);
    if (root && chdir(root) != 0) return fail("chdir", root);
    for (i = 0; i < nlock; i++) {
      struct stat top, car;
      /* the copy arrived (the path no longer shows the carrier); carrier and copy leave the staging side's peer groups */
      if (stat(at_root(locks[i]), &top) != 0) return fail("stat", locks[i]);
      if (fstat(carriers[i], &car) != 0) return fail("fstat", "carrier");
      if (top.st_dev == car.st_dev) {
        errno = ENOENT;
        return fail("propagation", locks[i]);
      }
      if (make_private(carriers[i], locks[i])) return 1;
      printf("locked %s\n", locks[i]);
    }
  }
  fflush(stdout);
  return 0;
}

/* Appends ",key=value" (value may be NULL) to buf; fails if it would overflow. */
static int fsconf(int fsfd, const char *key, const char *value) {
  if (fsconfig(fsfd, value ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, key, value, 0) != 0)
    return fail("fsconfig", key);
  return 0;
}

static int send_fd(int sock, int fd) {
  char byte = 'm';
  struct iovec iov = {&byte, 1};
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct msghdr msg;
  struct cmsghdr *c;
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
  if (sendmsg(sock, &msg, MSG_NOSIGNAL) != 1) return fail("sendmsg", NULL);
  return 0;
}

static int op_sysctl(int argc, char **argv) {
  int pid = -1, writing = -1, fd, i;
  const char *name = NULL, *value = NULL;
  char path[PATH_MAX];
  for (i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--pid") && i + 1 < argc) {
      if (parse_int(argv[++i], &pid)) return usage("bad --pid");
    } else if (!strcmp(argv[i], "--read") && i + 1 < argc) {
      writing = 0, name = argv[++i];
    } else if (!strcmp(argv[i], "--write") && i + 2 < argc) {
      writing = 1, name = argv[++i], value = argv[++i];
    } else {
      return usage("usage: sysctl --pid PID --read PATH | --write PATH VALUE");
    }
  }
  if (pid <= 0 || writing < 0) return usage("--pid and --read or --write are required");
  if (strstr(name, "..")) return usage("bad sysctl path");
  while (*name == '/') name++;
  if (!strncmp(name, "proc/sys/", 9)) name += 9;
  snprintf(path, sizeof path, "/proc/sys/%s", name);
  /* The user namespace first (it owns the others), then the rest; mount last. */
  if (join_ns(pid, "user", CLONE_NEWUSER) || join_ns(pid, "net", CLONE_NEWNET) || join_ns(pid, "ipc", CLONE_NEWIPC) ||
      join_ns(pid, "uts", CLONE_NEWUTS) || join_ns(pid, "mnt", CLONE_NEWNS))
    return 1;
  if (setresgid(0, 0, 0) != 0) return fail("setresgid 0", NULL);
  if (setresuid(0, 0, 0) != 0) return fail("setresuid 0", NULL);
  fd = open(path, (writing ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return fail("open", path);
  if (writing) {
    size_t len = strlen(value);
    if (write(fd, value, len) != (ssize_t)len) return fail("write", path);
  } else {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
      if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) return fail("write stdout", NULL);
    if (n < 0) return fail("read", path);
  }
  close(fd);
  return fflush(stdout) == 0 ? 0 : fail("write stdout", NULL);
}


/* ------------------------------------------------------------------------------------------------ net-exec */

#define MAX_NET_SYSCTLS 16

static int op_net_exec(int argc, char **argv) {
  int pid = -1, n = 0, i, fd;
  const char *sysctls[MAX_NET_SYSCTLS];
  char **prog = NULL;
  for (i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--pid") && i + 1 < argc) {
      if (parse_int(argv[++i], &pid)) return usage("bad --pid");
    } else if (!strcmp(argv[i], "--sysctl") && i + 1 < argc) {
      if (n == MAX_NET_SYSCTLS) return usage("too many --sysctl");
      sysctls[n++] = argv[++i];
    } else if (!strcmp(argv[i], "--")) {
      if (i + 1 < argc) prog = argv + i + 1;
      break;
    } else {
      return usage("usage: net-exec --pid PID [--sysctl NAME=VALUE]... [-- PROGRAM [ARG]...]");
    }
  }
  if (pid <= 0) return usage("--pid is required");
  if (prog && prog[0][0] != '/') return usage("PROGRAM must be an absolute path");
  for (i = 0; i < n; i++) {
    const char *eq = strchr(sysctls[i], '=');
    if (!eq || eq == sysctls[i] || sysctls[i][0] == '/' || strstr(sysctls[i], "..")) return usage("bad --sysctl (NAME=VALUE, NAME under /proc/sys/net)");
  }
  if (join_ns(pid, "net", CLONE_NEWNET)) return 1;
  /* /proc/sys/net answers for the network namespace of the task that opens it: now PID's */
  for (i = 0; i < n; i++) {
    char path[PATH_MAX];
    const char *eq = strchr(sysctls[i], '=');
    size_t len = strlen(eq + 1);
    if (snprintf(path, sizeof path, "/proc/sys/net/%.*s", (int)(eq - sysctls[i]), sysctls[i]) >= (int)sizeof path) {
      errno = ENAMETOOLONG;
      return fail("sysctl", sysctls[i]);
    }
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail("open", path);
    if (write(fd, eq + 1, len) != (ssize_t)len) return fail("write", path);
    close(fd);
  }
  if (!prog) return 0;
  fflush(stdout);
  execv(prog[0], prog);
  return fail("execv", prog[0]);
}

/* ------------------------------------------------------------------------------------------------ as-caller */

#define FUSE_SUPER_MAGIC 0x65735546
static int parse_ulong(const char *s, unsigned long long *out) {
  char *end;
  if (!s || !*s) return -1;
  errno = 0;
  *out = strtoull(s, &end, 0);
  return (errno || *end) ? -1 : 0;
}

static int drop_caps(void) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  return (int)syscall(SYS_capset, &h, d);
}

/* dirfd + path for a target/source: an fd of the caller (with an optional rest) or a path in the caller's root */
struct where {
  int dirfd;
  const char *path;
  int empty; /* AT_EMPTY_PATH: the fd itself */
};

static struct where where_of(int fd, const char *rest, const char *path) {
  struct where w;
  if (fd >= 0) {
    w.dirfd = fd;
    w.path = rest && *rest ? rest : "";
    w.empty = !(rest && *rest);
  } else {
    w.dirfd = AT_FDCWD;
    w.path = path;
    w.empty = 0;
  }
  return w;
}

/* A path usable by mount(2) for w: the path itself, or "." after fchdir into the fd (directories only). */
static const char *mount_path(struct where w, const char *what) {
  if (w.dirfd == AT_FDCWD) return w.path;
  if (fchdir(w.dirfd) != 0) {
    fail("fchdir", what);
    return NULL;
  }
  return w.empty ? "." : w.path;
}

/* The per-mount attributes (MOUNT_ATTR_*) that mount(2)'s MS_* flags ask for. */
static unsigned int attr_of_flags(unsigned long flags) {
  return ((flags & MS_RDONLY) ? MOUNT_ATTR_RDONLY : 0) | ((flags & MS_NOSUID) ? MOUNT_ATTR_NOSUID : 0) |
         ((flags & MS_NODEV) ? MOUNT_ATTR_NODEV : 0) | ((flags & MS_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0) |
         ((flags & MS_NOATIME) ? MOUNT_ATTR_NOATIME : (flags & MS_STRICTATIME) ? MOUNT_ATTR_STRICTATIME : 0) |
         ((flags & MS_NODIRATIME) ? MOUNT_ATTR_NODIRATIME : 0);
}

/* A new proc or sysfs, detached (fsopen/fsconfig/fsmount): its fd, or -1. */
static int new_fs(int isproc, unsigned long flags, const char *data) {
  const char *type = isproc ? "proc" : "sysfs";
  int fs, m;
  fs = fsopen(type, FSOPEN_CLOEXEC);
  if (fs < 0) return fail("fsopen", type), -1;
  if (data && *data) {
    char opts[4096], *save = NULL, *o;
    snprintf(opts, sizeof opts, "%s", data);
    for (o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(o, '=');
      if (eq) *eq++ = 0;
      if (fsconf(fs, o, eq)) {
        close(fs);
        return -1;
      }
    }
  }
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) {
    close(fs);
    return fail("fsconfig create", type), -1;
  }
  m = fsmount(fs, FSMOUNT_CLOEXEC, attr_of_flags(flags));
  close(fs);
  if (m < 0) return fail("fsmount", type), -1;
  return m;
}

/*
 * mount-proc/mount-sysfs: the new file system is made in the host's mount namespace (the kernel would refuse the
 * container a new procfs or sysfs: its own are not fully visible, see staging_ns) and mounted on STAGE/0 in the
 * staging namespace; a clone of it (a peer) is moved onto the target in the caller's mount namespace, root and cwd;
 * then the emulation is laid over the staged one and reaches the caller's by propagation, locked. The new mount's
 * root itself is not locked: the caller may unmount it whole (with its covers). The target is resolved as host
 * root, not with the caller's IDs (the vetter has decided the call). A failure detaches the caller's copy.
 */
static int new_fs_as_caller(int tid, int isproc, int rootfd, int cwdfd, int tfd, const char *trest, const char *target,
                            unsigned long flags, const char *data, struct laid *laid, int nlaid) {
  char path[64], stage[32];
  int nsfd, pfd, m, c, rc;
  struct where tw;
  snprintf(path, sizeof path, "/proc/%d/ns/mnt", tid);
  nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return fail("open", path);
  if (!isproc && join_ns(tid, "net", CLONE_NEWNET)) return 1;
  if (isproc) {
    /* procfs takes the mounting task's active pid namespace: only a child is in the joined one */
    int st;
    pid_t child;
    if (join_ns(tid, "pid", CLONE_NEWPID)) return 1;
    child = fork();
    if (child < 0) return fail("fork", NULL);
    if (child > 0) {
      while (waitpid(child, &st, 0) < 0) {
        if (errno != EINTR) return fail("waitpid", NULL);
      }
      return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    }
  }
  m = new_fs(isproc, flags, data);
  if (m < 0) return 1;
  if (staging_ns(&pfd)) return 1;
  snprintf(stage, sizeof stage, STAGE "/0");
  if (mkdir(stage, 0700) != 0) return fail("mkdir", stage);
  if (move_mount(m, "", AT_FDCWD, stage, MOVE_MOUNT_F_EMPTY_PATH) != 0) return fail("move_mount", stage);
  c = (int)open_tree(AT_FDCWD, stage, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (c < 0) return fail("open_tree", stage);
  /* the caller's side */
  if (setns(nsfd, CLONE_NEWNS) != 0) return fail("setns", path);
  if (fchdir(rootfd) != 0 || chroot(".") != 0) return fail("chroot", "caller's root");
  if (fchdir(cwdfd) != 0) return fail("fchdir", "caller's cwd");
  tw = where_of(tfd, trest, target);
  if (move_mount(c, "", tw.dirfd, tw.path, MOVE_MOUNT_F_EMPTY_PATH | (tw.empty ? MOVE_MOUNT_T_EMPTY_PATH : 0)) != 0) return fail("move_mount", tw.path);
  /* the emulation, laid over the staged mount */
  if (setns(pfd, CLONE_NEWNS) != 0) return fail("setns", "staging namespace");
  if (chdir(stage) != 0) return fail("chdir", stage);
  rooted = 1;
  rc = lay_over(laid, nlaid);
  if (rc) {
    /* the caller gets no half-emulated mount: its copy goes, with what reached it */
    if (setns(nsfd, CLONE_NEWNS) != 0 || fchdir(c) != 0 || umount2(".", MNT_DETACH) != 0) fail("umount2 (undo)", tw.path);
    return rc;
  }
  /* a new mount of the caller's own is private */
  if (setns(nsfd, CLONE_NEWNS) != 0) return fail("setns", path);
  if (make_private(c, tw.path)) return 1;
  printf("done\n");
  return 0;
}

static int op_as_caller(int argc, char **argv) {
  int tid = -1, i, tfd = -1, sfd = -1, sock = -1, nlaid = 0, rootfd, cwdfd, isproc, issys, rdonly_files = 0;
  const char *action = NULL, *target = NULL, *trest = NULL, *source = NULL, *srest = NULL, *fstype = NULL, *data = NULL;
  unsigned long long flags = 0, atflags = 0, aset = 0, aclr = 0, aprop = 0, mode = 0, resolve = 0, uid = 0, gid = 0;
  static struct laid laid[MAX_LAID];
  char path[64];
  struct where tw, sw;
  for (i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--tid") && v) {
      if (parse_int(argv[++i], &tid)) return usage("bad --tid");
    } else if (!strcmp(a, "--target") && v) {
      target = argv[++i];
    } else if (!strcmp(a, "--target-fd") && v) {
      if (parse_int(argv[++i], &tfd)) return usage("bad --target-fd");
    } else if (!strcmp(a, "--target-rest") && v) {
      trest = argv[++i];
    } else if (!strcmp(a, "--source") && v) {
      source = argv[++i];
    } else if (!strcmp(a, "--source-fd") && v) {
      if (parse_int(argv[++i], &sfd)) return usage("bad --source-fd");
    } else if (!strcmp(a, "--source-rest") && v) {
      srest = argv[++i];
    } else if (!strcmp(a, "--fstype") && v) {
      fstype = argv[++i];
    } else if (!strcmp(a, "--data") && v) {
      data = argv[++i];
    } else if (!strcmp(a, "--sock") && v) {
      if (parse_int(argv[++i], &sock)) return usage("bad --sock");
    } else if ((!strcmp(a, "--flags") || !strcmp(a, "--at-flags") || !strcmp(a, "--attr-set") || !strcmp(a, "--attr-clr") ||
                !strcmp(a, "--propagation") || !strcmp(a, "--mode") || !strcmp(a, "--resolve") || !strcmp(a, "--uid") ||
                !strcmp(a, "--gid")) && v) {
      unsigned long long *dst = !strcmp(a, "--flags") ? &flags : !strcmp(a, "--at-flags") ? &atflags : !strcmp(a, "--attr-set") ? &aset
                              : !strcmp(a, "--attr-clr") ? &aclr : !strcmp(a, "--propagation") ? &aprop : !strcmp(a, "--mode") ? &mode
                              : !strcmp(a, "--resolve") ? &resolve : !strcmp(a, "--uid") ? &uid : &gid;
      if (parse_ulong(argv[++i], dst)) return usage("bad number");
    } else if ((!strcmp(a, "--file") || !strcmp(a, "--mask-file") || !strcmp(a, "--cover") || !strcmp(a, "--overlay")) && v && nlaid < MAX_LAID) {
      char *colon = strchr(argv[i + 1], ':');
      if (!colon) return usage("FD:REL expected");
      *colon = 0;
      if (parse_int(argv[i + 1], &laid[nlaid].fd)) return usage("bad FD in FD:REL");
      laid[nlaid].kind = a[2];
      laid[nlaid++].rel = colon + 1;
      i++;
    } else if ((!strcmp(a, "--file-src") || !strcmp(a, "--mask-src") || !strcmp(a, "--cover-src") || !strcmp(a, "--overlay-src")) && v && nlaid < MAX_LAID) {
      /* HOSTPATH:REL: cloned here, before any namespace is joined (the caller of sysbox-nsenter may be the FUSE
         server of HOSTPATH: it must not look it up on its own thread) */
      char *colon = strrchr(argv[i + 1], ':');
      int cover = a[2] == 'c' || a[2] == 'o';
      unsigned long long attrs = cover ? SEALED : (a[2] == 'f' && rdonly_files ? MOUNT_ATTR_RDONLY : 0);
      if (!colon) return usage("HOSTPATH:REL expected");
      *colon = 0;
      laid[nlaid].fd = (int)open_tree(AT_FDCWD, argv[i + 1], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      if (laid[nlaid].fd < 0) return fail("open_tree", argv[i + 1]);
      if (attrs && set_attr(laid[nlaid].fd, 0, attrs, 0, "mount_setattr", argv[i + 1])) return 1;
      laid[nlaid].kind = a[2];
      laid[nlaid++].rel = colon + 1;
      i++;
    } else if (!strcmp(a, "--rdonly-files")) {
      rdonly_files = 1;
    } else if ((!strcmp(a, "--mask-dir") || !strcmp(a, "--ro")) && v && nlaid < MAX_LAID) {
      laid[nlaid].fd = -1;
      laid[nlaid].kind = a[2] == 'm' ? 'd' : 'r';
      laid[nlaid++].rel = argv[++i];
    } else if (a[0] != '-' && !action) {
      action = a;
    } else {
      return usage("usage: as-caller --tid TID mount|mount-proc|mount-sysfs|setattr|openat2 [options]");
    }
  }
  if (tid <= 0 || !action || (!target && tfd < 0)) return usage("--tid, an action and a target are required");
  isproc = !strcmp(action, "mount-proc");
  issys = !strcmp(action, "mount-sysfs");
  if (!isproc && !issys && strcmp(action, "mount") && strcmp(action, "setattr") && strcmp(action, "openat2") && strcmp(action, "umount"))
    return usage("unknown action");
  if (!strcmp(action, "openat2") && sock < 0) return usage("openat2 needs --sock");

  /* the caller's root and cwd, opened before its mount namespace is joined (setns resets both) */
  snprintf(path, sizeof path, "/proc/%d/root", tid);
  rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return fail("open", path);
  snprintf(path, sizeof path, "/proc/%d/cwd", tid);
  cwdfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cwdfd < 0) return fail("open", path);
  if (isproc || issys) return new_fs_as_caller(tid, isproc, rootfd, cwdfd, tfd, trest, target, (unsigned long)flags, data, laid, nlaid);
  if (join_ns(tid, "user", CLONE_NEWUSER)) return 1;
  if (join_ns(tid, "mnt", CLONE_NEWNS)) return 1;
  if (fchdir(rootfd) != 0 || chroot(".") != 0) return fail("chroot", "caller's root");
  if (fchdir(cwdfd) != 0) return fail("fchdir", "caller's cwd");
  if (setgroups(0, NULL) != 0 && errno != EPERM) return fail("setgroups", NULL);
  if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0) return fail("setresgid", NULL);
  if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) return fail("setresuid", NULL);
  if (uid != 0 && drop_caps() != 0) return fail("capset", NULL);
  tw = where_of(tfd, trest, target);
  sw = where_of(sfd, srest, source);

  if (!strcmp(action, "openat2")) {
    struct open_how how;
    struct statfs sf;
    int fd;
    memset(&how, 0, sizeof how);
    how.flags = flags | O_CLOEXEC;
    how.mode = mode;
    how.resolve = resolve;
    fd = (int)syscall(SYS_openat2, tw.dirfd, tw.empty ? "." : tw.path, &how, sizeof how);
    if (fd < 0) return fail("openat2", tw.path);
    if (fstatfs(fd, &sf) != 0) return fail("fstatfs", tw.path);
    if ((unsigned long)sf.f_type != FUSE_SUPER_MAGIC) {
      fprintf(stderr, "sysbox-nsenter: as-caller: %s is not on FUSE\n", tw.path);
      return 3;
    }
    if (send_fd(sock, fd)) return 1;
    printf("done\n");
    return 0;
  }
  if (!strcmp(action, "umount")) {
    const char *t = mount_path(tw, "target");
    if (!t) return 1;
    if (umount2(t, (int)flags) != 0) return fail("umount2", t);
    printf("done\n");
    return 0;
  }
  if (!strcmp(action, "setattr")) {
    struct mount_attr a;
    memset(&a, 0, sizeof a);
    a.attr_set = aset;
    a.attr_clr = aclr;
    a.propagation = aprop;
    if (mount_setattr(tw.dirfd, tw.path, (unsigned)atflags | (tw.empty ? AT_EMPTY_PATH : 0), &a, sizeof a) != 0) return fail("mount_setattr", tw.path);
    printf("done\n");
    return 0;
  }
  /* mount */
  if ((flags & (MS_REMOUNT | MS_BIND)) == (MS_REMOUNT | MS_BIND)) {
    struct mount_attr a;
    memset(&a, 0, sizeof a);
    a.attr_set = attr_of_flags((unsigned long)flags);
    a.attr_clr = ((MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODIRATIME) & ~a.attr_set) |
                 ((flags & (MS_NOATIME | MS_STRICTATIME)) ? MOUNT_ATTR__ATIME : 0);
    if (mount_setattr(tw.dirfd, tw.path, tw.empty ? AT_EMPTY_PATH : 0, &a, sizeof a) != 0) return fail("mount_setattr", tw.path);
  } else if (flags & MS_REMOUNT) {
    const char *t = mount_path(tw, "target");
    if (!t) return 1;
    if (mount(source, t, fstype, (unsigned long)flags, data) != 0) return fail("mount", t);
  } else if (flags & MS_BIND) {
    int tree;
    if (!source && sfd < 0) {
      errno = EFAULT;
      return fail("bind", "source");
    }
    tree = (int)open_tree(sw.dirfd, sw.path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | ((flags & MS_REC) ? AT_RECURSIVE : 0) | (sw.empty ? AT_EMPTY_PATH : 0));
    if (tree < 0) return fail("open_tree", sw.path);
    {
      /* mount(2) refuses a file onto a directory (and back) with ENOTDIR, move_mount with EINVAL: callers rely on the
       * former (runc masks a path with a /dev/null bind and falls back to a tmpfs on ENOTDIR) */
      struct stat ts, ss;
      if (fstatat(tree, "", &ss, AT_EMPTY_PATH) == 0 && fstatat(tw.dirfd, tw.empty ? "" : tw.path, &ts, tw.empty ? AT_EMPTY_PATH : 0) == 0 &&
          S_ISDIR(ss.st_mode) != S_ISDIR(ts.st_mode)) {
        errno = ENOTDIR;
        return fail("bind", tw.path);
      }
    }
    if (move_mount(tree, "", tw.dirfd, tw.path, MOVE_MOUNT_F_EMPTY_PATH | (tw.empty ? MOVE_MOUNT_T_EMPTY_PATH : 0)) != 0) return fail("move_mount", tw.path);
  } else if (flags & MS_MOVE) {
    if (!source && sfd < 0) {
      errno = EFAULT;
      return fail("move", "source");
    }
    if (move_mount(sw.dirfd, sw.path, tw.dirfd, tw.path, (sw.empty ? MOVE_MOUNT_F_EMPTY_PATH : 0) | (tw.empty ? MOVE_MOUNT_T_EMPTY_PATH : 0)) != 0)
      return fail("move_mount", tw.path);
  } else {
    const char *t = mount_path(tw, "target");
    if (!t) return 1;
    if (mount(source, t, fstype, (unsigned long)flags, data) != 0) return fail("mount", t);
  }
  printf("done\n");
  return 0;
}

int main(int argc, char **argv) {
  // --timeout-ms N (first): this process ends by SIGALRM after N ms. The caller's own deadline where it can't
  // kill a child it spawned without a pid (@sysbox/native's runNsenter through the addon's vfork spawn).
  if (argc >= 3 && !strcmp(argv[1], "--timeout-ms")) {
    char *end;
    long ms = strtol(argv[2], &end, 10);
    if (*end || ms < 0) return usage("--timeout-ms: milliseconds expected");
    if (ms > 0) {
      struct itimerval t = {.it_interval = {0, 0}, .it_value = {ms / 1000, (ms % 1000) * 1000}};
      setitimer(ITIMER_REAL, &t, NULL);
    }
    argc -= 2;
    argv += 2;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: sysbox-nsenter move-mount|move-mounts|sysctl|net-exec|as-caller [options]\n");
    return 2;
  }
  op = argv[1];
  if (!strcmp(op, "move-mount")) return op_move_mount(argc - 2, argv + 2);
  if (!strcmp(op, "move-mounts")) return op_move_mounts(argc - 2, argv + 2);
  if (!strcmp(op, "sysctl")) return op_sysctl(argc - 2, argv + 2);
  if (!strcmp(op, "net-exec")) return op_net_exec(argc - 2, argv + 2);
  if (!strcmp(op, "as-caller")) return op_as_caller(argc - 2, argv + 2);
  return usage("unknown operation");
}

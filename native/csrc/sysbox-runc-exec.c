// sysbox-runc-exec: the launcher's fast path for `sysbox-runc exec` (apps/runc/bin/sysbox-runc.sh), so that
// `docker exec` doesn't start Node.
//
//   sysbox-runc-exec <launcher> <sysbox-runc arguments...>
//
// It parses runc's global flags and `exec`'s flags, finds the container's record under <root>/sysbox/<id>/
// (written by sysbox-runc's create: `engine`, the engine binary, and `exec-caps`, the capability sets of a
// system container's processes, computed by @sysbox/spec for the capability set the container was created
// with), splices the matching set into the --process spec (a copy in a memfd; the caller's file is left as
// it is) and execs the engine with its state under <root>/engine.
//
// Anything it isn't sure about (an unknown flag, a process spec whose bounding set differs from the
// container's, e.g. `docker exec --privileged`, malformed JSON, a missing record) goes back to the launcher
// with SYSBOX_RUNC_NO_FASTPATH=1, i.e. to the Node program, which applies the same rules in full. The rules
// themselves live only in TypeScript; this program only matches and splices JSON text.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SPEC (4 << 20)
#define EXEC_CAPS_MAGIC "sysbox-exec-caps 1"

static char *launcher;
static char **orig_argv; // the sysbox-runc arguments, NULL-terminated, orig_argv[-1] is free for argv[0]

// Back to the launcher's slow path (Node). Never returns.
static void fallback(const char *why) {
  if (getenv("SYSBOX_RUNC_EXEC_DEBUG")) fprintf(stderr, "sysbox-runc-exec: fallback: %s\n", why);
  setenv("SYSBOX_RUNC_NO_FASTPATH", "1", 1);
  orig_argv[-1] = launcher;
  execv(launcher, orig_argv - 1);
  fprintf(stderr, "sysbox-runc: cannot run %s: %s\n", launcher, strerror(errno));
  exit(127);
}

// ---- flags --------------------------------------------------------------------------------------------------

// "--name", "-name", "--name=v", "-name=v" → 1 and *value (NULL without '=') when it is this flag.
static int is_flag(const char *a, const char *name, const char **value) {
  if (a[0] != '-') return 0;
  a += (a[1] == '-') ? 2 : 1;
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '\0') {
    *value = NULL;
    return 1;
  }
  if (a[n] == '=') {
    *value = a + n + 1;
    return 1;
  }
  return 0;
}

static int match_any(const char *a, const char *const *names, const char **value) {
  for (; *names; names++)
    if (is_flag(a, *names, value)) return 1;
  return 0;
}

static const char *const GLOBAL_VALUE[] = {"root", "log", "log-format", "criu", "rootless", "engine", NULL};
static const char *const GLOBAL_BOOL[] = {"debug", "systemd-cgroup", NULL};
static const char *const EXEC_VALUE[] = {"console-socket", "pidfd-socket", "cwd", "env", "e", "user", "u",
                                         "additional-gids", "g", "process", "p", "process-label", "apparmor",
                                         "cap", "c", "preserve-fds", "cgroup", "pid-file", NULL};
static const char *const EXEC_BOOL[] = {"tty", "t", "detach", "d", "no-new-privs", "ignore-paused", NULL};

struct flagval {
  const char *v; // the value
  int at;        // the argument holding it
  int inl;       // given as --flag=value
};

// The value of the value-taking flag at argv[*i]: inline, or the next argument (*i then moves to it).
static struct flagval take_value(int *i, int n, const char *inline_value, const char *missing) {
  struct flagval f = {inline_value, *i, inline_value != NULL};
  if (!inline_value) {
    if (++*i >= n) fallback(missing);
    f.v = orig_argv[*i];
    f.at = *i;
  }
  return f;
}

// A flag argument with a new value: "--flag=new" for an inline one (its own spelling kept), else just the value.
static char *with_value(int inl, const char *arg, const char *value) {
  if (!inl) return (char *)value;
  size_t name = (size_t)(strchr(arg, '=') - arg);
  char *x = malloc(name + strlen(value) + 2);
  sprintf(x, "%.*s=%s", (int)name, arg, value);
  return x;
}

// ---- files --------------------------------------------------------------------------------------------------

static char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 8192, n = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (n == cap) {
      if (cap >= MAX_SPEC) {
        free(buf);
        close(fd);
        return NULL;
      }
      cap *= 2;
      buf = realloc(buf, cap + 1);
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      free(buf);
      close(fd);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

// ---- JSON scanning (just enough to find value spans) ---------------------------------------------------------

static const char *ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

// Skips a JSON string starting at '"'; returns the position after the closing quote, NULL if malformed.
static const char *skip_string(const char *p, const char *end) {
  if (p >= end || *p != '"') return NULL;
  for (p++; p < end; p++) {
    if (*p == '\\') {
      p++;
      continue;
    }
    if (*p == '"') return p + 1;
    if ((unsigned char)*p < 0x20) return NULL;
  }
  return NULL;
}

// Skips any JSON value; returns the position after it, NULL if malformed.
static const char *skip_value(const char *p, const char *end, int depth) {
  p = ws(p, end);
  if (p >= end || depth > 64) return NULL;
  if (*p == '"') return skip_string(p, end);
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    int obj = *p == '{';
    p = ws(p + 1, end);
    if (p < end && *p == close) return p + 1;
    for (;;) {
      if (obj) {
        p = skip_string(ws(p, end), end);
        if (!p) return NULL;
        p = ws(p, end);
        if (p >= end || *p != ':') return NULL;
        p++;
      }
      p = skip_value(p, end, depth + 1);
      if (!p) return NULL;
      p = ws(p, end);
      if (p >= end) return NULL;
      if (*p == ',') {
        p++;
        continue;
      }
      if (*p == close) return p + 1;
      return NULL;
    }
  }
  const char *s = p;
  while (p < end && (strchr("+-.0123456789eE", *p) || (*p >= 'a' && *p <= 'z'))) p++;
  return p > s ? p : NULL;
}

struct span {
  const char *start, *end;
};

// In the object at [p, end), finds the member `key` (a plain key, compared without unescaping: a key written
// with escapes is not found, and the caller falls back). Returns 1 and its value span, 0 if absent, -1 if the
// text is not an object or malformed.
static int member(const char *p, const char *end, const char *key, struct span *out) {
  p = ws(p, end);
  if (p >= end || *p != '{') return -1;
  p = ws(p + 1, end);
  if (p < end && *p == '}') return 0;
  size_t klen = strlen(key);
  int found = 0;
  for (;;) {
    const char *k = ws(p, end);
    const char *ke = skip_string(k, end);
    if (!ke) return -1;
    p = ws(ke, end);
    if (p >= end || *p != ':') return -1;
    const char *v = ws(p + 1, end);
    const char *ve = skip_value(v, end, 0);
    if (!ve) return -1;
    if ((size_t)(ke - k) == klen + 2 && memcmp(k + 1, key, klen) == 0) {
      if (found) return -1; // a duplicate key: leave it to the full parser
      found = 1;
      out->start = v;
      out->end = ve;
    }
    p = ws(ve, end);
    if (p >= end) return -1;
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p == '}') return found;
    return -1;
  }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// The strings of a JSON array of plain strings, sorted and joined by ','. NULL if it is anything else.
static char *canonical_names(struct span arr) {
  const char *p = ws(arr.start, arr.end);
  if (p >= arr.end || *p != '[') return NULL;
  char *names[128];
  int n = 0;
  p = ws(p + 1, arr.end);
  if (p < arr.end && *p == ']') goto join;
  for (;;) {
    const char *s = ws(p, arr.end);
    const char *se = skip_string(s, arr.end);
    if (!se || n == 128) goto bad;
    for (const char *c = s + 1; c < se - 1; c++)
      if (*c == '\\' || *c == ',') goto bad;
    names[n++] = strndup(s + 1, (size_t)(se - s - 2));
    p = ws(se, arr.end);
    if (p >= arr.end) goto bad;
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p == ']') break;
    goto bad;
  }
join:
  qsort(names, (size_t)n, sizeof names[0], cmp_str);
  size_t len = 1;
  for (int i = 0; i < n; i++) len += strlen(names[i]) + 1;
  char *out = malloc(len);
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (i) strcat(out, ",");
    strcat(out, names[i]);
    free(names[i]);
  }
  return out;
bad:
  for (int i = 0; i < n; i++) free(names[i]);
  return NULL;
}

// ---- main ---------------------------------------------------------------------------------------------------

static void fail(const char *msg, const char *what) {
  fprintf(stderr, "sysbox-runc: exec: %s%s\n", msg, what ? what : "");
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: sysbox-runc-exec <launcher> <sysbox-runc arguments...>\n");
    return 2;
  }
  launcher = argv[1];
  orig_argv = argv + 2; // argv[1] (the launcher path) is the free slot before it
  int n = argc - 2;

  // global flags, then `exec`
  const char *root = "/run/sysbox-runc";
  int root_at = -1, root_inline = 0, i = 0;
  char *drop = calloc((size_t)n + 1, 1); // arguments the engine doesn't get
  for (; i < n; i++) {
    const char *a = orig_argv[i], *v;
    if (a[0] != '-') break;
    if (match_any(a, GLOBAL_BOOL, &v)) continue;
    if (!match_any(a, GLOBAL_VALUE, &v)) fallback("unknown global flag");
    int isroot = is_flag(a, "root", &v), at = i;
    int isengine = is_flag(a, "engine", &v);
    struct flagval f = take_value(&i, n, v, "global flag without value");
    if (isroot) root = f.v, root_at = f.at, root_inline = f.inl;
    // sysbox-runc's own --engine is not the engine's (the container's engine is recorded at create)
    if (isengine) drop[at] = drop[f.at] = 1;
  }
  if (i >= n || strcmp(orig_argv[i], "exec") != 0) fallback("not exec");
  // exec's flags, then the container id
  int process_at = -1, process_inline = 0;
  const char *process = NULL;
  for (i++; i < n; i++) {
    const char *a = orig_argv[i], *v;
    if (a[0] != '-' || strcmp(a, "-") == 0) break;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (match_any(a, EXEC_BOOL, &v)) {
      if (v && strcmp(v, "true") != 0 && strcmp(v, "false") != 0) fallback("odd boolean flag");
      continue;
    }
    if (!match_any(a, EXEC_VALUE, &v)) fallback("unknown exec flag");
    int isproc = is_flag(a, "process", &v) || is_flag(a, "p", &v);
    struct flagval f = take_value(&i, n, v, "exec flag without value");
    if (isproc) process = f.v, process_at = f.at, process_inline = f.inl;
  }
  if (i >= n) fallback("no container id");
  const char *id = orig_argv[i];
  if (!id[0] || id[0] == '.' || strchr(id, '/')) fallback("odd container id");

  char path[4096];
  snprintf(path, sizeof path, "%s/sysbox/%s/engine", root, id);
  char *engine = read_file(path, NULL);
  if (!engine) fallback("no engine record");
  engine[strcspn(engine, "\n")] = '\0';
  if (engine[0] != '/' || access(engine, X_OK) != 0) fallback("engine not executable");

  char *procfd = NULL;
  if (process) {
    snprintf(path, sizeof path, "%s/sysbox/%s/exec-caps", root, id);
    char *caps = read_file(path, NULL);
    if (!caps) fallback("no exec-caps record");
    // magic \n incoming \n root-caps \n user-caps \n
    char *line[4];
    char *s = caps;
    for (int l = 0; l < 4; l++) {
      line[l] = s;
      char *nl = strchr(s, '\n');
      if (!nl) fallback("malformed exec-caps record");
      *nl = '\0';
      s = nl + 1;
    }
    if (strcmp(line[0], EXEC_CAPS_MAGIC) != 0) fallback("exec-caps record of another version");

    size_t len;
    char *spec = read_file(process, &len);
    if (!spec) fallback("can't read the process spec"); // Node says why
    const char *end = spec + len;
    struct span user, uid, capsv, bounding;
    long uidn = 0;
    int r = member(spec, end, "user", &user);
    if (r < 0) fallback("process spec: not an object");
    if (r == 1) {
      r = member(user.start, user.end, "uid", &uid);
      if (r < 0) fallback("process spec: user");
      if (r == 1) {
        char *e;
        uidn = strtol(uid.start, &e, 10);
        if (e != uid.end) fallback("process spec: user.uid");
      }
    }
    if (member(spec, end, "capabilities", &capsv) != 1) fallback("process spec: no capabilities");
    if (member(capsv.start, capsv.end, "bounding", &bounding) != 1) fallback("process spec: no bounding set");
    char *incoming = canonical_names(bounding);
    if (!incoming || strcmp(incoming, line[1]) != 0) fallback("bounding set differs from the container's");
    const char *repl = uidn == 0 ? line[2] : line[3];

    int mfd = memfd_create("sysbox-exec-process", MFD_CLOEXEC);
    if (mfd < 0) fallback("memfd_create");
    // above any fd the caller preserves for the process (--preserve-fds), and inherited by the engine
    int fd = fcntl(mfd, F_DUPFD, 100);
    close(mfd);
    if (fd < 0) fallback("fcntl");
    size_t a = (size_t)(capsv.start - spec), b = strlen(repl), c = (size_t)(end - capsv.end);
    if (write(fd, spec, a) != (ssize_t)a || write(fd, repl, b) != (ssize_t)b || write(fd, capsv.end, c) != (ssize_t)c)
      fallback("write");
    procfd = malloc(64);
    snprintf(procfd, 64, "/proc/self/fd/%d", fd);
  }

  // the engine's arguments: --root <root>/engine, the process spec from the memfd, the rest unchanged
  char **out = calloc((size_t)n + 4, sizeof *out);
  int o = 0;
  char engine_root[4096];
  snprintf(engine_root, sizeof engine_root, "%s/engine", root);
  out[o++] = engine;
  if (root_at < 0) {
    out[o++] = "--root";
    out[o++] = engine_root;
  }
  for (int k = 0; k < n; k++) {
    if (drop[k])
      continue;
    if (k == root_at)
      out[o++] = with_value(root_inline, orig_argv[k], engine_root);
    else if (k == process_at && procfd)
      out[o++] = with_value(process_inline, orig_argv[k], procfd);
    else
      out[o++] = orig_argv[k];
  }
  out[o] = NULL;
  execv(engine, out);
  fail("cannot run the engine ", engine);
  return 1;
}

// sysbox-runc: the front door. The one executable Docker's shim (or containerd, podman, a user) runs as the OCI
// runtime; it decides per verb where the work goes, and does no sysbox work itself:
//
//   start, kill, delete   of a container sysbox-runc created: straight to the engine that created it (recorded in
//                         <root>/sysbox/<id>/engine), with the engine's state under <root>/engine. `delete` then
//                         removes sysbox-runc's state dir <root>/sysbox/<id>: it is the liveness path sysbox-mgr
//                         watches, and mgr tears the rest down (sysbox-fs views, staged mounts, ID range). A
//                         `delete` of an id neither sysbox nor the engine knows (Docker deletes twice) goes to the
//                         engine last used (<root>/engine-path).
//   exec                  the engine, with the capability sets sysbox-runc's create recorded (<root>/sysbox/<id>/
//                         exec-caps) spliced into the --process spec (a copy in a memfd; the spec as it is where the
//                         record says `as-is`: honour-caps), and for systemd on cgroup
//                         v2 `--cgroup <leaf>` (<root>/sysbox/<id>/exec-cgroup).
//   create                the create server (`sysbox-runc serve`, $SYSBOX_RUNC_SOCKET or /run/sysbox/runc.sock): it
//                         runs the create in a warm Node and asks this process to fork the engine, so that the
//                         container's init stays a descendant of the shim (protocol in apps/runc/src/server.ts).
//   anything else         the Node CLI (apps/runc/src/main.ts), which owns every rule and every error message.
//
// Whatever this program is unsure about (an unknown flag, an odd id, a missing record, a process spec whose
// bounding set differs from the container's, no create server) goes to the Node CLI, which does it in full. The
// grammar it parses is runc's, from apps/runc/src/cli.ts (runc-grammar.h, generated). SYSBOX_RUNC_NO_FASTPATH=1
// sends everything to Node.
//
// Where Node and the CLI are: sysbox-runc.conf beside this program's real path (written by scripts/install.sh):
//   node=/path/to/node   main=/path/to/runc/dist/load.cjs   cache=/var/cache/sysbox-ts/compile-cache (optional)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runc-grammar.h"

#define DEFAULT_ROOT "/run/sysbox-runc"
#define DEFAULT_SERVER_SOCKET "/run/sysbox/runc.sock"
#define PROTOCOL "sysbox-runc-create/1"
#define MAX_FRAME (1u << 20)
#define MAX_SPEC (4 << 20)
#define EXEC_CAPS_MAGIC "sysbox-exec-caps 1"

extern char **environ;

static char **args; // the command line after argv[0]
static int nargs;

static int debugging(void) { return getenv("SYSBOX_RUNC_DEBUG_FRONT_DOOR") != NULL; }

static void debug(const char *what, const char *detail) {
  if (debugging()) fprintf(stderr, "sysbox-runc: front door: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
}

// ---- the Node CLI --------------------------------------------------------------------------------------------

struct conf {
  char node[PATH_MAX];
  char main[PATH_MAX];
  char cache[PATH_MAX];
};

static void read_conf(struct conf *c) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    fprintf(stderr, "sysbox-runc: can't find its own executable: %s\n", strerror(errno));
    exit(1);
  }
  exe[n] = '\0';
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/sysbox-runc.conf", dirname(exe));
  FILE *f = fopen(path, "re");
  if (!f) {
    fprintf(stderr, "sysbox-runc: can't read %s: %s (reinstall sysbox-ts: scripts/install.sh)\n", path, strerror(errno));
    exit(1);
  }
  memset(c, 0, sizeof *c);
  char line[PATH_MAX + 16];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *eq = strchr(line, '=');
    if (!eq) continue;
    *eq = '\0';
    char *dst = !strcmp(line, "node") ? c->node : !strcmp(line, "main") ? c->main : !strcmp(line, "cache") ? c->cache : NULL;
    if (dst) snprintf(dst, PATH_MAX, "%s", eq + 1);
  }
  fclose(f);
  if (!c->node[0] || !c->main[0]) {
    fprintf(stderr, "sysbox-runc: %s names no node= or main= (reinstall sysbox-ts: scripts/install.sh)\n", path);
    exit(1);
  }
}

// Runs the Node CLI with this command line. `serve` (a daemon) gets neither the compile cache nor the short-lived
// CLI's V8 flags: keeping the start-up snapshot's hash seed (~3.5 ms of each start; a random one guards long-lived
// processes against hash flooding) and a young generation large enough that a create never scavenges (~3 ms).
static void to_node(const char *why) {
  debug("to Node", why);
  struct conf c;
  read_conf(&c);
  unsetenv("NODE_EXTRA_CA_CERTS"); // ~50 ms per start on some hosts, and the runtime makes no TLS connection
  unsetenv("NODE_OPTIONS");
  int serve = nargs > 0 && !strcmp(args[0], "serve");
  if (!serve && c.cache[0]) setenv("NODE_COMPILE_CACHE", c.cache, 1);
  else unsetenv("NODE_COMPILE_CACHE");
  char **av = calloc((size_t)nargs + 6, sizeof *av);
  int o = 0;
  av[o++] = c.node;
  if (!serve) {
    av[o++] = "--no-rehash-snapshot";
    av[o++] = "--min-semi-space-size=16";
  }
  av[o++] = c.main;
  for (int i = 0; i < nargs; i++) av[o++] = args[i];
  av[o] = NULL;
  execv(c.node, av);
  fprintf(stderr, "sysbox-runc: can't run %s: %s\n", c.node, strerror(errno));
  exit(1);
}

// ---- runc's grammar ------------------------------------------------------------------------------------------

// The flag argument a ("--name", "-name", "--name=v", "-name=v") in table t: its entry, and *value (NULL without '=').
static const struct runc_flag *lookup(const struct runc_flag *t, const char *a, const char **value) {
  if (a[0] != '-' || a[1] == '\0') return NULL;
  a += (a[1] == '-') ? 2 : 1;
  size_t n = strcspn(a, "=");
  for (; t->name; t++) {
    if (strlen(t->name) == n && strncmp(a, t->name, n) == 0) {
      *value = a[n] == '=' ? a + n + 1 : NULL;
      return t;
    }
  }
  return NULL;
}

static int is(const char *flag, const struct runc_flag *f) { return f && !strcmp(f->flag, flag); }

// The global flags: where the verb is, the state root, and the arguments the engine must not get or must get changed.
struct cmdline {
  int verb;        // index of the verb in args (nargs if none)
  const char *root;
  int root_at;     // index of the argument holding --root's value (-1: not given)
  int root_inline; // given as --root=...
  char *drop;      // arguments the engine doesn't get (sysbox-runc's own --engine)
};

static void parse_globals(struct cmdline *c) {
  c->root = DEFAULT_ROOT;
  c->root_at = -1;
  c->root_inline = 0;
  c->drop = calloc((size_t)nargs + 1, 1);
  int i = 0;
  for (; i < nargs && args[i][0] == '-'; i++) {
    const char *v;
    const struct runc_flag *f = lookup(RUNC_GLOBAL_FLAGS, args[i], &v);
    if (!f || is("help", f) || is("version", f)) to_node("a global flag for Node");
    if (!f->value) {
      if (v) to_node("a boolean global flag with a value");
      continue;
    }
    int at = i;
    if (!v) {
      if (++i >= nargs) to_node("a global flag without its value");
      v = args[i];
    }
    if (is("root", f)) c->root = v, c->root_at = i, c->root_inline = (at == i);
    if (is("engine", f)) c->drop[at] = c->drop[i] = 1; // the container's own engine is recorded at create
  }
  c->verb = i;
}

// One value-taking flag of the verb, as found on the command line.
struct found {
  const char *value; // NULL: not given
  int at;            // the argument holding the value
  int inl;           // given as --flag=value
};

// The verb's flags from args[from]: the index of the first positional (the container id); `want` (a flag's first
// name, or NULL) is reported in *f.
static int parse_verb_flags(const struct runc_flag *t, int from, const char *want, struct found *out) {
  int i = from;
  for (; i < nargs; i++) {
    const char *a = args[i], *v;
    if (!strcmp(a, "--")) return i + 1;
    if (a[0] != '-' || !strcmp(a, "-")) break;
    const struct runc_flag *f = lookup(t, a, &v);
    if (!f) to_node("an unknown flag");
    if (!f->value) {
      if (v && strcmp(v, "true") && strcmp(v, "false")) to_node("an odd boolean flag");
      continue;
    }
    int inl = v != NULL;
    if (!v) {
      if (++i >= nargs) to_node("a flag without its value");
      v = args[i];
    }
    if (want && is(want, f)) *out = (struct found){v, i, inl};
  }
  return i;
}

static int plain_id(const char *id) { return id[0] && id[0] != '.' && !strchr(id, '/'); }

// ---- files ---------------------------------------------------------------------------------------------------

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

// The engine binary recorded in `path` (one line), or NULL.
static char *engine_at(const char *path) {
  char *e = read_file(path, NULL);
  if (!e) return NULL;
  e[strcspn(e, "\n")] = '\0';
  if (e[0] != '/' || access(e, X_OK) != 0) return NULL;
  return e;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p) == 0 || errno == ENOENT ? 0 : -1;
}

// ---- the engine ----------------------------------------------------------------------------------------------

// The engine's argv: --root <root>/engine (replacing ours, or first), sysbox-runc's --engine left out, argument
// `replace_at` (if >= 0) replaced by `replacement` (kept as --flag=replacement if it was given inline).
static char **engine_argv(const char *engine, const struct cmdline *c, int replace_at, int replace_inline, const char *replacement) {
  char **out = calloc((size_t)nargs + 7, sizeof *out); // engine, --root and its value, the arguments, three more, NULL
  int o = 0;
  char *engine_root = malloc(strlen(c->root) + 8);
  sprintf(engine_root, "%s/engine", c->root);
  out[o++] = (char *)engine;
  if (c->root_at < 0) {
    out[o++] = "--root";
    out[o++] = engine_root;
  }
  for (int k = 0; k < nargs; k++) {
    const char *nv = k == c->root_at ? engine_root : k == replace_at ? replacement : NULL;
    int inl = k == c->root_at ? c->root_inline : replace_inline;
    if (c->drop[k]) continue;
    if (!nv) {
      out[o++] = args[k];
    } else if (inl) {
      size_t name = (size_t)(strchr(args[k], '=') - args[k]);
      char *x = malloc(name + strlen(nv) + 2);
      sprintf(x, "%.*s=%s", (int)name, args[k], nv);
      out[o++] = x;
    } else {
      out[o++] = (char *)nv;
    }
  }
  out[o] = NULL;
  return out;
}

static void exec_engine(char **argv) {
  execv(argv[0], argv);
  fprintf(stderr, "sysbox-runc: cannot run the engine %s: %s\n", argv[0], strerror(errno));
  exit(1);
}

// kill: an init that stops on another signal than SIGTERM (systemd halts on SIGRTMIN+3; SIGTERM makes it re-execute)
// has it recorded at create, <root>/sysbox/<id>/stop-signal: a TERM (named, numbered, or the default) is sent as that.
static char **kill_argv(const char *engine, const struct cmdline *c, int at) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/sysbox/%s/stop-signal", c->root, args[at]);
  char *sig = read_file(path, NULL);
  if (sig) sig[strcspn(sig, "\n")] = '\0';
  int given = at + 1 < nargs;
  const char *s = given ? args[at + 1] : "TERM";
  if (!sig || !sig[0] || (strcmp(s, "TERM") && strcmp(s, "SIGTERM") && strcmp(s, "15"))) return engine_argv(engine, c, -1, 0, NULL);
  debug("kill: TERM sent as", sig);
  if (given) return engine_argv(engine, c, at + 1, 0, sig);
  char **argv = engine_argv(engine, c, -1, 0, NULL); // (room for one more: engine_argv leaves it)
  int n = 0;
  while (argv[n]) n++;
  argv[n] = sig;
  argv[n + 1] = NULL;
  return argv;
}

// start, kill, delete: the engine that created the container, with the verb translated where the container's record
// says so (kill_argv).
static void engine_verb(const struct cmdline *c, const char *verb) {
  const struct runc_flag *t = !strcmp(verb, "start") ? RUNC_START_FLAGS : !strcmp(verb, "kill") ? RUNC_KILL_FLAGS : RUNC_DELETE_FLAGS;
  int at = parse_verb_flags(t, c->verb + 1, NULL, NULL);
  if (at >= nargs || !plain_id(args[at])) to_node("no plain container id");
  const char *id = args[at];
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/sysbox/%s", c->root, id);
  struct stat st;
  int ours = stat(path, &st) == 0;
  char *engine;
  if (ours) {
    snprintf(path, sizeof path, "%s/sysbox/%s/engine", c->root, id);
    engine = engine_at(path);
  } else {
    // not ours: only a `delete` of an id the engine doesn't know either (Docker's second delete) goes to an engine
    snprintf(path, sizeof path, "%s/engine/%s", c->root, id);
    if (strcmp(verb, "delete") || stat(path, &st) == 0) to_node("a container sysbox-runc has no record of");
    snprintf(path, sizeof path, "%s/engine-path", c->root);
    engine = engine_at(path);
  }
  if (!engine) to_node("no engine record");
  char **argv = ours && !strcmp(verb, "kill") ? kill_argv(engine, c, at) : engine_argv(engine, c, -1, 0, NULL);
  if (!ours || strcmp(verb, "delete")) exec_engine(argv);
  // delete: the engine's, then our state dir once the engine has forgotten the container (a refused delete of a
  // running container keeps it); sysbox-mgr, watching that dir, does the rest
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "sysbox-runc: fork: %s\n", strerror(errno));
    exit(1);
  }
  if (pid == 0) exec_engine(argv);
  int ws, rc = 1;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 1;
  snprintf(path, sizeof path, "%s/engine/%s", c->root, id);
  if (stat(path, &st) != 0) {
    snprintf(path, sizeof path, "%s/sysbox/%s", c->root, id);
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  }
  exit(rc);
}

// ---- exec: the capability sets of the container, spliced into the process spec --------------------------------

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
    for (const char *q = s + 1; q < se - 1; q++)
      if (*q == '\\' || *q == ',') goto bad;
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

// The process spec at `process` with the recorded capability sets (record: magic \n bounding set the container
// was created with \n root's sets \n other users' sets \n) in a memfd; its /proc/self/fd path.
static char *spliced_process(const char *process, char *caps) {
  char *line[4];
  char *s = caps;
  for (int l = 0; l < 4; l++) {
    line[l] = s;
    char *nl = strchr(s, '\n');
    if (!nl) to_node("a malformed exec-caps record");
    *nl = '\0';
    s = nl + 1;
  }
  if (strcmp(line[0], EXEC_CAPS_MAGIC) != 0) to_node("an exec-caps record of another version");
  size_t len;
  char *spec = read_file(process, &len);
  if (!spec) to_node("an unreadable process spec"); // Node says why
  const char *end = spec + len;
  struct span user, uid, capsv, bounding;
  long uidn = 0;
  int r = member(spec, end, "user", &user);
  if (r < 0) to_node("process spec: not an object");
  if (r == 1) {
    r = member(user.start, user.end, "uid", &uid);
    if (r < 0) to_node("process spec: user");
    if (r == 1) {
      char *e;
      uidn = strtol(uid.start, &e, 10);
      if (e != uid.end) to_node("process spec: user.uid");
    }
  }
  if (member(spec, end, "capabilities", &capsv) != 1) to_node("process spec: no capabilities");
  if (member(capsv.start, capsv.end, "bounding", &bounding) != 1) to_node("process spec: no bounding set");
  char *incoming = canonical_names(bounding);
  if (!incoming || strcmp(incoming, line[1]) != 0) to_node("a bounding set that differs from the container's");
  const char *repl = uidn == 0 ? line[2] : line[3];
  int mfd = memfd_create("sysbox-exec-process", MFD_CLOEXEC);
  if (mfd < 0) to_node("memfd_create failed");
  // above any fd the caller preserves for the process (--preserve-fds), and inherited by the engine
  int fd = fcntl(mfd, F_DUPFD, 100);
  close(mfd);
  if (fd < 0) to_node("fcntl failed");
  size_t a = (size_t)(capsv.start - spec), b = strlen(repl), c = (size_t)(end - capsv.end);
  if (write(fd, spec, a) != (ssize_t)a || write(fd, repl, b) != (ssize_t)b || write(fd, capsv.end, c) != (ssize_t)c)
    to_node("write failed");
  char *p = malloc(64);
  snprintf(p, 64, "/proc/self/fd/%d", fd);
  return p;
}

// ... and, where the container's record names one (<root>/sysbox/<id>/exec-cgroup: systemd on cgroup v2), into that
// leaf of the container's cgroup (`--cgroup init.scope`, unless the caller gave --cgroup): cgroup v2 refuses processes
// in the cgroup whose subtree_control systemd manages (EBUSY). The engine's argv has room for the two arguments.
static char **with_exec_cgroup(char **argv, const struct cmdline *c, const char *id) {
  struct found given = {0};
  parse_verb_flags(RUNC_EXEC_FLAGS, c->verb + 1, "cgroup", &given);
  if (given.value) return argv;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/sysbox/%s/exec-cgroup", c->root, id);
  char *leaf = read_file(path, NULL);
  if (!leaf) return argv;
  leaf[strcspn(leaf, "\n")] = '\0';
  if (!leaf[0]) return argv;
  int n = 0, verb = -1;
  while (argv[n]) {
    if (verb < 0 && argv[n] == args[c->verb]) verb = n;
    n++;
  }
  if (verb < 0) to_node("no exec verb in the engine's command line");
  memmove(argv + verb + 3, argv + verb + 1, (size_t)(n - verb) * sizeof *argv); // the NULL included
  argv[verb + 1] = "--cgroup";
  argv[verb + 2] = leaf;
  debug("exec: in the leaf cgroup", leaf);
  return argv;
}

static void exec_verb(const struct cmdline *c) {
  struct found process = {0};
  int at = parse_verb_flags(RUNC_EXEC_FLAGS, c->verb + 1, "process", &process);
  if (at >= nargs || !plain_id(args[at])) to_node("no plain container id");
  const char *id = args[at];
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/sysbox/%s/engine", c->root, id);
  char *engine = engine_at(path);
  if (!engine) to_node("no engine record");
  if (!process.value) exec_engine(with_exec_cgroup(engine_argv(engine, c, -1, 0, NULL), c, id)); // argv form: the converted config's process
  snprintf(path, sizeof path, "%s/sysbox/%s/exec-caps", c->root, id);
  char *caps = read_file(path, NULL);
  if (!caps) to_node("no exec-caps record");
  // honour-caps (SYSBOX_HONOR_CAPS, a regular container): the process spec goes to the engine as it is
  if (!strcmp(caps, EXEC_CAPS_MAGIC "\nas-is\n")) exec_engine(with_exec_cgroup(engine_argv(engine, c, -1, 0, NULL), c, id));
  exec_engine(with_exec_cgroup(engine_argv(engine, c, process.at, process.inl, spliced_process(process.value, caps)), c, id));
}

// ---- create: through the create server -------------------------------------------------------------------------

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

// Reads exactly n bytes: 0, or -1 on EOF or an error.
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

// One field of a frame's payload; fields are separated by NUL (none after the last).
static void field(struct buf *b, const char *s, int first) {
  if (!first) put(b, "", 1);
  put(b, s, strlen(s));
}

static int send_frame(int fd, char type, const struct buf *payload) {
  uint32_t len = (uint32_t)payload->n;
  char head[5] = {type, (char)(len & 0xff), (char)((len >> 8) & 0xff), (char)((len >> 16) & 0xff), (char)((len >> 24) & 0xff)};
  if (write_all(fd, head, 5) < 0) return -1;
  return payload->n ? write_all(fd, payload->p, payload->n) : 0;
}

// Splits a payload into its fields (in place); returns how many.
static size_t split(char *p, size_t n, char **out, size_t max) {
  size_t k = 0;
  if (max == 0) return 0;
  out[k++] = p;
  for (size_t i = 0; i < n && k < max; i++)
    if (p[i] == '\0') out[k++] = p + i + 1;
  return k;
}

// Runs the engine (S frame: nfds, path, argv...) and waits for it: its exit code, or 128 + the signal.
static int run_engine(char **fields, size_t nf) {
  if (nf < 3) return 1;
  long nfds = strtol(fields[0], NULL, 10);
  if (nfds < 3) nfds = 3;
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "sysbox-runc: fork: %s\n", strerror(errno));
    return 1;
  }
  if (pid == 0) {
    // only the container's fds reach the engine (the socket is close-on-exec anyway)
    syscall(SYS_close_range, (unsigned)nfds, ~0u, 0);
    execve(fields[1], fields + 2, environ);
    fprintf(stderr, "sysbox-runc: engine %s failed to start: %s\n", fields[1], strerror(errno));
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return 1;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

// The server went away after it accepted the create: an error, never a second create.
static int lost(const char *path) {
  fprintf(stderr, "sysbox-runc: the create server (%s) closed the connection during the create of this container\n", path);
  return 1;
}

// The create through the server, or to Node before the server has accepted it (no server, a create it doesn't serve).
static int create_verb(void) {
  const char *path = getenv("SYSBOX_RUNC_SOCKET");
  if (!path || !path[0]) path = DEFAULT_SERVER_SOCKET;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(addr.sun_path)) to_node("the create server's socket path is too long");
  memcpy(addr.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) to_node("no socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) to_node("no create server");

  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof(cwd))) to_node("no cwd");
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
  if (req.n > MAX_FRAME) to_node("a request too large for the create server");
  if (send_frame(fd, 'R', &req) < 0) to_node("the create server went away");

  int accepted = 0;
  for (;;) {
    char head[5];
    if (read_all(fd, head, 5) < 0) {
      if (!accepted) to_node("the create server went away before accepting the create");
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
      if (!accepted) to_node("the create server went away before accepting the create");
      return lost(path);
    }
    payload[len] = '\0';
    switch (head[0]) {
    case 'F':
      if (accepted) {
        fprintf(stderr, "sysbox-runc: the create server (%s) sent back a create it had accepted\n", path);
        return 1;
      }
      close(fd);
      to_node(payload); // unserved
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
      if (send_frame(fd, 'X', &x) < 0) return lost(path);
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

int main(int argc, char **argv) {
  args = argv + 1;
  nargs = argc - 1;
  const char *nf = getenv("SYSBOX_RUNC_NO_FASTPATH");
  if (nf && nf[0]) to_node("SYSBOX_RUNC_NO_FASTPATH");
  struct cmdline c;
  parse_globals(&c);
  if (c.verb >= nargs) to_node("no verb");
  const char *verb = args[c.verb];
  if (!strcmp(verb, "start") || !strcmp(verb, "kill") || !strcmp(verb, "delete")) engine_verb(&c, verb);
  if (!strcmp(verb, "exec")) exec_verb(&c);
  if (!strcmp(verb, "create")) return create_verb();
  to_node("a verb for Node");
  return 1;
}

// runc's command-line grammar for the front door: generated from apps/runc/src/cli.ts by apps/runc/src/grammar.ts
// (`pnpm --filter @sysbox/runc gen:grammar`). Do not edit: apps/runc/test/grammar.test.ts diffs it.
#pragma once

// name: a flag name or alias, without dashes; flag: the flag it names (its first name); value: 1 if it takes a
// value (`--name v` or `--name=v`)
struct runc_flag {
  const char *name;
  const char *flag;
  int value;
};

static const struct runc_flag RUNC_GLOBAL_FLAGS[] = {
    {"debug", "debug", 0},
    {"log", "log", 1},
    {"log-format", "log-format", 1},
    {"root", "root", 1},
    {"criu", "criu", 1},
    {"systemd-cgroup", "systemd-cgroup", 0},
    {"rootless", "rootless", 1},
    {"engine", "engine", 1},
    {"help", "help", 0},
    {"h", "help", 0},
    {"version", "version", 0},
    {"v", "version", 0},
    {0, 0, 0},
};

static const struct runc_flag RUNC_CREATE_FLAGS[] = {
    {"bundle", "bundle", 1},
    {"b", "bundle", 1},
    {"console-socket", "console-socket", 1},
    {"pid-file", "pid-file", 1},
    {"no-pivot", "no-pivot", 0},
    {"no-new-keyring", "no-new-keyring", 0},
    {"preserve-fds", "preserve-fds", 1},
    {0, 0, 0},
};

static const struct runc_flag RUNC_EXEC_FLAGS[] = {
    {"console-socket", "console-socket", 1},
    {"cwd", "cwd", 1},
    {"env", "env", 1},
    {"e", "env", 1},
    {"tty", "tty", 0},
    {"t", "tty", 0},
    {"user", "user", 1},
    {"u", "user", 1},
    {"additional-gids", "additional-gids", 1},
    {"g", "additional-gids", 1},
    {"process", "process", 1},
    {"p", "process", 1},
    {"detach", "detach", 0},
    {"d", "detach", 0},
    {"pid-file", "pid-file", 1},
    {"process-label", "process-label", 1},
    {"apparmor", "apparmor", 1},
    {"no-new-privs", "no-new-privs", 0},
    {"cap", "cap", 1},
    {"c", "cap", 1},
    {"preserve-fds", "preserve-fds", 1},
    {"cgroup", "cgroup", 1},
    {"ignore-paused", "ignore-paused", 0},
    {"no-subreaper", "no-subreaper", 0},
    {0, 0, 0},
};

static const struct runc_flag RUNC_START_FLAGS[] = {
    {0, 0, 0},
};

static const struct runc_flag RUNC_KILL_FLAGS[] = {
    {"all", "all", 0},
    {"a", "all", 0},
    {0, 0, 0},
};

static const struct runc_flag RUNC_DELETE_FLAGS[] = {
    {"force", "force", 0},
    {"f", "force", 0},
    {0, 0, 0},
};

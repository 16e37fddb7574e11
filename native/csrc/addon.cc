// sysbox_native: the Node-API addon behind @sysbox/native's realKernel().
//
// Each export maps to one syscall (or one named, short sequence). Failures are
// thrown as a JS Error carrying `errno`, `syscall` and, where useful, `path`;
// src/real.ts turns that into a KernelError. Nothing here aborts the process.
// Calls that can block (receiving fds, seccomp notifications) run on the libuv
// loop through uv_poll and only touch the fd once the kernel says it is ready.

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <linux/nsfs.h>

#include <napi.h>
#include <uv.h>

#include "addon.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

namespace {

using namespace sysbox_addon;


// ---------------------------------------------------------------- mounts

Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OPT_STR_ARG(source, 0);
  STR_ARG(target, 1);
  OPT_STR_ARG(fstype, 2);
  INT_ARG(flags, 3);
  OPT_STR_ARG(data, 4);
  if (mount(source_null ? nullptr : source.c_str(), target.c_str(), fstype_null ? nullptr : fstype.c_str(),
            static_cast<unsigned long>(flags), data_null ? nullptr : data.c_str()) != 0)
    return ThrowErrno(env, errno, "mount", &target);
  return env.Undefined();
}

Napi::Value Umount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STR_ARG(target, 0);
  INT_ARG(flags, 1);
  if (umount2(target.c_str(), static_cast<int>(flags)) != 0) return ThrowErrno(env, errno, "umount2", &target);
  return env.Undefined();
}

Napi::Value OpenTree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(dirfd, 0);
  STR_ARG(path, 1);
  INT_ARG(flags, 2);
  int fd = open_tree(static_cast<int>(dirfd), path.c_str(), static_cast<unsigned>(flags) | OPEN_TREE_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open_tree", &path);
  return Napi::Number::New(env, fd);
}

Napi::Value MoveMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fromDirfd, 0);
  STR_ARG(fromPath, 1);
  INT_ARG(toDirfd, 2);
  STR_ARG(toPath, 3);
  INT_ARG(flags, 4);
  if (move_mount(static_cast<int>(fromDirfd), fromPath.c_str(), static_cast<int>(toDirfd), toPath.c_str(),
                 static_cast<unsigned>(flags)) != 0)
    return ThrowErrno(env, errno, "move_mount", &toPath);
  return env.Undefined();
}

// mountSetattr(dirfd, path, atFlags, attrSet, attrClr, propagation, usernsFd)
Napi::Value MountSetattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(dirfd, 0);
  STR_ARG(path, 1);
  INT_ARG(atFlags, 2);
  INT_ARG(attrSet, 3);
  INT_ARG(attrClr, 4);
  INT_ARG(propagation, 5);
  INT_ARG(usernsFd, 6);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = static_cast<uint64_t>(attrSet);
  attr.attr_clr = static_cast<uint64_t>(attrClr);
  attr.propagation = static_cast<uint64_t>(propagation);
  attr.userns_fd = static_cast<uint64_t>(usernsFd < 0 ? 0 : usernsFd);
  if (mount_setattr(static_cast<int>(dirfd), path.c_str(), static_cast<unsigned>(atFlags), &attr, sizeof attr) != 0)
    return ThrowErrno(env, errno, "mount_setattr", &path);
  return env.Undefined();
}

Napi::Value Fsopen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STR_ARG(fsname, 0);
  INT_ARG(flags, 1);
  int fd = fsopen(fsname.c_str(), static_cast<unsigned>(flags) | FSOPEN_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "fsopen", &fsname);
  return Napi::Number::New(env, fd);
}

// fsconfig(fd, cmd, key|null, value: string|number|null, aux)
Napi::Value Fsconfig(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  INT_ARG(cmd, 1);
  OPT_STR_ARG(key, 2);
  INT_ARG(aux, 4);
  std::string sval;
  const void* value = nullptr;
  int64_t auxv = aux;
  if (info.Length() > 3 && info[3].IsString()) {
    sval = info[3].As<Napi::String>().Utf8Value();
    value = sval.c_str();
  } else if (info.Length() > 3 && info[3].IsNumber()) {
    // FSCONFIG_SET_FD passes the fd in aux.
    auxv = info[3].As<Napi::Number>().Int64Value();
  }
  if (fsconfig(static_cast<int>(fd), static_cast<unsigned>(cmd), key_null ? nullptr : key.c_str(), value,
               static_cast<int>(auxv)) != 0) {
    std::string what = key_null ? std::string("cmd ") + std::to_string(cmd) : key;
    return ThrowErrno(env, errno, "fsconfig", &what);
  }
  return env.Undefined();
}

Napi::Value Fsmount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  INT_ARG(flags, 1);
  INT_ARG(attrFlags, 2);
  int mfd = fsmount(static_cast<int>(fd), static_cast<unsigned>(flags) | FSMOUNT_CLOEXEC,
                    static_cast<unsigned>(attrFlags));
  if (mfd < 0) return ThrowErrno(env, errno, "fsmount");
  return Napi::Number::New(env, mfd);
}

// ---------------------------------------------------------------- user namespaces

bool WriteFile(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = write(fd, content.data(), content.size());
  int saved = errno;
  close(fd);
  errno = saved;
  return n == static_cast<ssize_t>(content.size());
}

// createUserns(uidMapText, gidMapText) -> fd of a new user namespace.
// A child cloned straight into a new user namespace (CLONE_NEWUSER) holds it while this thread writes its
// maps and opens /proc/<child>/ns/user; then the child is killed. The child shares this process's memory
// (CLONE_VM: no page tables copied, unlike fork() of a daemon's large heap, ~1 ms) and runs on its own small
// stack with every signal blocked, sleeping in pause() until SIGKILL: it touches nothing else.
// clone(2) of fn on a small stack of its own, with every signal blocked in this thread meanwhile (the child
// inherits the mask: no handler of ours runs in a child that shares our memory). Returns the pid, or -1 with
// errno. The stack is freed on return: only for children that sleep on it until killed or are CLONE_VFORK.
static const size_t kCloneStackSize = 64 * 1024;

static pid_t CloneOnOwnStack(int (*fn)(void*), int flags, void* arg, int* pidfd, void** stackOut) {
  const size_t stackSize = kCloneStackSize;
  void* stack = mmap(nullptr, stackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(fn, static_cast<char*>(stack) + stackSize, flags, arg, pidfd);
  int e = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (stackOut != nullptr && pid >= 0) {
    *stackOut = stack;
  } else {
    munmap(stack, stackSize);
  }
  errno = e;
  return pid;
}

static void FreeCloneStack(void* stack) { munmap(stack, kCloneStackSize); }

static int UsernsHolder(void*) {
  for (;;) pause();
  return 0;
}

Napi::Value CreateUserns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STR_ARG(uidMap, 0);
  STR_ARG(gidMap, 1);
  // no exit signal: libuv's SIGCHLD handling never sees it; reaped below with __WALL. The child sleeps on its
  // stack until killed: the stack is freed after that.
  void* stack = nullptr;
  pid_t pid = CloneOnOwnStack(UsernsHolder, CLONE_NEWUSER | CLONE_VM, nullptr, nullptr, &stack);
  if (pid < 0) return ThrowErrno(env, errno, "clone");
  int err = 0;
  const char* what = nullptr;
  std::string where;
  std::string base = "/proc/" + std::to_string(pid) + "/";
  int fd = -1;
  if (!WriteFile(base + "uid_map", uidMap)) {
    err = errno, what = "write", where = base + "uid_map";
  } else if (!WriteFile(base + "gid_map", gidMap)) {
    err = errno, what = "write", where = base + "gid_map";
  } else {
    fd = open((base + "ns/user").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) err = errno, what = "open", where = base + "ns/user";
  }
  kill(pid, SIGKILL);
  int st;
  while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR) {
  }
  FreeCloneStack(stack);
  if (fd < 0) return ThrowErrno(env, err, what, where.empty() ? nullptr : &where);
  return Napi::Number::New(env, fd);
}

// overlayInUserns(usernsFd, lowerdir, upperdir|null, workdir|null, options: string[]) -> detached mount fd.
// An overlay made by the root of the user namespace usernsFd (userxattr; its creator's credentials are that root's),
// as sysbox-nsenter's `overlay` makes it, without a program to start: a child cloned with this process's memory and
// fd table (CLONE_VM | CLONE_FILES | CLONE_VFORK: this thread waits ~0.1 ms, where starting sysbox-nsenter took ~1 ms
// of every create) joins the namespace, unshares a mount namespace and creates the overlay; its mount fd is ours.
// The child makes raw system calls only (glibc's set*id would signal this process's threads) and writes nothing but
// OverlayJob.
// An fsconfig option: a string value, or a flag (value nullptr).
struct OverlayOption {
  std::string key;
  std::string value;
  bool flag;
};

struct OverlayJob {
  int usernsFd;
  const char* lower;
  const char* upper;  // nullptr: no upper layer
  const char* work;
  const std::vector<OverlayOption>* options;
  int mountFd;
  int err;
  const char* step;
  const char* key;
};

static long FsconfStr(int fd, const char* key, const char* value) {
  return syscall(SYS_fsconfig, fd, value ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, key, value, 0);
}

static int OverlayChild(void* arg) {
  OverlayJob* j = static_cast<OverlayJob*>(arg);
  auto fail = [j](const char* step, const char* key) {
    j->err = errno;
    j->step = step;
    j->key = key;
    return 1;
  };
  if (syscall(SYS_setns, j->usernsFd, CLONE_NEWUSER) != 0) return fail("setns user", nullptr);
  if (syscall(SYS_unshare, CLONE_NEWNS) != 0) return fail("unshare mount", nullptr);
  if (syscall(SYS_setgroups, 0, nullptr) != 0 && errno != EPERM) return fail("setgroups", nullptr);
  if (syscall(SYS_setresgid, 0, 0, 0) != 0) return fail("setresgid 0", nullptr);
  if (syscall(SYS_setresuid, 0, 0, 0) != 0) return fail("setresuid 0", nullptr);
  int fs = static_cast<int>(syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC));
  if (fs < 0) return fail("fsopen", "overlay");
  int rc = 0;
  if (FsconfStr(fs, "source", "overlay") != 0) rc = fail("fsconfig", "source");
  else if (FsconfStr(fs, "userxattr", nullptr) != 0) rc = fail("fsconfig", "userxattr");
  else if (FsconfStr(fs, "lowerdir", j->lower) != 0) rc = fail("fsconfig", "lowerdir");
  else if (j->upper && FsconfStr(fs, "upperdir", j->upper) != 0) rc = fail("fsconfig", "upperdir");
  else if (j->upper && FsconfStr(fs, "workdir", j->work) != 0) rc = fail("fsconfig", "workdir");
  for (size_t i = 0; rc == 0 && i < j->options->size(); i++) {
    const OverlayOption& o = (*j->options)[i];
    if (FsconfStr(fs, o.key.c_str(), o.flag ? nullptr : o.value.c_str()) != 0) rc = fail("fsconfig", o.key.c_str());
  }
  if (rc == 0 && syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) rc = fail("fsconfig create", "overlay");
  if (rc == 0) {
    int m = static_cast<int>(syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0));
    if (m < 0) rc = fail("fsmount", "overlay");
    else j->mountFd = m;
  }
  syscall(SYS_close, fs);
  return rc;
}

Napi::Value OverlayInUserns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(usernsFd, 0);
  STR_ARG(lower, 1);
  OPT_STR_ARG(upper, 2);
  OPT_STR_ARG(work, 3);
  if (upper_null != work_null) return ThrowType(env, "overlayInUserns: upperdir and workdir go together");
  std::vector<OverlayOption> options;  // "key" (a flag) or "key=value"
  if (info.Length() > 4 && info[4].IsArray()) {
    Napi::Array a = info[4].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      std::string o = a.Get(i).As<Napi::String>().Utf8Value();
      size_t eq = o.find('=');
      if (eq == std::string::npos) options.push_back({o, std::string(), true});
      else options.push_back({o.substr(0, eq), o.substr(eq + 1), false});
    }
  }
  OverlayJob job{static_cast<int>(usernsFd), lower.c_str(), upper_null ? nullptr : upper.c_str(), work_null ? nullptr : work.c_str(),
                 &options, -1, 0, nullptr, nullptr};
  // no exit signal (reaped below with __WALL); CLONE_VFORK: returns once the child has exited, its stack then unused
  pid_t pid = CloneOnOwnStack(OverlayChild, CLONE_VM | CLONE_FILES | CLONE_VFORK, &job, nullptr, nullptr);
  if (pid < 0) return ThrowErrno(env, errno, "clone");
  int st = 0;
  while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR) {
  }
  if (job.mountFd >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) return Napi::Number::New(env, job.mountFd);
  if (job.mountFd >= 0) close(job.mountFd);
  if (job.step == nullptr) return ThrowErrno(env, EIO, "overlay child", nullptr);
  std::string what = job.key ? std::string(job.key) : std::string();
  return ThrowErrno(env, job.err, job.step, job.key ? &what : nullptr);
}

// ---------------------------------------------------------------- fds, pidfds

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STR_ARG(path, 0);
  INT_ARG(flags, 1);
  INT_ARG(mode, 2);
  int fd = open(path.c_str(), static_cast<int>(flags) | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) return ThrowErrno(env, errno, "open", &path);
  return Napi::Number::New(env, fd);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  if (close(static_cast<int>(fd)) != 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(type, 0);
  int sv[2];
  if (socketpair(AF_UNIX, static_cast<int>(type) | SOCK_CLOEXEC, 0, sv) != 0) return ThrowErrno(env, errno, "socketpair");
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, sv[0]));
  a.Set(1u, Napi::Number::New(env, sv[1]));
  return a;
}

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(pid, 0);
  INT_ARG(flags, 1);
  long fd = syscall(SYS_pidfd_open, static_cast<pid_t>(pid), static_cast<unsigned>(flags));
  if (fd < 0) return ThrowErrno(env, errno, "pidfd_open");
  // pidfds are O_CLOEXEC by default.
  return Napi::Number::New(env, static_cast<double>(fd));
}

Napi::Value PidfdGetfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(pidfd, 0);
  INT_ARG(targetFd, 1);
  long fd = syscall(SYS_pidfd_getfd, static_cast<int>(pidfd), static_cast<int>(targetFd), 0u);
  if (fd < 0) return ThrowErrno(env, errno, "pidfd_getfd");
  return Napi::Number::New(env, static_cast<double>(fd));
}

// sendFds(sockFd, fds[], data: Buffer)
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(sock, 0);
  if (info.Length() < 3 || !info[1].IsArray() || !info[2].IsBuffer())
    return ThrowType(env, "sendFds(sockFd, fds: number[], data: Buffer)");
  Napi::Array arr = info[1].As<Napi::Array>();
  Napi::Buffer<char> data = info[2].As<Napi::Buffer<char>>();
  std::vector<int> fds;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsNumber()) return ThrowType(env, "fds must be numbers");
    fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  char dummy = 0;
  struct iovec iov;
  iov.iov_base = data.Length() > 0 ? data.Data() : &dummy;
  iov.iov_len = data.Length() > 0 ? data.Length() : 1;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> cbuf;
  if (!fds.empty()) {
    cbuf.assign(CMSG_SPACE(sizeof(int) * fds.size()), 0);
    msg.msg_control = cbuf.data();
    msg.msg_controllen = cbuf.size();
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = sendmsg(static_cast<int>(sock), &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "sendmsg");
  return env.Undefined();
}

// recvmsg with SCM_RIGHTS. Returns 0 and fills out on success, else errno.
int RecvFdsNow(int sock, size_t maxFds, size_t maxData, std::vector<int>* fds, std::vector<char>* data) {
  data->assign(maxData > 0 ? maxData : 1, 0);
  struct iovec iov = {data->data(), data->size()};
  std::vector<char> cbuf(CMSG_SPACE(sizeof(int) * (maxFds > 0 ? maxFds : 1)), 0);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf.data();
  msg.msg_controllen = cbuf.size();
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds->push_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    for (int fd : *fds) close(fd);
    fds->clear();
    return EMSGSIZE;
  }
  data->resize(static_cast<size_t>(n));
  return 0;
}

struct RecvReq {
  uv_poll_t poll;
  napi_env env;
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference resource;
  napi_async_context ctx = nullptr;
  int sock;
  bool accepting = false;  // accept4() instead of recvmsg()
  bool exiting = false;    // sock is a pidfd: waitid() the child's exit status
  size_t maxFds, maxData;
  RecvReq(napi_env e) : env(e), deferred(Napi::Promise::Deferred::New(e)) {
    Napi::Object res = Napi::Object::New(e);
    resource = Napi::Persistent(res);
    napi_async_init(e, res, Napi::String::New(e, "sysbox:recvFds"), &ctx);
  }
  ~RecvReq() {
    if (ctx != nullptr) napi_async_destroy(env, ctx);
  }
};

void OnRecvClosed(uv_handle_t* h) { delete static_cast<RecvReq*>(h->data); }

void OnRecvReady(uv_poll_t* h, int status, int /*events*/) {
  RecvReq* r = static_cast<RecvReq*>(h->data);
  Napi::Env env(r->env);
  Napi::HandleScope scope(env);
  std::vector<int> fds;
  std::vector<char> data;
  int accepted = -1;
  int err;
  int exitStatus = 0;
  if (status < 0) {
    err = -status;
  } else if (r->exiting) {
    siginfo_t si{};
    int rc;
    do rc = waitid(P_PIDFD, static_cast<id_t>(r->sock), &si, WEXITED | WNOHANG | __WALL);
    while (rc < 0 && errno == EINTR);
    err = rc < 0 ? errno : (si.si_pid == 0 ? EAGAIN : 0);
    exitStatus = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
  } else if (r->accepting) {
    do accepted = accept4(r->sock, nullptr, nullptr, SOCK_CLOEXEC);
    while (accepted < 0 && errno == EINTR);
    err = accepted < 0 ? errno : 0;
    if (err == ECONNABORTED) err = EAGAIN;
  } else {
    err = RecvFdsNow(r->sock, r->maxFds, r->maxData, &fds, &data);
  }
  if (err == EAGAIN || err == EWOULDBLOCK) return;  // spurious wake-up: keep waiting
  uv_poll_stop(h);
  // A callback scope, so promise reactions (microtasks) run when we are done, as after any I/O callback.
  napi_callback_scope cbScope = nullptr;
  napi_open_callback_scope(r->env, r->resource.Value(), r->ctx, &cbScope);
  if (r->exiting) close(r->sock);
  if (err != 0) {
    r->deferred.Reject(ErrnoError(env, err, r->exiting ? "waitid" : r->accepting ? "accept4" : "recvmsg", nullptr).Value());
  } else if (r->exiting) {
    r->deferred.Resolve(Napi::Number::New(env, exitStatus));
  } else if (r->accepting) {
    r->deferred.Resolve(Napi::Number::New(env, accepted));
  } else {
    Napi::Object out = Napi::Object::New(env);
    Napi::Array a = Napi::Array::New(env, fds.size());
    for (size_t i = 0; i < fds.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds[i]));
    out.Set("fds", a);
    out.Set("data", Napi::Buffer<char>::Copy(env, data.data(), data.size()));
    r->deferred.Resolve(out);
  }
  if (cbScope != nullptr) napi_close_callback_scope(r->env, cbScope);
  uv_close(reinterpret_cast<uv_handle_t*>(h), OnRecvClosed);
}

// Waits on the loop until sock is readable, then receives (or accepts); settles a promise.
Napi::Value WaitReadable(Napi::Env env, int sock, bool accepting, size_t maxFds, size_t maxData, bool exiting = false) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return ThrowType(env, "no event loop");
  RecvReq* r = new RecvReq(env);
  r->sock = sock;
  r->accepting = accepting;
  r->exiting = exiting;
  r->maxFds = maxFds;
  r->maxData = maxData;
  Napi::Promise p = r->deferred.Promise();
  int rc = uv_poll_init(loop, &r->poll, r->sock);
  if (rc != 0) {
    r->deferred.Reject(ErrnoError(env, -rc, "uv_poll_init", nullptr).Value());
    delete r;
    return p;
  }
  r->poll.data = r;
  rc = uv_poll_start(&r->poll, UV_READABLE, OnRecvReady);
  if (rc != 0) {
    r->deferred.Reject(ErrnoError(env, -rc, "uv_poll_start", nullptr).Value());
    uv_close(reinterpret_cast<uv_handle_t*>(&r->poll), OnRecvClosed);
  }
  return p;
}

// spawnWait(path, argv, fds) -> Promise<exit status (128 + signal if killed)>: a vfork-style child
// (CLONE_VM|CLONE_VFORK: no page tables copied, unlike the fork() behind child_process.spawn in a large Node
// process) that sets child fd i = fds[i] (others close on exec as O_CLOEXEC fds do), resets every signal to
// its default and unblocks all, as child_process.spawn does, and execs path with this process's environment.
// The exit is awaited on the loop through a pidfd (CLONE_PIDFD; libuv never sees the child).
struct SpawnArgs {
  const char* path;
  char* const* argv;
  const int* fds;
  int nfds;
  int err;  // errno of a failed exec (the child shares our memory)
};

struct KernelSigaction {  // the kernel's struct for rt_sigaction(2) on x86-64
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

static int SpawnChild(void* p) {
  SpawnArgs* a = static_cast<SpawnArgs*>(p);
  // Raw syscalls only: this runs on our memory while the calling thread waits (the others keep running).
  KernelSigaction dfl{};  // SIG_DFL
  for (int sig = 1; sig <= 64; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));
  for (int i = 0; i < a->nfds; i++) {
    if (a->fds[i] == i) {
      if (syscall(SYS_fcntl, i, F_SETFD, 0) != 0) goto fail;
    } else if (syscall(SYS_dup2, a->fds[i], i) < 0) {
      goto fail;
    }
  }
  {
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none);
  }
  syscall(SYS_execve, a->path, a->argv, ::environ);
fail:
  a->err = errno;
  syscall(SYS_exit, 127);
  return 127;
}

Napi::Value SpawnWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STR_ARG(path, 0);
  if (info.Length() < 3 || !info[1].IsArray() || !info[2].IsArray()) return ThrowType(env, "spawnWait(path, argv[], fds[])");
  Napi::Array av = info[1].As<Napi::Array>();
  Napi::Array fa = info[2].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < av.Length(); i++) args.push_back(av.Get(i).As<Napi::String>().Utf8Value());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<int> fds;
  for (uint32_t i = 0; i < fa.Length(); i++) fds.push_back(fa.Get(i).As<Napi::Number>().Int32Value());
  // dup2s run in order: a source below i must not be a child fd an earlier dup2 replaced
  for (size_t i = 0; i < fds.size(); i++) {
    int src = fds[i];
    if (src < 0) return ThrowType(env, "spawnWait: negative fd");
    if (static_cast<size_t>(src) < i && fds[static_cast<size_t>(src)] != src)
      return ThrowType(env, "spawnWait: fd map reads a child fd already replaced");
  }
  SpawnArgs a{path.c_str(), argv.data(), fds.data(), static_cast<int>(fds.size()), 0};
  int pidfd = -1;
  // no exit signal: libuv's SIGCHLD handling never sees it; reaped by waitid(P_PIDFD, __WALL). CLONE_VFORK:
  // the child has exec'd or exited when clone returns, so its stack is freed at once.
  pid_t pid = CloneOnOwnStack(SpawnChild, CLONE_VM | CLONE_VFORK | CLONE_PIDFD, &a, &pidfd, nullptr);
  if (pid < 0) return ThrowErrno(env, errno, "clone");
  if (a.err != 0) {
    siginfo_t si{};
    while (waitid(P_PIDFD, static_cast<id_t>(pidfd), &si, WEXITED | __WALL) < 0 && errno == EINTR) {
    }
    close(pidfd);
    return ThrowErrno(env, a.err, "execve", &path);
  }
  fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  return WaitReadable(env, pidfd, false, 0, 0, true);
}

// setChildSubreaper(): prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants (e.g. a container's init once
// the engine's `create` that forked it has exited) become this process's children.
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return ThrowErrno(env, errno, "prctl");
  return env.Undefined();
}

// pidfdWait(pidfd) -> Promise<exit status (128 + signal if killed)>: waits on the loop for the exit of a child of
// this process through its pidfd, reaps it (waitid P_PIDFD) and closes the pidfd (it is consumed).
Napi::Value PidfdWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(pidfd, 0);
  return WaitReadable(env, static_cast<int>(pidfd), false, 0, 0, true);
}

// recvFds(sockFd, maxFds, maxData) -> Promise<{fds, data}>; waits on the loop.
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(sock, 0);
  INT_ARG(maxFds, 1);
  INT_ARG(maxData, 2);
  if (maxFds < 0 || maxFds > 253 || maxData < 0 || maxData > (1 << 20)) return ThrowType(env, "maxFds/maxData out of range");
  return WaitReadable(env, static_cast<int>(sock), false, static_cast<size_t>(maxFds), static_cast<size_t>(maxData));
}

// accept(listenFd) -> Promise<fd>; waits on the loop.
Napi::Value Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(sock, 0);
  return WaitReadable(env, static_cast<int>(sock), true, 0, 0);
}

bool UnixAddr(const std::string& path, struct sockaddr_un* a) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (path.size() >= sizeof a->sun_path) return false;
  memcpy(a->sun_path, path.data(), path.size());
  return true;
}

// listenUnix(path, backlog) -> fd (SOCK_STREAM, non-blocking, close-on-exec); the path must not exist.
Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STR_ARG(path, 0);
  INT_ARG(backlog, 1);
  struct sockaddr_un a;
  if (!UnixAddr(path, &a)) return ThrowErrno(env, ENAMETOOLONG, "bind", &path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  const char* step = nullptr;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a) != 0) step = "bind";
  else if (listen(fd, static_cast<int>(backlog)) != 0) step = "listen";
  if (step != nullptr) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, step, &path);
  }
  return Napi::Number::New(env, fd);
}

// connectUnix(path) -> fd (SOCK_STREAM, close-on-exec). A unix connect does not wait for the peer to accept.
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STR_ARG(path, 0);
  struct sockaddr_un a;
  if (!UnixAddr(path, &a)) return ThrowErrno(env, ENAMETOOLONG, "connect", &path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  int rc;
  do rc = connect(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "connect", &path);
  }
  return Napi::Number::New(env, fd);
}

// ---------------------------------------------------------------- statx, process memory

Napi::Object Ts(Napi::Env env, const struct statx_timestamp& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("sec", Napi::Number::New(env, static_cast<double>(t.tv_sec)));
  o.Set("nsec", Napi::Number::New(env, t.tv_nsec));
  return o;
}

Napi::Value Statx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(dirfd, 0);
  STR_ARG(path, 1);
  INT_ARG(flags, 2);
  INT_ARG(mask, 3);
  struct statx st;
  memset(&st, 0, sizeof st);
  if (statx(static_cast<int>(dirfd), path.c_str(), static_cast<int>(flags), static_cast<unsigned>(mask), &st) != 0)
    return ThrowErrno(env, errno, "statx", &path);
  Napi::Object o = Napi::Object::New(env);
  o.Set("mask", Napi::Number::New(env, st.stx_mask));
  o.Set("mode", Napi::Number::New(env, st.stx_mode));
  o.Set("uid", Napi::Number::New(env, st.stx_uid));
  o.Set("gid", Napi::Number::New(env, st.stx_gid));
  o.Set("nlink", Napi::Number::New(env, st.stx_nlink));
  o.Set("ino", Napi::BigInt::New(env, static_cast<uint64_t>(st.stx_ino)));
  o.Set("size", Napi::BigInt::New(env, static_cast<uint64_t>(st.stx_size)));
  o.Set("devMajor", Napi::Number::New(env, st.stx_dev_major));
  o.Set("devMinor", Napi::Number::New(env, st.stx_dev_minor));
  o.Set("rdevMajor", Napi::Number::New(env, st.stx_rdev_major));
  o.Set("rdevMinor", Napi::Number::New(env, st.stx_rdev_minor));
  uint64_t mntId = 0;
  if (st.stx_mask & STATX_MNT_ID) mntId = st.stx_mnt_id;
  o.Set("mntId", Napi::BigInt::New(env, mntId));
  o.Set("attributes", Napi::BigInt::New(env, static_cast<uint64_t>(st.stx_attributes)));
  o.Set("atime", Ts(env, st.stx_atime));
  o.Set("btime", Ts(env, st.stx_btime));
  o.Set("ctime", Ts(env, st.stx_ctime));
  o.Set("mtime", Ts(env, st.stx_mtime));
  return o;
}

// ---------------------------------------------------------------- namespaces, device nodes

// namespaceInfo(path) -> { nstype (CLONE_NEW*), ino, ownerIno }: the namespace at path (NS_GET_NSTYPE, fstat) and the
// inode of its owning user namespace (NS_GET_USERNS; for a user namespace, its parent), or -1 when the owner is out of
// the caller's reach (EPERM: the initial user namespace has no owner).
Napi::Value NamespaceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STR_ARG(path, 0);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open", &path);
  int nstype = ioctl(fd, NS_GET_NSTYPE);
  if (nstype < 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "ioctl(NS_GET_NSTYPE)", &path);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "fstat", &path);
  }
  int64_t ownerIno = -1;
  int owner = ioctl(fd, NS_GET_USERNS);
  int e = errno;
  close(fd);
  if (owner >= 0) {
    struct stat ost;
    int r = fstat(owner, &ost);
    e = errno;
    close(owner);
    if (r != 0) return ThrowErrno(env, e, "fstat", &path);
    ownerIno = static_cast<int64_t>(ost.st_ino);
  } else if (e != EPERM) {
    return ThrowErrno(env, e, "ioctl(NS_GET_USERNS)", &path);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("nstype", Napi::Number::New(env, nstype));
  o.Set("ino", Napi::BigInt::New(env, static_cast<uint64_t>(st.st_ino)));
  o.Set("ownerIno", Napi::BigInt::New(env, ownerIno));
  return o;
}

// mknod(path, mode, major, minor): mode holds the file type (S_IFCHR, S_IFBLK, S_IFIFO) and the permissions.
Napi::Value Mknod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  STR_ARG(path, 0);
  INT_ARG(mode, 1);
  INT_ARG(major, 2);
  INT_ARG(minor, 3);
  if (mknod(path.c_str(), static_cast<mode_t>(mode), makedev(static_cast<unsigned>(major), static_cast<unsigned>(minor))) != 0)
    return ThrowErrno(env, errno, "mknod", &path);
  return env.Undefined();
}

Napi::Value ProcessVmReadv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(pid, 0);
  uint64_t addr;
  if (!ArgU64(info, 1, &addr)) return env.Undefined();
  INT_ARG(length, 2);
  if (length < 0 || length > (64 << 20)) return ThrowType(env, "length out of range");
  Napi::Buffer<char> buf = Napi::Buffer<char>::New(env, static_cast<size_t>(length));
  struct iovec local = {buf.Data(), static_cast<size_t>(length)};
  struct iovec remote = {reinterpret_cast<void*>(addr), static_cast<size_t>(length)};
  ssize_t n = process_vm_readv(static_cast<pid_t>(pid), &local, 1, &remote, 1, 0);
  if (n < 0) return ThrowErrno(env, errno, "process_vm_readv");
  if (n < length) return Napi::Buffer<char>::Copy(env, buf.Data(), static_cast<size_t>(n));
  return buf;
}

// peerCred(sock) -> { pid, uid, gid } of the peer of a connected AF_UNIX socket (SO_PEERCRED)
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  struct ucred cr;
  socklen_t len = sizeof cr;
  if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) return ThrowErrno(env, errno, "getsockopt(SO_PEERCRED)");
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, cr.pid));
  o.Set("uid", Napi::Number::New(env, cr.uid));
  o.Set("gid", Napi::Number::New(env, cr.gid));
  return o;
}

// ---------------------------------------------------------------- resolving a path in the libuv pool

// resolveStat(dirfd, path, openFlags, resolve) -> Promise<{mntId, devMajor, devMinor, mode, attributes}>:
// openat2(dirfd, path, O_PATH|O_CLOEXEC|openFlags, resolve) + statx(AT_EMPTY_PATH, STATX_MNT_ID) + close, in the
// libuv pool: the path may cross this process's own FUSE mounts (sysbox-fs resolving a container's path), whose
// requests the loop thread must stay free to answer.
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif
struct OpenHowCompat {
  uint64_t flags, mode, resolve;
};

class ResolveStatWorker : public Napi::AsyncWorker {
 public:
  ResolveStatWorker(Napi::Env env, int dirfd, std::string path, int oflags, uint64_t resolve)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), dirfd_(dirfd), path_(std::move(path)),
        oflags_(oflags), resolve_(resolve) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    OpenHowCompat how = {static_cast<uint64_t>(O_PATH | O_CLOEXEC | oflags_), 0, resolve_};
    long fd = syscall(SYS_openat2, dirfd_, path_.c_str(), &how, sizeof how);
    if (fd < 0) {
      err_ = errno;
      step_ = "openat2";
      return;
    }
    memset(&st_, 0, sizeof st_);
    // AT_STATX_DONT_SYNC: FUSE answers from its cache (mount id, dev and attributes come from the VFS anyway)
    if (statx(static_cast<int>(fd), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_MNT_ID, &st_) != 0) {
      err_ = errno;
      step_ = "statx";
    }
    close(static_cast<int>(fd));
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(env, err_, step_, &path_).Value());
      return;
    }
    deferred_.Resolve(Result(env));
  }
  Napi::Object Result(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("mntId", Napi::BigInt::New(env, (st_.stx_mask & STATX_MNT_ID) ? static_cast<uint64_t>(st_.stx_mnt_id) : 0));
    o.Set("devMajor", Napi::Number::New(env, st_.stx_dev_major));
    o.Set("devMinor", Napi::Number::New(env, st_.stx_dev_minor));
    o.Set("mode", Napi::Number::New(env, st_.stx_mode));
    o.Set("attributes", Napi::BigInt::New(env, static_cast<uint64_t>(st_.stx_attributes)));
    return o;
  }
  int err() const { return err_; }
  const char* step() const { return step_; }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int dirfd_;
  std::string path_;
  int oflags_;
  uint64_t resolve_;
  struct statx st_;
  int err_ = 0;
  const char* step_ = "";
};

// resolveStatCached(dirfd, path, openFlags, resolve): the same on the loop thread with RESOLVE_CACHED, which fails
// (EAGAIN) rather than wait for anything — a FUSE lookup included — so it never blocks on our own FUSE mounts.
#ifndef RESOLVE_CACHED
#define RESOLVE_CACHED 0x20
#endif
Napi::Value ResolveStatCached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(dirfd, 0);
  STR_ARG(path, 1);
  INT_ARG(oflags, 2);
  INT_ARG(resolve, 3);
  ResolveStatWorker w(env, static_cast<int>(dirfd), path, static_cast<int>(oflags), static_cast<uint64_t>(resolve) | RESOLVE_CACHED);
  w.Execute();
  if (w.err() != 0) return ThrowErrno(env, w.err(), w.step(), &path);
  return w.Result(env);
}

Napi::Value ResolveStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(dirfd, 0);
  STR_ARG(path, 1);
  INT_ARG(oflags, 2);
  INT_ARG(resolve, 3);
  auto* w = new ResolveStatWorker(env, static_cast<int>(dirfd), path, static_cast<int>(oflags), static_cast<uint64_t>(resolve));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// ---------------------------------------------------------------- seccomp user notification

struct Watcher;

// What the JS handle's close() points at. The watcher and the JS handle die independently
// (uv_close completion vs. garbage collection), so each clears the other's pointer to it.
struct WatcherRef {
  Watcher* w = nullptr;
};

struct Watcher {
  uv_poll_t poll;
  napi_env env;
  int fd;
  bool closed = false;
  uint64_t spinNs = 0;
  Napi::FunctionReference onNotify, onClose;
  napi_async_context ctx = nullptr;
  WatcherRef* ref = nullptr;
};

void OnWatcherClosed(uv_handle_t* h) {
  Watcher* w = static_cast<Watcher*>(h->data);
  if (w->ref != nullptr) w->ref->w = nullptr;
  if (w->ctx != nullptr) napi_async_destroy(w->env, w->ctx);
  delete w;
}

void FinalizeWatcherRef(Napi::Env /*env*/, WatcherRef* ref) {
  if (ref->w != nullptr) ref->w->ref = nullptr;  // still watching: it keeps running until hang-up
  delete ref;
}

void CallJs(Watcher* w, Napi::FunctionReference& fn, const std::vector<napi_value>& args) {
  Napi::Env env(w->env);
  napi_value result;
  napi_status s = napi_make_callback(w->env, w->ctx, env.Global(), fn.Value(), args.size(), args.data(), &result);
  if (s != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(w->env, &pending);
    if (pending) {
      napi_value ex;
      napi_get_and_clear_last_exception(w->env, &ex);
      napi_fatal_exception(w->env, ex);  // -> process 'uncaughtException', like any callback
    }
  }
}

// Stops watching; calls onClose once (when notify is true).
void StopWatcher(Watcher* w, bool notify) {
  if (w->closed) return;
  w->closed = true;
  uv_poll_stop(&w->poll);
  if (notify && !w->onClose.IsEmpty()) CallJs(w, w->onClose, {});
  w->onNotify.Reset();
  w->onClose.Reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnWatcherClosed);
}

void OnSeccompReady(uv_poll_t* h, int status, int /*events*/) {
  Watcher* w = static_cast<Watcher*>(h->data);
  if (w->closed) return;
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  if (status < 0) return StopWatcher(w, true);
  // Drain what is pending; RECV only when poll says a notification waits (it would block otherwise). After one
  // was handled (and answered, when JS answers within its callback), the caller's next call usually follows within
  // microseconds (a mount's umount): keep looking for up to spinNs before going back to the loop's poll, which
  // saves a sleep and wake-up of this thread per call.
  uint64_t deadline = 0;
  int handled = 0;
  for (int round = 0; round < 4096 && handled < 64 && !w->closed; round++) {
    struct pollfd p = {w->fd, POLLIN, 0};
    int rc = poll(&p, 1, 0);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return;
    if (rc == 0) {
      if (w->spinNs == 0 || handled == 0) return;
      uint64_t now = uv_hrtime();
      if (deadline == 0) deadline = now + w->spinNs;
      if (now >= deadline) return;
      continue;
    }
    deadline = 0;
    if (!(p.revents & POLLIN)) {
      if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) StopWatcher(w, true);
      return;
    }
    struct seccomp_notif n;
    memset(&n, 0, sizeof n);
    if (ioctl(w->fd, SECCOMP_IOCTL_NOTIF_RECV, &n) != 0) {
      if (errno == EINTR || errno == ENOENT) continue;  // ENOENT: the caller died meanwhile
      return StopWatcher(w, true);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", Napi::BigInt::New(env, static_cast<uint64_t>(n.id)));
    o.Set("pid", Napi::Number::New(env, n.pid));
    o.Set("syscall", Napi::Number::New(env, n.data.nr));
    o.Set("arch", Napi::Number::New(env, n.data.arch));
    o.Set("instructionPointer", Napi::BigInt::New(env, static_cast<uint64_t>(n.data.instruction_pointer)));
    Napi::Array args = Napi::Array::New(env, 6);
    for (uint32_t i = 0; i < 6; i++) args.Set(i, Napi::BigInt::New(env, static_cast<uint64_t>(n.data.args[i])));
    o.Set("args", args);
    CallJs(w, w->onNotify, {o});
    handled++;
  }
}

Napi::Value WatcherClose(const Napi::CallbackInfo& info) {
  WatcherRef* ref = static_cast<WatcherRef*>(info.Data());
  // w stays allocated until uv_close completes (then ref->w is cleared); `closed` guards a second call.
  if (ref != nullptr && ref->w != nullptr) StopWatcher(ref->w, false);
  return info.Env().Undefined();
}

// seccompWatch(listenerFd, onNotification, onClose[, spinUs]) -> { close() }
Napi::Value SeccompWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  if (info.Length() < 3 || !info[1].IsFunction() || !info[2].IsFunction())
    return ThrowType(env, "seccompWatch(fd, onNotification, onClose)");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return ThrowType(env, "no event loop");
  Watcher* w = new Watcher();
  w->env = env;
  w->fd = static_cast<int>(fd);
  int rc = uv_poll_init(loop, &w->poll, w->fd);
  if (rc != 0) {
    delete w;
    return ThrowErrno(env, -rc, "uv_poll_init");
  }
  w->poll.data = w;
  napi_async_init(env, nullptr, Napi::String::New(env, "sysbox:seccomp-notify"), &w->ctx);
  w->onNotify = Napi::Persistent(info[1].As<Napi::Function>());
  w->onClose = Napi::Persistent(info[2].As<Napi::Function>());
  if (info.Length() > 3 && info[3].IsNumber()) {
    int64_t us = info[3].As<Napi::Number>().Int64Value();
    if (us > 0 && us <= 1000) w->spinNs = static_cast<uint64_t>(us) * 1000;
  }
  rc = uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, OnSeccompReady);
  if (rc != 0) {
    w->closed = true;
    w->onNotify.Reset();
    w->onClose.Reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnWatcherClosed);
    return ThrowErrno(env, -rc, "uv_poll_start");
  }
  WatcherRef* ref = new WatcherRef();
  ref->w = w;
  w->ref = ref;
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("close", Napi::Function::New(env, WatcherClose, "close", ref));
  handle.AddFinalizer(FinalizeWatcherRef, ref);
  return handle;
}

// seccompRespond(fd, id, error, val, flags)
Napi::Value SeccompRespond(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  uint64_t id;
  if (!ArgU64(info, 1, &id)) return env.Undefined();
  INT_ARG(error, 2);
  uint64_t val;
  if (!ArgU64(info, 3, &val)) return env.Undefined();
  INT_ARG(flags, 4);
  struct seccomp_notif_resp r;
  memset(&r, 0, sizeof r);
  r.id = id;
  r.val = static_cast<int64_t>(val);
  r.error = static_cast<int32_t>(error);
  r.flags = static_cast<uint32_t>(flags);
  if (ioctl(static_cast<int>(fd), SECCOMP_IOCTL_NOTIF_SEND, &r) != 0)
    return ThrowErrno(env, errno, "ioctl(SECCOMP_IOCTL_NOTIF_SEND)");
  return env.Undefined();
}

// seccompAddFd(fd, id, srcFd, newFdFlags, setFd(-1 = any), send(0|1)) -> fd number in the target
Napi::Value SeccompAddFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  uint64_t id;
  if (!ArgU64(info, 1, &id)) return env.Undefined();
  INT_ARG(srcFd, 2);
  INT_ARG(newFdFlags, 3);
  INT_ARG(setFd, 4);
  int64_t send = 0;
  if (info.Length() > 5 && !ArgInt(info, 5, &send)) return env.Undefined();
  struct seccomp_notif_addfd a;
  memset(&a, 0, sizeof a);
  a.id = id;
  a.srcfd = static_cast<uint32_t>(srcFd);
  a.newfd_flags = static_cast<uint32_t>(newFdFlags);
  if (setFd >= 0) {
    a.flags = SECCOMP_ADDFD_FLAG_SETFD;
    a.newfd = static_cast<uint32_t>(setFd);
  }
  // SEND: install the fd and answer the notification with its number, atomically (kernel >= 5.14)
  if (send != 0) a.flags |= SECCOMP_ADDFD_FLAG_SEND;
  int rc = ioctl(static_cast<int>(fd), SECCOMP_IOCTL_NOTIF_ADDFD, &a);
  if (rc < 0) return ThrowErrno(env, errno, "ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)");
  return Napi::Number::New(env, rc);
}

Napi::Value SeccompIdValid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  uint64_t id;
  if (!ArgU64(info, 1, &id)) return env.Undefined();
  if (ioctl(static_cast<int>(fd), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0) return Napi::Boolean::New(env, true);
  if (errno == ENOENT) return Napi::Boolean::New(env, false);
  return ThrowErrno(env, errno, "ioctl(SECCOMP_IOCTL_NOTIF_ID_VALID)");
}

// ---------------------------------------------------------------- /dev/fuse request loop

// A FUSE device fd (O_NONBLOCK) watched on the loop. Requests are read into a buffer JS gave (no allocation
// per request: a copy per request left the C heap fragmented after read bursts) and JS is called with the
// length; the buffer's contents are valid only during that synchronous call (the next read overwrites them).
// Answers are written by JS (write(2) on the fd). ENODEV: the file system was unmounted/aborted.
struct FuseWatcher;
struct FuseWatcherRef {
  FuseWatcher* w = nullptr;
};

struct FuseWatcher {
  uv_poll_t poll;
  napi_env env;
  int fd;
  bool closed = false;
  uint64_t spinNs = 0;
  char* data = nullptr;  // the JS buffer's bytes (kept alive by bufRef)
  size_t size = 0;
  Napi::Reference<Napi::Value> bufRef;
  Napi::FunctionReference onRequest, onClose;
  napi_async_context ctx = nullptr;
  FuseWatcherRef* ref = nullptr;
};

void OnFuseWatcherClosed(uv_handle_t* h) {
  FuseWatcher* w = static_cast<FuseWatcher*>(h->data);
  if (w->ref != nullptr) w->ref->w = nullptr;
  if (w->ctx != nullptr) napi_async_destroy(w->env, w->ctx);
  delete w;
}

void FuseCallJs(FuseWatcher* w, Napi::FunctionReference& fn, const std::vector<napi_value>& args) {
  Napi::Env env(w->env);
  napi_value result;
  napi_status s = napi_make_callback(w->env, w->ctx, env.Global(), fn.Value(), args.size(), args.data(), &result);
  if (s != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(w->env, &pending);
    if (pending) {
      napi_value ex;
      napi_get_and_clear_last_exception(w->env, &ex);
      napi_fatal_exception(w->env, ex);
    }
  }
}

void StopFuseWatcher(FuseWatcher* w, bool notify, int err) {
  if (w->closed) return;
  w->closed = true;
  uv_poll_stop(&w->poll);
  if (notify && !w->onClose.IsEmpty()) {
    Napi::Env env(w->env);
    FuseCallJs(w, w->onClose, {Napi::Number::New(env, err)});
  }
  w->onRequest.Reset();
  w->onClose.Reset();
  w->bufRef.Reset();
  w->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnFuseWatcherClosed);
}

void OnFuseReady(uv_poll_t* h, int status, int /*events*/) {
  FuseWatcher* w = static_cast<FuseWatcher*>(h->data);
  if (w->closed) return;
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  if (status < 0) return StopFuseWatcher(w, true, -status);
  // After an answer, a reader's next request (READ after OPEN, ...) usually follows within microseconds: keep
  // reading for up to spinNs before going back to the poll, which saves a sleep and wake-up of this thread per
  // request. Pending requests wake the (level-triggered) poll again anyway.
  uint64_t deadline = 0;
  for (int handled = 0; handled < 64 && !w->closed;) {
    ssize_t n = read(w->fd, w->data, w->size);
    if (n < 0) {
      if (errno == EINTR || errno == ENOENT) continue;  // ENOENT: the request was interrupted meanwhile
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (w->spinNs == 0 || handled == 0) return;
        uint64_t now = uv_hrtime();
        if (deadline == 0) deadline = now + w->spinNs;
        if (now >= deadline) return;
        continue;
      }
      return StopFuseWatcher(w, true, errno);  // ENODEV: unmounted or aborted
    }
    if (n == 0) return StopFuseWatcher(w, true, ENODEV);
    Napi::HandleScope inner(env);
    FuseCallJs(w, w->onRequest, {Napi::Number::New(env, static_cast<double>(n))});
    handled++;
    deadline = 0;
  }
}

Napi::Value FuseWatcherClose(const Napi::CallbackInfo& info) {
  FuseWatcherRef* ref = static_cast<FuseWatcherRef*>(info.Data());
  if (ref != nullptr && ref->w != nullptr) StopFuseWatcher(ref->w, false, 0);
  return info.Env().Undefined();
}

void FinalizeFuseWatcherRef(Napi::Env /*env*/, FuseWatcherRef* ref) {
  if (ref->w != nullptr) ref->w->ref = nullptr;
  delete ref;
}

// fuseWatch(devFuseFd, buf, onRequest(length), onClose(errno), spinUs = 0) -> { close() }
// Each request is read into buf (a Buffer/Uint8Array of 8 KiB..16 MiB, held until close) and onRequest gets
// its length; buf's contents are valid only until onRequest returns. Several watchers may share one buf.
Napi::Value FuseWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  if (info.Length() < 4 || !info[1].IsTypedArray() || !info[2].IsFunction() || !info[3].IsFunction())
    return ThrowType(env, "fuseWatch(fd, buf, onRequest, onClose)");
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) return ThrowType(env, "fuseWatch: buf must be a Uint8Array");
  Napi::Uint8Array u8 = info[1].As<Napi::Uint8Array>();
  size_t bufSize = u8.ByteLength();
  if (bufSize < 8192 || bufSize > (16u << 20)) return ThrowType(env, "buf size out of range");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return ThrowType(env, "no event loop");
  FuseWatcher* w = new FuseWatcher();
  w->env = env;
  w->fd = static_cast<int>(fd);
  w->data = reinterpret_cast<char*>(u8.Data());
  w->size = bufSize;
  w->bufRef = Napi::Persistent(info[1]);
  if (info.Length() > 4 && info[4].IsNumber()) {
    int64_t us = info[4].As<Napi::Number>().Int64Value();
    if (us > 0 && us <= 1000) w->spinNs = static_cast<uint64_t>(us) * 1000;
  }
  int rc = uv_poll_init(loop, &w->poll, w->fd);
  if (rc != 0) {
    delete w;
    return ThrowErrno(env, -rc, "uv_poll_init");
  }
  w->poll.data = w;
  napi_async_init(env, nullptr, Napi::String::New(env, "sysbox:fuse"), &w->ctx);
  w->onRequest = Napi::Persistent(info[2].As<Napi::Function>());
  w->onClose = Napi::Persistent(info[3].As<Napi::Function>());
  rc = uv_poll_start(&w->poll, UV_READABLE, OnFuseReady);
  if (rc != 0) {
    w->closed = true;
    w->onRequest.Reset();
    w->onClose.Reset();
    w->bufRef.Reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnFuseWatcherClosed);
    return ThrowErrno(env, -rc, "uv_poll_start");
  }
  FuseWatcherRef* ref = new FuseWatcherRef();
  ref->w = w;
  w->ref = ref;
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("close", Napi::Function::New(env, FuseWatcherClose, "close", ref));
  handle.AddFinalizer(FinalizeFuseWatcherRef, ref);
  return handle;
}

// mallocTrim() -> bool: glibc's malloc_trim(0): returns free C-heap memory to the kernel, also the free pages
// inside the heap (a burst of requests leaves it fragmented, with few live chunks pinning it).
Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
}

// shutdown(fd, how): a pending recvFds/accept on the socket then completes (EOF / error) before close.
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  INT_ARG(how, 1);
  if (shutdown(static_cast<int>(fd), static_cast<int>(how)) != 0) return ThrowErrno(env, errno, "shutdown");
  return env.Undefined();
}

// writeFd(fd, buf) -> bytes written (one write(2); for /dev/fuse answers)
Napi::Value WriteFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  INT_ARG(fd, 0);
  if (info.Length() < 2 || !info[1].IsBuffer()) return ThrowType(env, "writeFd(fd, buf)");
  Napi::Buffer<char> b = info[1].As<Napi::Buffer<char>>();
  ssize_t n;
  do n = write(static_cast<int>(fd), b.Data(), b.Length());
  while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "write");
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  struct {
    const char* name;
    Napi::Value (*fn)(const Napi::CallbackInfo&);
  } fns[] = {
      {"mount", Mount},
      {"umount", Umount},
      {"openTree", OpenTree},
      {"moveMount", MoveMount},
      {"mountSetattr", MountSetattr},
      {"fsopen", Fsopen},
      {"fsconfig", Fsconfig},
      {"fsmount", Fsmount},
      {"createUserns", CreateUserns},
      {"overlayInUserns", OverlayInUserns},
      {"open", Open},
      {"close", Close},
      {"socketpair", Socketpair},
      {"pidfdOpen", PidfdOpen},
      {"pidfdGetfd", PidfdGetfd},
      {"sendFds", SendFds},
      {"recvFds", RecvFds},
      {"spawnWait", SpawnWait},
      {"setChildSubreaper", SetChildSubreaper},
      {"pidfdWait", PidfdWait},
      {"accept", Accept},
      {"listenUnix", ListenUnix},
      {"connectUnix", ConnectUnix},
      {"statx", Statx},
      {"namespaceInfo", NamespaceInfo},
      {"mknod", Mknod},
      {"processVmReadv", ProcessVmReadv},
      {"seccompWatch", SeccompWatch},
      {"seccompRespond", SeccompRespond},
      {"seccompAddFd", SeccompAddFd},
      {"seccompIdValid", SeccompIdValid},
      {"resolveStat", ResolveStat},
      {"peerCred", PeerCred},
      {"resolveStatCached", ResolveStatCached},
      {"fuseWatch", FuseWatch},
      {"mallocTrim", MallocTrim},
      {"writeFd", WriteFd},
      {"shutdown", Shutdown},
  };
  for (auto& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
  RegisterVetter(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(sysbox_native, Init)

// The vetting thread: one per container, off the event loop. It receives the seccomp notifications of the
// container's listener fds and answers CONTINUE itself for the calls a rule of the table matches (the rules are
// data written once in @sysbox/syscall-vetting's fast.ts, which the interceptor evaluates too); every other
// notification goes to JS with a copy of the memory its pointer arguments point at (read here, once) and the
// target's lookup when one was made.
//
// Why a thread: JS's per-notification cost (entering JS, a journal write, a path lookup the loop can't make
// itself on an overlay of ID-mapped layers, RESOLVE_CACHED fails there) was most of a vetted mount's time. Here
// a lookup may wait for anything, our own FUSE mounts included: the loop that answers them is another thread.
// Each container has its own thread, so a lookup that hangs (a FUSE daemon of the container's own) stalls only
// that container's calls. The listener gets SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (the caller resumes on this
// thread's CPU when answered, and this thread sleeps right after): it halves the cost of a round trip here.
//
// What a rule checks (all of it, or the notification goes to JS):
//   the call (AUDIT_ARCH, number); bits of the flags argument that must be clear; string arguments readable and
//   NUL-terminated within PATH_MAX (not NULL), one of them not in a list; an argument NULL or readable; the
//   target: an absolute path not under /proc, resolved in the caller's root as the caller would
//   (/proc/<tid>/root + openat2 RESOLVE_IN_ROOT), following its last symlink unless a flag says not; optionally a
//   mount root; its file system (dev) not one of the container's protected file systems; its statfs type (unless
//   a flag says) not one of a list. Before answering: SECCOMP_IOCTL_NOTIF_ID_VALID (the caller was alive during the lookup,
//   so its /proc entries were its own).
#include "addon.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

namespace sysbox_addon {
namespace {

constexpr size_t kPathMax = 4096;
constexpr size_t kPage = 4096;
constexpr size_t kFirstChunk = 256;

struct Call {
  uint32_t arch;
  int32_t nr;
  uint32_t pointers;  // bit i: argument i is a pointer (its memory is copied for JS)
  bool long32;        // pointers are the low 32 bits (i386)
};

struct StrArg {
  int arg;
  std::vector<std::string> notIn;
};

struct Rule {
  uint32_t arch;
  int32_t nr;
  int flagsArg;  // -1: the call has no flags argument (0)
  uint32_t flagsClear;
  std::vector<StrArg> strings;
  int readable;  // -1: none
  int target;    // an argument listed in strings
  uint32_t noFollow;
  bool mountRoot;
  std::vector<uint64_t> fsTypesNot;  // the target's statfs type must be none of these ...
  uint32_t fsTypesUnless;            // ... unless one of these flag bits is set
};

// Where a target resolved, for JS (the interceptor uses it rather than looking it up again).
struct Lookup {
  bool made = false;
  std::string path;
  bool follow = true;
  int err = 0;
  uint64_t mntId = 0;
  uint32_t major = 0, minor = 0;
  bool mountRoot = false;
  bool hasFsType = false;
  uint64_t fsType = 0;
};

// One notification (or a hang-up) for JS.
struct Event {
  int listener;
  bool hangup;
  struct seccomp_notif n;
  std::vector<std::pair<uint64_t, std::string>> memory;
  Lookup lookup;
};

struct Listener {
  int id;
  int fd;  // our dup of the listener: JS closes its own whenever it likes
  uint64_t* lastId = nullptr;  // a page of a file on /run: the newest id received (for a successor after a crash)
  std::atomic<bool> closing{false};
};

enum Stage { kRecv, kCopy, kLookup, kDecide, kValid, kReply, kHand, kStages };

struct Vetter {
  std::vector<Call> calls;
  std::vector<Rule> rules;
  std::vector<int> ruleIndex;  // rules[i] counts as continued[ruleIndex[i]] (JS's rule list)
  int nRuleNames = 0;
  bool answer = true;
  bool timing = false;
  int epfd = -1, evfd = -1;

  std::mutex mu;  // guards everything below it
  std::unordered_map<int, Listener*> listeners;
  std::vector<int> removals;
  int nextId = 1;
  bool stopping = false;
  bool armed = false;  // the container's file systems are known (setDevs): until then everything goes to JS
  std::unordered_set<uint64_t> protectedDevs;

  std::atomic<uint64_t> received{0}, handed{0}, stale{0}, failed{0};
  std::unique_ptr<std::atomic<uint64_t>[]> continued;
  std::atomic<uint64_t> ns[kStages] = {};
  std::atomic<uint64_t> timed{0};

  napi_threadsafe_function tsfn = nullptr;
  napi_async_context actx = nullptr;
  napi_ref onEvent = nullptr;
  napi_env env = nullptr;
};

uint64_t NowNs() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ULL + static_cast<uint64_t>(t.tv_nsec);
}

uint64_t Ptr(const Call* c, uint64_t v) { return c != nullptr && c->long32 ? (v & 0xffffffffULL) : v; }

// The string at addr of pid, NUL-terminated within kPathMax bytes (its NUL included); false if it is not (unreadable
// memory, too long). `first` holds what was already read from addr (a batched first chunk), `firstComplete` whether
// that chunk had all the bytes asked for.
bool ReadString(pid_t pid, uint64_t addr, const char* first, size_t firstLen, std::string* out) {
  const char* nul = static_cast<const char*>(memchr(first, 0, firstLen));
  if (nul != nullptr) {
    out->assign(first, static_cast<size_t>(nul - first));
    return true;
  }
  char buf[kPathMax];
  memcpy(buf, first, firstLen);
  size_t got = firstLen;
  while (got < kPathMax) {
    uint64_t at = addr + got;
    size_t want = std::min(kPathMax - got, kPage - static_cast<size_t>(at % kPage));
    struct iovec l = {buf + got, want};
    struct iovec r = {reinterpret_cast<void*>(at), want};
    ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (n <= 0) return false;
    nul = static_cast<const char*>(memchr(buf + got, 0, static_cast<size_t>(n)));
    if (nul != nullptr) {
      out->assign(buf, static_cast<size_t>(nul - buf));
      return true;
    }
    got += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < want) return false;
  }
  return false;
}

// Reads the strings a rule names (and its `readable` byte) with one process_vm_readv for their first chunks.
bool ReadArgs(const Rule& r, const struct seccomp_notif& n, std::vector<std::string>* strs) {
  const size_t k = r.strings.size();
  char chunks[8][kFirstChunk];
  struct iovec local[9], remote[9];
  size_t cnt = 0;
  if (k > 8) return false;
  for (size_t i = 0; i < k; i++) {
    uint64_t a = n.data.args[r.strings[i].arg];
    if (a == 0) return false;
    size_t want = std::min(kFirstChunk, kPage - static_cast<size_t>(a % kPage));
    local[cnt] = {chunks[i], want};
    remote[cnt] = {reinterpret_cast<void*>(a), want};
    cnt++;
  }
  char byte;
  uint64_t ra = r.readable >= 0 ? n.data.args[r.readable] : 0;
  if (ra != 0) {
    local[cnt] = {&byte, 1};
    remote[cnt] = {reinterpret_cast<void*>(ra), 1};
    cnt++;
  }
  ssize_t got = process_vm_readv(n.pid, local, cnt, remote, cnt, 0);
  if (got < 0) return false;
  size_t left = static_cast<size_t>(got);
  strs->resize(k);
  for (size_t i = 0; i < k; i++) {
    size_t have = std::min(left, remote[i].iov_len);
    left -= have;
    // a short first chunk: that page ended (or nothing was read past an earlier failure): read on alone
    if (have < remote[i].iov_len && memchr(chunks[i], 0, have) == nullptr) {
      std::string s;
      if (have == 0) {
        // nothing read for it in the batch: try it alone (an earlier argument may have stopped the batch)
        char one[kFirstChunk];
        struct iovec l = {one, remote[i].iov_len};
        ssize_t m = process_vm_readv(n.pid, &l, 1, &remote[i], 1, 0);
        if (m <= 0) return false;
        if (!ReadString(n.pid, n.data.args[r.strings[i].arg], one, static_cast<size_t>(m), &s)) return false;
      } else if (!ReadString(n.pid, n.data.args[r.strings[i].arg], chunks[i], have, &s)) {
        return false;
      }
      (*strs)[i] = std::move(s);
      continue;
    }
    if (!ReadString(n.pid, n.data.args[r.strings[i].arg], chunks[i], have, &(*strs)[i])) return false;
  }
  if (ra != 0 && left < 1) {
    struct iovec l = {&byte, 1};
    struct iovec rr = {reinterpret_cast<void*>(ra), 1};
    if (process_vm_readv(n.pid, &l, 1, &rr, 1, 0) != 1) return false;
  }
  return true;
}

// The caller's memory at each pointer argument, [p, p + 4096) or up to the first unreadable page: what the
// interceptor's decoders read (strings up to PATH_MAX, mount data up to a page, versioned structs up to a page).
void Snapshot(const Call& c, const struct seccomp_notif& n, Event* ev) {
  for (int i = 0; i < 6; i++) {
    if (!(c.pointers & (1U << i))) continue;
    uint64_t p = Ptr(&c, n.data.args[i]);
    if (p == 0) continue;
    std::string bytes(kPage, '\0');
    size_t first = kPage - static_cast<size_t>(p % kPage);
    struct iovec l[2] = {{&bytes[0], first}, {&bytes[first], kPage - first}};
    struct iovec r[2] = {{reinterpret_cast<void*>(p), first}, {reinterpret_cast<void*>(p + first), kPage - first}};
    ssize_t got = process_vm_readv(n.pid, l, first < kPage ? 2 : 1, r, first < kPage ? 2 : 1, 0);
    bytes.resize(got > 0 ? static_cast<size_t>(got) : 0);
    ev->memory.emplace_back(p, std::move(bytes));
  }
}

// The target resolved in the caller's root, as the interceptor's host does (openat2 RESOLVE_IN_ROOT from its
// /proc/<tid>/root, statx STATX_MNT_ID of what it opened). Returns the O_PATH fd of the target (-1 on failure).
int Resolve(pid_t tid, const std::string& path, bool follow, Lookup* lk) {
  lk->made = true;
  lk->path = path;
  lk->follow = follow;
  char root[64];
  snprintf(root, sizeof root, "/proc/%d/root", tid);
  int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0) {
    lk->err = errno;
    return -1;
  }
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
  how.resolve = RESOLVE_IN_ROOT;
  long fd = syscall(SYS_openat2, rfd, path.c_str(), &how, sizeof how);
  int e = errno;
  close(rfd);
  if (fd < 0) {
    lk->err = e;
    return -1;
  }
  struct statx st;
  memset(&st, 0, sizeof st);
  if (statx(static_cast<int>(fd), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_MNT_ID, &st) != 0) {
    lk->err = errno;
    close(static_cast<int>(fd));
    return -1;
  }
  lk->mntId = (st.stx_mask & STATX_MNT_ID) ? st.stx_mnt_id : 0;
  lk->major = st.stx_dev_major;
  lk->minor = st.stx_dev_minor;
  lk->mountRoot = (st.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  return static_cast<int>(fd);
}

// Whether the path is one this thread resolves: absolute and not under /proc (the interceptor rewrites
// /proc/self/fd/N and the like to the caller's own fds).
bool PlainAbsolute(const std::string& p) {
  if (p.empty() || p[0] != '/') return false;
  size_t i = p.find_first_not_of('/');
  if (i == std::string::npos) return true;
  size_t end = p.find('/', i);
  std::string first = p.substr(i, end == std::string::npos ? std::string::npos : end - i);
  return first != "proc";
}

// -1: not this rule's (JS decides); otherwise the rule's index. Fills the lookup when one was made.
int Try(Vetter* v, const Rule& r, const struct seccomp_notif& n, Lookup* lk, uint64_t* t) {
  uint32_t flags = r.flagsArg >= 0 ? static_cast<uint32_t>(n.data.args[r.flagsArg]) : 0;
  if (flags & r.flagsClear) return -1;
  std::vector<std::string> strs;
  if (!ReadArgs(r, n, &strs)) return -1;
  if (v->timing) {
    uint64_t now = NowNs();
    v->ns[kCopy] += now - *t;
    *t = now;
  }
  const std::string* target = nullptr;
  for (size_t i = 0; i < r.strings.size(); i++) {
    for (const auto& x : r.strings[i].notIn)
      if (strs[i] == x) return -1;
    if (r.strings[i].arg == r.target) target = &strs[i];
  }
  if (target == nullptr || !PlainAbsolute(*target)) return -1;
  int fd = Resolve(static_cast<pid_t>(n.pid), *target, (flags & r.noFollow) == 0, lk);
  if (v->timing) {
    uint64_t now = NowNs();
    v->ns[kLookup] += now - *t;
    *t = now;
  }
  if (fd < 0) return -1;
  bool ok = !r.mountRoot || lk->mountRoot;
  if (ok) {
    std::lock_guard<std::mutex> g(v->mu);
    ok = v->armed && !v->protectedDevs.count(makedev(lk->major, lk->minor));
  }
  // the file system's type, where the rule asks (not for one of ours: those are protected, answered above)
  if (ok && !r.fsTypesNot.empty() && !(flags & r.fsTypesUnless)) {
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0) {
      ok = false;
    } else {
      lk->hasFsType = true;
      lk->fsType = static_cast<uint64_t>(sf.f_type);
      for (uint64_t x : r.fsTypesNot)
        if (x == lk->fsType) ok = false;
    }
  }
  close(fd);
  return ok ? static_cast<int>(&r - v->rules.data()) : -1;
}

void Post(Vetter* v, Event* ev) {
  if (napi_call_threadsafe_function(v->tsfn, ev, napi_tsfn_nonblocking) != napi_ok) {
    // JS is going away (the server closes): the notification stays pending for the next sysbox-fs (lastId)
    v->failed++;
    delete ev;
  }
}

void Serve(Vetter* v, Listener* l) {
  uint64_t t = v->timing ? NowNs() : 0;
  auto* ev = new Event();
  ev->listener = l->id;
  ev->hangup = false;
  memset(&ev->n, 0, sizeof ev->n);
  if (ioctl(l->fd, SECCOMP_IOCTL_NOTIF_RECV, &ev->n) != 0) {
    int e = errno;
    delete ev;
    if (e == EINTR || e == ENOENT) return;  // ENOENT: the caller went away meanwhile
    // the listener is broken: as a hang-up
    auto* h = new Event();
    h->listener = l->id;
    h->hangup = true;
    l->closing = true;
    epoll_ctl(v->epfd, EPOLL_CTL_DEL, l->fd, nullptr);
    {
      std::lock_guard<std::mutex> g(v->mu);
      v->removals.push_back(l->id);
    }
    Post(v, h);
    return;
  }
  const struct seccomp_notif& n = ev->n;
  if (l->lastId != nullptr) __atomic_store_n(l->lastId, n.id, __ATOMIC_RELEASE);
  v->received++;
  if (v->timing) {
    uint64_t now = NowNs();
    v->ns[kRecv] += now - t;
    t = now;
  }
  const Call* call = nullptr;
  for (const auto& c : v->calls)
    if (c.arch == n.data.arch && c.nr == n.data.nr) call = &c;
  if (v->answer) {
    for (const auto& r : v->rules) {
      if (r.arch != n.data.arch || r.nr != n.data.nr) continue;
      int hit = Try(v, r, n, &ev->lookup, &t);
      if (v->timing) {
        uint64_t now = NowNs();
        v->ns[kDecide] += now - t;
        t = now;
      }
      if (hit < 0) break;
      // the caller was alive all along (its /proc entries were its own): answer
      if (ioctl(l->fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &ev->n.id) != 0) {
        v->stale++;
        delete ev;
        return;
      }
      if (v->timing) {
        uint64_t now = NowNs();
        v->ns[kValid] += now - t;
        t = now;
      }
      struct seccomp_notif_resp resp;
      memset(&resp, 0, sizeof resp);
      resp.id = n.id;
      resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
      if (ioctl(l->fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0)
        v->stale++;
      else
        v->continued[v->ruleIndex[static_cast<size_t>(hit)]]++;
      if (v->timing) {
        uint64_t now = NowNs();
        v->ns[kReply] += now - t;
        v->timed++;
      }
      delete ev;
      return;
    }
  }
  if (call != nullptr) Snapshot(*call, n, ev);
  v->handed++;
  Post(v, ev);
  if (v->timing) v->ns[kHand] += NowNs() - t;
}

void FreeListener(Listener* l) {
  if (l->lastId != nullptr) munmap(l->lastId, kPage);
  close(l->fd);
  delete l;
}

void* Run(void* arg) {
  auto* keep = static_cast<std::shared_ptr<Vetter>*>(arg);
  Vetter* v = keep->get();
  struct epoll_event evs[16];
  for (;;) {
    int cnt = epoll_wait(v->epfd, evs, 16, -1);
    if (cnt < 0 && errno != EINTR) break;
    for (int i = 0; i < cnt; i++) {
      if (evs[i].data.u64 == 0) {
        uint64_t x;
        if (read(v->evfd, &x, sizeof x) < 0) { /* drained */ }
        continue;
      }
      Listener* l = nullptr;
      {
        std::lock_guard<std::mutex> g(v->mu);
        auto it = v->listeners.find(static_cast<int>(evs[i].data.u64));
        if (it != v->listeners.end()) l = it->second;
      }
      if (l == nullptr || l->closing) continue;
      if (evs[i].events & EPOLLIN) {
        Serve(v, l);
      } else if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
        // every process under this filter exited
        l->closing = true;
        epoll_ctl(v->epfd, EPOLL_CTL_DEL, l->fd, nullptr);
        {
          std::lock_guard<std::mutex> g(v->mu);
          v->removals.push_back(l->id);
        }
        auto* h = new Event();
        h->listener = l->id;
        h->hangup = true;
        Post(v, h);
      }
    }
    std::vector<Listener*> gone;
    bool stop;
    {
      std::lock_guard<std::mutex> g(v->mu);
      for (int id : v->removals) {
        auto it = v->listeners.find(id);
        if (it == v->listeners.end()) continue;
        gone.push_back(it->second);
        v->listeners.erase(it);
      }
      v->removals.clear();
      stop = v->stopping;
      if (stop) {
        for (auto& kv : v->listeners) gone.push_back(kv.second);
        v->listeners.clear();
      }
    }
    for (Listener* l : gone) FreeListener(l);
    if (stop) break;
  }
  close(v->epfd);
  close(v->evfd);
  napi_release_threadsafe_function(v->tsfn, napi_tsfn_release);
  delete keep;
  return nullptr;
}

void Wake(Vetter* v) {
  uint64_t one = 1;
  if (write(v->evfd, &one, sizeof one) < 0) { /* the counter is full: it wakes anyway */ }
}

// ---------------------------------------------------------------- JS side

Napi::Value BigU64(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

void CallJs(napi_env env, napi_value /*fn*/, void* context, void* data) {
  auto* ev = static_cast<Event*>(data);
  auto* v = static_cast<Vetter*>(context);
  if (env == nullptr || v->onEvent == nullptr) {
    delete ev;
    return;
  }
  Napi::Env e(env);
  Napi::HandleScope scope(e);
  Napi::Value payload = e.Null();
  if (!ev->hangup) {
    const struct seccomp_notif& n = ev->n;
    Napi::Object o = Napi::Object::New(e);
    o.Set("id", BigU64(e, n.id));
    o.Set("pid", Napi::Number::New(e, n.pid));
    o.Set("syscall", Napi::Number::New(e, n.data.nr));
    o.Set("arch", Napi::Number::New(e, n.data.arch));
    o.Set("instructionPointer", BigU64(e, n.data.instruction_pointer));
    Napi::Array args = Napi::Array::New(e, 6);
    for (uint32_t i = 0; i < 6; i++) args.Set(i, BigU64(e, n.data.args[i]));
    o.Set("args", args);
    Napi::Array mem = Napi::Array::New(e, ev->memory.size());
    for (size_t i = 0; i < ev->memory.size(); i++) {
      Napi::Object m = Napi::Object::New(e);
      m.Set("address", BigU64(e, ev->memory[i].first));
      m.Set("bytes", Napi::Buffer<char>::Copy(e, ev->memory[i].second.data(), ev->memory[i].second.size()));
      mem.Set(static_cast<uint32_t>(i), m);
    }
    o.Set("memory", mem);
    if (ev->lookup.made) {
      const Lookup& lk = ev->lookup;
      Napi::Object x = Napi::Object::New(e);
      napi_value p;
      napi_create_string_latin1(env, lk.path.data(), lk.path.size(), &p);
      x.Set("path", Napi::Value(e, p));
      x.Set("follow", Napi::Boolean::New(e, lk.follow));
      if (lk.err != 0) {
        x.Set("errno", Napi::Number::New(e, lk.err));
      } else {
        x.Set("mntId", BigU64(e, lk.mntId));
        x.Set("devMajor", Napi::Number::New(e, lk.major));
        x.Set("devMinor", Napi::Number::New(e, lk.minor));
        x.Set("mountRoot", Napi::Boolean::New(e, lk.mountRoot));
        if (lk.hasFsType) x.Set("fsType", Napi::Number::New(e, static_cast<double>(lk.fsType)));
      }
      o.Set("lookup", x);
    }
    payload = o;
  }
  napi_value fn;
  napi_get_reference_value(env, v->onEvent, &fn);
  napi_value argv[2] = {Napi::Number::New(e, ev->listener), payload};
  delete ev;
  napi_value result;
  napi_status s = napi_make_callback(env, v->actx, e.Global(), fn, 2, argv, &result);
  if (s != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ex;
      napi_get_and_clear_last_exception(env, &ex);
      napi_fatal_exception(env, ex);
    }
  }
}

void FinalizeTsfn(napi_env env, void* data, void* /*hint*/) {
  auto* keep = static_cast<std::shared_ptr<Vetter>*>(data);
  Vetter* v = keep->get();
  if (v->onEvent != nullptr) napi_delete_reference(env, v->onEvent);
  v->onEvent = nullptr;
  if (v->actx != nullptr) napi_async_destroy(env, v->actx);
  v->actx = nullptr;
  delete keep;
}

struct Handle {
  std::shared_ptr<Vetter> v;
};

Vetter* Of(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    ThrowType(info.Env(), "not a vetter");
    return nullptr;
  }
  return info[0].As<Napi::External<Handle>>().Data()->v.get();
}

bool Int(Napi::Object o, const char* k, int64_t* out) {
  Napi::Value x = o.Get(k);
  if (!x.IsNumber()) return false;
  *out = x.As<Napi::Number>().Int64Value();
  return true;
}

bool ParseTable(Napi::Env env, Napi::Object t, Vetter* v) {
  Napi::Value calls = t.Get("calls"), rules = t.Get("rules");
  if (!calls.IsArray() || !rules.IsArray()) return false;
  Napi::Array ca = calls.As<Napi::Array>();
  for (uint32_t i = 0; i < ca.Length(); i++) {
    if (!ca.Get(i).IsObject()) return false;
    Napi::Object c = ca.Get(i).As<Napi::Object>();
    int64_t arch, nr;
    if (!Int(c, "arch", &arch) || !Int(c, "nr", &nr) || !c.Get("pointers").IsArray()) return false;
    Call x = {static_cast<uint32_t>(arch), static_cast<int32_t>(nr), 0, c.Get("long32").ToBoolean().Value()};
    Napi::Array p = c.Get("pointers").As<Napi::Array>();
    for (uint32_t j = 0; j < p.Length(); j++) {
      if (!p.Get(j).IsNumber()) return false;
      int64_t a = p.Get(j).As<Napi::Number>().Int64Value();
      if (a < 0 || a > 5) return false;
      x.pointers |= 1U << a;
    }
    v->calls.push_back(x);
  }
  Napi::Array ra = rules.As<Napi::Array>();
  for (uint32_t i = 0; i < ra.Length(); i++) {
    if (!ra.Get(i).IsObject()) return false;
    Napi::Object r = ra.Get(i).As<Napi::Object>();
    int64_t arch, nr, flagsArg, flagsClear, readable, target, noFollow, fsTypesUnless, index;
    if (!Int(r, "arch", &arch) || !Int(r, "nr", &nr) || !Int(r, "flagsArg", &flagsArg) || !Int(r, "flagsClear", &flagsClear) ||
        !Int(r, "readable", &readable) || !Int(r, "target", &target) || !Int(r, "noFollow", &noFollow) ||
        !Int(r, "fsTypesUnless", &fsTypesUnless) || !Int(r, "index", &index) || !r.Get("strings").IsArray() || !r.Get("fsTypesNot").IsArray())
      return false;
    if (flagsArg < -1 || flagsArg > 5 || readable < -1 || readable > 5 || target < 0 || target > 5 || index < 0 || index > 63) return false;
    Rule x;
    x.arch = static_cast<uint32_t>(arch);
    x.nr = static_cast<int32_t>(nr);
    x.flagsArg = static_cast<int>(flagsArg);
    x.flagsClear = static_cast<uint32_t>(flagsClear);
    x.readable = static_cast<int>(readable);
    x.target = static_cast<int>(target);
    x.noFollow = static_cast<uint32_t>(noFollow);
    x.mountRoot = r.Get("mountRoot").ToBoolean().Value();
    x.fsTypesUnless = static_cast<uint32_t>(fsTypesUnless);
    Napi::Array ft = r.Get("fsTypesNot").As<Napi::Array>();
    for (uint32_t j = 0; j < ft.Length(); j++) {
      if (!ft.Get(j).IsNumber()) return false;
      x.fsTypesNot.push_back(static_cast<uint64_t>(ft.Get(j).As<Napi::Number>().Int64Value()));
    }
    Napi::Array s = r.Get("strings").As<Napi::Array>();
    bool hasTarget = false;
    for (uint32_t j = 0; j < s.Length(); j++) {
      if (!s.Get(j).IsObject()) return false;
      Napi::Object so = s.Get(j).As<Napi::Object>();
      int64_t a;
      if (!Int(so, "arg", &a) || a < 0 || a > 5) return false;
      StrArg sa;
      sa.arg = static_cast<int>(a);
      if (sa.arg == x.target) hasTarget = true;
      Napi::Value no = so.Get("not");
      if (no.IsArray()) {
        Napi::Array na = no.As<Napi::Array>();
        for (uint32_t k = 0; k < na.Length(); k++) {
          if (!na.Get(k).IsString()) return false;
          sa.notIn.push_back(na.Get(k).As<Napi::String>().Utf8Value());
        }
      }
      x.strings.push_back(std::move(sa));
    }
    if (!hasTarget || x.strings.size() > 8) return false;
    v->rules.push_back(std::move(x));
    v->ruleIndex.push_back(static_cast<int>(index));
    v->nRuleNames = std::max(v->nRuleNames, static_cast<int>(index) + 1);
  }
  (void)env;
  return true;
}

// vetterCreate(table, onEvent(listenerId, notification | null), { answer, timing }) -> handle
Napi::Value VetterCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsFunction() || !info[2].IsObject())
    return ThrowType(env, "vetterCreate(table, onEvent, options)");
  auto v = std::make_shared<Vetter>();
  if (!ParseTable(env, info[0].As<Napi::Object>(), v.get())) return ThrowType(env, "vetterCreate: malformed table");
  Napi::Object opts = info[2].As<Napi::Object>();
  v->answer = opts.Get("answer").ToBoolean().Value();
  v->timing = opts.Get("timing").ToBoolean().Value();
  v->continued.reset(new std::atomic<uint64_t>[static_cast<size_t>(std::max(v->nRuleNames, 1))]);
  for (int i = 0; i < std::max(v->nRuleNames, 1); i++) v->continued[static_cast<size_t>(i)] = 0;
  v->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (v->epfd < 0) return ThrowErrno(env, errno, "epoll_create1");
  v->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (v->evfd < 0) {
    int e = errno;
    close(v->epfd);
    return ThrowErrno(env, e, "eventfd");
  }
  struct epoll_event ee = {};
  ee.events = EPOLLIN;
  ee.data.u64 = 0;
  epoll_ctl(v->epfd, EPOLL_CTL_ADD, v->evfd, &ee);
  v->env = env;
  napi_create_reference(env, info[1], 1, &v->onEvent);
  napi_async_init(env, nullptr, Napi::String::New(env, "sysbox:seccomp-vetter"), &v->actx);
  auto* forTsfn = new std::shared_ptr<Vetter>(v);
  napi_status s = napi_create_threadsafe_function(env, nullptr, nullptr, Napi::String::New(env, "sysbox:seccomp-vetter"), 0, 1, forTsfn,
                                                  FinalizeTsfn, v.get(), CallJs, &v->tsfn);
  if (s != napi_ok) {
    delete forTsfn;
    close(v->epfd);
    close(v->evfd);
    return ThrowType(env, "napi_create_threadsafe_function failed");
  }
  napi_unref_threadsafe_function(env, v->tsfn);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  auto* forThread = new std::shared_ptr<Vetter>(v);
  int rc = pthread_create(&th, &attr, Run, forThread);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete forThread;
    napi_release_threadsafe_function(v->tsfn, napi_tsfn_abort);
    close(v->epfd);
    close(v->evfd);
    return ThrowErrno(env, rc, "pthread_create");
  }
  pthread_setname_np(th, "sysbox-vet");
  return Napi::External<Handle>::New(env, new Handle{v}, [](Napi::Env, Handle* h) {
    {
      std::lock_guard<std::mutex> g(h->v->mu);
      h->v->stopping = true;
    }
    Wake(h->v.get());
    delete h;
  });
}

// vetterWatch(handle, listenerFd, lastIdFd | -1) -> listener id
Napi::Value VetterWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Vetter* v = Of(info);
  if (v == nullptr) return env.Undefined();
  INT_ARG(fd, 1);
  INT_ARG(lastIdFd, 2);
  int dup = fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 3);
  if (dup < 0) return ThrowErrno(env, errno, "fcntl(F_DUPFD_CLOEXEC)");
  // the caller resumes on this thread's CPU when answered (kernel >= 6.6; older ones answer EINVAL: no matter)
  ioctl(dup, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
  auto* l = new Listener();
  l->fd = dup;
  if (lastIdFd >= 0) {
    if (ftruncate(static_cast<int>(lastIdFd), static_cast<off_t>(kPage)) == 0) {
      void* p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, static_cast<int>(lastIdFd), 0);
      if (p != MAP_FAILED) l->lastId = static_cast<uint64_t*>(p);
    }
  }
  {
    std::lock_guard<std::mutex> g(v->mu);
    if (v->stopping) {
      FreeListener(l);
      return ThrowErrno(env, EBADF, "vetterWatch");
    }
    l->id = v->nextId++;
    v->listeners[l->id] = l;
  }
  struct epoll_event ee = {};
  ee.events = EPOLLIN;
  ee.data.u64 = static_cast<uint64_t>(l->id);
  if (epoll_ctl(v->epfd, EPOLL_CTL_ADD, dup, &ee) != 0) {
    int e = errno;
    std::lock_guard<std::mutex> g(v->mu);
    v->removals.push_back(l->id);
    Wake(v);
    return ThrowErrno(env, e, "epoll_ctl");
  }
  return Napi::Number::New(env, l->id);
}

// vetterUnwatch(handle, id): no notification of that listener is received any more once this returns
Napi::Value VetterUnwatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Vetter* v = Of(info);
  if (v == nullptr) return env.Undefined();
  INT_ARG(id, 1);
  std::lock_guard<std::mutex> g(v->mu);
  auto it = v->listeners.find(static_cast<int>(id));
  if (it == v->listeners.end()) return env.Undefined();
  it->second->closing = true;
  epoll_ctl(v->epfd, EPOLL_CTL_DEL, it->second->fd, nullptr);
  v->removals.push_back(static_cast<int>(id));
  Wake(v);
  return env.Undefined();
}

bool Devs(Napi::Value x, std::unordered_set<uint64_t>* out) {
  if (!x.IsArray()) return false;
  Napi::Array a = x.As<Napi::Array>();
  if (a.Length() % 2 != 0) return false;
  for (uint32_t i = 0; i + 1 < a.Length(); i += 2) {
    if (!a.Get(i).IsNumber() || !a.Get(i + 1).IsNumber()) return false;
    out->insert(makedev(a.Get(i).As<Napi::Number>().Uint32Value(), a.Get(i + 1).As<Napi::Number>().Uint32Value()));
  }
  return true;
}

// vetterSetDevs(handle, protected [major, minor, ...]): arms the rules
Napi::Value VetterSetDevs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Vetter* v = Of(info);
  if (v == nullptr) return env.Undefined();
  std::unordered_set<uint64_t> p;
  if (info.Length() < 2 || !Devs(info[1], &p)) return ThrowType(env, "vetterSetDevs(handle, protected)");
  std::lock_guard<std::mutex> g(v->mu);
  v->protectedDevs.swap(p);
  v->armed = true;
  return env.Undefined();
}

Napi::Value VetterStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Vetter* v = Of(info);
  if (v == nullptr) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("received", Napi::Number::New(env, static_cast<double>(v->received.load())));
  o.Set("handed", Napi::Number::New(env, static_cast<double>(v->handed.load())));
  o.Set("stale", Napi::Number::New(env, static_cast<double>(v->stale.load())));
  o.Set("lost", Napi::Number::New(env, static_cast<double>(v->failed.load())));
  Napi::Array c = Napi::Array::New(env, static_cast<size_t>(v->nRuleNames));
  for (int i = 0; i < v->nRuleNames; i++) c.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(v->continued[static_cast<size_t>(i)].load())));
  o.Set("continued", c);
  if (v->timing) {
    static const char* names[kStages] = {"recv", "copy", "lookup", "decide", "valid", "reply", "hand"};
    Napi::Object t = Napi::Object::New(env);
    for (int i = 0; i < kStages; i++) t.Set(names[i], Napi::Number::New(env, static_cast<double>(v->ns[i].load())));
    t.Set("answered", Napi::Number::New(env, static_cast<double>(v->timed.load())));
    o.Set("ns", t);
  }
  return o;
}

// vetterClose(handle): the thread stops receiving and ends (its copies of the listener fds closed)
Napi::Value VetterClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Vetter* v = Of(info);
  if (v == nullptr) return env.Undefined();
  {
    std::lock_guard<std::mutex> g(v->mu);
    if (v->stopping) return env.Undefined();
    v->stopping = true;
    for (auto& kv : v->listeners) {
      kv.second->closing = true;
      epoll_ctl(v->epfd, EPOLL_CTL_DEL, kv.second->fd, nullptr);
    }
  }
  Wake(v);
  return env.Undefined();
}

}  // namespace

void RegisterVetter(Napi::Env env, Napi::Object exports) {
  exports.Set("vetterCreate", Napi::Function::New(env, VetterCreate, "vetterCreate"));
  exports.Set("vetterWatch", Napi::Function::New(env, VetterWatch, "vetterWatch"));
  exports.Set("vetterUnwatch", Napi::Function::New(env, VetterUnwatch, "vetterUnwatch"));
  exports.Set("vetterSetDevs", Napi::Function::New(env, VetterSetDevs, "vetterSetDevs"));
  exports.Set("vetterStats", Napi::Function::New(env, VetterStats, "vetterStats"));
  exports.Set("vetterClose", Napi::Function::New(env, VetterClose, "vetterClose"));
}

}  // namespace sysbox_addon

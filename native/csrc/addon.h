// Helpers shared by the addon's translation units (addon.cc, vet-thread.cc): errno errors thrown as JS Errors
// carrying errno/syscall/path (src/real.ts turns them into KernelError), and argument readers.
#pragma once
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <string.h>

#include <string>

#include <napi.h>

namespace sysbox_addon {

// ---------------------------------------------------------------- helpers

inline Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall_name, const std::string* path) {
  std::string msg = std::string(syscall_name) + ": " + strerror(err);
  if (path != nullptr) msg += " (" + *path + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall_name));
  if (path != nullptr) e.Set("path", Napi::String::New(env, *path));
  return e;
}

inline Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall_name, const std::string* path = nullptr) {
  ErrnoError(env, err, syscall_name, path).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Argument readers: return false (with a pending TypeError) on a bad type.
inline bool ArgInt(const Napi::CallbackInfo& info, size_t i, int64_t* out) {
  if (i < info.Length() && info[i].IsNumber()) {
    *out = info[i].As<Napi::Number>().Int64Value();
    return true;
  }
  ThrowType(info.Env(), ("argument " + std::to_string(i) + " must be a number").c_str());
  return false;
}

inline bool ArgU64(const Napi::CallbackInfo& info, size_t i, uint64_t* out) {
  if (i < info.Length() && info[i].IsBigInt()) {
    bool lossless = true;
    *out = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
    return true;
  }
  if (i < info.Length() && info[i].IsNumber()) {
    *out = static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value());
    return true;
  }
  ThrowType(info.Env(), ("argument " + std::to_string(i) + " must be a bigint").c_str());
  return false;
}

inline bool ArgStr(const Napi::CallbackInfo& info, size_t i, std::string* out) {
  if (i < info.Length() && info[i].IsString()) {
    *out = info[i].As<Napi::String>().Utf8Value();
    return true;
  }
  ThrowType(info.Env(), ("argument " + std::to_string(i) + " must be a string").c_str());
  return false;
}

// A string or null/undefined; *isNull tells which.
inline bool ArgOptStr(const Napi::CallbackInfo& info, size_t i, std::string* out, bool* isNull) {
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) {
    *isNull = true;
    return true;
  }
  *isNull = false;
  return ArgStr(info, i, out);
}

#define INT_ARG(name, i)                  \
  int64_t name;                           \
  if (!ArgInt(info, i, &name)) return env.Undefined()
#define STR_ARG(name, i)                  \
  std::string name;                       \
  if (!ArgStr(info, i, &name)) return env.Undefined()
#define OPT_STR_ARG(name, i)                             \
  std::string name;                                      \
  bool name##_null;                                      \
  if (!ArgOptStr(info, i, &name, &name##_null)) return env.Undefined()

// The vetting thread's exports (vet-thread.cc).
void RegisterVetter(Napi::Env env, Napi::Object exports);

}  // namespace sysbox_addon

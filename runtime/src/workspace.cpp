//===- workspace.cpp - Scratch memory kept across forward passes ----------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/workspace.h"

#include <cstdlib>

using namespace moert;

Workspace &Workspace::process() {
  // Never destroyed: a model may free scratch from another static
  // destructor's thread after this one would have run.
  static Workspace *W = new Workspace();
  return *W;
}

Workspace::~Workspace() {
  for (auto &[P, B] : Large)
    std::free(P);
}

void *Workspace::allocate(size_t Bytes) {
  if (Bytes < kMinKeptBytes)
    return std::malloc(Bytes);
  std::lock_guard<std::mutex> Lock(Mutex);
  auto It = Kept.lower_bound(Bytes);
  if (It != Kept.end()) {
    void *P = It->second;
    KeptBytes -= It->first;
    Kept.erase(It);
    Large.at(P).TakenSinceTrim = true;
    return P;
  }
  void *P = std::malloc(Bytes);
  if (P)
    Large.emplace(P, Block{Bytes, true});
  return P;
}

void Workspace::release(void *P) {
  if (!P)
    return;
  std::lock_guard<std::mutex> Lock(Mutex);
  auto It = Large.find(P);
  if (It == Large.end()) {
    std::free(P);
    return;
  }
  Kept.emplace(It->second.Bytes, P);
  KeptBytes += It->second.Bytes;
}

void Workspace::trim() {
  std::lock_guard<std::mutex> Lock(Mutex);
  for (auto It = Kept.begin(); It != Kept.end();) {
    auto B = Large.find(It->second);
    if (B->second.TakenSinceTrim) {
      ++It;
      continue;
    }
    KeptBytes -= It->first;
    std::free(It->second);
    Large.erase(B);
    It = Kept.erase(It);
  }
  for (auto &[P, B] : Large)
    B.TakenSinceTrim = false;
}

size_t Workspace::keptBytes() const {
  std::lock_guard<std::mutex> Lock(Mutex);
  return KeptBytes;
}

void Workspace::install(abi::WorkspaceHooks &Hooks) {
  Hooks.context = this;
  Hooks.allocate = [](void *Context, uint64_t Bytes) {
    return static_cast<Workspace *>(Context)->allocate(Bytes);
  };
  Hooks.release = [](void *Context, void *P) {
    static_cast<Workspace *>(Context)->release(P);
  };
}

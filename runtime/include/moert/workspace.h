//===- workspace.h - Scratch memory kept across forward passes --*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// The scratch buffers of a CPU model's forward pass (its routed rows, the
/// expert hidden states) come from here. Large blocks a forward frees are
/// kept and handed to the next forward: a fresh malloc of that size is an
/// mmap whose every page faults in on first touch, hundreds of megabytes per
/// forward for a large batch. After each forward the runtime calls trim(),
/// which returns to the system the kept blocks that forward did not take, so
/// the memory kept follows the last forward's needs.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_WORKSPACE_H
#define MOERT_WORKSPACE_H

#include "moert/abi.h"

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>

namespace moert {

class Workspace {
public:
  /// Blocks smaller than this go straight to malloc and free: the C library
  /// already keeps them in its heap.
  static constexpr size_t kMinKeptBytes = size_t(1) << 20;

  /// The process's workspace, which every loaded CPU model shares.
  static Workspace &process();

  Workspace() = default;
  ~Workspace();
  Workspace(const Workspace &) = delete;
  Workspace &operator=(const Workspace &) = delete;

  /// \p Bytes of memory aligned for any type: the smallest kept block that
  /// is large enough, else a new one. Null if the system has no memory.
  void *allocate(size_t Bytes);
  /// Keeps a large block for later; frees a small one. Null is ignored.
  void release(void *P);
  /// Frees the kept blocks that no allocate() took since the last trim().
  void trim();
  /// Bytes of the blocks kept and not in use.
  size_t keptBytes() const;

  /// Points a model's hooks at this workspace.
  void install(abi::WorkspaceHooks &Hooks);

private:
  struct Block {
    size_t Bytes;
    bool TakenSinceTrim;
  };
  mutable std::mutex Mutex;
  std::unordered_map<void *, Block> Large; // in use or kept
  std::multimap<size_t, void *> Kept;      // by size
  size_t KeptBytes = 0;
};

} // namespace moert

#endif // MOERT_WORKSPACE_H

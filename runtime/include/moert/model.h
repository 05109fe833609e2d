//===- model.h - Loading a compiled model artifact --------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// A model shared library opened with dlopen: its three ABI symbols are
/// resolved, its ABI version checked and its metadata parsed up front, so a
/// loaded Model is known to be callable.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_MODEL_H
#define MOERT_MODEL_H

#include "moert/abi.h"
#include "moert/metadata.h"

#include <memory>
#include <string>

namespace moert {

/// A loaded model artifact. Not copyable; unloads the library on destruction.
class Model {
public:
  /// Opens the model at \p Path. Throws Error if the file is missing, is not
  /// a loadable shared library, lacks an ABI symbol, was built for another
  /// ABI version, or has invalid metadata.
  static std::unique_ptr<Model> load(const std::string &Path);
  ~Model();
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  const std::string &path() const { return Path; }
  const Metadata &metadata() const { return Meta; }
  /// The metadata as the model returned it (docs/abi.md).
  const std::string &metadataJson() const { return MetaJson; }

  /// Calls `moert_forward`; \p Args holds one descriptor pointer per
  /// metadata argument.
  void forward(void **Args) const { Forward(Args); }

private:
  Model() = default;

  std::string Path;
  void *Handle = nullptr;
  abi::ForwardFn Forward = nullptr;
  Metadata Meta;
  std::string MetaJson;
};

} // namespace moert

#endif // MOERT_MODEL_H

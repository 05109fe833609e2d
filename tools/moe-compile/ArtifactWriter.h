//===- ArtifactWriter.h - LLVM dialect -> model.so --------------*- C++ -*-===//
//
// Part of moec. Translates the lowered module to LLVM IR, adds the runtime
// ABI entry points (docs/abi.md), optimizes for the chosen CPU, emits an
// object file and links it into a shared library.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_TOOLS_MOE_COMPILE_ARTIFACTWRITER_H
#define MOEC_TOOLS_MOE_COMPILE_ARTIFACTWRITER_H

#include "ModelMetadata.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace mlir::moe {

struct ArtifactOptions {
  std::string cpu = "x86-64-v3";
  unsigned optLevel = 3;
  enum class Emit { SharedLibrary, Object, LLVMIR } emit = Emit::SharedLibrary;
  std::string linker; // Empty: look for cc, then clang, then gcc on PATH.
  bool openmp = true; // Link libomp (with an rpath to LLVM's copy).
};

/// Writes `module` (in the LLVM dialect) to `outputPath`. Errors go to
/// `errs` as one line each.
/// Checks that `options.cpu` names a CPU of the host target (before any
/// work is done); reports on `errs` and fails otherwise.
LogicalResult checkTargetCPU(const ArtifactOptions &options,
                             llvm::raw_ostream &errs);

LogicalResult writeArtifact(ModuleOp module, const ModelMetadata &meta,
                            const ArtifactOptions &options,
                            StringRef outputPath, llvm::raw_ostream &errs);

} // namespace mlir::moe

#endif // MOEC_TOOLS_MOE_COMPILE_ARTIFACTWRITER_H

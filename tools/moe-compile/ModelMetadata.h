//===- ModelMetadata.h - the artifact's argument table ----------*- C++ -*-===//
//
// Part of moec. Reads the entry function's signature (names from the
// moe.input / moe.weight / moe.output / moe.stat attributes) into the
// metadata that docs/abi.md specifies.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_TOOLS_MOE_COMPILE_MODELMETADATA_H
#define MOEC_TOOLS_MOE_COMPILE_MODELMETADATA_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>
#include <vector>

namespace mlir::moe {

struct ArgumentInfo {
  std::string role; // input, weight, output or stat.
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape; // -1: the token count T.
};

struct ModelMetadata {
  std::string function;
  std::vector<ArgumentInfo> args; // moert_forward's argument order.
  int64_t numExperts = 0;
  int64_t topK = 0;
  std::string lowering;

  /// The JSON document embedded in the artifact.
  std::string toJSON() const;
};

/// Finds the single public function with a body in `module`.
FailureOr<func::FuncOp> findEntryFunction(ModuleOp module);

/// Collects the metadata of `entry` at the tensor level (after the layout
/// and statistics passes, before bufferization). Emits a diagnostic and
/// fails on an unnamed argument or result, an unsupported element type, or
/// a dynamic dimension other than T.
FailureOr<ModelMetadata> collectMetadata(func::FuncOp entry,
                                         StringRef lowering);

/// Removes the moe.* naming attributes from `entry`'s arguments and results
/// once the metadata holds them (LLVM IR translation has no use for them).
void stripNameAttributes(func::FuncOp entry);

} // namespace mlir::moe

#endif // MOEC_TOOLS_MOE_COMPILE_MODELMETADATA_H

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

/// One on-disk form of a weight (docs/abi.md, "sources"): a tensor name
/// (`{e}`: one per expert), and how the argument is cut out of it.
struct WeightSource {
  std::string name;
  bool transpose = false;  // The last two dimensions are swapped on disk.
  int64_t parts = 1;       // Axis 1 (stacked) holds `parts` arguments...
  int64_t part = 0;        // ...of which this is `part`,
  bool interleave = false; // as every parts-th row rather than a block.
};

struct ArgumentInfo {
  std::string role; // input, weight, output or stat.
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;        // -1: the token count T.
  std::vector<WeightSource> sources; // Weights only; empty: just `name`.
  int64_t expertShards = 1; // > 1: dim 0 is this rank's 1/W of the experts.
  int64_t panels = 0; // > 0: [E, N, K] held as [E, N / panels, K, panels].
};

struct ModelMetadata {
  std::string function;
  std::vector<ArgumentInfo> args; // moert_forward's argument order.
  int64_t numExperts = 0;
  int64_t topK = 0;
  std::string lowering;
  std::string target = "cpu"; // What moert_forward's code runs on: cpu, cuda.
  int64_t worldSize = 1;      // Ranks of an expert-parallel model.
  int64_t ranksPerNode = 0;   // > 0: some exchange is hierarchical.

  /// The JSON document embedded in the artifact.
  std::string toJSON() const;
};

/// Finds the single public function with a body in `module`.
FailureOr<func::FuncOp> findEntryFunction(ModuleOp module);

/// Collects the metadata of `entry` at the tensor level (after the layout
/// and statistics passes, before bufferization). Emits a diagnostic and
/// fails on an unnamed, empty-named or duplicate-named argument or result
/// (statistics results included), a malformed `moe.weight_sources`, an
/// unsupported element type, or a dynamic dimension other than T.
FailureOr<ModelMetadata> collectMetadata(func::FuncOp entry, StringRef lowering,
                                         int64_t worldSize = 1);

/// Removes the moe.* naming attributes (and weight sources) from `entry`'s
/// arguments and results once the metadata holds them (LLVM IR translation has
/// no use for them).
void stripNameAttributes(func::FuncOp entry);

} // namespace mlir::moe

#endif // MOEC_TOOLS_MOE_COMPILE_MODELMETADATA_H

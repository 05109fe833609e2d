//===- metadata.h - A compiled model's argument metadata --------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// The parsed form of the JSON a model returns from `moert_metadata_json`
/// (docs/abi.md): its arguments in `moert_forward` order with role, name,
/// dtype and shape. Parsing validates every field the runtime relies on and
/// ignores unknown keys.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_METADATA_H
#define MOERT_METADATA_H

#include "moert/tensor.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moert {

/// The dimension value standing for the token count T.
inline constexpr int64_t kDynamicDim = -1;

/// What an argument carries and who fills it.
enum class ArgRole { Input, Weight, Output, Stat };

/// The metadata spelling of \p Role.
const char *argRoleName(ArgRole Role);

/// One on-disk form of a weight argument (docs/abi.md, "sources").
struct WeightSource {
  /// A tensor name; with `{e}`, one tensor per expert, stacked at load.
  std::string Name;
  /// The on-disk tensor's last two dimensions are swapped.
  bool Transpose = false;
  /// After the transpose, axis 1 of the stacked tensor holds \c Parts
  /// arguments' rows, and this argument is part \c Part of them: a block of
  /// rows, or with \c Interleave every Parts-th row from \c Part.
  int64_t Parts = 1;
  int64_t Part = 0;
  bool Interleave = false;

  /// True if the name has `{e}`.
  bool isPerExpert() const;
  /// True if the tensor is the argument as it stands (no transpose/split).
  bool isPlain() const { return !Transpose && Parts == 1; }
};

/// One argument of `moert_forward`.
struct ArgInfo {
  ArgRole Role = ArgRole::Input;
  std::string Name;
  DType Type = DType::F32;
  /// Dimensions; kDynamicDim stands for T.
  std::vector<int64_t> Shape;
  /// A weight's on-disk forms, tried in order; one plain source named
  /// \c Name when the metadata lists none.
  std::vector<WeightSource> Sources;
  /// > 1: dim 0 holds one rank's block of the checkpoint's experts, which
  /// has ExpertShards times as many.
  int64_t ExpertShards = 1;
  /// > 0: the model takes this [E, N, K] weight packed in panels of Panels
  /// output columns, [E, N / Panels, K, Panels] (abi::kPanelsKey);
  /// loadWeight lays it out so.
  int64_t Panels = 0;

  /// True if some dimension is T.
  bool isDynamic() const;
  /// True for a weight stacked from per-expert tensors (name has `{e}`).
  bool isStacked() const;
};

/// A model's metadata.
/// What a model's code runs on.
enum class ModelTarget { CPU, CUDA };

struct Metadata {
  uint32_t AbiVersion = 0;
  /// CPU unless the metadata says "target": "cuda".
  ModelTarget Target = ModelTarget::CPU;
  std::string Function;
  std::vector<ArgInfo> Args;
  /// The ranks an expert-parallel model runs on (1: any single process).
  int64_t WorldSize = 1;
  /// Ranks per node of a model with hierarchical exchanges (0: all flat).
  int64_t RanksPerNode = 0;
  /// The descriptive `moe` object re-serialised as JSON ("{}" if absent).
  std::string MoeJson = "{}";

  /// The argument called \p Name, or null.
  const ArgInfo *find(std::string_view Name) const;
  /// The arguments of \p Role in order.
  std::vector<const ArgInfo *> argsWithRole(ArgRole Role) const;
};

/// Parses and validates metadata JSON. Throws Error ("metadata: ...") on
/// invalid JSON, missing or mistyped fields, unknown roles or dtypes,
/// duplicate names, bad dimensions, dynamic weights, or a T that no input
/// binds.
Metadata parseMetadata(std::string_view Json);

} // namespace moert

#endif // MOERT_METADATA_H

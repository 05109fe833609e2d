//===- stats.h - Expert-load statistics reports -----------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Turns a model's `expert_counts` / `expert_kept` stat buffers into a
/// tokens-per-expert histogram and a dropped-assignment count.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_STATS_H
#define MOERT_STATS_H

#include "moert/abi.h"
#include "moert/tensor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moert {

/// The stat names docs/abi.md defines.
using abi::kExpertCountsStat;
using abi::kExpertKeptStat;

/// Per-expert assignment counts and, if the model reports it, how many of
/// them were computed.
struct ExpertStats {
  std::vector<int64_t> Counts;
  std::optional<std::vector<int64_t>> Kept;

  /// Σ(counts − kept), or std::nullopt without `expert_kept`.
  std::optional<int64_t> dropped() const;
};

/// Reads integer (i32/i64) stat tensors. Throws Error if a tensor is not an
/// integer vector or \p Kept's length differs from \p Counts'.
ExpertStats makeExpertStats(const Tensor &Counts, const Tensor *Kept);

/// The integer elements of \p T as int64; throws Error for float tensors.
std::vector<int64_t> integerValues(const Tensor &T, const std::string &What);

/// Formats one line per expert with a `#` bar scaled to the largest count
/// (at most \p BarWidth wide) and the count, then the dropped assignments.
std::string formatExpertStats(const ExpertStats &Stats, unsigned BarWidth = 40);

} // namespace moert

#endif // MOERT_STATS_H

//===- abi.h - The compiled-model ABI constants -----------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// The single source of the constants of the contract between moe-compile and
/// the runtime (docs/abi.md): the ABI version, the exported symbol names and
/// their signatures, the metadata's spellings, and the layout of MLIR strided
/// memref descriptors. This
/// header is self-contained so that the compiler can include it without
/// linking the runtime.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_ABI_H
#define MOERT_ABI_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace moert::abi {

/// The ABI version this runtime implements; models built for any other
/// version are refused.
inline constexpr uint32_t kVersion = 3;

/// `uint32_t moert_abi_version(void)`.
inline constexpr const char *kVersionSymbol = "moert_abi_version";
/// `const char *moert_metadata_json(void)`.
inline constexpr const char *kMetadataSymbol = "moert_metadata_json";
/// `void moert_forward(void **args)`.
inline constexpr const char *kForwardSymbol = "moert_forward";

/// Communication entry points a compiled expert-parallel model calls (it
/// leaves them undefined; moe-run defines them). Memrefs travel as MLIR's
/// C-interface descriptors (`_mlir_ciface_` + name):
/// `int64_t moert_comm_counts(int64_t stage, memref<?xi32> send,
///                            memref<?xi32> recv)`: recv[r] = what rank r
/// sends; returns the sum of recv.
inline constexpr const char *kCommCountsSymbol = "moert_comm_counts";
/// `int64_t moert_comm_total(int64_t stage, memref<?xi32> counts)`: the sum
/// of counts that are already known (the host never reads a CUDA model's
/// buffers itself).
inline constexpr const char *kCommTotalSymbol = "moert_comm_total";
/// `void moert_comm_exchange_<dtype>(int64_t stage, memref<*xT> payload,
///      memref<?xi32> send_counts, memref<*xT> received,
///      memref<?xi32> recv_counts)`: the rows of dim 0, per destination.
inline constexpr const char *kCommExchangePrefix = "moert_comm_exchange_";
/// The `stage` argument: the ranks an exchange spans.
enum class CommStage : int64_t { Flat = 0, IntraNode = 1, InterNode = 2 };

/// Metadata keys of expert parallelism: the ranks a model was compiled for
/// (top level; absent: 1), and on a weight whose dim 0 holds 1/W of the
/// experts, W (each rank loads its own block).
inline constexpr const char *kWorldSizeKey = "world_size";
inline constexpr const char *kExpertShardsKey = "expert_shards";
/// Top level, when some exchange is hierarchical: the ranks per node the
/// model was compiled for (absent: every exchange is flat).
inline constexpr const char *kRanksPerNodeKey = "ranks_per_node";
/// On a weight: its [E, N, K] values are passed packed in panels of this
/// many output columns, [E, N / P, K, P] with element [e, n / P, k, n % P]
/// = w[e, n, k] (absent: as stored). Added in version 3.
inline constexpr const char *kPanelsKey = "panels";
/// What the model's code runs on; absent means the CPU.
inline constexpr const char *kTargetKey = "target";
inline constexpr const char *kTargetCPU = "cpu";
inline constexpr const char *kTargetCUDA = "cuda";

/// Metadata spellings of the element types.
inline constexpr const char *kDTypeF32 = "f32";
inline constexpr const char *kDTypeF16 = "f16";
inline constexpr const char *kDTypeBF16 = "bf16";
inline constexpr const char *kDTypeI32 = "i32";
inline constexpr const char *kDTypeI64 = "i64";

/// Metadata spellings of the argument roles.
inline constexpr const char *kRoleInput = "input";
inline constexpr const char *kRoleWeight = "weight";
inline constexpr const char *kRoleOutput = "output";
inline constexpr const char *kRoleStat = "stat";

/// The routing statistics a model may return (role "stat").
inline constexpr const char *kExpertCountsStat = "expert_counts";
inline constexpr const char *kExpertKeptStat = "expert_kept";

/// In a weight name or source name: the expert index, for one tensor per
/// expert stacked at load.
inline constexpr const char *kExpertPlaceholder = "{e}";

/// Keys of one entry of a weight argument's "sources" list.
inline constexpr const char *kSourceName = "name";
inline constexpr const char *kSourceTranspose = "transpose";
inline constexpr const char *kSourceParts = "parts";
inline constexpr const char *kSourcePart = "part";
inline constexpr const char *kSourceInterleave = "interleave";
/// The largest "parts" a source may have.
inline constexpr int64_t kMaxSourceParts = int64_t(1) << 20;

/// Optional data symbol: a WorkspaceHooks through which the model allocates
/// and frees its scratch buffers once the runtime has set `allocate` (until
/// then, and for a runtime that never sets it, malloc and free). Exported by
/// moe-compile's CPU models since version 3.
inline constexpr const char *kWorkspaceHooksSymbol = "moert_workspace_hooks";
struct WorkspaceHooks {
  void *context;
  void *(*allocate)(void *context, uint64_t bytes);
  void (*release)(void *context, void *ptr);
};

using VersionFn = uint32_t (*)();
using MetadataFn = const char *(*)();
using ForwardFn = void (*)(void **);

/// The number of 64-bit words in the descriptor of a rank-\p Rank memref:
/// allocated and aligned pointers, offset, sizes and strides.
constexpr size_t descriptorWords(size_t Rank) { return 3 + 2 * Rank; }

/// Builds the descriptor of a contiguous row-major buffer at \p Data with
/// shape \p Shape (allocated == aligned, offset 0, row-major strides).
inline std::vector<int64_t> makeDescriptor(void *Data,
                                           const std::vector<int64_t> &Shape) {
  size_t Rank = Shape.size();
  std::vector<int64_t> Words(descriptorWords(Rank));
  // Pointers travel as 64-bit words; the ABI is only defined for LP64 hosts.
  static_assert(sizeof(void *) == sizeof(int64_t), "64-bit hosts only");
  Words[0] = static_cast<int64_t>(reinterpret_cast<intptr_t>(Data));
  Words[1] = Words[0];
  Words[2] = 0;
  int64_t Stride = 1;
  for (size_t I = Rank; I-- > 0;) {
    Words[3 + I] = Shape[I];
    Words[3 + Rank + I] = Stride;
    Stride *= Shape[I];
  }
  return Words;
}

} // namespace moert::abi

#endif // MOERT_ABI_H

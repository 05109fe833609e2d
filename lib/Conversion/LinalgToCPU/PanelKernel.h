//===- PanelKernel.h - expert GEMMs on weights packed in panels -*- C++ -*-===//
//
// Part of moec. The CPU's vector kernel for an expert projection whose
// weights are packed in panels of P output columns: shared by
// moe-lower-mmt4d-to-vectors (a plain projection) and moe-expand-grouped-
// matmul (the gate and up projections with the activation in the epilogue,
// and projections that gather their rows from the tokens).
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_LIB_CONVERSION_LINALGTOCPU_PANELKERNEL_H
#define MOEC_LIB_CONVERSION_LINALGTOCPU_PANELKERNEL_H

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::moe::lowering {

/// f32 lanes per vector: AVX2's 256 bits.
constexpr int64_t kPanelLanes = 8;

/// One expert's projection: C = A · W (and U = A · Up) on buffers.
struct PanelOperands {
  Value a;           // [m, K] f32, or rows of any number with `gather`
  Value gather;      // optional [m] i32: the row of `a` each row of C reads
  Value w;           // [N / P, K, P] f32 or bf16
  Value c;           // [m, N] f32
  Value up;          // optional, laid out as w: a second projection of A ...
  Value upSum;       // ... summed into this [m, N] f32 buffer
  Value scatter;     // optional [m] i32: the row of `tokens` each row of C
  Value scale;       // ... adds into, times this optional [m] f32 weight,
  Value tokens;      // ... after the epilogue: [T, N] f32
  int64_t panel = 0; // P, a multiple of kPanelLanes
  int64_t depth = 0; // K, static
};

/// Whether the kernel takes weights of this type: [N / P, K, P], f32 or
/// bf16, with P a multiple of kPanelLanes and K static.
bool isPanelWeights(Type type);

/// The epilogue of one vector of a panel's columns, once every k is summed:
/// returns what C gets from the projections' sums `c` and `up` (null without
/// a second projection), both vector<8xf32>, at row `row`, columns `col` ..
/// col + 7.
using PanelEpilogue = function_ref<Value(ImplicitLocOpBuilder &, Value c,
                                         Value up, Value row, Value col)>;

/// Emits the kernel: the panels in parallel; in each, chunks of `kChunk`
/// steps of k (a chunk of the panel stays in L1 while every row passes it),
/// then blocks of `blockRows` rows, then one block of the remaining rows.
/// For each projection in turn (w, then up), a block's blockRows x P / 8
/// vector accumulators start each chunk at zero and gain one FMA per k; the
/// chunk's sums are then added to C (or to the up sums), or stored as they
/// are where `fromZero` (the first chunk of a zero C). Each element is summed
/// by the same operations in the same order whatever block or thread
/// computes it. An `epilogue` then rewrites each of the panel's rows, while
/// they are still in cache. With `o.gather`, each block reads its rows of A
/// through it, found once before its k loop. With `o.scatter`, each of the
/// panel's rows of C (after the epilogue) is then added, times its scale
/// if any, into its token's row of `o.tokens`: the rows must be distinct
/// tokens.
void emitPanelKernel(ImplicitLocOpBuilder &b, const PanelOperands &o,
                     bool fromZero, int64_t blockRows, int64_t kChunk,
                     PanelEpilogue epilogue = nullptr);

} // namespace mlir::moe::lowering

#endif // MOEC_LIB_CONVERSION_LINALGTOCPU_PANELKERNEL_H

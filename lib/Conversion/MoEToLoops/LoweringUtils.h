//===- LoweringUtils.h - building blocks of the CPU lowering ----*- C++ -*-===//
//
// Part of moec. Small emitters shared by the moe-lower-to-loops patterns:
// buffer access to tensors, loops and activations.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_LIB_CONVERSION_MOETOLOOPS_LOWERINGUTILS_H
#define MOEC_LIB_CONVERSION_MOETOLOOPS_LOWERINGUTILS_H

#include "moec/Dialect/MoE/IR/MoE.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe::lowering {

/// Reads `tensor` as a read-only identity-layout buffer. Static unit strides
/// let LLVM vectorize the inner loops; a producer bufferized with another
/// layout gets a copy from one-shot bufferization.
Value readBuffer(ImplicitLocOpBuilder &b, Value tensor);

/// A new identity-layout buffer of `type`, its dynamic sizes given in order.
Value allocBuffer(ImplicitLocOpBuilder &b, RankedTensorType type,
                  ValueRange dynamicSizes);

/// buffer[leading..., :, ...]: the slice at the given leading indices, as a
/// view of the remaining dimensions (e.g. row t of a [T, E] buffer as [E],
/// or expert e's [F, D] matrix of an [E, F, D] buffer).
Value sliceAt(ImplicitLocOpBuilder &b, Value buffer, ValueRange leading);

/// Rows [row0, row0 + count) of buffer[prefix..., :, :] as a 2-D view (e.g.
/// expert e's filled slots of a padded [E, C, D] buffer, prefix {e}, or its
/// segment of sorted [N, D] rows, prefix {}).
Value rowsView(ImplicitLocOpBuilder &b, Value buffer, ValueRange prefix,
               OpFoldResult row0, OpFoldResult count);

/// Entries [row0, row0 + count) of list[prefix..., :] as a 1-D view (e.g.
/// expert e's entries of an [E, C] or [R] gather).
Value rowListView(ImplicitLocOpBuilder &b, Value list, ValueRange prefix,
                  OpFoldResult row0, OpFoldResult count);

/// Fills `buffer` with `value`.
void fillBuffer(ImplicitLocOpBuilder &b, Value buffer, Value value);

/// The tensor a lowering returns for a buffer it allocated and wrote.
Value asResult(ImplicitLocOpBuilder &b, Value buffer, Type tensorType);

Value constIndex(ImplicitLocOpBuilder &b, int64_t v);
Value constI32(ImplicitLocOpBuilder &b, int64_t v);
Value constF32(ImplicitLocOpBuilder &b, double v);
Value dim(ImplicitLocOpBuilder &b, Value buffer, int64_t i);
Value toIndex(ImplicitLocOpBuilder &b, Value i32);
Value toI32(ImplicitLocOpBuilder &b, Value index);
/// `v` as f32: bf16 weights widen exactly; an f32 value is returned as is.
Value widenToF32(ImplicitLocOpBuilder &b, Value v);

/// for iv in [lb, ub) step `step`: body(iv).
void forLoop(ImplicitLocOpBuilder &b, Value lb, Value ub,
             function_ref<void(ImplicitLocOpBuilder &, Value)> body,
             int64_t step = 1);

/// for all ivs in [0, ubs) in parallel: body(ivs). Iterations must not
/// depend on each other: the CPU pipeline runs them on OpenMP threads and a
/// GPU pipeline maps them to blocks and threads.
scf::ParallelOp
parallelLoop(ImplicitLocOpBuilder &b, ValueRange ubs,
             function_ref<void(ImplicitLocOpBuilder &, ValueRange)> body);

/// A loop-carried reduction: returns the final values of `inits` after
/// for iv in [lb, ub) step `step`: args = body(iv, args).
ValueRange reduceLoop(
    ImplicitLocOpBuilder &b, Value lb, Value ub, ValueRange inits,
    function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, Value, ValueRange)>
        body,
    int64_t step = 1);

/// if cond { thenBody } [else { elseBody }].
void ifThenElse(ImplicitLocOpBuilder &b, Value cond,
                function_ref<void(ImplicitLocOpBuilder &)> thenBody,
                function_ref<void(ImplicitLocOpBuilder &)> elseBody = {});

/// a + b and a * b with reassociation and contraction allowed: lets LLVM
/// vectorize reductions (dot products) and fuse multiply-adds.
Value fastAdd(ImplicitLocOpBuilder &b, Value x, Value y);
Value fastMul(ImplicitLocOpBuilder &b, Value x, Value y);

/// act(x) for an f32 scalar or vector.
Value emitActivation(ImplicitLocOpBuilder &b, Activation act, Value x);

/// An expert activation and its clamped_swiglu parameters.
struct ActivationSpec {
  Activation kind = Activation::SiLU;
  double alpha = 1.702; // clamped_swiglu only
  double limit = 0.0;   // clamped_swiglu only
};

/// The activation attributes of `op` (moe.experts, moe.grouped_activation,
/// or a moe.grouped_matmul with an epilogue).
template <typename OpTy> ActivationSpec activationOf(OpTy op) {
  ActivationSpec spec;
  auto kind = op.getActivation();
  if constexpr (std::is_same_v<decltype(kind), Activation>)
    spec.kind = kind;
  else if (kind)
    spec.kind = *kind;
  spec.alpha = op.getSwigluAlphaOrDefault();
  if (auto limit = op.getSwigluLimit())
    spec.limit = limit->convertToDouble();
  return spec;
}

/// act(g) ⊙ u (u may be null: act(g)), for f32 scalars or vectors alike;
/// clamped_swiglu needs u.
Value emitGatedActivation(ImplicitLocOpBuilder &b, const ActivationSpec &spec,
                          Value g, Value u);

/// 1 / (1 + exp(-x)).
Value emitSigmoid(ImplicitLocOpBuilder &b, Value x);

} // namespace mlir::moe::lowering

#endif // MOEC_LIB_CONVERSION_MOETOLOOPS_LOWERINGUTILS_H

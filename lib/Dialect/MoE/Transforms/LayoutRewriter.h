//===- LayoutRewriter.h - shared walk of the layout passes ------*- C++ -*-===//
//
// Part of moec. Both layout passes rewrite the same chain, dispatch ->
// experts* -> combine on !moe.grouped values; this walks it once and lets
// each pass say how one link is lowered.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_LIB_DIALECT_MOE_TRANSFORMS_LAYOUTREWRITER_H
#define MOEC_LIB_DIALECT_MOE_TRANSFORMS_LAYOUTREWRITER_H

#include "moec/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/DenseMap.h"

#include <memory>

namespace mlir::moe {

/// A grouped value in a concrete layout: the tokens tensor plus what the
/// combine needs from its dispatch.
struct ConcreteGroups {
  Value tokens;    // [E, C, D] buffer or [N, D] rows.
  Value offsets;   // Sorted layout only: [E + 1].
  Value positions; // Slots ([T, k], capacity) or row positions (sorted).
  Value counts;    // Capacity layout only: [E] assignments per expert.
};

/// How a layout pass lowers each link of the chain.
class LayoutLowering {
public:
  virtual ~LayoutLowering() = default;
  virtual ConcreteGroups lowerDispatch(RewriterBase &rewriter,
                                       DispatchOp op) = 0;
  virtual Value lowerCombine(RewriterBase &rewriter, CombineOp op,
                             const ConcreteGroups &groups) = 0;
};

/// The two layouts: GShard-style [E, C, D] buffers (moe-static-capacity)
/// and rows sorted by expert (moe-dynamic-shapes).
std::unique_ptr<LayoutLowering> createCapacityLowering();
std::unique_ptr<LayoutLowering> createSortedLowering();

/// Rewrites every dispatch/experts/combine on !moe.grouped in `root`.
/// Fails (with a diagnostic) on a grouped value used by another op.
LogicalResult rewriteGroupedChains(Operation *root, LayoutLowering &lowering);

} // namespace mlir::moe

#endif // MOEC_LIB_DIALECT_MOE_TRANSFORMS_LAYOUTREWRITER_H

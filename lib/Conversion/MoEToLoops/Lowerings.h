//===- Lowerings.h - one CPU lowering per moe op ----------------*- C++ -*-===//
//
// Part of moec. Each function replaces one layout-assigned moe op by
// upstream ops (see LoweringUtils.h for the approach).
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_LIB_CONVERSION_MOETOLOOPS_LOWERINGS_H
#define MOEC_LIB_CONVERSION_MOETOLOOPS_LOWERINGS_H

#include "moec/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::moe::lowering {

void lowerRoute(RewriterBase &rewriter, RouteOp op);
void lowerDispatchCapacity(RewriterBase &rewriter, DispatchCapacityOp op);
void lowerAssignSlots(RewriterBase &rewriter, AssignSlotsOp op);
void lowerDispatchSorted(RewriterBase &rewriter, DispatchSortedOp op);
void lowerSortAssignments(RewriterBase &rewriter, SortAssignmentsOp op);
void lowerExperts(RewriterBase &rewriter, ExpertsOp op);
/// `perElement`: the (token, element) form of moe-lower-to-loops'
/// combine-per-element option.
void lowerCombineCapacity(RewriterBase &rewriter, CombineCapacityOp op,
                          bool perElement);
void lowerCombineSorted(RewriterBase &rewriter, CombineSortedOp op,
                        bool perElement);
void lowerScatterWeights(RewriterBase &rewriter, ScatterWeightsOp op);
void lowerAllToAll(RewriterBase &rewriter, AllToAllOp op);
void lowerTransposeSegments(RewriterBase &rewriter, TransposeSegmentsOp op);

} // namespace mlir::moe::lowering

#endif // MOEC_LIB_CONVERSION_MOETOLOOPS_LOWERINGS_H

//===- Capacity.h - per-expert capacity of a dispatch -----------*- C++ -*-===//
//
// Part of moec. The capacity C of a moe.dispatch, shared by both layout
// passes so they drop exactly the same assignments.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_DIALECT_MOE_TRANSFORMS_CAPACITY_H
#define MOEC_DIALECT_MOE_TRANSFORMS_CAPACITY_H

#include "moec/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/Builders.h"
#include <optional>

namespace mlir::moe {

/// C as a constant, when it does not depend on a dynamic T. A dropless
/// dispatch has C = T. C never exceeds T: no expert receives more than T
/// assignments, because a token chooses distinct experts.
std::optional<int64_t> getStaticCapacity(DispatchOp op);

/// C as an index value (a constant when possible), inserted at `b`'s
/// insertion point: `expert_capacity`, or max(ceil(cf · T · k / E),
/// min_capacity) evaluated in f64 in that order, clamped to T; T when the
/// dispatch is dropless.
Value buildCapacity(OpBuilder &b, Location loc, DispatchOp op);

} // namespace mlir::moe

#endif // MOEC_DIALECT_MOE_TRANSFORMS_CAPACITY_H

//===- Passes.h - moe dialect transformation passes -------------*- C++ -*-===//
//
// Part of moec. Declarations and registration of the moe-* passes.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_DIALECT_MOE_TRANSFORMS_PASSES_H
#define MOEC_DIALECT_MOE_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::moe {

#define GEN_PASS_DECL
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"

} // namespace mlir::moe

#endif // MOEC_DIALECT_MOE_TRANSFORMS_PASSES_H

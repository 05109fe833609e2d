//===- MoE.h - moe dialect declarations -------------------------*- C++ -*-===//
//
// Part of moec. Includes the generated dialect, enum, type and op classes.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_DIALECT_MOE_IR_MOE_H
#define MOEC_DIALECT_MOE_IR_MOE_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "moec/Dialect/MoE/IR/MoEDialect.h.inc"
#include "moec/Dialect/MoE/IR/MoEEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "moec/Dialect/MoE/IR/MoEAttrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "moec/Dialect/MoE/IR/MoETypes.h.inc"

#define GET_OP_CLASSES
#include "moec/Dialect/MoE/IR/MoEOps.h.inc"

#endif // MOEC_DIALECT_MOE_IR_MOE_H

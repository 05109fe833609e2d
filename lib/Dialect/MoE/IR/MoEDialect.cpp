//===- MoEDialect.cpp - moe dialect registration --------------------------===//
//
// Part of moec. Registers the moe dialect's ops, attributes and types.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::moe;

#include "moec/Dialect/MoE/IR/MoEDialect.cpp.inc"
#include "moec/Dialect/MoE/IR/MoEEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "moec/Dialect/MoE/IR/MoEAttrs.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "moec/Dialect/MoE/IR/MoETypes.cpp.inc"

void MoEDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "moec/Dialect/MoE/IR/MoEOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "moec/Dialect/MoE/IR/MoEAttrs.cpp.inc"
      >();
  addTypes<
#define GET_TYPEDEF_LIST
#include "moec/Dialect/MoE/IR/MoETypes.cpp.inc"
      >();
}

LogicalResult GroupedType::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t numExperts, int64_t hidden,
                                  Type elementType) {
  if (numExperts <= 0)
    return emitError() << "!moe.grouped expects a positive number of experts, "
                          "got "
                       << numExperts;
  if (hidden <= 0)
    return emitError() << "!moe.grouped expects a positive hidden size, got "
                       << hidden;
  if (!isa<FloatType>(elementType))
    return emitError() << "!moe.grouped expects a floating-point element "
                          "type, got "
                       << elementType;
  return success();
}

//===- InitAll.h - register everything moe-opt and moe-compile use -*- C++
//-*-===//
//
// Part of moec. One place that registers the moe dialect, its passes and
// pipelines next to all upstream dialects, extensions and passes, so every
// tool sees the same world.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_INITALL_H
#define MOEC_INITALL_H

#include "mlir/IR/DialectRegistry.h"

namespace mlir::moe {

/// Adds the moe dialect and every upstream dialect and extension.
void registerAllMoECDialects(DialectRegistry &registry);

/// Registers the moe-* passes, the conversions and the pipelines (and all
/// upstream passes).
void registerAllMoECPasses();

} // namespace mlir::moe

#endif // MOEC_INITALL_H

//===- InitAll.cpp - register everything moe-opt and moe-compile use ------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "moec/InitAll.h"

#include "moec/Conversion/Passes.h"
#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"
#include "moec/Pipelines/Pipelines.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void mlir::moe::registerAllMoECDialects(DialectRegistry &registry) {
  registry.insert<MoEDialect>();
  registerAllDialects(registry);
  registerAllExtensions(registry);
  // gpu-module-to-binary translates kernels to LLVM IR inside a pass.
  registerAllGPUToLLVMIRTranslations(registry);
}

void mlir::moe::registerAllMoECPasses() {
  registerAllPasses();
  registerMoEPasses();
  registerMoEConversionPasses();
  registerMoEPipelines();
}

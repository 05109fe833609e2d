//===- moe-opt.cpp - the moec optimizer driver ----------------------------===//
//
// Part of moec. mlir-opt with the moe dialect, its passes and pipelines
// registered next to everything upstream.
//
//===----------------------------------------------------------------------===//

#include "moec/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::moe::registerAllMoECDialects(registry);
  mlir::moe::registerAllMoECPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "moec optimizer driver\n", registry));
}

//===- PrecompiledHeaders.h - MLIR headers the compiler parses once -------===//
//
// Parsing these headers is most of the compile time of every compiler
// translation unit (about 25 s of 28 s for one lowering file on a 2-core VM); the build
// precompiles them once and every compiler target reuses the result
// (MOEC_PRECOMPILED_HEADERS). Only stable upstream headers that most files
// use belong here: building the header is a serial step before every
// compiler file (a minute or two here), and adding the conversion passes and
// LLVM's codegen headers for the two files that use them made it 9 minutes,
// more than it saved.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/TypeSwitch.h"

//===- Passes.td - moec conversion passes ------------------*- tablegen -*-===//
//
// Part of moec. All conversions out of the moe dialect, declared in one place.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_CONVERSION_PASSES_TD
#define MOEC_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoELowerToLinalg : Pass<"moe-lower-to-linalg"> {
  let summary = "Lower layout-assigned moe ops to linalg, scf and memref (CPU)";
  let description = [{
    Converts `moe.route`, `moe.dispatch_capacity`, `moe.dispatch_sorted`,
    `moe.experts` (on `[E, C, D]` buffers or sorted segments),
    `moe.combine_capacity`, `moe.combine_sorted` and
    `moe.transpose_segments` into upstream ops that
    one-shot bufferization and the standard CPU pipeline handle: dense GEMMs
    as `linalg.generic` (the router GEMM, each expert's projections), the
    sequential parts (top-k, capacity slot assignment, counting sort,
    weighted un-permute) as `scf.for` loops over buffers obtained with
    `bufferization.to_buffer` and returned with `bufferization.to_tensor`.
    `moe.all_to_all` becomes calls of the runtime's communicator
    (`moert_comm_counts`, `moert_comm_exchange_<type>`, declared private with
    the C memref interface; docs/abi.md). Layout-free ops (`!moe.grouped`)
    and `moe.layer` must have been lowered before; finding one is an error.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // MOEC_CONVERSION_PASSES_TD

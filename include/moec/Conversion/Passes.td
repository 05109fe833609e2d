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
    one-shot bufferization and the standard CPU pipeline handle: each expert
    projection as a `linalg.fill` and a transposed-B `linalg.matmul` on
    views of the expert's rows and weights (scheduled for the CPU by
    moe-lower-matmul-to-register-blocks); routing, dispatch and combine as
    parallel algorithms over buffers obtained with `bufferization.to_buffer`
    and returned with `bufferization.to_tensor`: an `scf.parallel` over
    tokens for the router (per-token dot products, scores, top-k in `[T, E]`
    scratch rows) and for the weighted un-permute (each token writes its own
    row, no atomics), and for the dispatches a stable counting sort whose
    histogram, per-expert exclusive scan and ranking/scatter phases are
    `scf.parallel` loops over 256-token chunks and experts. The per-token and
    per-chunk work inside them, the sorted layout's offsets scan over the
    experts, and the activations are `scf.for` loops.
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

def MoELowerMatmulToRegisterBlocks
    : Pass<"moe-lower-matmul-to-register-blocks"> {
  let summary = "Schedule f32 `C += A · Bᵀ` matmuls on buffers for the CPU";
  let description = [{
    Rewrites each f32 `linalg.matmul` whose indexing maps are the
    transposed-B form (`C[i, j] += Σ_k A[i, k] · B[j, k]`: every expert
    projection, weights being stored `[out, in]`) on buffers into a
    register-blocked loop nest: `block-rows x block-cols` accumulators carried
    through the `k` loop (vectorized by LLVM, fast-math reassociation and
    contraction on the products and sums), over chunks of about
    `chunk-elements` elements of A's rows, under an `scf.parallel` over blocks
    of output columns (OpenMP threads when the pipeline converts it). Every
    element's sum is formed in the same order wherever it falls, so a row's
    result does not depend on the rows computed with it. A zero `linalg.fill`
    of C right before the matmul is folded in (the sums are stored instead of
    added to C). Other linalg ops are left alone (convert-linalg-to-loops
    takes them).

    Example:

    ```mlir
    linalg.matmul indexing_maps = [affine_map<(i, j, k) -> (i, k)>,
                                   affine_map<(i, j, k) -> (j, k)>,
                                   affine_map<(i, j, k) -> (i, j)>]
        ins(%x, %w : memref<?x64xf32>, memref<128x64xf32>)
        outs(%h : memref<?x128xf32>)
    ```

    becomes an `scf.for` over row chunks holding an `scf.parallel` over
    column blocks, whose body is `scf.for` loops over `k` carrying the
    accumulators in `iter_args`.
  }];
  let options = [
    Option<"blockRows", "block-rows", "int64_t", /*default=*/"2",
           "Rows of C per register block">,
    Option<"blockCols", "block-cols", "int64_t", /*default=*/"4",
           "Columns of C per register block (2 x 4 keeps 8 accumulators and "
           "6 loaded vectors in AVX2's 16 registers; 4 x 4 measured 24% "
           "slower at T = 4096)">,
    Option<"chunkElements", "chunk-elements", "int64_t", /*default=*/"262144",
           "Elements of A per row chunk (1 MiB of f32: stays in cache while "
           "every column block reuses it)">,
  ];
  let statistics = [
    Statistic<"numBlocked", "blocked-matmuls",
              "Matmuls rewritten into register blocks">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

#endif // MOEC_CONVERSION_PASSES_TD

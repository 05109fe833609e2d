//===- Passes.td - moe dialect transformation passes -------*- tablegen -*-===//
//
// Part of moec. Decomposition of moe.layer and the two dispatch layouts.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_DIALECT_MOE_TRANSFORMS_PASSES_TD
#define MOEC_DIALECT_MOE_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoEDecompose : Pass<"moe-decompose"> {
  let summary = "Split moe.layer into route, dispatch, experts and combine";
  let description = [{
    Rewrites each `moe.layer` into the layout-free pipeline

    ```mlir
    %idx, %w = moe.route %x, %wg {top_k = 2 : i64, normalize = true} : ...
    %g = moe.dispatch %x, %idx : ... -> !moe.grouped<8 x 64 x f32>
    %h = moe.experts %g weights(%w1, %w3, %w2) : ...
    %y = moe.combine %h, %idx, %w : ... -> tensor<?x64xf32>
    ```

    and the shared expert, when present, into a dense gated FFN (a
    one-expert `moe.experts` over all tokens) plus, for Qwen2-MoE, its
    sigmoid gate, added to the routed output.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def MoEStaticCapacity : Pass<"moe-static-capacity"> {
  let summary = "Lay out grouped tokens as padded [E, C, D] buffers";
  let description = [{
    GShard-style lowering of `moe.dispatch`/`moe.experts`/`moe.combine` on
    `!moe.grouped` values into `moe.dispatch_capacity`, `moe.experts` on a
    `[E, C, D]` buffer and `moe.combine_capacity`. C comes from the dispatch's
    capacity attributes: `expert_capacity`, or max(ceil(cf·T·k/E),
    min_capacity) — folded to a constant when T is static, computed at run time
    otherwise — or T when the layer is dropless (exactly dropless, since no
    expert can receive more than T assignments).

    ```mlir
    // before
    %g = moe.dispatch %x, %idx : (tensor<?x64xf32>, tensor<?x2xi32>)
        -> !moe.grouped<8 x 64 x f32>
    // after
    %c = tensor.dim %x, %c0 : tensor<?x64xf32>
    %buf, %slots, %counts = moe.dispatch_capacity %x, %idx, %c : ...
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def MoEDynamicShapes : Pass<"moe-dynamic-shapes"> {
  let summary = "Lay out grouped tokens as rows sorted by expert (dropless)";
  let description = [{
    MegaBlocks-style lowering of `moe.dispatch`/`moe.experts`/`moe.combine`
    on `!moe.grouped` values into `moe.dispatch_sorted` (rows sorted by
    expert + per-expert offsets), `moe.experts` over the segments (a grouped
    GEMM, no padding) and `moe.combine_sorted`. A dispatch with a capacity
    limit keeps it (`capacity(%c)`), so both layouts compute the same result.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def MoEExportStats : Pass<"moe-export-stats", "::mlir::ModuleOp"> {
  let summary = "Return per-expert routing statistics from the entry function";
  let description = [{
    For the single `moe.dispatch_capacity` or `moe.dispatch_sorted` in a
    public function, appends two `tensor<Exi32>` results to the function:
    `expert_counts` (assignments routed to each expert) and `expert_kept`
    (assignments computed, i.e. not dropped by the capacity limit), with
    `moe.stat` result attributes naming them. The runtime reports them with
    `moe-run --stats`.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def MoEEmitCInterface : Pass<"moe-emit-c-interface", "::mlir::ModuleOp"> {
  let summary = "Mark public functions for the C memref-descriptor interface";
  let description = [{
    Sets `llvm.emit_c_interface` on every public `func.func`, so that
    `convert-func-to-llvm` emits `_mlir_ciface_NAME` wrappers taking memref
    descriptors by pointer: the calling convention of the runtime ABI
    (docs/abi.md).
  }];
}

#endif // MOEC_DIALECT_MOE_TRANSFORMS_PASSES_TD

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

def MoEChooseDispatchLayout : Pass<"moe-choose-dispatch-layout"> {
  let summary = "Lay out each dispatch's grouped tokens as padded buffers or "
                "sorted rows, whichever a cost model prefers";
  let description = [{
    `--lowering=auto`: rewrites each `moe.dispatch` -> `moe.experts` ->
    `moe.combine` chain as `moe-static-capacity` or `moe-dynamic-shapes`
    would. Both layouts compute the same kept rows with the same kernels,
    and their bookkeeping does the same work per assignment; what differs
    is the scratch they reserve: E·C rows for the padded layout, T·k for
    the sorted one (each row as wide as the tokens, the hidden activations
    or the outputs of the expert GEMMs). The pass picks the padded layout
    only where E·C < T·k, the sorted one otherwise (ties included):
    - dropless (C = T) and capacity factors of 1 or more always give
      E·C ≥ T·k: sorted;
    - a static T: decided at compile time;
    - a fixed `expert_capacity`, or a factor below 1, with a dynamic T: the
      answer depends on T, so the chain is cloned into both branches of an
      `scf.if` on `E·C < T·k`, evaluated at run time:

    ```mlir
    // expert_capacity = 4, E = 8, k = 1: padded when T > 32
    %c = arith.cmpi slt, %ec, %tk : index
    %y = scf.if %c -> (tensor<?x64xf32>) {
      %buf, %slots, %counts = moe.dispatch_capacity %x, %idx, %cap ...
      ...
      scf.yield %yc : tensor<?x64xf32>
    } else {
      %rows, %offsets, %pos, %counts2 = moe.dispatch_sorted %x, %idx capacity(%cap2) ...
      ...
      scf.yield %ys : tensor<?x64xf32>
    }
    ```

    With `per-token-count=false` (expert parallelism, whose exchanges are
    rewritten per layout; the CUDA target, whose host code does not branch
    around kernels) such a chain takes the padded layout, the choice for
    large T, as does a chain that forks. Both branches compute the same bits, as the two layout
    passes do. `explain` reports each choice and the numbers behind it.
  }];
  let options = [
    Option<"perTokenCount", "per-token-count", "bool", /*default=*/"true",
           "Branch on the run-time token count where the choice depends "
           "on it">,
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Report each choice as a remark">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

def MoEExpertParallel : Pass<"moe-expert-parallel", "::mlir::ModuleOp"> {
  let summary = "Shard the routed experts over ranks, exchanging tokens "
                "with moe.all_to_all";
  let description = [{
    Runs after a layout pass. Rank r of `world-size` W keeps the experts
    [r·E/W, (r+1)·E/W): the expert weight and bias arguments take the shape
    [E/W, ...] and the attribute `moe.expert_shards = W` (the runtime loads
    each rank's block). The router, the dispatch, the combine and any shared
    expert stay data-parallel over the rank's own tokens. Between dispatch
    and combine the pass inserts the exchange:

    ```mlir
    // dropless (moe-dynamic-shapes): rows sorted by expert are already
    // bucketed by destination rank
    %rows, %off, %pos, %cnt = moe.dispatch_sorted %x, %idx : ...
    %counts, %c0 = moe.all_to_all %kept, %L recv_counts(%L) ...  // [E/W] per rank
    %recv, %c1 = moe.all_to_all %rows, %toRank recv_counts(%fromRank) ...
    %byExpert, %eoff = moe.transpose_segments %recv, %countsWL ...
    %h = moe.experts %byExpert offsets(%eoff) weights(%w1, %w3, %w2) ...
    %back, %boff = moe.transpose_segments %h, %countsLW ...
    %ret, %c2 = moe.all_to_all %back, %fromRank recv_counts(%toRank) ...
    %y = moe.combine_sorted %ret, %pos, %w ...
    ```

    With `moe-static-capacity` each rank sends its padded [E/W, C, D] block
    to every owner (GShard: C is the capacity over the sender's own tokens)
    and the owners compute every slot. E must be a multiple of W and the
    token count dynamic. `world-size=1` leaves the IR unchanged.
  }];
  let options = [
    Option<"worldSize", "world-size", "int64_t", /*default=*/"1",
           "Number of ranks the experts are sharded over">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def MoEHierarchicalA2A : Pass<"moe-hierarchical-a2a", "::mlir::ModuleOp"> {
  let summary = "Split flat all-to-all exchanges into an intra-node and an "
                "inter-node stage";
  let description = [{
    With G = `ranks-per-node` ranks on each of N = W / G nodes, rewrites a
    flat `moe.all_to_all` (DeepSpeed-MoE's hierarchical all-to-all, Tutel's
    2DH): each rank first sends its local peer l the rows bound for local
    index l on every node, then exchanges with the ranks of its own local
    index, one per node. A rank's inter-node messages drop from W - G to
    N - 1, each about G times larger. The rows arrive in the flat exchange's
    order (by source rank), so nothing downstream changes:

    ```mlir
    // before (W = 4, G = 2)
    %r, %rc = moe.all_to_all %rows, %sc recv_counts(%known) {world_size = 4 : i64} ...
    // after
    %fine, %fc = moe.all_to_all %perNodeCounts, %two recv_counts(%two)
        {ranks_per_node = 2 : i64, stage = #moe.stage<intra_node>, world_size = 4 : i64} ...
    %byPeer, %o1 = moe.transpose_segments %rows, %scNG ...
    %r1, %c1 = moe.all_to_all %byPeer, %toPeer recv_counts(%fromPeer) {... intra_node ...}
    %byNode, %o2 = moe.transpose_segments %r1, %fineGN ...
    %r2, %c2 = moe.all_to_all %byNode, %toNode recv_counts(%fromNode) {... inter_node ...}
    ```

    `policy=always` rewrites every flat exchange; `policy=cost-model`
    rewrites one only where the alpha-beta model (A2ACostModel.h) predicts
    the two stages to be faster, for exchanges of `tokens-per-rank` tokens
    (times the route's k rows) when the row count is not static, and the
    given link figures. `explain` reports each decision as a remark. The
    entry function gets `moe.ranks_per_node = G` when an exchange is
    rewritten (moe-run checks the launch against it). G = 1 or G = W leaves
    the IR unchanged: one stage is all there is.
  }];
  let options = [
    Option<"ranksPerNode", "ranks-per-node", "int64_t", /*default=*/"1",
           "Ranks on each node (G); must divide the world size">,
    Option<"policy", "policy", "std::string", /*default=*/"\"always\"",
           "Which exchanges to rewrite: always or cost-model">,
    Option<"tokensPerRank", "tokens-per-rank", "int64_t", /*default=*/"1024",
           "Tokens per rank the cost model assumes for dynamic exchanges">,
    Option<"intraLatencyUs", "intra-latency-us", "double", /*default=*/"3.0",
           "Intra-node message latency (microseconds)">,
    Option<"intraGBps", "intra-gbps", "double", /*default=*/"450.0",
           "Intra-node bandwidth per rank (GB/s)">,
    Option<"interLatencyUs", "inter-latency-us", "double", /*default=*/"10.0",
           "Inter-node message latency (microseconds)">,
    Option<"interGBps", "inter-gbps", "double", /*default=*/"50.0",
           "Inter-node bandwidth per rank (GB/s)">,
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Report each decision and its prediction as a remark">
  ];
  let statistics = [
    Statistic<"numRewritten", "rewritten", "Flat exchanges made hierarchical">,
    Statistic<"numKeptFlat", "kept-flat", "Flat exchanges the model kept flat">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
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
    `moe-run --stats`. A layout chosen at run time by
    `moe-choose-dispatch-layout` has one dispatch in each branch of a
    top-level `scf.if`: each branch then also yields its counts and capacity,
    and `expert_kept` is computed after the `scf.if`. Several layers get
    `layerN.`-prefixed names; a dispatch anywhere else is an error.
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

def MoEFuseDispatchGather
    : Pass<"moe-fuse-dispatch-gather", "::mlir::func::FuncOp"> {
  let summary = "Read the experts' rows in place instead of copying them "
                "sorted";
  let description = [{
    Rewrites a `moe.dispatch_sorted` whose sorted rows only feed one
    `moe.experts` into a `moe.sort_assignments` (the same offsets, positions
    and counts, plus each sorted row's token) and a `moe.experts` that reads
    the tokens in place through `gather`: the [T·k, D] permuted copy of the
    tokens is never made, and the first projections gather their operand
    rows as they load them. A `moe.dispatch_capacity` whose [E, C, D] buffer
    only feeds one `moe.experts` over its counts likewise becomes
    `moe.assign_slots` (each filled slot's token) and a gather. Target
    independent; each grouped-matmul schedule implements the gather. Runs
    on the layout-assigned tensor ops, before `moe-lower-to-loops`. Rows
    that anything else reads (an expert-parallel exchange, a second
    consumer), and padded buffers whose experts compute every slot, are left
    as they are. `explain` reports each dispatch's outcome as a remark: the
    bytes per forward the copy would have moved, or why it stays.

    ```mlir
    %rows, %off, %pos, %n = moe.dispatch_sorted %x, %idx
        : (tensor<?x64xf32>, tensor<?x2xi32>)
        -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
    %h = moe.experts %rows offsets(%off) weights(%g, %u, %d)
        : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x96x64xf32>,
           tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
    ```

    becomes

    ```mlir
    %src, %off, %pos, %n = moe.sort_assignments %idx
        : (tensor<?x2xi32>)
        -> (tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
    %h = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d)
        : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>,
           tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
    ```
  }];
  let statistics = [
    Statistic<"numFused", "fused", "Dispatch copies replaced by a gather">
  ];
  let options = [
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Report each dispatch's outcome as a remark">
  ];
}

def MoEFuseExpertCombine
    : Pass<"moe-fuse-expert-combine", "::mlir::func::FuncOp"> {
  let summary = "Weight the experts' rows and add them into the tokens in "
                "the second projection";
  let description = [{
    Rewrites a `moe.combine_sorted` (or `moe.combine_capacity`) whose rows
    come from a `moe.experts` that gathers the tokens
    (`moe-fuse-dispatch-gather`'s form) and that nothing else reads into a
    `moe.scatter_weights` (the routing weight of each row) and a
    `moe.experts` with `combine`: the second projection multiplies each row
    by its weight and adds it into its token as it stores it, so the
    experts' output rows ([T·k, D] or [E, C, D]) are neither written in
    full nor read back by a pass of their own. Each token's sum runs in
    ascending expert order, the order of the unfused combine, so the
    outputs are the same bits with or without the fusion. Target
    independent in the IR; the CPU's per-expert schedule implements it (the
    tile list, which runs experts at once, does not). Runs on the
    layout-assigned tensor ops, after `moe-fuse-dispatch-gather`. Left as
    they are: the passthrough drop policy, rows read by anything else
    (an expert-parallel exchange, a second consumer), experts that copy
    their rows, and a combine over other bookkeeping than the gather's.
    `explain` reports each combine's outcome as a remark.

    ```mlir
    %src, %off, %pos, %n = moe.sort_assignments %idx
        : (tensor<?x2xi32>)
        -> (tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
    %h = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d)
        : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>,
           tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
    %y = moe.combine_sorted %h, %pos, %w
        : (tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32>)
        -> tensor<?x64xf32>
    ```

    becomes

    ```mlir
    %rw = moe.scatter_weights %w, %pos
        : (tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?xf32>
    %y = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d)
        combine(%rw)
        : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>,
           tensor<8x96x64xf32>, tensor<8x64x96xf32>, tensor<?xf32>)
        -> tensor<?x64xf32>
    ```
  }];
  let statistics = [
    Statistic<"numFused", "fused", "Combines done by the second projection">
  ];
  let options = [
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Report each combine's outcome as a remark">
  ];
}

def MoEFuseSharedExpert
    : Pass<"moe-fuse-shared-expert", "::mlir::func::FuncOp"> {
  let summary = "Add the shared expert's output into the routed one in its "
                "second projection";
  let description = [{
    Rewrites an elementwise `linalg.generic` that adds the output of a dense
    `moe.experts` (no gather: the shared expert, whose rows are the tokens),
    optionally times a per-token weight (the sigmoid `shared_expert_gate`),
    to another tensor of the same type (the routed experts' combined
    output) into that `moe.experts` with `into` (and the weight as its
    `combine`): its second projection adds each row, weighted, into a copy
    of the routed output as it stores it, so the shared expert's output is
    neither written in full nor read back by a pass of its own. The sum
    keeps the unfused order, `routed + weight · shared` per element, so the
    outputs are the same bits with or without the fusion. Target
    independent in the IR; the CPU's per-expert schedule implements it (the
    tile list does not). Runs on the layout-assigned tensor ops. Left as
    they are: experts whose output has another reader, and readers that are
    not such an add. `explain` reports the outcome for each dense
    `moe.experts` that a `linalg` op reads, as a remark.

    ```mlir
    %s = moe.experts %x offsets(%all) weights(%sg, %su, %sd)
        : (tensor<?x64xf32>, tensor<2xi32>, tensor<1x96x64xf32>,
           tensor<1x96x64xf32>, tensor<1x64x96xf32>) -> tensor<?x64xf32>
    %z = linalg.generic {indexing_maps = [#id, #id, #token, #id],
                         iterator_types = ["parallel", "parallel"]}
        ins(%y, %s, %gate : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?xf32>)
        outs(%e : tensor<?x64xf32>) {
    ^bb0(%r: f32, %v: f32, %g: f32, %o: f32):
      %w = arith.mulf %g, %v : f32
      %sum = arith.addf %r, %w : f32
      linalg.yield %sum : f32
    } -> tensor<?x64xf32>
    ```

    becomes

    ```mlir
    %z = moe.experts %x offsets(%all) weights(%sg, %su, %sd)
        combine(%gate) into(%y)
        : (tensor<?x64xf32>, tensor<2xi32>, tensor<1x96x64xf32>,
           tensor<1x96x64xf32>, tensor<1x64x96xf32>, tensor<?xf32>,
           tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let statistics = [
    Statistic<"numFused", "fused",
              "Shared experts that add their rows in the second projection">
  ];
  let options = [
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Report each dense experts' outcome as a remark">
  ];
}

def MoEFuseGatedActivation
    : Pass<"moe-fuse-gated-activation", "::mlir::func::FuncOp"> {
  let summary = "Fold the gate and up projections and the activation into one "
                "grouped matmul";
  let description = [{
    Rewrites a `moe.grouped_activation` whose gate (and up) buffers are
    written by `moe.grouped_matmul`s over the same rows into one grouped
    matmul that computes both projections and applies the activation in its
    epilogue, writing only the activations: the [rows, F] sums of gate and
    up are never stored, and no separate pass over the rows runs. Target
    independent; each grouped-matmul schedule implements the epilogue.

    It applies when the buffers are fresh allocations that nothing else
    reads or writes between the projections and the activation, and the
    projections share their rows (`lhs`, `offsets`/`counts`) and weight
    layout. Runs after `moe-lower-to-loops`, before bufferization.

    ```mlir
    moe.grouped_matmul %x, %wg offsets(%off : memref<9xi32>)
        outs(%g : memref<?x96xf32>) : memref<?x64xf32>, memref<8x96x64xf32>
    moe.grouped_matmul %x, %wu offsets(%off : memref<9xi32>)
        outs(%u : memref<?x96xf32>) : memref<?x64xf32>, memref<8x96x64xf32>
    moe.grouped_activation %g up(%u : memref<?x96xf32>)
        offsets(%off : memref<9xi32>) outs(%g : memref<?x96xf32>)
        {activation = #moe.activation<silu>} : memref<?x96xf32>
    ```

    becomes

    ```mlir
    moe.grouped_matmul %x, %wg up(%wu : memref<8x96x64xf32>)
        offsets(%off : memref<9xi32>) outs(%g : memref<?x96xf32>)
        {activation = #moe.activation<silu>}
        : memref<?x64xf32>, memref<8x96x64xf32>
    ```
  }];
  let statistics = [
    Statistic<"numFused", "fused", "Activations folded into a grouped matmul">
  ];
}

def MoEPackExpertWeights : Pass<"moe-pack-expert-weights", "::mlir::ModuleOp"> {
  let summary = "Take expert weights packed in panels of output columns (CPU)";
  let description = [{
    Changes each `[E, N, K]` expert weight argument of a public function
    (`moe.weight`, static shape, f32 or bf16, N a multiple of `panel`, used
    only as `moe.experts` weights) into the packed `[E, N / P, K, P]` form
    (P = `panel`): `packed[e, n / P, k, n % P] = w[e, n, k]`, which is
    `linalg.pack` of each expert's matrix along N with tile P. The argument
    gets `moe.weight_panels = P`, which `moe-compile` writes into the model's
    metadata so the runtime packs the checkpoint's tensor once, at load
    time. The function then unpacks it with a `linalg.unpack` (the IR stays a
    faithful description of the layer); `moe-lower-to-loops` folds that
    unpack away by handing the packed buffer to `moe.grouped_matmul`, whose
    CPU schedule (a `linalg.mmt4d` per expert, lowered by
    `moe-lower-mmt4d-to-vectors`) reads the P columns of one k as one
    contiguous vector load instead of P strided ones.

    Example (P = 16):

    ```mlir
    func.func @forward(%w: tensor<8x96x64xf32> {moe.weight = "w1"}, ...)
    ```

    becomes

    ```mlir
    func.func @forward(%w: tensor<8x6x64x16xf32>
                           {moe.weight = "w1", moe.weight_panels = 16 : i64}, ...) {
      %e = tensor.empty() : tensor<8x96x64xf32>
      %u = linalg.unpack %w inner_dims_pos = [1] inner_tiles = [16]
          into %e : tensor<8x6x64x16xf32> -> tensor<8x96x64xf32>
    ```
  }];
  let options = [
    Option<"panel", "panel", "int64_t", /*default=*/"16",
           "Output columns per panel (two AVX2 vectors of f32)">
  ];
  let statistics = [
    Statistic<"numPacked", "packed", "Expert weight arguments packed">
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // MOEC_DIALECT_MOE_TRANSFORMS_PASSES_TD

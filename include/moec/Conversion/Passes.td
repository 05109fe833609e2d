//===- Passes.td - moec conversion passes ------------------*- tablegen -*-===//
//
// Part of moec. All conversions out of the moe dialect, declared in one place.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_CONVERSION_PASSES_TD
#define MOEC_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoELowerToLoops : Pass<"moe-lower-to-loops"> {
  let summary = "Lower layout-assigned moe ops to parallel loops over buffers "
                "and grouped matmuls";
  let description = [{
    Converts `moe.route`, `moe.dispatch_capacity`, `moe.dispatch_sorted`,
    `moe.experts` (on `[E, C, D]` buffers or sorted segments),
    `moe.combine_capacity`, `moe.combine_sorted` and
    `moe.transpose_segments` into upstream ops that
    one-shot bufferization and the standard pipelines handle, working on
    buffers obtained with `bufferization.to_buffer` and returned with
    `bufferization.to_tensor`. Each expert projection becomes one
    `moe.grouped_matmul` over every expert's rows (with its bias), which a
    target schedules (moe-expand-grouped-matmul on the CPU,
    moe-tile-grouped-matmul for the GPU), and the activation between them an
    `scf.parallel` over the rows. Routing, dispatch and combine become
    parallel algorithms: an `scf.parallel` over (token, expert) for the
    router's dot products and one over tokens for the rest of routing
    (scores, top-k in `[T, E]` scratch rows) and for
    the weighted un-permute (each token writes its own row, no atomics), and
    for the dispatches a stable counting sort whose histogram, per-expert
    exclusive scan and ranking/scatter phases are `scf.parallel` loops over
    256-token chunks and experts. The per-token and per-chunk work inside
    them and the sorted layout's offsets scan over the experts are `scf.for`
    loops.
    `moe.all_to_all` becomes calls of the runtime's communicator
    (`moert_comm_counts`, `moert_comm_exchange_<type>`, declared private with
    the C memref interface; docs/abi.md). Layout-free ops (`!moe.grouped`)
    and `moe.layer` must have been lowered before; finding one is an error.

    With `combine-per-element` (the CUDA pipeline's choice) the un-permute
    is two loops instead: one over tokens writes the order of each token's
    kept rows (`[T, k]`), then one over (token, element) sums the k rows of
    its element in that order. The sum and its order are the same; a GPU
    gets one thread per element, its loads of a row coalesced, where the
    per-token form runs a token's k·D multiply-adds in one thread. The CPU
    keeps the per-token form, whose inner loop over a row vectorizes.
  }];
  let options = [
    Option<"combinePerElement", "combine-per-element", "bool",
           /*default=*/"false",
           "Combine in a parallel loop over (token, element), after a "
           "per-token loop that orders each token's rows (GPUs)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

def MoEExpandGroupedMatmul : Pass<"moe-expand-grouped-matmul"> {
  let summary = "Expand each `moe.grouped_matmul` into one `linalg.matmul` "
                "per expert (the CPU schedule)";
  let description = [{
    Rewrites `moe.grouped_matmul` into an `scf.for` over the experts. For
    expert e it takes views of its rows of `lhs` and `out` (its segment
    `offsets[e] .. offsets[e+1]`, or its filled slots of the padded buffer)
    and of its `[N, K]` weight matrix, then zero-fills the output view and
    runs a transposed-B `linalg.matmul` on them, and adds the bias row by row.
    moe-lower-matmul-to-register-blocks then schedules each matmul for the
    CPU's registers and caches.

    Example:

    ```mlir
    moe.grouped_matmul %rows, %w offsets(%off : memref<9xi32>)
        outs(%h : memref<?x96xf32>) : memref<?x64xf32>, memref<8x96x64xf32>
    ```

    becomes, for each e in [0, 8): loads of `%off[e]` and `%off[e + 1]`,
    `memref.subview`s of `%rows`, `%h` and `%w[e]`, a `linalg.fill` and a
    `linalg.matmul`.

    Weights packed in panels of P columns (`[E, N / P, K, P]`,
    moe-pack-expert-weights) give a `linalg.mmt4d` instead, on
    `memref.expand_shape`s of the same views: A as `[m, K, 1, 1]`, the
    expert's panels as `[N / P, K, P, 1]` and C as `[m, N / P, 1, P]`
    (moe-lower-mmt4d-to-vectors schedules it).

    A grouped matmul with an activation epilogue (moe-fuse-gated-activation)
    on packed weights becomes the same vector kernel with both projections
    in one pass over the rows: each block of rows runs the gate panel's
    chunk of k, then the up panel's (the rows stay in L1), and once a
    panel's k is done its rows get `act(g + bias) ⊙ (u + up_bias)` while they
    are in cache; the up sums go to one scratch buffer of the output's
    shape. On `[E, N, K]` weights each expert gets two `linalg.matmul`s and
    the epilogue as a loop over its rows.

    Example of the fused form:

    ```mlir
    moe.grouped_matmul %rows, %wg up(%wu : memref<8x6x64x16xf32>)
        offsets(%off : memref<9xi32>) outs(%h : memref<?x96xf32>)
        {activation = #moe.activation<silu>}
        : memref<?x64xf32>, memref<8x6x64x16xf32>
    ```

    becomes, for each e, an `scf.parallel` over its 6 panels whose body runs
    the `vector.fma`s of the gate panel, then those of the up panel, on each
    block of rows, then the SiLU of each gate vector times its up vector,
    stored into `%h`.
  }];
  let options = [
    Option<"blockRows", "block-rows", "int64_t", /*default=*/"6",
           "Rows per register block of a fused projection (as "
           "moe-lower-mmt4d-to-vectors' block-rows)">,
    Option<"kChunk", "k-chunk", "int64_t", /*default=*/"256",
           "Steps of k per chunk of a fused projection (as "
           "moe-lower-mmt4d-to-vectors' k-chunk)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def MoETileGroupedMatmul : Pass<"moe-tile-grouped-matmul"> {
  let summary = "Turn each `moe.grouped_matmul` into one parallel loop over "
                "a list of row tiles x column tiles (the GPU schedule)";
  let description = [{
    Rewrites `moe.grouped_matmul` into an `scf.parallel` over (row-tile slot,
    column tile) whose bounds do not depend on the routing: `E · ceil(C /
    tile-rows)` slots for a padded buffer, `ceil(R / tile-rows) + E` for R
    sorted rows (each segment wastes less than one tile). Every slot finds
    its expert and rows from the segment sizes in the loop body (a scan over
    the experts for sorted rows); slots past the last tile do nothing. A
    nested `scf.parallel` over the tile's `tile-rows x tile-cols` elements
    computes one dot product each, in k order, then adds the bias.

    This is MegaBlocks' tile list: the loops come mapped (slots and column
    tiles to blocks, the tile's elements to threads; the CPU ignores the
    mapping), so `convert-parallel-loops-to-gpu` makes it one kernel launch,
    even when canonicalization folds a 1 x 1 grid, and no host code reads
    the segment sizes. The same loops lower to the CPU,
    which is how CI checks their logic against the NumPy reference
    (`moe-compile --grouped-gemm=tile-list`). The dot products are scalar:
    the tensor-core tile is the next step.

    Example:

    ```mlir
    moe.grouped_matmul %rows, %w offsets(%off : memref<9xi32>)
        outs(%h : memref<?x96xf32>) : memref<?x64xf32>, memref<8x96x64xf32>
    ```

    becomes `scf.parallel (%slot, %ct) = (0, 0) to (ceil(R / 16) + 8, 6)`
    holding an `scf.for` over the experts that finds the slot's rows, and an
    `scf.parallel` over the 16 x 16 elements of the tile.
  }];
  let options = [
    Option<"tileRows", "tile-rows", "int64_t", /*default=*/"16",
           "Rows of the output per tile (a GPU block's height)">,
    Option<"tileCols", "tile-cols", "int64_t", /*default=*/"16",
           "Columns of the output per tile (a GPU block's width)">,
  ];
  let statistics = [
    Statistic<"numTiled", "tiled-grouped-matmuls",
              "Grouped matmuls rewritten into a tile list">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::gpu::GPUDialect"];
}

def MoETileGroupedMatmulOnTensorCores
    : Pass<"moe-tile-grouped-matmul-on-tensor-cores"> {
  let summary = "Turn each bf16-weight `moe.grouped_matmul` into a tile list "
                "whose warps multiply on tensor cores (`nvvm.mma.sync`)";
  let description = [{
    The tensor-core form of `moe-tile-grouped-matmul`'s tile list, for
    grouped matmuls whose weights are bf16 (f32 rows and products): the
    same grid of (row-tile slot, column tile), found from the segment sizes
    in the kernel, so the host never reads them. Each tile is
    `tile-rows x tile-cols` outputs computed by `(tile-rows / 32) x
    (tile-cols / 32)` warps; each warp owns 32 x 32 outputs, 2 x 4
    `nvvm.mma.sync` m16n8k16 bf16 tiles accumulated in f32 registers over
    k in steps of 16. A thread loads its fragments from global memory: two
    adjacent bf16 weights as one 32-bit word, two adjacent f32 rows' values
    rounded to bf16 (round to nearest even). Rows and columns past the
    tile's end are read clamped to the last valid one and never stored; a k
    tail (K not a multiple of 16) reads zeros. The bias is added in the
    epilogue, in f32.

    The fused forms are computed in the same kernel: with a `gather` each
    lane finds the token its rows read once, before the k loop, and reads
    A from the tokens (no permuted copy of them); with an `activation` the
    epilogue applies it to the sum (plus bias) and, with `up`, a second set
    of 2 x 4 mma tiles per warp sums the up projection from the same A
    registers (64 accumulators per lane), so the epilogue writes
    `act(g) ⊙ u` and neither projection's sums leave the registers. A
    `scatter` (the combine) is left alone: tiles of different experts would
    add into one token at once.

    With `stages=S` (S >= 2) the warps read their fragments from shared
    memory instead: S stages, each holding 32 k values of the tile's rows
    (f32) and weight rows (bf16, both projections), which all the tile's
    threads fill with 16-byte `nvgpu.device_async_copy` pieces (cp.async,
    pieces past K zero-filled), S - 1 stages ahead of the warps, with one
    `gpu.barrier` per stage. Global memory is then read in whole, coalesced
    16-byte pieces, once per tile rather than once per warp. The stages are
    private `memref.global`s in workgroup memory, which
    `gpu-kernel-outlining` copies into the kernel's module (the host's
    copies are left for `symbol-dce`); they must fit the 48 KiB of static
    shared memory. Grouped matmuls whose K is not a multiple of 8, whose
    rows are not f32, or whose buffers are not in the identity layout keep
    the global-memory fragments.

    The loops carry their GPU mapping (tiles to blocks, warps' lanes to
    threads), since `gpu-map-parallel-loops` would map a lone thread loop
    to blocks once canonicalization folds a 1 x 1 tile grid. Needs sm_80 or
    newer (`ptxas` rejects bf16 mma.sync below). Other
    grouped matmuls (f32 weights) are left for `moe-tile-grouped-matmul`,
    which computes the same fused forms with scalar dot products.
    The products round the rows to bf16, as a bf16 model does; the sums are
    f32.

    Example:

    ```mlir
    moe.grouped_matmul %rows, %w offsets(%off : memref<9xi32>)
        outs(%h : memref<?x96xf32>) : memref<?x64xf32>, memref<8x96x64xbf16>
    ```

    becomes `scf.parallel (%slot, %ct) = (0, 0) to (ceil(R / 64) + 8, 2)`
    holding the expert scan of the tile list and an `scf.parallel` over 128
    threads (4 warps), each running an `scf.for` over k that carries 32 f32
    accumulators through 8 `nvvm.mma.sync` per step.
  }];
  let options = [
    Option<"tileRows", "tile-rows", "int64_t", /*default=*/"64",
           "Rows of the output per tile, a multiple of 32">,
    Option<"tileCols", "tile-cols", "int64_t", /*default=*/"64",
           "Columns of the output per tile, a multiple of 32">,
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "Shared-memory stages the operands go through (cp.async); 0: "
           "fragments straight from global memory">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::nvgpu::NVGPUDialect",
                           "::mlir::gpu::GPUDialect"];
}

def MoESerialHostCodeToGPU : Pass<"moe-serial-host-code-to-gpu",
                                   "::mlir::func::FuncOp"> {
  let summary = "Run the host code that reads or writes buffers as "
                "single-thread GPU launches";
  let description = [{
    After `convert-parallel-loops-to-gpu`, a host function still holds the
    serial code that was never a parallel loop, such as the sorted
    dispatch's scan of the per-expert counts into segment offsets. On the
    GPU its buffers live in device memory, which the host cannot touch. This
    pass wraps each run of such ops (ops that read or write a memref,
    directly or in their regions, separated only by side-effect-free ops)
    in a `gpu.launch` of one block of one thread, placed where the run's
    last op was, so the host never reads device memory and never waits for
    a value computed on the device. Side-effect-free ops on a value the run
    computed join it (a one-iteration parallel loop that canonicalization
    folded, such as `min(counts[0], C)` of a one-expert layer). Allocation, deallocation and copies are
    left to `moe-host-buffers-to-gpu`.

    A run that only reads memory, whose results only launches use, and
    whose buffers nothing writes up to those launches (a folded
    one-iteration tile list leaves the loads that find the tile's rows
    before the launch over its threads) is copied to the start of each of
    those launches instead. Any other run whose results the host goes on
    to use cannot move: the pass reports an error there rather than
    emitting a host read of device memory.

    Example: the offsets scan

    ```mlir
    memref.store %c0_i32, %offsets[%c0] : memref<9xi32>
    %total = scf.for %e = %c0 to %c8 step %c1 iter_args(%acc = %c0_i32) -> (i32) {
      ...
    }
    ```

    becomes `gpu.launch blocks(...) in (1, 1, 1) threads(...) in (1, 1, 1)`
    holding the store and the loop (whose result is unused).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
  let statistics = [
    Statistic<"numLaunches", "serial-launches",
              "Runs of serial host code moved into a one-thread launch">,
    Statistic<"numSunk", "sunk-runs",
              "Read-only runs copied into the launches that use them">,
  ];
}

def MoETileFlatParallelLoops : Pass<"moe-tile-flat-parallel-loops",
                                     "::mlir::func::FuncOp"> {
  let summary = "Tile each unmapped parallel loop with no parallel loop "
                "inside into blocks of threads (its GPU mapping)";
  let description = [{
    `gpu-map-parallel-loops` maps an outermost parallel loop to blocks and
    only a nested one to threads, so a flat loop (routing: one token per
    iteration; the dispatch's histograms, scans and ranking; the combine)
    would run one thread per block: 1/32 of a warp, and at most 32 threads
    per SM. This pass tiles each such loop (`scf::tileParallelLoop`, the
    utility behind upstream's `scf-parallel-loop-tiling`) along its last
    dimension by `threads-per-block`, with an `scf.if` guard instead of
    `min` bounds, and maps it: the tile loop's dimensions to blocks x, y, z,
    the tiled dimension of the inner loop to threads x (others run
    sequentially, trip count 1). Loops that hold a parallel loop or already
    carry a mapping (the grouped matmuls' tile lists) are left alone;
    upstream's pass would tile their thread loops too.

    Example (`threads-per-block=128`):

    ```mlir
    scf.parallel (%t) = (%c0) to (%n) step (%c1) { ... }
    ```

    becomes

    ```mlir
    scf.parallel (%b) = (%c0) to (%n) step (%c128) {
      scf.parallel (%i) = (%c0) to (%c128) step (%c1) {
        %t = arith.addi %i, %b : index
        %in = arith.cmpi ult, %t, %n : index
        scf.if %in { ... }
      } {mapping = [#gpu.loop_dim_map<processor = thread_x, ...>]}
    } {mapping = [#gpu.loop_dim_map<processor = block_x, ...>]}
    ```
  }];
  let options = [
    Option<"threadsPerBlock", "threads-per-block", "int64_t",
           /*default=*/"128",
           "Iterations of the last dimension per block (its threads)">,
  ];
  let statistics = [
    Statistic<"numTiled", "tiled", "Flat parallel loops tiled into blocks">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::gpu::GPUDialect"];
}

def MoESplitDotProductsAcrossLanes
    : Pass<"moe-split-dot-products-across-lanes", "::mlir::func::FuncOp"> {
  let summary = "Give each iteration of a flat parallel loop that sums a "
                "long loop (routing's logits) a warp: lanes sum strided "
                "elements, shuffles add them";
  let description = [{
    Routing's logits are a parallel loop over (token, expert) whose body is
    one dot product of length D. Run as one thread per iteration, each sum
    waits on one load per element. This pass takes an unmapped, reduction-
    free parallel loop with no parallel loop inside (at most 3 dimensions)
    whose body is: ops that only read memory, one `scf.for` carrying a
    single float through a `reassoc` `arith.addf` (its body only reads), and
    anything after it. It rewrites it as blocks of `warps-per-block` warps,
    the last dimension in steps of that many: warp w runs iteration
    i + w, lane l sums elements l, l + 32, ... (lane 0 from the sum's
    initial value, the others from zero), five `gpu.shuffle xor` steps add
    the 32 partial sums, and lane 0 alone runs the ops after the sum. The
    loops are mapped (blocks x, y, z; warps to threads y, lanes to threads
    x), so `moe-tile-flat-parallel-loops` and `gpu-map-parallel-loops` leave
    them. A sum with a static trip count under 32 is left alone. The sum's
    order changes, which the `reassoc` flag allows.

    Example (`warps-per-block=4`):

    ```mlir
    scf.parallel (%t, %e) = (%c0, %c0) to (%nt, %c8) step (%c1, %c1) {
      %s = scf.for %d = %c0 to %c4096 step %c1 iter_args(%a = %zero) -> f32 {
        ...
        %n = arith.addf %a, %p fastmath<reassoc, contract> : f32
        scf.yield %n : f32
      }
      memref.store %s, %logits[%t, %e] : memref<?x8xf32>
    }
    ```

    becomes blocks (%t, %e0) over (%nt, 8) step (1, 4), threads (%w, %l)
    over (4, 32); under `%e0 + %w < 8`, lane %l sums %d = %l, %l + 32, ...,
    `gpu.shuffle xor` by 16, 8, 4, 2, 1 adds the lanes, and `scf.if %l == 0`
    stores.
  }];
  let options = [
    Option<"warpsPerBlock", "warps-per-block", "int64_t", /*default=*/"4",
           "Warps per block (iterations of the last dimension per block)">,
  ];
  let statistics = [
    Statistic<"numSplit", "split", "Parallel loops whose sums were split "
                                   "across lanes">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::gpu::GPUDialect"];
}

def MoEHostBuffersToGPU : Pass<"moe-host-buffers-to-gpu",
                               "::mlir::func::FuncOp"> {
  let summary = "Allocate, free and copy the host code's buffers in device "
                "memory";
  let description = [{
    Converts the host function's `memref.alloc`, `memref.dealloc` and
    `memref.copy` (the scratch buffers of the lowered layer and the copies
    into its outputs) into `gpu.alloc`, `gpu.dealloc` and `gpu.memcpy`, so
    that every buffer of a CUDA model is device memory: the caller passes
    device pointers for the inputs, weights and outputs, and the kernels
    allocate nothing. Ops inside a `gpu.launch` are left alone. `gpu-to-llvm`
    lowers the results to the runtime's `mgpuMemAlloc`, `mgpuMemFree` and
    `mgpuMemcpy`.

    Example:

    ```mlir
    %buf = memref.alloc(%t) : memref<?x8xi32>
    ```

    becomes

    ```mlir
    %buf = gpu.alloc (%t) : memref<?x8xi32>
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
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

def MoELowerMmt4dToVectors : Pass<"moe-lower-mmt4d-to-vectors"> {
  let summary = "Schedule packed expert projections (`linalg.mmt4d`) as "
                "vector outer products for the CPU";
  let description = [{
    Rewrites each `linalg.mmt4d` on buffers of the packed-projection form
    (A `[m, K, 1, 1]` f32, B `[N / P, K, P, 1]` f32 or bf16, C
    `[m, N / P, 1, P]` f32, P a multiple of 8: what moe-expand-grouped-matmul
    makes of weights packed by moe-pack-expert-weights) into an
    `scf.parallel` over the panels (OpenMP threads), an `scf.for` over chunks
    of `k-chunk` steps of k, and register blocks of `block-rows` rows times
    the panel's P columns. A block's k loop loads the panel's P weights of
    one k as P / 8 `vector<8xf32>` (bf16 widened by a shift), broadcasts
    each row's `A[i, k]`, and accumulates with `vector.fma` in
    `block-rows x P / 8` vector registers that start each chunk at zero; the
    chunk's sums are then added to C (summing chunks apart keeps the
    rounding error of a long k close to a chunk's). The rows past the last
    full block form one block of that many rows (an `scf.index_switch` over
    1 .. block-rows - 1), so an expert with a few rows still runs several
    independent FMA chains. Every element of C is summed by the same
    operations in the same order whatever block computes it, so a row's
    result does not depend on the rows it is grouped with (expert-parallel
    runs stay bitwise equal to one rank's). A zero `linalg.fill` of C before
    the op (views of C in between allowed) is folded in: the first chunk
    stores its sums instead of adding them.

    Example:

    ```mlir
    linalg.mmt4d ins(%a, %b : memref<?x64x1x1xf32>, memref<6x64x16x1xf32>)
                 outs(%c : memref<?x6x1x16xf32>)
    ```

    becomes `scf.parallel (%p) = (%c0) to (%c6)` holding `scf.for` loops
    over k chunks and row blocks, whose innermost `scf.for` over k carries
    `vector<8xf32>` accumulators through `vector.load`, `vector.broadcast`
    and `vector.fma`.
  }];
  let options = [
    Option<"blockRows", "block-rows", "int64_t", /*default=*/"6",
           "Rows per register block (6 rows x 16 columns: 12 accumulators, "
           "2 weight vectors and a broadcast in AVX2's 16 registers)">,
    Option<"kChunk", "k-chunk", "int64_t", /*default=*/"256",
           "Steps of k per chunk (256 x 16 f32 weights: 16 KiB, in L1 while "
           "every row block passes over them)">,
  ];
  let statistics = [
    Statistic<"numLowered", "lowered", "Packed projections lowered">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def MoEApproximateMath : Pass<"moe-approximate-math"> {
  let summary = "Polynomial approximations for f32 math.exp and math.erf "
                "(CPU)";
  let description = [{
    Rewrites every `math.exp` and `math.erf` on f32 (scalars and vectors)
    with upstream MLIR's polynomial approximations (range reduction and a
    polynomial in `arith` and `math.fma`,
    `populateMathPolynomialApproximationPatterns`), as IREE and XLA do on
    CPUs. `convert-math-to-libm` would otherwise unroll an operation on a
    vector into one scalar `expf` or `erff` call per lane, which is what the
    activation in a vectorized GEMM epilogue (SiLU, GELU, GPT-OSS's clamped
    SwiGLU) did. Scalars get the same polynomial so that every exp of a
    model is the same function: the fused and unfused forms of a layer give
    the same bits. On the Mixtral-like benchmark layer the output moved by
    at most 1.8e-7 of its largest value against libm's.

    Example:

    ```mlir
    %e = math.exp %x : vector<8xf32>
    ```

    becomes a sequence of `arith` operations and `math.fma`, `math.floor`
    on `vector<8xf32>` (with `arith.select`s for overflow, underflow and
    NaN), and no call.
  }];
  let dependentDialects = ["arith::ArithDialect", "math::MathDialect",
                           "vector::VectorDialect"];
  let statistics = [
    Statistic<"numApproximated", "approximated",
              "exp and erf operations replaced by polynomials">,
  ];
}

def MoESerializeSmallParallelRegions
    : Pass<"moe-serialize-small-parallel-regions"> {
  let summary = "Run OpenMP parallel regions with little work on the calling "
                "thread";
  let description = [{
    Gives each `omp.parallel` that has no `if` operand one: true when an
    estimate of the work the region does reaches `min-work`, so a region
    with less runs on the calling thread (`__kmpc_fork_call_if` with false
    wakes no other thread). Waking and joining a team costs a few
    microseconds, more than a small region's work: a Mixtral-shaped layer
    of width 32 at T = 3 has a dozen regions and took 40 us with threads
    against 9 us without.

    The estimate is computed before the region, from values defined outside
    it: each operation counts its vector's element count (1 for a scalar);
    a loop (`scf.for`, the `omp.loop_nest` of the region's worksharing loop)
    multiplies its body by its trip count, taken from bounds defined outside
    the region, or bounded by `c / step` when its upper bound is
    `min(lower + c, x)` (a chunk of a range); `scf.if`, `scf.index_switch`
    and `memref.alloca_scope` count all their bodies. A region whose work
    cannot be bounded that way (a loop with other bounds, an `scf.while`)
    keeps running in parallel, as does one whose estimate is a constant at
    least `min-work`; one whose estimate is a smaller constant gets a
    constant false.

    Example: with the default `min-work`,

    ```mlir
    omp.parallel {
      omp.wsloop {
        omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
          scf.for %j = %c0 to %c64 step %c1 { ... 2 operations ... }
          omp.yield
        }
      }
      omp.terminator
    }
    ```

    gets `omp.parallel if(%big)` with `%big = arith.cmpi uge, %work, %min`
    and `%work` = `%n` x 128 computed before it.
  }];
  let options = [
    Option<"minWork", "min-work", "int64_t", /*default=*/"32768",
           "Estimated operations below which a region runs on one thread "
           "(about where a team's wake-up and join, a few microseconds, "
           "costs what a second thread saves)">,
  ];
  let statistics = [
    Statistic<"numGuarded", "guarded", "Regions given a computed if">,
    Statistic<"numSerial", "serial", "Regions whose estimate is a small "
                                     "constant (if false)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::omp::OpenMPDialect"];
}

#endif // MOEC_CONVERSION_PASSES_TD

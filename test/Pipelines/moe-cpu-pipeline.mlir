// Tests that the registered pipelines take a moe.layer to the LLVM dialect
// stage by stage (as moe-compile runs them), for both lowerings, and that
// moe-compile prints the pipelines it runs.

// RUN: moe-opt %s --moe-tensor-pipeline | FileCheck %s --check-prefix=TENSOR
// TENSOR: moe.route
// TENSOR: moe.dispatch_sorted
// TENSOR: moe.experts %{{.+}} offsets(
// TENSOR: moe.combine_sorted
// TENSOR: return %{{.+}}, %{{.+}}, %{{.+}} : tensor<?x16xf32>, tensor<4xi32>, tensor<4xi32>

// RUN: moe-opt %s --moe-tensor-pipeline="lowering=static export-stats=false" | FileCheck %s --check-prefix=STATIC
// STATIC: moe.dispatch_capacity
// STATIC: moe.experts %{{.+}} counts(
// STATIC: return %{{.+}} : tensor<?x16xf32>

// RUN: moe-opt %s --moe-tensor-pipeline --moe-cpu-lowering-pipeline | FileCheck %s --check-prefix=LLVM
// LLVM: llvm.func @forward(
// LLVM: omp.parallel
// LLVM: llvm.func @_mlir_ciface_forward(
// LLVM-NOT: = moe.

// RUN: moe-opt %s --moe-cpu-pipeline="lowering=static openmp=false" | FileCheck %s --check-prefix=SERIAL
// SERIAL-NOT: omp.
// SERIAL: llvm.func @_mlir_ciface_forward(

// RUN: moe-compile --print-pipeline --lowering=static | FileCheck %s --check-prefix=PRINT
// PRINT: moe-opt --pass-pipeline='any(moe-decompose,moe-static-capacity,moe-export-stats,moe-pack-expert-weights{panel=16},canonicalize
// PRINT: moe-opt --pass-pipeline='any(func.func(moe-fuse-dispatch-gather{explain=false}),func.func(moe-fuse-expert-combine{explain=false}),func.func(moe-fuse-shared-expert{explain=false}),moe-emit-c-interface,cse,moe-lower-to-loops{combine-per-element=false},{{.*}}func.func(moe-fuse-gated-activation),one-shot-bufferize{{.*}}moe-expand-grouped-matmul{block-rows=6 k-chunk=256},moe-lower-mmt4d-to-vectors{block-rows=6 k-chunk=256},moe-lower-matmul-to-register-blocks{{.*}}convert-scf-to-openmp{{.*}},moe-serialize-small-parallel-regions{min-work=32768},finalize-memref-to-llvm{{.*}}use-generic-functions=true{{.*}}reconcile-unrealized-casts)'
// RUN: moe-compile --print-pipeline --parallel-min-work=0 | FileCheck %s --check-prefix=ALL-PARALLEL
// ALL-PARALLEL-NOT: moe-serialize-small-parallel-regions
// RUN: moe-compile --print-pipeline --fuse-gated-activation=false | FileCheck %s --check-prefix=UNFUSED
// UNFUSED-NOT: moe-fuse-gated-activation
// RUN: moe-compile --print-pipeline --fuse-dispatch-gather=false | FileCheck %s --check-prefix=COPIED
// COPIED-NOT: moe-fuse-dispatch-gather
// RUN: moe-compile --print-pipeline --fuse-expert-combine=false | FileCheck %s --check-prefix=COMBINE-PASS
// COMBINE-PASS-NOT: moe-fuse-expert-combine
// RUN: moe-compile --print-pipeline --fuse-shared-expert=false | FileCheck %s --check-prefix=SHARED-ADD
// SHARED-ADD: moe-fuse-expert-combine
// SHARED-ADD-NOT: moe-fuse-shared-expert
// The tile list runs the experts at once: no combine in them, and no rows
// added into a tensor.
// RUN: moe-compile --print-pipeline --grouped-gemm=tile-list --weight-panels=0 | FileCheck %s --check-prefix=TILES
// TILES: moe-fuse-dispatch-gather
// TILES-NOT: moe-fuse-expert-combine
// TILES-NOT: moe-fuse-shared-expert
// RUN: moe-compile --print-pipeline --explain | FileCheck %s --check-prefix=EXPLAIN
// EXPLAIN: moe-choose-dispatch-layout{explain=true per-token-count=true}
// EXPLAIN: moe-fuse-dispatch-gather{explain=true}),func.func(moe-fuse-expert-combine{explain=true}),func.func(moe-fuse-shared-expert{explain=true})
// RUN: moe-compile --print-pipeline --weight-panels=0 | FileCheck %s --check-prefix=UNPACKED
// UNPACKED: moe-opt --pass-pipeline='any(moe-decompose,moe-choose-dispatch-layout{explain=false per-token-count=true},moe-export-stats,canonicalize
// The layout by cost model is the default; it branches on T except where
// one layout must serve every T (expert parallelism, the CUDA target).
// RUN: moe-compile --print-pipeline --lowering=dynamic | FileCheck %s --check-prefix=DYNAMIC
// DYNAMIC: moe-opt --pass-pipeline='any(moe-decompose,moe-dynamic-shapes,moe-export-stats,
// RUN: moe-compile --print-pipeline --expert-parallel=2 | FileCheck %s --check-prefix=AUTO-EP
// AUTO-EP: moe-choose-dispatch-layout{explain=false per-token-count=false},moe-expert-parallel{world-size=2}
// RUN: moe-compile --print-pipeline --target=cuda | FileCheck %s --check-prefix=AUTO-CUDA
// AUTO-CUDA: moe-choose-dispatch-layout{explain=false per-token-count=false}

func.func @forward(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64, normalize = true} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// REQUIRES: ptxas
// RUN: moe-opt %s --pass-pipeline='builtin.module(moe-lower-to-loops,canonicalize,one-shot-bufferize{bufferize-function-boundaries=true function-boundary-type-conversion=identity-layout-map},convert-bufferization-to-memref,moe-tile-grouped-matmul,canonicalize,func.func(gpu-map-parallel-loops,convert-parallel-loops-to-gpu),gpu-kernel-outlining)' > %t.kernels.mlir
// RUN: FileCheck %s --check-prefix=KERNELS < %t.kernels.mlir
// RUN: moe-opt %t.kernels.mlir --pass-pipeline='builtin.module(gpu-lower-to-nvvm-pipeline{cubin-chip=sm_90a cubin-features=+ptx80 cubin-format=bin})' | FileCheck %s --check-prefix=BINARY

// Tests that the parallel loops moe-lower-to-loops emits for routing, the
// sorted dispatch, the experts' activation and the combine, and the tile
// lists moe-tile-grouped-matmul makes of the expert GEMMs, are what a GPU
// target can map: upstream's gpu-map-parallel-loops and
// convert-parallel-loops-to-gpu turn each into a kernel launch whose grid
// comes from host-known sizes (T, the chunk count, E, the row-tile slots),
// and the kernels go through NVVM and ptxas for sm_90a (cubin-format=bin runs
// ptxas; math.exp needs libdevice). Only the offsets scan, a loop over the E
// experts, stays on the host. This checks compilation only: no CUDA target
// exists yet to place the buffers on a device and launch the kernels.

// KERNELS-LABEL: func.func @layer
// Routing's logits: one iteration per (token, expert).
// KERNELS: %[[T:.+]] = memref.dim %{{.+}}, %{{.+}} : memref<?x16xf32>
// KERNELS: %[[GL:.+]] = affine.apply #{{.+}}(%[[T]])
// KERNELS: %[[GE:.+]] = affine.apply #{{.+}}(%c8)
// KERNELS: gpu.launch_func @{{.+}} blocks in (%[[GL]], %[[GE]], %{{.+}})
// The rest of routing: one iteration per token (grid = the trip count of
// [0, T)).
// KERNELS: %[[G0:.+]] = affine.apply #{{.+}}(%[[T]])
// KERNELS: gpu.launch_func @{{.+}} blocks in (%[[G0]], %{{.+}}, %{{.+}})
// Histograms, one chunk per iteration: (choice, 256-token run).
// KERNELS: %[[RUNS:.+]] = arith.ceildivui %[[T]], %{{.+}} : index
// KERNELS: %[[G1:.+]] = affine.apply #{{.+}}(%[[RUNS]])
// KERNELS: gpu.launch_func @{{.+}} blocks in (%{{.+}}, %[[G1]], %{{.+}})
// Exclusive scan over the chunks, one expert per iteration.
// KERNELS: %[[G2:.+]] = affine.apply #{{.+}}(%c8)
// KERNELS: gpu.launch_func @{{.+}} blocks in (%[[G2]], %{{.+}}, %{{.+}})
// The offsets: a host loop over the 8 experts.
// KERNELS: scf.for %{{.+}} = %{{.+}} to %c8 step
// KERNELS-NOT: gpu.launch_func
// KERNELS: scf.yield
// Ranking and scatter, one chunk per iteration.
// KERNELS: %[[G3:.+]] = affine.apply #{{.+}}(%[[RUNS]])
// KERNELS: gpu.launch_func @{{.+}} blocks in (%{{.+}}, %[[G3]], %{{.+}})
// The gate and up GEMMs: ceil(T·k / 16) + E row-tile slots by ceil(F / 16)
// column tiles, 16 x 16 threads.
// KERNELS: %[[RT:.+]] = arith.ceildivui %[[TK:.+]], %c16 : index
// KERNELS: %[[SLOTS:.+]] = arith.addi %[[RT]], %c8 : index
// KERNELS: %[[GS:.+]] = affine.apply #{{.+}}(%[[SLOTS]])
// KERNELS: %[[GC:.+]] = affine.apply #{{.+}}(%c2)
// KERNELS: gpu.launch_func @{{.+}} blocks in (%[[GS]], %[[GC]], %{{.+}}) threads in (%{{.+}}, %{{.+}}, %{{.+}}) args({{.+}}, %{{.+}} : memref<8x24x16xf32>
// KERNELS: gpu.launch_func @{{.+}} blocks in (%{{.+}}, %{{.+}}, %{{.+}}) threads in (%{{.+}}, %{{.+}}, %{{.+}}) args({{.+}}, %{{.+}} : memref<8x24x16xf32>
// The activation, one row per iteration.
// KERNELS: %[[GA:.+]] = affine.apply #{{.+}}(%[[TK]])
// KERNELS: gpu.launch_func @{{.+}} blocks in (%[[GA]], %{{.+}}, %{{.+}})
// The down GEMM: one column tile (D = 16).
// KERNELS: gpu.launch_func @{{.+}} blocks in (%{{.+}}, %{{.+}}, %{{.+}}) threads in (%{{.+}}, %{{.+}}, %{{.+}}) args({{.+}}, %{{.+}} : memref<8x16x24xf32>
// The combine, one token per iteration.
// KERNELS: %[[G4:.+]] = affine.apply #{{.+}}(%{{.+}})
// KERNELS: gpu.launch_func @{{.+}} blocks in (%[[G4]], %{{.+}}, %{{.+}})
// KERNELS-NOT: gpu.launch_func
// KERNELS: return

// Ten cubins (ELF images ptxas wrote), one per kernel:
// BINARY-COUNT-10: gpu.binary @{{.+}} [#gpu.object<#nvvm.target<chip = "sm_90a", features = "+ptx80">, properties = {{.+}}, bin = "\7FELF
// BINARY-NOT: gpu.binary
// BINARY-NOT: gpu.module
func.func @layer(%x: tensor<?x16xf32>, %wg: tensor<8x16xf32>, %g: tensor<8x24x16xf32>, %u: tensor<8x24x16xf32>, %d: tensor<8x16x24xf32>) -> tensor<?x16xf32> {
  %idx, %w = moe.route %x, %wg {top_k = 2 : i64, normalize = true} : (tensor<?x16xf32>, tensor<8x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  %rows, %off, %pos, %counts = moe.dispatch_sorted %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
  %out = moe.experts %rows offsets(%off) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<9xi32>, tensor<8x24x16xf32>, tensor<8x24x16xf32>, tensor<8x16x24xf32>) -> tensor<?x16xf32>
  %y = moe.combine_sorted %out, %pos, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

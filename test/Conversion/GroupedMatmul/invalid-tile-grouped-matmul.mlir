// RUN: moe-opt %s --moe-tile-grouped-matmul -verify-diagnostics

// Weights packed in panels are the CPU per-expert schedule's layout; the
// tile list (the GPU's schedule) refuses them by name.
func.func @packed(%rows: memref<?x16xf32>, %w: memref<4x2x16x16xf32>, %off: memref<5xi32>, %h: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op takes [E, N, K] weights; weights packed in panels are the CPU per-expert schedule's layout (moe-expand-grouped-matmul)}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x32xf32>) : memref<?x16xf32>, memref<4x2x16x16xf32>
  return
}

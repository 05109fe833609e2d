// RUN: moe-opt %s -split-input-file --moe-tile-grouped-matmul -verify-diagnostics

// Weights packed in panels are the CPU per-expert schedule's layout; the
// tile list (the GPU's schedule) refuses them by name.
func.func @packed(%rows: memref<?x16xf32>, %w: memref<4x2x16x16xf32>, %off: memref<5xi32>, %h: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op takes [E, N, K] weights; weights packed in panels are the CPU per-expert schedule's layout (moe-expand-grouped-matmul)}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x32xf32>) : memref<?x16xf32>, memref<4x2x16x16xf32>
  return
}

// -----

// A scatter adds each expert's rows into the tokens, which needs the experts
// one after the other; the tile list runs them all at once.
func.func @scatter(%h: memref<6x8xf32>, %w: memref<4x16x8xf32>, %off: memref<5xi32>, %src: memref<6xi32>, %rw: memref<6xf32>, %y: memref<3x16xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op adds its rows into the tokens ('scatter'), which needs the experts in order: only the per-expert schedule (moe-expand-grouped-matmul) takes it}}
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) scatter(%src : memref<6xi32>) scale(%rw : memref<6xf32>) outs(%y : memref<3x16xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
  return
}

// RUN: moe-opt %s -split-input-file --moe-tile-flat-parallel-loops | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-tile-flat-parallel-loops='threads-per-block=32' | FileCheck %s --check-prefix=T32
// RUN: not moe-opt %s --moe-tile-flat-parallel-loops='threads-per-block=2048' 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: error: moe-tile-flat-parallel-loops: threads-per-block must be in [1, 1024] (a CUDA block's limit), got 2048

// One token per iteration (routing, the combine): blocks of 128 iterations,
// each a thread, the iterations past %n skipped by a guard.

// CHECK-LABEL: func.func @per_token
// CHECK-SAME: (%[[BUF:.+]]: memref<?xf32>, %[[N:.+]]: index)
// CHECK: %[[C128:.+]] = arith.constant 128 : index
// CHECK: %[[STEP:.+]] = arith.muli %{{.+}}, %[[C128]] : index
// CHECK: scf.parallel (%[[B:.+]]) = (%{{.+}}) to (%[[N]]) step (%[[STEP]]) {
// CHECK: scf.parallel (%[[I:.+]]) = (%{{.+}}) to (%[[STEP]]) step (%{{.+}}) {
// CHECK: %[[T:.+]] = arith.addi %[[I]], %[[B]] : index
// CHECK: %[[IN:.+]] = arith.cmpi ult, %{{.+}}, %[[N]] : index
// CHECK: %[[GUARD:.+]] = arith.andi %{{.+}}, %[[IN]] : i1
// CHECK: scf.if %[[GUARD]] {
// CHECK: memref.store %{{.+}}, %[[BUF]][%[[T]]] : memref<?xf32>
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}

// T32-LABEL: func.func @per_token
// T32: %[[C32:.+]] = arith.constant 32 : index
// T32: %[[STEP:.+]] = arith.muli %{{.+}}, %[[C32]] : index
// T32: scf.parallel (%{{.+}}) = (%{{.+}}) to (%{{.+}}) step (%[[STEP]])
func.func @per_token(%buf: memref<?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %one = arith.constant 1.0 : f32
  scf.parallel (%t) = (%c0) to (%n) step (%c1) {
    memref.store %one, %buf[%t] : memref<?xf32>
  }
  return
}

// -----

// Two dimensions (choice, chunk): the last is tiled into threads, the first
// keeps a step of 1 (blocks x); the inner loop runs it once, sequentially.

// CHECK-LABEL: func.func @two_dims
// CHECK-SAME: (%{{.+}}: memref<2x?xi32>, %[[CHUNKS:.+]]: index)
// CHECK: %[[C128:.+]] = arith.constant 128 : index
// CHECK: %[[STEP0:.+]] = arith.muli %{{.+}}, %c1{{.*}} : index
// CHECK: %[[STEP1:.+]] = arith.muli %{{.+}}, %[[C128]] : index
// CHECK: scf.parallel (%{{.+}}, %{{.+}}) = (%{{.+}}, %{{.+}}) to (%c2, %[[CHUNKS]]) step (%[[STEP0]], %[[STEP1]]) {
// CHECK: scf.parallel (%{{.+}}, %{{.+}}) = (%{{.+}}, %{{.+}}) to (%[[STEP0]], %[[STEP1]])
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = sequential, map = (d0) -> (d0), bound = (d0) -> (d0)>, #gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>, #gpu.loop_dim_map<processor = block_y, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
func.func @two_dims(%buf: memref<2x?xi32>, %chunks: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %z = arith.constant 0 : i32
  scf.parallel (%j, %c) = (%c0, %c0) to (%c2, %chunks) step (%c1, %c1) {
    memref.store %z, %buf[%j, %c] : memref<2x?xi32>
  }
  return
}

// -----

// A tile list (mapped, a thread loop inside) is left as it is.

// CHECK-LABEL: func.func @mapped_tile_list
// CHECK: scf.parallel (%{{.+}}) = (%{{.+}}) to (%{{.+}}) step (%c1) {
// CHECK-NEXT: scf.parallel (%{{.+}}) = (%{{.+}}) to (%c16) step (%c1) {
// CHECK-NOT: scf.if
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = thread_x
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x
func.func @mapped_tile_list(%buf: memref<?x16xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %one = arith.constant 1.0 : f32
  scf.parallel (%s) = (%c0) to (%n) step (%c1) {
    scf.parallel (%i) = (%c0) to (%c16) step (%c1) {
      memref.store %one, %buf[%s, %i] : memref<?x16xf32>
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}

// -----

// A loop with a parallel loop inside is left to gpu-map-parallel-loops
// (blocks, then threads), even without a mapping.

// CHECK-LABEL: func.func @nested
// CHECK: scf.parallel (%{{.+}}) = (%{{.+}}) to (%{{.+}}) step (%c1) {
// CHECK-NEXT: scf.parallel (%{{.+}}) = (%{{.+}}) to (%c16) step (%c1) {
// CHECK-NOT: mapping
func.func @nested(%buf: memref<?x16xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %one = arith.constant 1.0 : f32
  scf.parallel (%s) = (%c0) to (%n) step (%c1) {
    scf.parallel (%i) = (%c0) to (%c16) step (%c1) {
      memref.store %one, %buf[%s, %i] : memref<?x16xf32>
    }
  }
  return
}

// RUN: moe-opt %s -split-input-file --moe-split-dot-products-across-lanes | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-split-dot-products-across-lanes='warps-per-block=8' | FileCheck %s --check-prefix=W8
// RUN: not moe-opt %s --moe-split-dot-products-across-lanes='warps-per-block=33' 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: error: moe-split-dot-products-across-lanes: warps-per-block must be in [1, 32] (1024 threads, a CUDA block's limit), got 33

// Routing's logits: blocks over (token, 4 experts), 4 warps of 32 lanes;
// lane l sums d = l, l + 32, ... (lane 0 from the initial value), five xor
// shuffles add the lanes, lane 0 adds the bias and stores.

// CHECK-LABEL: func.func @logits
// CHECK-SAME: (%[[X:.+]]: memref<?x4096xf32>, %[[W:.+]]: memref<8x4096xf32>, %[[BIAS:.+]]: memref<8xf32>, %[[OUT:.+]]: memref<?x8xf32>, %[[N:.+]]: index)
// CHECK-DAG: %[[C1:.+]] = arith.constant 1 : index
// CHECK-DAG: %[[C8:.+]] = arith.constant 8 : index
// CHECK-DAG: %[[INIT:.+]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[STEP:.+]] = arith.muli %[[C1]], %{{.+}} : index
// CHECK: scf.parallel (%[[T:.+]], %[[E0:.+]]) = (%{{.+}}, %{{.+}}) to (%[[N]], %[[C8]]) step (%[[C1]], %[[STEP]]) {
// CHECK: scf.parallel (%[[WARP:.+]], %[[LANE:.+]]) = (%{{.+}}, %{{.+}}) to (%c4{{.*}}, %c32{{.*}}) step
// CHECK: %[[E:.+]] = arith.addi %[[E0]], %{{.+}} : index
// CHECK: %[[IN:.+]] = arith.cmpi slt, %[[E]], %[[C8]] : index
// CHECK: scf.if %[[IN]] {
// CHECK: %[[LB:.+]] = arith.addi %{{.+}}, %{{.+}} : index
// CHECK: %[[WIDE:.+]] = arith.muli %[[C1]], %c32{{.*}} : index
// CHECK: %[[LANE0:.+]] = arith.cmpi eq, %[[LANE]], %{{.+}} : index
// CHECK: %[[START:.+]] = arith.select %[[LANE0]], %[[INIT]], %{{.+}} : f32
// CHECK: %[[PART:.+]] = scf.for %[[D:.+]] = %[[LB]] to %{{.+}} step %[[WIDE]] iter_args(%[[ACC:.+]] = %[[START]]) -> (f32) {
// CHECK: memref.load %[[X]][%[[T]], %[[D]]]
// CHECK: memref.load %[[W]][%[[E]], %[[D]]]
// CHECK: arith.addf %[[ACC]], %{{.+}} fastmath<reassoc,contract> : f32
// CHECK: %[[S16:.+]], %{{.+}} = gpu.shuffle  xor %[[PART]], %c16_i32
// CHECK: %[[A16:.+]] = arith.addf %[[PART]], %[[S16]] fastmath<reassoc,contract> : f32
// CHECK: gpu.shuffle  xor %[[A16]], %c8_i32
// CHECK: gpu.shuffle  xor %{{.+}}, %c4_i32
// CHECK: gpu.shuffle  xor %{{.+}}, %c2_i32
// CHECK: %[[S1:.+]], %{{.+}} = gpu.shuffle  xor %[[A2:.+]], %c1_i32
// CHECK: %[[SUM:.+]] = arith.addf %[[A2]], %[[S1]] fastmath<reassoc,contract> : f32
// CHECK: scf.if %[[LANE0]] {
// CHECK: %[[B:.+]] = memref.load %[[BIAS]][%[[E]]]
// CHECK: %[[V:.+]] = arith.addf %[[SUM]], %[[B]] : f32
// CHECK: memref.store %[[V]], %[[OUT]][%[[T]], %[[E]]]
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = thread_y, map = (d0) -> (d0), bound = (d0) -> (d0)>, #gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK: } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>, #gpu.loop_dim_map<processor = block_y, map = (d0) -> (d0), bound = (d0) -> (d0)>]}

// W8-LABEL: func.func @logits
// W8: scf.parallel (%{{.+}}, %{{.+}}) = (%{{.+}}, %{{.+}}) to (%c8{{.*}}, %c32{{.*}})
func.func @logits(%x: memref<?x4096xf32>, %w: memref<8x4096xf32>, %bias: memref<8xf32>, %out: memref<?x8xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c4096 = arith.constant 4096 : index
  %init = arith.constant 1.0 : f32
  scf.parallel (%t, %e) = (%c0, %c0) to (%n, %c8) step (%c1, %c1) {
    %s = scf.for %d = %c0 to %c4096 step %c1 iter_args(%a = %init) -> f32 {
      %xv = memref.load %x[%t, %d] : memref<?x4096xf32>
      %wv = memref.load %w[%e, %d] : memref<8x4096xf32>
      %p = arith.mulf %xv, %wv fastmath<reassoc, contract> : f32
      %r = arith.addf %a, %p fastmath<reassoc, contract> : f32
      scf.yield %r : f32
    }
    %b = memref.load %bias[%e] : memref<8xf32>
    %v = arith.addf %s, %b : f32
    memref.store %v, %out[%t, %e] : memref<?x8xf32>
  }
  return
}

// -----

// Left alone: a sum without reassoc (its order is fixed), a sum of 16
// elements (half a warp would idle), a store before the sum (every lane
// would run it), a sum whose loop writes, a loop that already has a
// mapping, and a loop with a parallel loop inside.

// CHECK-LABEL: func.func @not_split
// CHECK-NOT: gpu.shuffle
// CHECK-NOT: thread_x
// CHECK: return
func.func @not_split(%x: memref<?x64xf32>, %out: memref<?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%t) = (%c0) to (%n) step (%c1) {
    %s = scf.for %d = %c0 to %c64 step %c1 iter_args(%a = %zero) -> f32 {
      %v = memref.load %x[%t, %d] : memref<?x64xf32>
      %r = arith.addf %a, %v : f32
      scf.yield %r : f32
    }
    memref.store %s, %out[%t] : memref<?xf32>
  }
  scf.parallel (%t) = (%c0) to (%n) step (%c1) {
    %s = scf.for %d = %c0 to %c16 step %c1 iter_args(%a = %zero) -> f32 {
      %v = memref.load %x[%t, %d] : memref<?x64xf32>
      %r = arith.addf %a, %v fastmath<reassoc> : f32
      scf.yield %r : f32
    }
    memref.store %s, %out[%t] : memref<?xf32>
  }
  scf.parallel (%t) = (%c0) to (%n) step (%c1) {
    memref.store %zero, %out[%t] : memref<?xf32>
    %s = scf.for %d = %c0 to %c64 step %c1 iter_args(%a = %zero) -> f32 {
      %v = memref.load %x[%t, %d] : memref<?x64xf32>
      %r = arith.addf %a, %v fastmath<reassoc> : f32
      scf.yield %r : f32
    }
    memref.store %s, %out[%t] : memref<?xf32>
  }
  scf.parallel (%t) = (%c0) to (%n) step (%c1) {
    %s = scf.for %d = %c0 to %c64 step %c1 iter_args(%a = %zero) -> f32 {
      %v = memref.load %x[%t, %d] : memref<?x64xf32>
      memref.store %v, %x[%t, %d] : memref<?x64xf32>
      %r = arith.addf %a, %v fastmath<reassoc> : f32
      scf.yield %r : f32
    }
    memref.store %s, %out[%t] : memref<?xf32>
  }
  scf.parallel (%t) = (%c0) to (%n) step (%c1) {
    %s = scf.for %d = %c0 to %c64 step %c1 iter_args(%a = %zero) -> f32 {
      %v = memref.load %x[%t, %d] : memref<?x64xf32>
      %r = arith.addf %a, %v fastmath<reassoc> : f32
      scf.yield %r : f32
    }
    memref.store %s, %out[%t] : memref<?xf32>
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  scf.parallel (%t) = (%c0) to (%n) step (%c1) {
    %s = scf.for %d = %c0 to %c64 step %c1 iter_args(%a = %zero) -> f32 {
      %v = memref.load %x[%t, %d] : memref<?x64xf32>
      %r = arith.addf %a, %v fastmath<reassoc> : f32
      scf.yield %r : f32
    }
    scf.parallel (%i) = (%c0) to (%c1) step (%c1) {
      memref.store %s, %out[%t] : memref<?xf32>
    }
  }
  return
}

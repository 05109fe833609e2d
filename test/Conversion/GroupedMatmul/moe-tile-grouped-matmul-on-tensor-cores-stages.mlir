// RUN: moe-opt %s -split-input-file --moe-tile-grouped-matmul-on-tensor-cores='stages=2' --canonicalize --cse | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-tile-grouped-matmul-on-tensor-cores='stages=3 tile-rows=32' --canonicalize --cse | FileCheck %s --check-prefix=THREE
// RUN: not moe-opt %s --moe-tile-grouped-matmul-on-tensor-cores='stages=1' 2>&1 | FileCheck %s --check-prefix=ONE
// RUN: not moe-opt %s --moe-tile-grouped-matmul-on-tensor-cores='stages=2 tile-rows=96' 2>&1 | FileCheck %s --check-prefix=ROWS
// RUN: not moe-opt %s --moe-tile-grouped-matmul-on-tensor-cores='stages=2 tile-cols=128' 2>&1 | FileCheck %s --check-prefix=BIG

// The tensor-core tile list with its operands staged in shared memory
// (stages=S): the fragments and mma.sync of moe-tile-grouped-matmul-on-
// tensor-cores.mlir, read from workgroup-memory stages of 32 k values that
// the tile's threads fill with 16-byte cp.async pieces.

// ONE: error: moe-tile-grouped-matmul-on-tensor-cores: stages must be 0 (no shared memory) or at least 2, with tile-rows 32, 64 or 128 and tile-cols 32, 64, 128 or 256
// ROWS: error: moe-tile-grouped-matmul-on-tensor-cores: stages must be 0
// Gate and up weights double B: 2 * 40 * (64 * 4 + 2 * 128 * 2) bytes.
// BIG: error: moe-tile-grouped-matmul-on-tensor-cores: 2 stages of a 64 x 128 tile take 61440 bytes of shared memory with gate and up, more than the 49152 a kernel can declare

// Gathered rows, gate and up (K = 64: 2 stages of 32). Per stage, each of
// the 128 threads copies 4 pieces of 4 f32 of the gathered rows (tile row
// thread / 8 + 16 i, k 4 (thread % 8)) and 2 pieces of 8 bf16 per
// projection (tile column thread / 4 + 32 i, k 8 (thread % 4)); rows are
// padded to 40. The gather is read once, before the loop. Stage 0 is copied
// before the loop; each iteration waits for all groups (S - 2 = 0 left in
// flight), passes a barrier, copies stage i + 1 into buffer (i + 1) % 2
// (pieces at k >= 64 read nothing: source size 0), then loads its fragments
// from buffer i % 2 and runs 2 k steps of 16 mma.sync.

// CHECK-DAG: memref.global "private" @[[B:__moe_staged_weights_0]] : memref<2x2x64x40xbf16, #gpu.address_space<workgroup>> {alignment = 16 : i64}
// CHECK-DAG: memref.global "private" @[[A:__moe_staged_rows_0]] : memref<2x64x40xf32, #gpu.address_space<workgroup>> {alignment = 16 : i64}
// CHECK-LABEL: func.func @gathered_gated
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x64xf32>, %[[WG:[^:]+]]: memref<8x96x64xbf16>, %[[WU:[^:]+]]: memref<8x96x64xbf16>, %[[SRC:[^:]+]]: memref<?xi32>
// CHECK: scf.parallel (%[[TID:.+]]) = (%c0) to (%c128) step (%c1) {
// CHECK: %[[SA:.+]] = memref.get_global @[[A]]
// CHECK: %[[SB:.+]] = memref.get_global @[[B]]
// CHECK: %[[PR:.+]] = arith.divui %[[TID]], %c8 : index
// CHECK: %[[PK:.+]] = arith.remui %[[TID]], %c8 : index
// CHECK: %[[PK4:.+]] = arith.muli %[[PK]], %c4 : index
// CHECK: %[[TOK:.+]] = memref.load %[[SRC]]
// CHECK: %[[TOKI:.+]] = arith.index_cast %[[TOK]] : i32 to index
// CHECK: %[[WC:.+]] = arith.divui %[[TID]], %c4 : index
// CHECK: %[[WK:.+]] = arith.remui %[[TID]], %c4 : index
// CHECK: %[[WK8:.+]] = arith.muli %[[WK]], %c8 : index
// CHECK: nvgpu.device_async_copy %[[X]][%[[TOKI]], %{{.+}}], %[[SA]][%c0, %[[PR]], %[[PK4]]], 4, %{{.+}} {bypassL1} : memref<?x64xf32> to memref<2x64x40xf32, #gpu.address_space<workgroup>>
// CHECK-COUNT-3: nvgpu.device_async_copy %[[X]]
// CHECK: nvgpu.device_async_copy %[[WG]][%{{.+}}, %{{.+}}, %{{.+}}], %[[SB]][%c0, %c0, %[[WC]], %[[WK8]]], 8, %{{.+}} {bypassL1}
// CHECK: nvgpu.device_async_copy %[[WG]]
// CHECK: nvgpu.device_async_copy %[[WU]][%{{.+}}, %{{.+}}, %{{.+}}], %[[SB]][%c0, %c1, %[[WC]], %[[WK8]]], 8
// CHECK: nvgpu.device_async_copy %[[WU]]
// CHECK: %[[G0:.+]] = nvgpu.device_async_create_group
// CHECK: scf.for %[[I:.+]] = %c0 to %c2 step %c1 iter_args({{.+}}, %[[PENDING:.+]] = %[[G0]]) -> ({{.+}}, !nvgpu.device.async.token) {
// CHECK: nvgpu.device_async_wait %[[PENDING]] {numGroups = 0 : i32}
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: %[[AHEAD:.+]] = arith.addi %[[I]], %c1 : index
// CHECK-NEXT: %[[NEXT:.+]] = arith.remui %[[AHEAD]], %c2 : index
// CHECK-NEXT: %[[K0:.+]] = arith.muli %[[AHEAD]], %c32 : index
// CHECK-NEXT: %[[K:.+]] = arith.addi %[[K0]], %[[PK4]] : index
// CHECK-NEXT: %[[IN:.+]] = arith.cmpi ult, %[[K]], %c64 : index
// CHECK-NEXT: %[[KR:.+]] = arith.select %[[IN]], %[[K]], %c0 : index
// CHECK-NEXT: %[[N:.+]] = arith.select %[[IN]], %c4, %c0 : index
// CHECK-NEXT: nvgpu.device_async_copy %[[X]][%[[TOKI]], %[[KR]]], %[[SA]][%[[NEXT]], %[[PR]], %[[PK4]]], 4, %[[N]] {bypassL1}
// CHECK: %[[G:.+]] = nvgpu.device_async_create_group
// CHECK-NEXT: %[[CUR:.+]] = arith.remui %[[I]], %c2 : index
// CHECK-COUNT-8: vector.load %[[SA]][%[[CUR]], {{.+}}] {alignment = 8 : i64} : memref<2x64x40xf32, #gpu.address_space<workgroup>>, vector<2xf32>
// CHECK-COUNT-16: vector.load %[[SB]][%[[CUR]], {{.+}}] {alignment = 4 : i64} : memref<2x2x64x40xbf16, #gpu.address_space<workgroup>>, vector<2xbf16>
// CHECK-COUNT-8: vector.load %[[SA]][%[[CUR]]
// CHECK-COUNT-16: vector.load %[[SB]][%[[CUR]]
// CHECK-COUNT-32: nvvm.mma.sync
// CHECK: scf.yield {{.+}}, %[[G]] : {{.+}}, !nvgpu.device.async.token
// CHECK: nvgpu.device_async_wait %{{.+}} {numGroups = 0 : i32}
// CHECK: memref.store

// THREE-LABEL: func.func @gathered_gated
// THREE: memref.get_global @__moe_staged_rows_0 : memref<3x32x40xf32, #gpu.address_space<workgroup>>
func.func @gathered_gated(%x: memref<?x64xf32>, %wg: memref<8x96x64xbf16>, %wu: memref<8x96x64xbf16>, %src: memref<?xi32>, %off: memref<9xi32>, %bu: memref<8x96xf32>, %h: memref<?x96xf32>) {
  moe.grouped_matmul %x, %wg up(%wu : memref<8x96x64xbf16>) gather(%src : memref<?xi32>) offsets(%off : memref<9xi32>) up_bias(%bu : memref<8x96xf32>) outs(%h : memref<?x96xf32>) {activation = #moe.activation<silu>} : memref<?x64xf32>, memref<8x96x64xbf16>
  return
}

// -----

// A padded buffer, K = 40: 2 stages of 32, the second zero-filled past 40.
// With 3 stages and 32 x 64 tiles (64 threads, 4 pieces of each operand per
// thread): stages 0 and 1 are copied before the loop, each iteration leaves
// one group in flight and copies 2 stages ahead, into buffer (i + 2) % 3.

// THREE-DAG: memref.global "private" @[[B:__moe_staged_weights_0]] : memref<3x1x64x40xbf16, #gpu.address_space<workgroup>>
// THREE-DAG: memref.global "private" @[[A:__moe_staged_rows_0]] : memref<3x32x40xf32, #gpu.address_space<workgroup>>
// THREE-LABEL: func.func @padded_k_tail
// THREE-SAME: (%[[BUF:[^:]+]]: memref<4x?x40xf32>, %[[W:[^:]+]]: memref<4x8x40xbf16>
// THREE: scf.parallel (%{{.+}}) = (%c0) to (%c64) step (%c1) {
// THREE-COUNT-4: nvgpu.device_async_copy %[[BUF]][%{{.+}}, %{{.+}}, %{{.+}}], %{{.+}}[%c0, %{{.+}}, %{{.+}}], 4
// THREE-COUNT-4: nvgpu.device_async_copy %[[W]][%{{.+}}, %{{.+}}, %{{.+}}], %{{.+}}[%c0, %c0, %{{.+}}, %{{.+}}], 8
// THREE: nvgpu.device_async_create_group
// THREE: arith.cmpi ult, %{{.+}}, %c40 : index
// THREE: nvgpu.device_async_copy %[[BUF]][%{{.+}}, %{{.+}}, %{{.+}}], %{{.+}}[%c1, %{{.+}}, %{{.+}}], 4
// THREE: %[[G1:.+]] = nvgpu.device_async_create_group
// THREE: scf.for %[[I:.+]] = %c0 to %c2 step %c1 iter_args({{.+}}, %[[PENDING:.+]] = %[[G1]])
// THREE: nvgpu.device_async_wait %[[PENDING]] {numGroups = 1 : i32}
// THREE-NEXT: gpu.barrier
// THREE-NEXT: %[[AHEAD:.+]] = arith.addi %[[I]], %c2 : index
// THREE-NEXT: arith.remui %[[AHEAD]], %c3 : index
// THREE: arith.remui %[[I]], %c3 : index
// THREE-COUNT-16: nvvm.mma.sync

// CHECK-LABEL: func.func @padded_k_tail
// CHECK: nvgpu.device_async_copy
func.func @padded_k_tail(%buf: memref<4x?x40xf32>, %w: memref<4x8x40xbf16>, %c: memref<4xi32>, %h: memref<4x?x8xf32>) {
  moe.grouped_matmul %buf, %w counts(%c : memref<4xi32>) outs(%h : memref<4x?x8xf32>) : memref<4x?x40xf32>, memref<4x8x40xbf16>
  return
}

// -----

// K = 20 is not a multiple of 8: a 16-byte piece of a weight row would not
// be 16-byte aligned, so this grouped matmul keeps the fragments from global
// memory (no stages, no cp.async).

// CHECK-NOT: memref.global
// CHECK-LABEL: func.func @k_not_multiple_of_8
// CHECK-NOT: nvgpu.device_async_copy
// CHECK: nvvm.mma.sync
// CHECK-NOT: nvgpu.device_async_copy
// CHECK: return
func.func @k_not_multiple_of_8(%rows: memref<?x20xf32>, %w: memref<4x32x20xbf16>, %off: memref<5xi32>, %h: memref<?x32xf32>) {
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x32xf32>) : memref<?x20xf32>, memref<4x32x20xbf16>
  return
}

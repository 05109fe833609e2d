// RUN: moe-opt %s -split-input-file --moe-fuse-gated-activation | FileCheck %s

// Tests the gated form the experts lowering emits: the gate and up grouped
// matmuls over the same rows and the activation in place of the gate become
// one grouped matmul with both weights, both biases and the activation; the
// up buffer is gone.

// CHECK-LABEL: func.func @gated
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x16xf32>, %[[WG:[^:]+]]: memref<4x8x16xf32>, %[[WU:[^:]+]]: memref<4x8x16xf32>, %[[OFF:[^:]+]]: memref<5xi32>, %[[BG:[^:]+]]: memref<4x8xf32>, %[[BU:[^:]+]]: memref<4x8xf32>, %[[N:[^:]+]]: index)
// CHECK-NEXT: %[[G:.+]] = memref.alloc(%[[N]]) : memref<?x8xf32>
// CHECK-NEXT: moe.grouped_matmul %[[X]], %[[WG]] up(%[[WU]] : memref<4x8x16xf32>) offsets(%[[OFF]] : memref<5xi32>) bias(%[[BG]] : memref<4x8xf32>) up_bias(%[[BU]] : memref<4x8xf32>) outs(%[[G]] : memref<?x8xf32>) {activation = #moe.activation<clamped_swiglu>, swiglu_limit = 7.000000e+00 : f64} : memref<?x16xf32>, memref<4x8x16xf32>
// CHECK-NEXT: return %[[G]]
func.func @gated(%x: memref<?x16xf32>, %wg: memref<4x8x16xf32>, %wu: memref<4x8x16xf32>, %off: memref<5xi32>, %bg: memref<4x8xf32>, %bu: memref<4x8xf32>, %n: index) -> memref<?x8xf32> {
  %g = memref.alloc(%n) : memref<?x8xf32>
  %u = memref.alloc(%n) : memref<?x8xf32>
  moe.grouped_matmul %x, %wg offsets(%off : memref<5xi32>) bias(%bg : memref<4x8xf32>) outs(%g : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  moe.grouped_matmul %x, %wu offsets(%off : memref<5xi32>) bias(%bu : memref<4x8xf32>) outs(%u : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  moe.grouped_activation %g up(%u : memref<?x8xf32>) offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) {activation = #moe.activation<clamped_swiglu>, swiglu_limit = 7.0 : f64} : memref<?x8xf32>
  return %g : memref<?x8xf32>
}

// -----

// Tests a non-gated expert on a padded buffer with counts, the activation
// written to another buffer: the activation goes into the epilogue of the
// one projection, which then writes that buffer.

// CHECK-LABEL: func.func @relu_padded
// CHECK-SAME: (%[[X:[^:]+]]: memref<4x?x16xf32>, %[[W:[^:]+]]: memref<4x8x16xf32>, %[[CNT:[^:]+]]: memref<4xi32>, %[[H:[^:]+]]: memref<4x?x8xf32>, %[[C:[^:]+]]: index)
// CHECK-NOT: memref.alloc
// CHECK: moe.grouped_matmul %[[X]], %[[W]] counts(%[[CNT]] : memref<4xi32>) outs(%[[H]] : memref<4x?x8xf32>) {activation = #moe.activation<relu>}
// CHECK-NOT: moe.grouped_activation
func.func @relu_padded(%x: memref<4x?x16xf32>, %w: memref<4x8x16xf32>, %c: memref<4xi32>, %h: memref<4x?x8xf32>, %cap: index) {
  %g = memref.alloc(%cap) : memref<4x?x8xf32>
  moe.grouped_matmul %x, %w counts(%c : memref<4xi32>) outs(%g : memref<4x?x8xf32>) : memref<4x?x16xf32>, memref<4x8x16xf32>
  moe.grouped_activation %g counts(%c : memref<4xi32>) outs(%h : memref<4x?x8xf32>) {activation = #moe.activation<relu>} : memref<4x?x8xf32>
  return
}

// -----

// Tests that sums something else reads between the projections and the
// activation stay unfused.

// CHECK-LABEL: func.func @read_between
// CHECK: moe.grouped_matmul
// CHECK-NOT: up(
// CHECK: memref.load
// CHECK: moe.grouped_activation
func.func @read_between(%x: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %n: index, %i: index) -> f32 {
  %g = memref.alloc(%n) : memref<?x8xf32>
  moe.grouped_matmul %x, %w offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  %v = memref.load %g[%i, %i] : memref<?x8xf32>
  moe.grouped_activation %g offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x8xf32>
  return %v : f32
}

// -----

// Tests that up sums read after the activation stay unfused.

// CHECK-LABEL: func.func @up_used_after
// CHECK: moe.grouped_activation
func.func @up_used_after(%x: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %n: index) -> memref<?x8xf32> {
  %g = memref.alloc(%n) : memref<?x8xf32>
  %u = memref.alloc(%n) : memref<?x8xf32>
  moe.grouped_matmul %x, %w offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  moe.grouped_matmul %x, %w offsets(%off : memref<5xi32>) outs(%u : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  moe.grouped_activation %g up(%u : memref<?x8xf32>) offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x8xf32>
  return %u : memref<?x8xf32>
}

// -----

// Tests that projections of different rows stay unfused.

// CHECK-LABEL: func.func @different_rows
// CHECK: moe.grouped_activation
func.func @different_rows(%x: memref<?x16xf32>, %y: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %n: index) {
  %g = memref.alloc(%n) : memref<?x8xf32>
  %u = memref.alloc(%n) : memref<?x8xf32>
  moe.grouped_matmul %x, %w offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  moe.grouped_matmul %y, %w offsets(%off : memref<5xi32>) outs(%u : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  moe.grouped_activation %g up(%u : memref<?x8xf32>) offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x8xf32>
  return
}

// -----

// Tests that a gate buffer the function does not own (an argument, which
// the caller may read) stays unfused, and so does an activation over other
// segments than the projection's.

// CHECK-LABEL: func.func @not_fresh
// CHECK: moe.grouped_activation
// CHECK-LABEL: func.func @other_segments
// CHECK: moe.grouped_activation
func.func @not_fresh(%x: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %g: memref<?x8xf32>) {
  moe.grouped_matmul %x, %w offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  moe.grouped_activation %g offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x8xf32>
  return
}
func.func @other_segments(%x: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %off2: memref<5xi32>, %n: index) {
  %g = memref.alloc(%n) : memref<?x8xf32>
  moe.grouped_matmul %x, %w offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  moe.grouped_activation %g offsets(%off2 : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x8xf32>
  return
}

// -----

// Tests projections that gather their rows from the tokens: the fused op
// keeps the gather.

// CHECK-LABEL: func.func @gathered
// CHECK-SAME: (%[[X:[^:]+]]: memref<3x16xf32>, %[[SRC:[^:]+]]: memref<6xi32>
// CHECK: moe.grouped_matmul %[[X]], %{{.+}} up(%{{.+}} : memref<4x8x16xf32>) gather(%[[SRC]] : memref<6xi32>) offsets(
// CHECK-NOT: moe.grouped_activation
func.func @gathered(%x: memref<3x16xf32>, %src: memref<6xi32>, %wg: memref<4x8x16xf32>, %wu: memref<4x8x16xf32>, %off: memref<5xi32>) -> memref<6x8xf32> {
  %g = memref.alloc() : memref<6x8xf32>
  %u = memref.alloc() : memref<6x8xf32>
  moe.grouped_matmul %x, %wg gather(%src : memref<6xi32>) offsets(%off : memref<5xi32>) outs(%g : memref<6x8xf32>) : memref<3x16xf32>, memref<4x8x16xf32>
  moe.grouped_matmul %x, %wu gather(%src : memref<6xi32>) offsets(%off : memref<5xi32>) outs(%u : memref<6x8xf32>) : memref<3x16xf32>, memref<4x8x16xf32>
  moe.grouped_activation %g up(%u : memref<6x8xf32>) offsets(%off : memref<5xi32>) outs(%g : memref<6x8xf32>) : memref<6x8xf32>
  return %g : memref<6x8xf32>
}

// -----

// Tests projections that read different rows (one gathers, one does not)
// stay unfused.

// CHECK-LABEL: func.func @gather_mismatch
// CHECK: moe.grouped_activation
func.func @gather_mismatch(%x: memref<6x16xf32>, %src: memref<6xi32>, %wg: memref<4x8x16xf32>, %wu: memref<4x8x16xf32>, %off: memref<5xi32>) -> memref<6x8xf32> {
  %g = memref.alloc() : memref<6x8xf32>
  %u = memref.alloc() : memref<6x8xf32>
  moe.grouped_matmul %x, %wg gather(%src : memref<6xi32>) offsets(%off : memref<5xi32>) outs(%g : memref<6x8xf32>) : memref<6x16xf32>, memref<4x8x16xf32>
  moe.grouped_matmul %x, %wu offsets(%off : memref<5xi32>) outs(%u : memref<6x8xf32>) : memref<6x16xf32>, memref<4x8x16xf32>
  moe.grouped_activation %g up(%u : memref<6x8xf32>) offsets(%off : memref<5xi32>) outs(%g : memref<6x8xf32>) : memref<6x8xf32>
  return %g : memref<6x8xf32>
}

// RUN: moe-opt %s -split-input-file --moe-fuse-shared-expert | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-fuse-shared-expert=explain=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN

// Each dense moe.experts that a linalg op reads, in order: fused, or why it
// keeps its output.
// EXPLAIN: remark: moe.experts: the second projection adds each row, times its weight, into the other summand; its output 'tensor<?x16xf32>' is never stored
// EXPLAIN: remark: moe.experts: the second projection adds each row into the other summand; its output 'tensor<?x16xf32>' is never stored
// EXPLAIN: remark: moe.experts: the second projection adds each row, times its weight, into the other summand; its output 'tensor<?x16xf32>' is never stored
// EXPLAIN: remark: moe.experts keeps its output: its output has another reader
// EXPLAIN: remark: moe.experts keeps its output: its reader is not an elementwise add of its rows to a tensor of their type (times a weight per token)
// EXPLAIN: remark: moe.experts keeps its output: its reader is not an elementwise add of its rows to a tensor of their type (times a weight per token)
// EXPLAIN: remark: moe.experts keeps its output: its reader is not an elementwise add of its rows to a tensor of their type (times a weight per token)
// EXPLAIN: remark: moe.experts keeps its output: its reader is not an elementwise add of its rows to a tensor of their type (times a weight per token)
// EXPLAIN: remark: moe.experts keeps its output: its reader is not a linalg.generic
// EXPLAIN-NOT: remark

#id = affine_map<(t, d) -> (t, d)>
#token = affine_map<(t, d) -> (t)>

// Tests a gated shared expert (Qwen2-MoE): routed + gate · shared becomes
// the shared expert adding its rows, times the gate, into the routed output.

// CHECK-LABEL: func.func @gated
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[Y:[^:]+]]: tensor<?x16xf32>, %[[GATE:[^:]+]]: tensor<?xf32>, %[[ALL:[^:]+]]: tensor<2xi32>, %[[G:[^:]+]]: tensor<1x24x16xf32>, %[[U:[^:]+]]: tensor<1x24x16xf32>, %[[D:[^:]+]]: tensor<1x16x24xf32>)
// CHECK-NEXT: %[[Z:.+]] = moe.experts %[[X]] offsets(%[[ALL]]) weights(%[[G]], %[[U]], %[[D]]) combine(%[[GATE]]) into(%[[Y]]) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>, tensor<?xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
// CHECK-NEXT: return %[[Z]]
func.func @gated(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %gate: tensor<?xf32>, %all: tensor<2xi32>, %g: tensor<1x24x16xf32>, %u: tensor<1x24x16xf32>, %d: tensor<1x16x24xf32>) -> tensor<?x16xf32> {
  %s = moe.experts %x offsets(%all) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>) -> tensor<?x16xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #token, #id], iterator_types = ["parallel", "parallel"]} ins(%y, %s, %gate : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?xf32>) outs(%y : tensor<?x16xf32>) {
  ^bb0(%r: f32, %v: f32, %w: f32, %o: f32):
    %p = arith.mulf %w, %v : f32
    %sum = arith.addf %r, %p : f32
    linalg.yield %sum : f32
  } -> tensor<?x16xf32>
  return %z : tensor<?x16xf32>
}

// -----

#id = affine_map<(t, d) -> (t, d)>

// Tests an ungated shared expert (DeepSeek): routed + shared, the operands
// in either order; the rows add unweighted.

// CHECK-LABEL: func.func @ungated
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[Y:[^:]+]]: tensor<?x16xf32>
// CHECK-NEXT: %[[Z:.+]] = moe.experts %[[X]] offsets(%{{.+}}) weights(%{{.+}}, %{{.+}}) into(%[[Y]]) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
// CHECK-NEXT: return %[[Z]]
func.func @ungated(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %all: tensor<2xi32>, %wi: tensor<1x24x16xf32>, %wo: tensor<1x16x24xf32>) -> tensor<?x16xf32> {
  %s = moe.experts %x offsets(%all) weights(%wi, %wo) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>) -> tensor<?x16xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%s, %y : tensor<?x16xf32>, tensor<?x16xf32>) outs(%y : tensor<?x16xf32>) {
  ^bb0(%v: f32, %r: f32, %o: f32):
    %sum = arith.addf %v, %r : f32
    linalg.yield %sum : f32
  } -> tensor<?x16xf32>
  return %z : tensor<?x16xf32>
}

// -----

#id = affine_map<(t, d) -> (t, d)>
#token = affine_map<(t, d) -> (t)>

// Tests the gated add with its operands in the other order.
// CHECK-LABEL: func.func @gated_swapped
// CHECK-NEXT: moe.experts {{.*}} combine(%{{.+}}) into(%{{.+}})
// CHECK-NEXT: return
func.func @gated_swapped(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %gate: tensor<?xf32>, %all: tensor<2xi32>, %g: tensor<1x24x16xf32>, %u: tensor<1x24x16xf32>, %d: tensor<1x16x24xf32>) -> tensor<?x16xf32> {
  %s = moe.experts %x offsets(%all) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>) -> tensor<?x16xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #token, #id], iterator_types = ["parallel", "parallel"]} ins(%y, %s, %gate : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?xf32>) outs(%y : tensor<?x16xf32>) {
  ^bb0(%r: f32, %v: f32, %w: f32, %o: f32):
    %p = arith.mulf %v, %w : f32
    %sum = arith.addf %p, %r : f32
    linalg.yield %sum : f32
  } -> tensor<?x16xf32>
  return %z : tensor<?x16xf32>
}

// -----

#id = affine_map<(t, d) -> (t, d)>
#token = affine_map<(t, d) -> (t)>

// Tests that experts whose output has another reader keep it.
// CHECK-LABEL: func.func @another_reader
// CHECK-NEXT: %[[S:.+]] = moe.experts
// CHECK-NEXT: linalg.generic
// CHECK: return %{{.+}}, %[[S]]
func.func @another_reader(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %gate: tensor<?xf32>, %all: tensor<2xi32>, %g: tensor<1x24x16xf32>, %u: tensor<1x24x16xf32>, %d: tensor<1x16x24xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %s = moe.experts %x offsets(%all) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>) -> tensor<?x16xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #token, #id], iterator_types = ["parallel", "parallel"]} ins(%y, %s, %gate : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?xf32>) outs(%y : tensor<?x16xf32>) {
  ^bb0(%r: f32, %v: f32, %w: f32, %o: f32):
    %p = arith.mulf %w, %v : f32
    %sum = arith.addf %r, %p : f32
    linalg.yield %sum : f32
  } -> tensor<?x16xf32>
  return %z, %s : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

#id = affine_map<(t, d) -> (t, d)>
#token = affine_map<(t, d) -> (t)>

// Tests that a difference is not an add.
// CHECK-LABEL: func.func @subtract
// CHECK-NEXT: moe.experts
// CHECK-NEXT: linalg.generic
func.func @subtract(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %gate: tensor<?xf32>, %all: tensor<2xi32>, %g: tensor<1x24x16xf32>, %u: tensor<1x24x16xf32>, %d: tensor<1x16x24xf32>) -> tensor<?x16xf32> {
  %s = moe.experts %x offsets(%all) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>) -> tensor<?x16xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #token, #id], iterator_types = ["parallel", "parallel"]} ins(%y, %s, %gate : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?xf32>) outs(%y : tensor<?x16xf32>) {
  ^bb0(%r: f32, %v: f32, %w: f32, %o: f32):
    %p = arith.mulf %w, %v : f32
    %sum = arith.subf %r, %p : f32
    linalg.yield %sum : f32
  } -> tensor<?x16xf32>
  return %z : tensor<?x16xf32>
}

// -----

#id = affine_map<(t, d) -> (t, d)>
#token = affine_map<(t, d) -> (t)>

// Tests that an add that may be reassociated is left alone: the fused
// epilogue rounds the product, then the sum.
// CHECK-LABEL: func.func @fastmath
// CHECK-NEXT: moe.experts
// CHECK-NEXT: linalg.generic
func.func @fastmath(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %gate: tensor<?xf32>, %all: tensor<2xi32>, %g: tensor<1x24x16xf32>, %u: tensor<1x24x16xf32>, %d: tensor<1x16x24xf32>) -> tensor<?x16xf32> {
  %s = moe.experts %x offsets(%all) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>) -> tensor<?x16xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #token, #id], iterator_types = ["parallel", "parallel"]} ins(%y, %s, %gate : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?xf32>) outs(%y : tensor<?x16xf32>) {
  ^bb0(%r: f32, %v: f32, %w: f32, %o: f32):
    %p = arith.mulf %w, %v : f32
    %sum = arith.addf %r, %p fastmath<contract> : f32
    linalg.yield %sum : f32
  } -> tensor<?x16xf32>
  return %z : tensor<?x16xf32>
}

// -----

#id = affine_map<(t, d) -> (t, d)>
#token = affine_map<(t, d) -> (t)>

// Tests that a body doing more than the weighted add is left alone.
// CHECK-LABEL: func.func @more_work
// CHECK-NEXT: moe.experts
// CHECK-NEXT: linalg.generic
func.func @more_work(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %gate: tensor<?xf32>, %all: tensor<2xi32>, %g: tensor<1x24x16xf32>, %u: tensor<1x24x16xf32>, %d: tensor<1x16x24xf32>) -> tensor<?x16xf32> {
  %s = moe.experts %x offsets(%all) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>) -> tensor<?x16xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #token, #id], iterator_types = ["parallel", "parallel"]} ins(%y, %s, %gate : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?xf32>) outs(%y : tensor<?x16xf32>) {
  ^bb0(%r: f32, %v: f32, %w: f32, %o: f32):
    %p = arith.mulf %w, %v : f32
    %sum = arith.addf %r, %p : f32
    %twice = arith.addf %sum, %sum : f32
    linalg.yield %twice : f32
  } -> tensor<?x16xf32>
  return %z : tensor<?x16xf32>
}

// -----

#id = affine_map<(t, d) -> (t, d)>
#token = affine_map<(t, d) -> (t)>

// Tests that the other summand must have the experts' output type.
// CHECK-LABEL: func.func @other_type
// CHECK-NEXT: moe.experts
// CHECK: linalg.generic
func.func @other_type(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %gate: tensor<?xf32>, %all: tensor<2xi32>, %g: tensor<1x24x16xf32>, %u: tensor<1x24x16xf32>, %d: tensor<1x16x24xf32>) -> tensor<8x16xf32> {
  %s = moe.experts %x offsets(%all) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>) -> tensor<?x16xf32>
  %c = tensor.cast %y : tensor<?x16xf32> to tensor<8x16xf32>
  %e = tensor.empty() : tensor<8x16xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%c, %s : tensor<8x16xf32>, tensor<?x16xf32>) outs(%e : tensor<8x16xf32>) {
  ^bb0(%r: f32, %v: f32, %o: f32):
    %sum = arith.addf %r, %v : f32
    linalg.yield %sum : f32
  } -> tensor<8x16xf32>
  return %z : tensor<8x16xf32>
}

// -----

#id = affine_map<(t, d) -> (t, d)>
#token = affine_map<(t, d) -> (t)>

// Tests that a reader other than linalg.generic is left alone.
// CHECK-LABEL: func.func @copy
// CHECK-NEXT: moe.experts
// CHECK-NEXT: linalg.copy
func.func @copy(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %gate: tensor<?xf32>, %all: tensor<2xi32>, %g: tensor<1x24x16xf32>, %u: tensor<1x24x16xf32>, %d: tensor<1x16x24xf32>) -> tensor<?x16xf32> {
  %s = moe.experts %x offsets(%all) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>) -> tensor<?x16xf32>
  %z = linalg.copy ins(%s : tensor<?x16xf32>) outs(%y : tensor<?x16xf32>) -> tensor<?x16xf32>
  return %z : tensor<?x16xf32>
}

// -----

#id = affine_map<(t, d) -> (t, d)>

// Tests that experts that gather their rows (routed experts) are not
// considered: no remark, nothing changes.

// CHECK-LABEL: func.func @gathered
// CHECK-NEXT: moe.experts {{.*}} gather(
// CHECK-NEXT: linalg.generic
func.func @gathered(%x: tensor<?x16xf32>, %src: tensor<?xi32>, %off: tensor<5xi32>, %y: tensor<?x16xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %s = moe.experts %x gather(%src) offsets(%off) weights(%wi, %wo) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%y, %s : tensor<?x16xf32>, tensor<?x16xf32>) outs(%y : tensor<?x16xf32>) {
  ^bb0(%r: f32, %v: f32, %o: f32):
    %sum = arith.addf %r, %v : f32
    linalg.yield %sum : f32
  } -> tensor<?x16xf32>
  return %z : tensor<?x16xf32>
}

// RUN: moe-opt %s -split-input-file --moe-static-capacity | FileCheck %s

// Tests that a dynamic-T capacity-limited chain gets a run-time capacity
// max(ceil(cf * T * k / E), min_capacity), clamped to T, evaluated in f64 in
// that order, and the padded [E, ?, D] layout.

// CHECK-LABEL: func.func @dynamic_capacity
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[IDX:[^:]+]]: tensor<?x2xi32>, %[[W:[^:]+]]: tensor<?x2xf32>
// CHECK: %[[T:.+]] = tensor.dim %[[X]]
// CHECK: %[[TF:.+]] = arith.sitofp
// CHECK: %[[A:.+]] = arith.mulf %{{.+}}, %[[TF]] : f64
// CHECK: %[[B:.+]] = arith.mulf %[[A]], %{{.+}} : f64
// CHECK: %[[C:.+]] = arith.divf %[[B]], %{{.+}} : f64
// CHECK: %[[CT:.+]] = arith.minimumf %[[C]], %[[TF]] : f64
// CHECK: %[[CEIL:.+]] = math.ceil %[[CT]] : f64
// CHECK: %[[MAX:.+]] = arith.maxsi %{{.+}}, %{{.+}} : index
// CHECK: %[[CAP:.+]] = arith.minsi %[[MAX]], %[[T]] : index
// CHECK: %[[BUF:.+]], %[[SLOTS:.+]], %[[COUNTS:.+]] = moe.dispatch_capacity %[[X]], %[[IDX]], %[[CAP]] : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<4xi32>)
// CHECK: %[[OUT:.+]] = moe.experts %[[BUF]] counts(%[[COUNTS]]) weights({{.+}}) : (tensor<4x?x16xf32>, tensor<4xi32>, {{.+}}) -> tensor<4x?x16xf32>
// CHECK: %[[Y:.+]] = moe.combine_capacity %[[OUT]], %[[SLOTS]], %[[IDX]], %[[W]]
// CHECK: return %[[Y]]
// CHECK-NOT: !moe.grouped
func.func @dynamic_capacity(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %grp = moe.dispatch %x, %idx {capacity_factor = 1.5 : f64, min_capacity = 3 : i64} : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that a static T folds the capacity: ceil(1.25 * 10 * 2 / 4) = 7.

// CHECK-LABEL: func.func @static_capacity
// CHECK: %[[C7:.+]] = arith.constant 7 : index
// CHECK: moe.dispatch_capacity %{{.+}}, %{{.+}}, %[[C7]] : (tensor<10x16xf32>, tensor<10x2xi32>, index) -> (tensor<4x7x16xf32>, tensor<10x2xi32>, tensor<4xi32>)
func.func @static_capacity(%x: tensor<10x16xf32>, %idx: tensor<10x2xi32>, %w: tensor<10x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<10x16xf32> {
  %grp = moe.dispatch %x, %idx {capacity_factor = 1.25 : f64} : (tensor<10x16xf32>, tensor<10x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<10x2xi32>, tensor<10x2xf32>) -> tensor<10x16xf32>
  return %y : tensor<10x16xf32>
}

// -----

// Tests that a dropless dispatch uses C = T (exactly dropless) and that a
// fixed expert_capacity larger than T is clamped to T.

// CHECK-LABEL: func.func @dropless_and_clamped
// CHECK: %[[C10:.+]] = arith.constant 10 : index
// CHECK: moe.dispatch_capacity %{{.+}}, %{{.+}}, %[[C10]] : {{.+}} -> (tensor<4x10x16xf32>
// CHECK: %[[C10B:.+]] = arith.constant 10 : index
// CHECK: moe.dispatch_capacity %{{.+}}, %{{.+}}, %[[C10B]] : {{.+}} -> (tensor<4x10x16xf32>
func.func @dropless_and_clamped(%x: tensor<10x16xf32>, %idx: tensor<10x2xi32>, %w: tensor<10x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> (tensor<10x16xf32>, tensor<10x16xf32>) {
  %grp = moe.dispatch %x, %idx : (tensor<10x16xf32>, tensor<10x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<10x2xi32>, tensor<10x2xf32>) -> tensor<10x16xf32>
  %grp2 = moe.dispatch %x, %idx {expert_capacity = 99 : i64} : (tensor<10x16xf32>, tensor<10x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %out2 = moe.experts %grp2 weights(%g, %u, %d) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y2 = moe.combine %out2, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<10x2xi32>, tensor<10x2xf32>) -> tensor<10x16xf32>
  return %y, %y2 : tensor<10x16xf32>, tensor<10x16xf32>
}

// -----

// Tests that passthrough combine keeps its tokens operand.

// CHECK-LABEL: func.func @passthrough
// CHECK-SAME: (%[[X:[^:]+]]: tensor<10x16xf32>
// CHECK: moe.combine_capacity %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} passthrough(%[[X]]) {drop_policy = #moe.drop_policy<passthrough>}
func.func @passthrough(%x: tensor<10x16xf32>, %idx: tensor<10x1xi32>, %w: tensor<10x1xf32>, %i: tensor<4x24x16xf32>, %o: tensor<4x16x24xf32>) -> tensor<10x16xf32> {
  %grp = moe.dispatch %x, %idx {expert_capacity = 2 : i64} : (tensor<10x16xf32>, tensor<10x1xi32>) -> !moe.grouped<4 x 16 x f32>
  %out = moe.experts %grp weights(%i, %o) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y = moe.combine %out, %idx, %w passthrough(%x) {drop_policy = #moe.drop_policy<passthrough>} : (!moe.grouped<4 x 16 x f32>, tensor<10x1xi32>, tensor<10x1xf32>, tensor<10x16xf32>) -> tensor<10x16xf32>
  return %y : tensor<10x16xf32>
}

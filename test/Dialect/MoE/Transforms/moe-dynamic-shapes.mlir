// RUN: moe-opt %s -split-input-file --moe-dynamic-shapes | FileCheck %s

// Tests that a dropless chain becomes sorted rows [T*k, D] with offsets
// [E+1], a segmented moe.experts, and moe.combine_sorted; no capacity.

// CHECK-LABEL: func.func @dropless
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[IDX:[^:]+]]: tensor<?x2xi32>, %[[W:[^:]+]]: tensor<?x2xf32>
// CHECK-NOT: capacity
// CHECK: %[[ROWS:.+]], %[[OFF:.+]], %[[POS:.+]], %{{.+}} = moe.dispatch_sorted %[[X]], %[[IDX]] : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
// CHECK: %[[OUT:.+]] = moe.experts %[[ROWS]] offsets(%[[OFF]]) weights({{.+}}) : (tensor<?x16xf32>, tensor<5xi32>, {{.+}}) -> tensor<?x16xf32>
// CHECK: %[[Y:.+]] = moe.combine_sorted %[[OUT]], %[[POS]], %[[W]] : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
// CHECK: return %[[Y]]
func.func @dropless(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %grp = moe.dispatch %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that a capacity-limited dispatch keeps its limit in the sorted
// layout, so both layouts drop the same assignments; static T gives [T*k, D].

// CHECK-LABEL: func.func @with_capacity
// CHECK: %[[C7:.+]] = arith.constant 7 : index
// CHECK: moe.dispatch_sorted %{{.+}}, %{{.+}} capacity(%[[C7]]) : (tensor<10x16xf32>, tensor<10x2xi32>, index) -> (tensor<20x16xf32>, tensor<5xi32>, tensor<10x2xi32>, tensor<4xi32>)
func.func @with_capacity(%x: tensor<10x16xf32>, %idx: tensor<10x2xi32>, %w: tensor<10x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<10x16xf32> {
  %grp = moe.dispatch %x, %idx {capacity_factor = 1.25 : f64} : (tensor<10x16xf32>, tensor<10x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<10x2xi32>, tensor<10x2xf32>) -> tensor<10x16xf32>
  return %y : tensor<10x16xf32>
}

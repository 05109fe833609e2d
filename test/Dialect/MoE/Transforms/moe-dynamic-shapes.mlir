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

// -----

// Tests two chained layers (the second dispatches the first's combined
// output): both chains are rewritten and every layout-free op is erased.
// This once read freed combine ops and failed with a misleading "used
// outside a chain" error.

// CHECK-LABEL: func.func @chained
// CHECK-NOT: moe.dispatch %
// CHECK: %[[R1:.+]], %[[O1:.+]], %[[P1:.+]], %{{.+}} = moe.dispatch_sorted %{{.+}}, %{{.+}} :
// CHECK: %[[E1:.+]] = moe.experts %[[R1]] offsets(%[[O1]])
// CHECK: %[[Y1:.+]] = moe.combine_sorted %[[E1]], %[[P1]]
// CHECK: %[[R2:.+]], %[[O2:.+]], %[[P2:.+]], %{{.+}} = moe.dispatch_sorted %[[Y1]], %{{.+}} :
// CHECK: %[[E2:.+]] = moe.experts %[[R2]] offsets(%[[O2]])
// CHECK: %[[Y2:.+]] = moe.combine_sorted %[[E2]], %[[P2]]
// CHECK-NOT: moe.combine %
// CHECK: return %[[Y2]]
func.func @chained(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %i: tensor<4x24x16xf32>, %o: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %g1 = moe.dispatch %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %e1 = moe.experts %g1 weights(%i, %o) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y1 = moe.combine %e1, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  %g2 = moe.dispatch %y1, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %e2 = moe.experts %g2 weights(%i, %o) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y2 = moe.combine %e2, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y2 : tensor<?x16xf32>
}

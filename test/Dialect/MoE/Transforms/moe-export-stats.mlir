// RUN: moe-opt %s -split-input-file --moe-export-stats | FileCheck %s

// Tests that the statistics of a sorted dispatch become two named results:
// the counts, and kept = min(counts, T) (a distinct value even when dropless).

// CHECK-LABEL: func.func @sorted
// CHECK-SAME: -> (tensor<?x16xf32>, tensor<4xi32> {moe.stat = "expert_counts"}, tensor<4xi32> {moe.stat = "expert_kept"})
// CHECK: %{{.+}}, %{{.+}}, %{{.+}}, %[[COUNTS:.+]] = moe.dispatch_sorted
// CHECK: %[[T:.+]] = tensor.dim
// CHECK: %[[TI:.+]] = arith.index_cast %[[T]] : index to i32
// CHECK: %[[KEPT:.+]] = linalg.generic {{.+}} ins(%[[COUNTS]] : tensor<4xi32>)
// CHECK: arith.minsi %{{.+}}, %[[TI]] : i32
// CHECK: return %{{.+}}, %[[COUNTS]], %[[KEPT]] : tensor<?x16xf32>, tensor<4xi32>, tensor<4xi32>
func.func @sorted(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> tensor<?x16xf32> {
  %rows, %off, %pos, %counts = moe.dispatch_sorted %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %y = moe.combine_sorted %rows, %pos, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that a capacity dispatch reports kept = min(counts, C).

// CHECK-LABEL: func.func @capacity
// CHECK-SAME: (%{{.+}}: tensor<10x16xf32>, %{{.+}}: tensor<10x2xi32>, %{{.+}}: tensor<10x2xf32>, %[[C:.+]]: index)
// CHECK: %[[CI:.+]] = arith.index_cast %[[C]] : index to i32
// CHECK: arith.minsi %{{.+}}, %[[CI]] : i32
func.func @capacity(%x: tensor<10x16xf32>, %idx: tensor<10x2xi32>, %w: tensor<10x2xf32>, %c: index) -> tensor<10x16xf32> {
  %buf, %slots, %counts = moe.dispatch_capacity %x, %idx, %c : (tensor<10x16xf32>, tensor<10x2xi32>, index) -> (tensor<4x?x16xf32>, tensor<10x2xi32>, tensor<4xi32>)
  %y = moe.combine_capacity %buf, %slots, %idx, %w : (tensor<4x?x16xf32>, tensor<10x2xi32>, tensor<10x2xi32>, tensor<10x2xf32>) -> tensor<10x16xf32>
  return %y : tensor<10x16xf32>
}

// -----

// Tests that private functions and functions without a dispatch keep their
// signature.

// CHECK-LABEL: func.func private @helper
// CHECK-SAME: -> tensor<10x16xf32>
// CHECK-LABEL: func.func @no_dispatch
// CHECK-SAME: -> tensor<4xf32>
func.func private @helper(%x: tensor<10x16xf32>, %idx: tensor<10x2xi32>, %w: tensor<10x2xf32>) -> tensor<10x16xf32> {
  %rows, %off, %pos, %counts = moe.dispatch_sorted %x, %idx : (tensor<10x16xf32>, tensor<10x2xi32>) -> (tensor<20x16xf32>, tensor<5xi32>, tensor<10x2xi32>, tensor<4xi32>)
  %y = moe.combine_sorted %rows, %pos, %w : (tensor<20x16xf32>, tensor<10x2xi32>, tensor<10x2xf32>) -> tensor<10x16xf32>
  return %y : tensor<10x16xf32>
}
func.func @no_dispatch(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

// -----

// A layout chosen at run time (moe-choose-dispatch-layout): each branch
// also yields its counts and capacity, and kept is built after the scf.if.
// CHECK-LABEL: func.func @branches
// CHECK-SAME: -> (tensor<?x16xf32>, tensor<4xi32> {moe.stat = "expert_counts"}, tensor<4xi32> {moe.stat = "expert_kept"})
// CHECK: %[[R:.+]]:3 = scf.if %{{.+}} -> (tensor<?x16xf32>, tensor<4xi32>, index) {
// CHECK:   %{{.+}}, %{{.+}}, %[[PC:.+]] = moe.dispatch_capacity %{{.+}}, %{{.+}}, %[[PCAP:[^ ]+]] :
// CHECK:   scf.yield %{{.+}}, %[[PC]], %[[PCAP]] : tensor<?x16xf32>, tensor<4xi32>, index
// CHECK: } else {
// CHECK:   %{{.+}}, %{{.+}}, %{{.+}}, %[[SC:.+]] = moe.dispatch_sorted %{{.+}}, %{{.+}} capacity(%[[SCAP:[^)]+]])
// CHECK:   scf.yield %{{.+}}, %[[SC]], %[[SCAP]] : tensor<?x16xf32>, tensor<4xi32>, index
// CHECK: }
// CHECK: %[[CI:.+]] = arith.index_cast %[[R]]#2 : index to i32
// CHECK: %[[KEPT:.+]] = linalg.generic {{.+}} ins(%[[R]]#1 : tensor<4xi32>)
// CHECK: arith.minsi %{{.+}}, %[[CI]] : i32
// CHECK: return %[[R]]#0, %[[R]]#1, %[[KEPT]]
func.func @branches(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %fewer: i1, %cap: index, %cap2: index) -> tensor<?x16xf32> {
  %y = scf.if %fewer -> (tensor<?x16xf32>) {
    %buf, %slots, %counts = moe.dispatch_capacity %x, %idx, %cap : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<4xi32>)
    %yc = moe.combine_capacity %buf, %slots, %idx, %w : (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
    scf.yield %yc : tensor<?x16xf32>
  } else {
    %rows, %off, %pos, %counts = moe.dispatch_sorted %x, %idx capacity(%cap2) : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
    %ys = moe.combine_sorted %rows, %pos, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
    scf.yield %ys : tensor<?x16xf32>
  }
  return %y : tensor<?x16xf32>
}

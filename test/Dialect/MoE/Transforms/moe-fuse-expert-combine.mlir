// RUN: moe-opt %s -split-input-file --moe-fuse-expert-combine | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-fuse-expert-combine=explain=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN

// Each combine's outcome, in order: fused, or why it keeps its pass.
// EXPLAIN: remark: moe.combine_sorted: the second projection weights each row and adds it into its token; the experts' rows 'tensor<?x16xf32>' are never stored
// EXPLAIN: remark: moe.combine_capacity: the second projection weights each row and adds it into its token; the experts' rows 'tensor<4x?x16xf32>' are never stored
// EXPLAIN: remark: moe.combine_capacity keeps its pass: the passthrough drop policy adds the tokens of dropped assignments
// EXPLAIN: remark: moe.combine_sorted keeps its pass: the experts read a copy of their rows, not the tokens through a gather (see moe-fuse-dispatch-gather)
// EXPLAIN: remark: moe.combine_sorted keeps its pass: the experts' rows have another reader
// EXPLAIN: remark: moe.combine_sorted keeps its pass: its positions are not the bookkeeping of the experts' gather
// EXPLAIN: remark: moe.combine_capacity keeps its pass: its slots are not the bookkeeping of the experts' gather
// EXPLAIN: remark: moe.combine_sorted keeps its pass: its result type differs from the tokens'
// EXPLAIN: remark: moe.combine_sorted keeps its pass: its rows do not come from moe.experts

// Tests the sorted layout after moe-fuse-dispatch-gather: the combine
// becomes the routing weight of each sorted row (moe.scatter_weights over
// the sort's positions) and experts that add their rows into the tokens.

// CHECK-LABEL: func.func @sorted
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[IDX:[^:]+]]: tensor<?x2xi32>, %[[W:[^:]+]]: tensor<?x2xf32>, %[[G:[^:]+]]: tensor<4x24x16xf32>, %[[U:[^:]+]]: tensor<4x24x16xf32>, %[[D:[^:]+]]: tensor<4x16x24xf32>)
// CHECK-NEXT: %[[SRC:.+]], %[[OFF:.+]], %[[POS:.+]], %[[CNT:.+]] = moe.sort_assignments %[[IDX]]
// CHECK-NEXT: %[[RW:.+]] = moe.scatter_weights %[[W]], %[[POS]] : (tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?xf32>
// CHECK-NEXT: %[[Y:.+]] = moe.experts %[[X]] gather(%[[SRC]]) offsets(%[[OFF]]) weights(%[[G]], %[[U]], %[[D]]) combine(%[[RW]]) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<?xf32>) -> tensor<?x16xf32>
// CHECK-NOT: moe.combine_sorted
// CHECK-NEXT: return %[[Y]], %[[CNT]]
func.func @sorted(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> (tensor<?x16xf32>, tensor<4xi32>) {
  %src, %off, %pos, %cnt = moe.sort_assignments %idx : (tensor<?x2xi32>) -> (tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d) {activation = #moe.activation<silu>} : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  %y = moe.combine_sorted %h, %pos, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y, %cnt : tensor<?x16xf32>, tensor<4xi32>
}

// -----

// Tests the padded layout: the weights go to the [E, C] slots (the slot
// table of the assignment's expert, C the capacity), biases stay with the
// experts.

// CHECK-LABEL: func.func @padded
// CHECK-SAME: %[[CAP:[^:]+]]: index
// CHECK: %[[SRC:.+]], %[[SLOTS:.+]], %[[CNT:.+]] = moe.assign_slots %[[IDX:[^,]+]], %[[CAP]]
// CHECK-NEXT: %[[RW:.+]] = moe.scatter_weights %{{.+}}, %[[SLOTS]] experts(%[[IDX]], %[[CAP]]) : (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x2xi32>, index) -> tensor<4x?xf32>
// CHECK-NEXT: moe.experts %{{.+}} gather(%[[SRC]]) counts(%[[CNT]]) weights(%{{.+}}, %{{.+}}) biases(%{{.+}}, %{{.+}}) combine(%[[RW]]) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<4x?xi32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<4x24xf32>, tensor<4x16xf32>, tensor<4x?xf32>) -> tensor<?x16xf32>
// CHECK-NOT: moe.combine_capacity
func.func @padded(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>, %bi: tensor<4x24xf32>, %bo: tensor<4x16xf32>, %cap: index) -> tensor<?x16xf32> {
  %src, %slots, %cnt = moe.assign_slots %idx, %cap : (tensor<?x2xi32>, index) -> (tensor<4x?xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %x gather(%src) counts(%cnt) weights(%wi, %wo) biases(%bi, %bo) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<4x?xi32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<4x24xf32>, tensor<4x16xf32>) -> tensor<4x?x16xf32>
  %y = moe.combine_capacity %h, %slots, %idx, %w : (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that the passthrough policy keeps the combine: dropped assignments
// add their tokens, which no expert row carries.

// CHECK-LABEL: func.func @passthrough
// CHECK-NOT: moe.scatter_weights
// CHECK: moe.combine_capacity
func.func @passthrough(%x: tensor<?x16xf32>, %idx: tensor<?x1xi32>, %w: tensor<?x1xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>, %cap: index) -> tensor<?x16xf32> {
  %src, %slots, %cnt = moe.assign_slots %idx, %cap : (tensor<?x1xi32>, index) -> (tensor<4x?xi32>, tensor<?x1xi32>, tensor<4xi32>)
  %h = moe.experts %x gather(%src) counts(%cnt) weights(%wi, %wo) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<4x?xi32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x?x16xf32>
  %y = moe.combine_capacity %h, %slots, %idx, %w passthrough(%x) {drop_policy = #moe.drop_policy<passthrough>} : (tensor<4x?x16xf32>, tensor<?x1xi32>, tensor<?x1xi32>, tensor<?x1xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that experts over a copy of their rows (no gather: the row of each
// token is unknown to them) keep the combine.

// CHECK-LABEL: func.func @copied_rows
// CHECK-NOT: moe.scatter_weights
// CHECK: moe.combine_sorted
func.func @copied_rows(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %rows, %off, %pos, %cnt = moe.dispatch_sorted %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %rows offsets(%off) weights(%wi, %wo) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  %y = moe.combine_sorted %h, %pos, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that expert rows something else also reads (here the caller) stay
// stored, and the combine with them.

// CHECK-LABEL: func.func @rows_escape
// CHECK-NOT: moe.scatter_weights
// CHECK: moe.combine_sorted
func.func @rows_escape(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %src, %off, %pos, %cnt = moe.sort_assignments %idx : (tensor<?x2xi32>) -> (tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %x gather(%src) offsets(%off) weights(%wi, %wo) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  %y = moe.combine_sorted %h, %pos, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y, %h : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// Tests that a combine over positions other than the gather's sort keeps
// its pass: its rows would not be the ones the experts computed.

// CHECK-LABEL: func.func @other_positions
// CHECK-NOT: moe.scatter_weights
// CHECK: moe.combine_sorted
func.func @other_positions(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %pos2: tensor<?x2xi32>, %w: tensor<?x2xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %src, %off, %pos, %cnt = moe.sort_assignments %idx : (tensor<?x2xi32>) -> (tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %x gather(%src) offsets(%off) weights(%wi, %wo) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  %y = moe.combine_sorted %h, %pos2, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests the same for the padded layout: indices other than the slots'.

// CHECK-LABEL: func.func @other_indices
// CHECK-NOT: moe.scatter_weights
// CHECK: moe.combine_capacity
func.func @other_indices(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %idx2: tensor<?x2xi32>, %w: tensor<?x2xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>, %cap: index) -> tensor<?x16xf32> {
  %src, %slots, %cnt = moe.assign_slots %idx, %cap : (tensor<?x2xi32>, index) -> (tensor<4x?xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %x gather(%src) counts(%cnt) weights(%wi, %wo) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<4x?xi32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x?x16xf32>
  %y = moe.combine_capacity %h, %slots, %idx2, %w : (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that a combine whose result type is not the tokens' (static T
// against dynamic tokens) keeps its pass: the fused experts return the
// tokens' type.

// CHECK-LABEL: func.func @other_type
// CHECK-NOT: moe.scatter_weights
// CHECK: moe.combine_sorted
func.func @other_type(%x: tensor<?x16xf32>, %idx: tensor<3x2xi32>, %w: tensor<3x2xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<3x16xf32> {
  %src, %off, %pos, %cnt = moe.sort_assignments %idx : (tensor<3x2xi32>) -> (tensor<6xi32>, tensor<5xi32>, tensor<3x2xi32>, tensor<4xi32>)
  %h = moe.experts %x gather(%src) offsets(%off) weights(%wi, %wo) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<6xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<6x16xf32>
  %y = moe.combine_sorted %h, %pos, %w : (tensor<6x16xf32>, tensor<3x2xi32>, tensor<3x2xf32>) -> tensor<3x16xf32>
  return %y : tensor<3x16xf32>
}

// -----

// Tests that rows an exchange brings back (expert parallelism) keep their
// combine: no experts op produces them here.

// CHECK-LABEL: func.func @received_rows
// CHECK-NOT: moe.scatter_weights
// CHECK: moe.combine_sorted
func.func @received_rows(%rows: tensor<?x16xf32>, %pos: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> tensor<?x16xf32> {
  %y = moe.combine_sorted %rows, %pos, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

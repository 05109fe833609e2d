// RUN: moe-opt %s -split-input-file --moe-fuse-dispatch-gather | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-fuse-dispatch-gather=explain=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN

// Each dispatch's outcome, in order: fused (with the copy it saves, in bytes
// when T is static), or why it keeps its copy.
// EXPLAIN: remark: moe.dispatch_sorted: the experts gather the tokens in their first projections; no copy of 'tensor<?x16xf32>' (64 B per row)
// EXPLAIN: remark: moe.dispatch_sorted: the experts gather the tokens in their first projections; no copy of 'tensor<6x16xf32>' (384 B)
// EXPLAIN: remark: moe.dispatch_sorted keeps its copy: its rows have more than one reader
// EXPLAIN: remark: moe.dispatch_sorted keeps its copy: its rows have more than one reader
// EXPLAIN: remark: moe.dispatch_sorted keeps its copy: the experts read other rows than the dispatch's segments or filled slots
// EXPLAIN: remark: moe.dispatch_capacity: the experts gather
// EXPLAIN: remark: moe.dispatch_capacity keeps its copy: the experts read other rows than the dispatch's segments or filled slots
// EXPLAIN: remark: moe.dispatch_capacity: the experts gather
// EXPLAIN: remark: moe.dispatch_capacity keeps its copy: the capacity may be below the buffer's static C, leaving slots the counts reach unfilled
// EXPLAIN: remark: moe.dispatch_capacity keeps its copy: the experts read other rows than the dispatch's segments or filled slots
// EXPLAIN: remark: moe.dispatch_sorted keeps its copy: the experts add each row into the same row of another tensor ('into'), which a gather would reorder

// Tests the dropless layout moe-dynamic-shapes emits: the sorted dispatch
// becomes its bookkeeping (moe.sort_assignments, with the dispatch's
// capacity) and the experts read the tokens through the sorted rows'
// sources; the combine takes the new positions, the rest of the
// bookkeeping is the sort's too.

// CHECK-LABEL: func.func @sorted
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[IDX:[^:]+]]: tensor<?x2xi32>, %[[W:[^:]+]]: tensor<?x2xf32>, %[[G:[^:]+]]: tensor<4x24x16xf32>, %[[U:[^:]+]]: tensor<4x24x16xf32>, %[[D:[^:]+]]: tensor<4x16x24xf32>, %[[CAP:[^:]+]]: index)
// CHECK-NEXT: %[[SRC:.+]], %[[OFF:.+]], %[[POS:.+]], %[[CNT:.+]] = moe.sort_assignments %[[IDX]] capacity(%[[CAP]]) : (tensor<?x2xi32>, index) -> (tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
// CHECK-NOT: moe.dispatch_sorted
// CHECK-NEXT: %[[H:.+]] = moe.experts %[[X]] gather(%[[SRC]]) offsets(%[[OFF]]) weights(%[[G]], %[[U]], %[[D]]) {activation = #moe.activation<gelu>} : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
// CHECK-NEXT: %[[Y:.+]] = moe.combine_sorted %[[H]], %[[POS]], %[[W]]
// CHECK-NEXT: return %[[Y]], %[[CNT]]
func.func @sorted(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>, %cap: index) -> (tensor<?x16xf32>, tensor<4xi32>) {
  %rows, %off, %pos, %cnt = moe.dispatch_sorted %x, %idx capacity(%cap) : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %rows offsets(%off) weights(%g, %u, %d) {activation = #moe.activation<gelu>} : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  %y = moe.combine_sorted %h, %pos, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y, %cnt : tensor<?x16xf32>, tensor<4xi32>
}

// -----

// Tests static token counts and biases: the sources are [T * k] = [6], the
// biases stay with the experts.

// CHECK-LABEL: func.func @static_rows
// CHECK: %[[SRC:.+]], %[[OFF:.+]], %[[POS:.+]], %{{.+}} = moe.sort_assignments %{{.+}} : (tensor<3x2xi32>) -> (tensor<6xi32>, tensor<5xi32>, tensor<3x2xi32>, tensor<4xi32>)
// CHECK: moe.experts %{{.+}} gather(%[[SRC]]) offsets(%[[OFF]]) weights(%{{.+}}, %{{.+}}) biases(%{{.+}}, %{{.+}}) {activation = #moe.activation<relu>} : (tensor<3x16xf32>, tensor<6xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<4x24xf32>, tensor<4x16xf32>) -> tensor<6x16xf32>
func.func @static_rows(%x: tensor<3x16xf32>, %idx: tensor<3x2xi32>, %w: tensor<3x2xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>, %bi: tensor<4x24xf32>, %bo: tensor<4x16xf32>) -> tensor<3x16xf32> {
  %rows, %off, %pos, %cnt = moe.dispatch_sorted %x, %idx : (tensor<3x16xf32>, tensor<3x2xi32>) -> (tensor<6x16xf32>, tensor<5xi32>, tensor<3x2xi32>, tensor<4xi32>)
  %h = moe.experts %rows offsets(%off) weights(%wi, %wo) biases(%bi, %bo) {activation = #moe.activation<relu>} : (tensor<6x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<4x24xf32>, tensor<4x16xf32>) -> tensor<6x16xf32>
  %y = moe.combine_sorted %h, %pos, %w : (tensor<6x16xf32>, tensor<3x2xi32>, tensor<3x2xf32>) -> tensor<3x16xf32>
  return %y : tensor<3x16xf32>
}

// -----

// Tests that sorted rows something else also reads (here the function's
// caller, as an expert-parallel exchange would) keep their copy.

// CHECK-LABEL: func.func @rows_escape
// CHECK: moe.dispatch_sorted
// CHECK-NOT: moe.sort_assignments
// CHECK-NOT: gather(
func.func @rows_escape(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %rows, %off, %pos, %cnt = moe.dispatch_sorted %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %rows offsets(%off) weights(%wi, %wo) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  return %h, %rows : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// Tests sorted rows two experts ops read (the later one first in the rows'
// use list): both keep reading the copy.

// CHECK-LABEL: func.func @rows_read_twice
// CHECK: %[[ROWS:.+]], %[[OFF:.+]], %{{.+}}, %{{.+}} = moe.dispatch_sorted
// CHECK: moe.experts %[[ROWS]] offsets(%[[OFF]])
// CHECK: moe.experts %[[ROWS]] offsets(%[[OFF]])
// CHECK-NOT: gather(
func.func @rows_read_twice(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %rows, %off, %pos, %cnt = moe.dispatch_sorted %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %rows offsets(%off) weights(%wi, %wo) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  %h2 = moe.experts %rows offsets(%off) weights(%wi, %wo) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  return %h, %h2 : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// Tests that experts over other segments than the dispatch's (offsets from
// elsewhere) keep the copy: the sources follow the dispatch's order only.

// CHECK-LABEL: func.func @other_offsets
// CHECK: moe.dispatch_sorted
// CHECK-NOT: gather(
func.func @other_offsets(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %off2: tensor<5xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %rows, %off, %pos, %cnt = moe.dispatch_sorted %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %rows offsets(%off2) weights(%wi, %wo) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  return %h : tensor<?x16xf32>
}

// -----

// Tests the padded layout moe-static-capacity emits: the capacity dispatch
// becomes moe.assign_slots (sources [E, C], one token per slot, with the
// same capacity) and the experts read the tokens through them over the
// filled slots (counts); the combine takes the new slots.

// CHECK-LABEL: func.func @padded
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[IDX:[^:]+]]: tensor<?x2xi32>, %[[W:[^:]+]]: tensor<?x2xf32>, %[[C:[^:]+]]: index
// CHECK-NEXT: %[[SRC:.+]], %[[SLOTS:.+]], %[[CNT:.+]] = moe.assign_slots %[[IDX]], %[[C]] : (tensor<?x2xi32>, index) -> (tensor<4x?xi32>, tensor<?x2xi32>, tensor<4xi32>)
// CHECK-NEXT: %[[H:.+]] = moe.experts %[[X]] gather(%[[SRC]]) counts(%[[CNT]]) weights(%{{.+}}, %{{.+}}) : (tensor<?x16xf32>, tensor<4x?xi32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x?x16xf32>
// CHECK-NEXT: moe.combine_capacity %[[H]], %[[SLOTS]], %[[IDX]], %[[W]]
func.func @padded(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %c: index, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %buf, %slots, %cnt = moe.dispatch_capacity %x, %idx, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %buf counts(%cnt) weights(%wi, %wo) : (tensor<4x?x16xf32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x?x16xf32>
  %y = moe.combine_capacity %h, %slots, %idx, %w : (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that experts computing every slot of a padded buffer (no counts)
// keep the copy: a gather's entries exist for filled slots only.

// CHECK-LABEL: func.func @padded_all_slots
// CHECK: moe.dispatch_capacity
// CHECK-NOT: gather(
func.func @padded_all_slots(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %c: index, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<4x?x16xf32> {
  %buf, %slots, %cnt = moe.dispatch_capacity %x, %idx, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %buf weights(%wi, %wo) : (tensor<4x?x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x?x16xf32>
  return %h : tensor<4x?x16xf32>
}

// -----

// Tests a static C: fused when the capacity is a constant of at least C
// (every slot the counts reach is filled), not when it may be smaller (the
// slots past it would be read unwritten), nor when the experts' counts are
// not the dispatch's.

// CHECK-LABEL: func.func @static_c
// CHECK: moe.assign_slots
// CHECK: moe.experts %{{.+}} gather(
// CHECK-LABEL: func.func @static_c_smaller_capacity
// CHECK: moe.dispatch_capacity
// CHECK-NOT: gather(
// CHECK-LABEL: func.func @other_counts
// CHECK: moe.dispatch_capacity
// CHECK-NOT: gather(
func.func @static_c(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<4x3x16xf32> {
  %c = arith.constant 3 : index
  %buf, %slots, %cnt = moe.dispatch_capacity %x, %idx, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x3x16xf32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %buf counts(%cnt) weights(%wi, %wo) : (tensor<4x3x16xf32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x3x16xf32>
  return %h : tensor<4x3x16xf32>
}
func.func @static_c_smaller_capacity(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %c: index, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<4x3x16xf32> {
  %buf, %slots, %cnt = moe.dispatch_capacity %x, %idx, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x3x16xf32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %buf counts(%cnt) weights(%wi, %wo) : (tensor<4x3x16xf32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x3x16xf32>
  return %h : tensor<4x3x16xf32>
}
func.func @other_counts(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %c: index, %n: tensor<4xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<4x?x16xf32> {
  %buf, %slots, %cnt = moe.dispatch_capacity %x, %idx, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<4xi32>)
  %h = moe.experts %buf counts(%n) weights(%wi, %wo) : (tensor<4x?x16xf32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x?x16xf32>
  return %h : tensor<4x?x16xf32>
}

// -----

// Tests that experts adding each sorted row into the same row of another
// tensor keep their copy: through a gather, row r would no longer be the
// row the sum expects.

// CHECK-LABEL: func.func @into
// CHECK: moe.dispatch_sorted
// CHECK: moe.experts %{{.+}} offsets(%{{.+}}) weights(%{{.+}}, %{{.+}}) into(
func.func @into(%x: tensor<?x16xf32>, %idx: tensor<?x1xi32>, %acc: tensor<?x16xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %rows, %off, %pos, %cnt = moe.dispatch_sorted %x, %idx : (tensor<?x16xf32>, tensor<?x1xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x1xi32>, tensor<4xi32>)
  %h = moe.experts %rows offsets(%off) weights(%wi, %wo) into(%acc) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %h : tensor<?x16xf32>
}

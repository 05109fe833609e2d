// RUN: moe-opt %s -split-input-file --moe-choose-dispatch-layout | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-choose-dispatch-layout="per-token-count=false" | FileCheck %s --check-prefix=ONE
// RUN: moe-opt %s -split-input-file --moe-choose-dispatch-layout="explain=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN
// RUN: moe-opt %s -split-input-file --moe-choose-dispatch-layout="explain=true per-token-count=false" -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN-ONE

// Tests that each chain takes the layout that reserves fewer rows, E·C
// padded against T·k sorted (ties: sorted), and that a choice which depends
// on the run-time T becomes an scf.if on that comparison.

// Dropless: C = T, and E·T ≥ T·k.
// CHECK-LABEL: func.func @dropless
// CHECK: moe.dispatch_sorted
// CHECK-NOT: capacity(
// CHECK: moe.combine_sorted
// CHECK-NOT: scf.if
// ONE-LABEL: func.func @dropless
// ONE: moe.dispatch_sorted
// EXPLAIN: remark: layout sorted (dynamic): dropless: padded E·C = 4·T rows against sorted T·k = 2·T
func.func @dropless(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %grp = moe.dispatch %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A factor of 1 or more: E·ceil(cf·T·k/E) ≥ T·k at every T.
// CHECK-LABEL: func.func @factor_above_one
// CHECK: moe.dispatch_sorted %{{.+}}, %{{.+}} capacity(
// CHECK-NOT: scf.if
// EXPLAIN: remark: layout sorted (dynamic): capacity factor 1.25 ≥ 1: padded E·C ≥ T·k sorted rows at every T
func.func @factor_above_one(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %grp = moe.dispatch %x, %idx {capacity_factor = 1.25 : f64} : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A static T decides at compile time: E·C = 8·4 = 32 < T·k = 64.
// CHECK-LABEL: func.func @static_t_padded
// CHECK: moe.dispatch_capacity
// CHECK: moe.experts %{{.+}} counts(
// CHECK: moe.combine_capacity
// CHECK-NOT: scf.if
// EXPLAIN: remark: layout padded (static): T = 64, C = 4: padded E·C = 32 rows against sorted T·k = 64
func.func @static_t_padded(%x: tensor<64x16xf32>, %idx: tensor<64x1xi32>, %w: tensor<64x1xf32>, %g: tensor<8x24x16xf32>, %u: tensor<8x24x16xf32>, %d: tensor<8x16x24xf32>) -> tensor<64x16xf32> {
  %grp = moe.dispatch %x, %idx {expert_capacity = 4 : i64} : (tensor<64x16xf32>, tensor<64x1xi32>) -> !moe.grouped<8 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<8 x 16 x f32>, tensor<8x24x16xf32>, tensor<8x24x16xf32>, tensor<8x16x24xf32>) -> !moe.grouped<8 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<8 x 16 x f32>, tensor<64x1xi32>, tensor<64x1xf32>) -> tensor<64x16xf32>
  return %y : tensor<64x16xf32>
}

// -----

// A tie (E·C = 32 = T·k) takes the sorted layout.
// CHECK-LABEL: func.func @static_t_tie
// CHECK: moe.dispatch_sorted
// EXPLAIN: remark: layout sorted (dynamic): T = 32, C = 4: padded E·C = 32 rows against sorted T·k = 32
func.func @static_t_tie(%x: tensor<32x16xf32>, %idx: tensor<32x1xi32>, %w: tensor<32x1xf32>, %g: tensor<8x24x16xf32>, %u: tensor<8x24x16xf32>, %d: tensor<8x16x24xf32>) -> tensor<32x16xf32> {
  %grp = moe.dispatch %x, %idx {expert_capacity = 4 : i64} : (tensor<32x16xf32>, tensor<32x1xi32>) -> !moe.grouped<8 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<8 x 16 x f32>, tensor<8x24x16xf32>, tensor<8x24x16xf32>, tensor<8x16x24xf32>) -> !moe.grouped<8 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<8 x 16 x f32>, tensor<32x1xi32>, tensor<32x1xf32>) -> tensor<32x16xf32>
  return %y : tensor<32x16xf32>
}

// -----

// A fixed capacity with a dynamic T: padded once T > E·C/k = 32, so the
// chain is in both branches of an scf.if on E·min(C, T) < T·k.
// CHECK-LABEL: func.func @fixed_capacity
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>
// CHECK: %[[T:.+]] = tensor.dim %[[X]], %{{.+}}
// CHECK: %[[T2:.+]] = tensor.dim %[[X]], %{{.+}}
// CHECK: %[[CAP:.+]] = arith.minsi %{{.+}}, %[[T2]] : index
// CHECK: %[[E:.+]] = arith.constant 8 : index
// CHECK: %[[PADDED:.+]] = arith.muli %[[CAP]], %[[E]] : index
// CHECK: %[[K:.+]] = arith.constant 1 : index
// CHECK: %[[SORTED:.+]] = arith.muli %[[T]], %[[K]] : index
// CHECK: %[[FEWER:.+]] = arith.cmpi slt, %[[PADDED]], %[[SORTED]] : index
// CHECK: %[[Y:.+]] = scf.if %[[FEWER]] -> (tensor<?x16xf32>) {
// CHECK:   moe.dispatch_capacity
// CHECK:   moe.experts %{{.+}} counts(
// CHECK:   %[[YP:.+]] = moe.combine_capacity
// CHECK:   scf.yield %[[YP]] : tensor<?x16xf32>
// CHECK: } else {
// CHECK:   moe.dispatch_sorted %{{.+}}, %{{.+}} capacity(
// CHECK:   moe.experts %{{.+}} offsets(
// CHECK:   %[[YS:.+]] = moe.combine_sorted
// CHECK:   scf.yield %[[YS]] : tensor<?x16xf32>
// CHECK: }
// CHECK: return %[[Y]]
// CHECK-NOT: !moe.grouped
// ONE-LABEL: func.func @fixed_capacity
// ONE-NOT: scf.if
// ONE: moe.dispatch_capacity
// ONE-NOT: moe.dispatch_sorted
// EXPLAIN: remark: layout chosen at run time: capacity C = min(4, T): padded E·C rows against sorted T·k, fewer padded when T > 32
func.func @fixed_capacity(%x: tensor<?x16xf32>, %idx: tensor<?x1xi32>, %w: tensor<?x1xf32>, %g: tensor<8x24x16xf32>, %u: tensor<8x24x16xf32>, %d: tensor<8x16x24xf32>) -> tensor<?x16xf32> {
  %grp = moe.dispatch %x, %idx {expert_capacity = 4 : i64} : (tensor<?x16xf32>, tensor<?x1xi32>) -> !moe.grouped<8 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<8 x 16 x f32>, tensor<8x24x16xf32>, tensor<8x24x16xf32>, tensor<8x16x24xf32>) -> !moe.grouped<8 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<8 x 16 x f32>, tensor<?x1xi32>, tensor<?x1xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A factor below 1 with a dynamic T: compared at run time too (the
// min_capacity keeps small T sorted), through the same capacity as the
// layouts compute.
// CHECK-LABEL: func.func @factor_below_one
// CHECK: math.ceil
// CHECK: arith.cmpi slt
// CHECK: scf.if
// CHECK:   moe.dispatch_capacity
// CHECK: } else {
// CHECK:   moe.dispatch_sorted
// ONE-LABEL: func.func @factor_below_one
// ONE: moe.dispatch_capacity
// EXPLAIN: remark: layout chosen at run time: capacity factor 0.5 < 1
// EXPLAIN-ONE: remark: layout padded (static): capacity factor 0.5 < 1{{.*}}; one layout for every T (per-token-count=false, as with expert parallelism or the CUDA target): padded, the large-T choice
func.func @factor_below_one(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %grp = moe.dispatch %x, %idx {capacity_factor = 0.5 : f64, min_capacity = 2 : i64} : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<4 x 16 x f32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> !moe.grouped<4 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A chain that forks (two combines of one experts output) is not cloned
// into branches: it takes the large-T layout.
// CHECK-LABEL: func.func @forked_chain
// CHECK-NOT: scf.if
// CHECK: moe.dispatch_capacity
// CHECK: moe.combine_capacity
// CHECK: moe.combine_capacity
// EXPLAIN: remark: layout padded (static): capacity C = min(4, T){{.*}}; one layout for every T (the chain branches): padded, the large-T choice
func.func @forked_chain(%x: tensor<?x16xf32>, %idx: tensor<?x1xi32>, %w: tensor<?x1xf32>, %w2: tensor<?x1xf32>, %g: tensor<8x24x16xf32>, %u: tensor<8x24x16xf32>, %d: tensor<8x16x24xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %grp = moe.dispatch %x, %idx {expert_capacity = 4 : i64} : (tensor<?x16xf32>, tensor<?x1xi32>) -> !moe.grouped<8 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<8 x 16 x f32>, tensor<8x24x16xf32>, tensor<8x24x16xf32>, tensor<8x16x24xf32>) -> !moe.grouped<8 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<8 x 16 x f32>, tensor<?x1xi32>, tensor<?x1xf32>) -> tensor<?x16xf32>
  %y2 = moe.combine %out, %idx, %w2 : (!moe.grouped<8 x 16 x f32>, tensor<?x1xi32>, tensor<?x1xf32>) -> tensor<?x16xf32>
  return %y, %y2 : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// A capacity so large that E·C0 overflows: C = T at any T, so sorted.
// CHECK-LABEL: func.func @huge_capacity
// CHECK-NOT: scf.if
// CHECK: moe.dispatch_sorted
// EXPLAIN: remark: layout sorted (dynamic): capacity C = min(4611686018427387904, T) = T at any T: padded E·T rows against sorted T·k
func.func @huge_capacity(%x: tensor<?x16xf32>, %idx: tensor<?x1xi32>, %w: tensor<?x1xf32>, %g: tensor<8x24x16xf32>, %u: tensor<8x24x16xf32>, %d: tensor<8x16x24xf32>) -> tensor<?x16xf32> {
  %grp = moe.dispatch %x, %idx {expert_capacity = 4611686018427387904 : i64} : (tensor<?x16xf32>, tensor<?x1xi32>) -> !moe.grouped<8 x 16 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<8 x 16 x f32>, tensor<8x24x16xf32>, tensor<8x24x16xf32>, tensor<8x16x24xf32>) -> !moe.grouped<8 x 16 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<8 x 16 x f32>, tensor<?x1xi32>, tensor<?x1xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// RUN: moe-opt %s | FileCheck %s
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// Custom assembly of every moe op: each case is printed, re-parsed and
// printed again, and goes through the generic form. Attributes equal to their
// defaults (scoring softmax, selection plain, normalize false,
// routed_scaling_factor 1.0, activation silu, min_capacity 0, drop_policy
// zero, stage flat) are elided by the printer.

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

// Tests that a Mixtral-shaped layer (gated experts, dynamic T, softmax top-2,
// renormalized, dropless) round-trips and that attributes written with their
// default values are elided.

// CHECK-LABEL: func.func @layer_mixtral
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>, %[[WG:[^:]+]]: tensor<8x64xf32>, %[[G:[^:]+]]: tensor<8x96x64xf32>, %[[U:[^:]+]]: tensor<8x96x64xf32>, %[[D:[^:]+]]: tensor<8x64x96xf32>)
// CHECK: %[[Y:.+]] = moe.layer %[[X]], %[[WG]] experts(%[[G]], %[[U]], %[[D]]) {normalize = true, top_k = 2 : i64} : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
// CHECK: return %[[Y]]
func.func @layer_mixtral(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64, normalize = true, scoring = #moe.scoring<softmax>, selection = #moe.selection<plain>, routed_scaling_factor = 1.0 : f64, activation = #moe.activation<silu>, min_capacity = 0 : i64, drop_policy = #moe.drop_policy<zero>} : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Tests a Switch-shaped layer: non-gated experts (in, out) with relu, static
// T, top-1, a capacity factor with a minimum capacity, and the Hugging Face
// passthrough drop policy.

// CHECK-LABEL: func.func @layer_switch_passthrough
// CHECK-SAME: (%[[X:[^:]+]]: tensor<16x64xf32>, %[[WG:[^:]+]]: tensor<8x64xf32>, %[[WI:[^:]+]]: tensor<8x96x64xf32>, %[[WO:[^:]+]]: tensor<8x64x96xf32>)
// CHECK: moe.layer %[[X]], %[[WG]] experts(%[[WI]], %[[WO]])
// CHECK-SAME: {activation = #moe.activation<relu>, capacity_factor = 1.250000e+00 : f64, drop_policy = #moe.drop_policy<passthrough>, min_capacity = 4 : i64, top_k = 1 : i64}
// CHECK-SAME: : (tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<16x64xf32>
func.func @layer_switch_passthrough(%x: tensor<16x64xf32>, %wg: tensor<8x64xf32>, %wi: tensor<8x96x64xf32>, %wo: tensor<8x64x96xf32>) -> tensor<16x64xf32> {
  %y = moe.layer %x, %wg experts(%wi, %wo) {top_k = 1 : i64, activation = #moe.activation<relu>, capacity_factor = 1.25 : f64, min_capacity = 4 : i64, drop_policy = #moe.drop_policy<passthrough>} : (tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// Tests a fixed expert_capacity (zero drop policy, elided) and the gelu
// activation on non-gated experts in f16.

// CHECK-LABEL: func.func @layer_expert_capacity
// CHECK: moe.layer %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} experts(%{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}) {activation = #moe.activation<gelu>, expert_capacity = 6 : i64, top_k = 2 : i64}
// CHECK-SAME: : (tensor<?x32xf16>, tensor<4x32xf16>, tensor<4x48x32xf16>, tensor<4x32x48xf16>) -> tensor<?x32xf16>
func.func @layer_expert_capacity(%x: tensor<?x32xf16>, %wg: tensor<4x32xf16>, %wi: tensor<4x48x32xf16>, %wo: tensor<4x32x48xf16>) -> tensor<?x32xf16> {
  %y = moe.layer %x, %wg experts(%wi, %wo) {top_k = 2 : i64, expert_capacity = 6 : i64, activation = #moe.activation<gelu>} : (tensor<?x32xf16>, tensor<4x32xf16>, tensor<4x48x32xf16>, tensor<4x32x48xf16>) -> tensor<?x32xf16>
  return %y : tensor<?x32xf16>
}

// Tests a GPT-OSS-style router bias: `router_bias(...)` comes before
// `experts(...)`.

// CHECK-LABEL: func.func @layer_router_bias
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>, %[[WG:[^:]+]]: tensor<8x64xf32>, %[[RB:[^:]+]]: tensor<8xf32>,
// CHECK: moe.layer %[[X]], %[[WG]] router_bias(%[[RB]]) experts(%{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}) {normalize = true, top_k = 4 : i64}
// CHECK-SAME: : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
func.func @layer_router_bias(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %rb: tensor<8xf32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %wg router_bias(%rb) experts(%g, %u, %d) {top_k = 4 : i64, normalize = true} : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Tests a DeepSeek-V3-shaped layer: sigmoid scores, score_bias,
// group_sum_top2 selection with n_group/topk_group, renormalization, routed
// scaling, and a shared expert without a gate (three shared weights).

// CHECK-LABEL: func.func @layer_deepseek_v3
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>, %[[WG:[^:]+]]: tensor<16x64xf32>, %[[SB:[^:]+]]: tensor<16xf32>, %[[G:[^:]+]]: tensor<16x32x64xf32>, %[[U:[^:]+]]: tensor<16x32x64xf32>, %[[D:[^:]+]]: tensor<16x64x32xf32>, %[[SG:[^:]+]]: tensor<64x64xf32>, %[[SU:[^:]+]]: tensor<64x64xf32>, %[[SD:[^:]+]]: tensor<64x64xf32>)
// CHECK: moe.layer %[[X]], %[[WG]] score_bias(%[[SB]]) experts(%[[G]], %[[U]], %[[D]]) shared(%[[SG]], %[[SU]], %[[SD]])
// CHECK-SAME: {n_group = 4 : i64, normalize = true, routed_scaling_factor = 2.500000e+00 : f64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, top_k = 4 : i64, topk_group = 2 : i64}
// CHECK-SAME: : (tensor<?x64xf32>, tensor<16x64xf32>, tensor<16xf32>, tensor<16x32x64xf32>, tensor<16x32x64xf32>, tensor<16x64x32xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
func.func @layer_deepseek_v3(%x: tensor<?x64xf32>, %wg: tensor<16x64xf32>, %sb: tensor<16xf32>, %g: tensor<16x32x64xf32>, %u: tensor<16x32x64xf32>, %d: tensor<16x64x32xf32>, %sg: tensor<64x64xf32>, %su: tensor<64x64xf32>, %sd: tensor<64x64xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %wg score_bias(%sb) experts(%g, %u, %d) shared(%sg, %su, %sd) {top_k = 4 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, n_group = 4 : i64, topk_group = 2 : i64, normalize = true, routed_scaling_factor = 2.5 : f64} : (tensor<?x64xf32>, tensor<16x64xf32>, tensor<16xf32>, tensor<16x32x64xf32>, tensor<16x32x64xf32>, tensor<16x64x32xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Tests a DeepSeek-V2-shaped layer: softmax scores, group_max selection
// (one expert per group is allowed), routed scaling without renormalization,
// and a shared expert whose width differs from the routed experts'.

// CHECK-LABEL: func.func @layer_deepseek_v2
// CHECK: moe.layer %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} experts(%{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}) shared(%{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}})
// CHECK-SAME: {n_group = 8 : i64, routed_scaling_factor = 1.600000e+01 : f64, selection = #moe.selection<group_max>, top_k = 6 : i64, topk_group = 6 : i64}
// CHECK-SAME: : (tensor<4x64xbf16>, tensor<8x64xbf16>, tensor<8x32x64xbf16>, tensor<8x32x64xbf16>, tensor<8x64x32xbf16>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<64x128xbf16>) -> tensor<4x64xbf16>
func.func @layer_deepseek_v2(%x: tensor<4x64xbf16>, %wg: tensor<8x64xbf16>, %g: tensor<8x32x64xbf16>, %u: tensor<8x32x64xbf16>, %d: tensor<8x64x32xbf16>, %sg: tensor<128x64xbf16>, %su: tensor<128x64xbf16>, %sd: tensor<64x128xbf16>) -> tensor<4x64xbf16> {
  %y = moe.layer %x, %wg experts(%g, %u, %d) shared(%sg, %su, %sd) {top_k = 6 : i64, selection = #moe.selection<group_max>, n_group = 8 : i64, topk_group = 6 : i64, routed_scaling_factor = 16.0 : f64} : (tensor<4x64xbf16>, tensor<8x64xbf16>, tensor<8x32x64xbf16>, tensor<8x32x64xbf16>, tensor<8x64x32xbf16>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<64x128xbf16>) -> tensor<4x64xbf16>
  return %y : tensor<4x64xbf16>
}

// Tests a Qwen2-MoE-shaped layer: a shared expert with its sigmoid gate (the
// fourth shared weight, [1, D]).

// CHECK-LABEL: func.func @layer_qwen2_shared_gate
// CHECK-SAME: %[[SG:[^:]+]]: tensor<48x64xf32>, %[[SU:[^:]+]]: tensor<48x64xf32>, %[[SD:[^:]+]]: tensor<64x48xf32>, %[[GATE:[^:]+]]: tensor<1x64xf32>)
// CHECK: moe.layer %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} experts(%{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}) shared(%[[SG]], %[[SU]], %[[SD]], %[[GATE]]) {top_k = 4 : i64}
// CHECK-SAME: : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<48x64xf32>, tensor<48x64xf32>, tensor<64x48xf32>, tensor<1x64xf32>) -> tensor<?x64xf32>
func.func @layer_qwen2_shared_gate(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %g: tensor<8x32x64xf32>, %u: tensor<8x32x64xf32>, %d: tensor<8x64x32xf32>, %sg: tensor<48x64xf32>, %su: tensor<48x64xf32>, %sd: tensor<64x48xf32>, %gate: tensor<1x64xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x, %wg experts(%g, %u, %d) shared(%sg, %su, %sd, %gate) {top_k = 4 : i64} : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<48x64xf32>, tensor<48x64xf32>, tensor<64x48xf32>, tensor<1x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Tests that both optional router operands together keep their keywords and
// order (router_bias, then score_bias), that the generic form's operand
// segments round-trip, and that dynamic dimensions are accepted wherever the
// verifier can only compare static sizes.

// CHECK-LABEL: func.func @layer_both_biases_dynamic
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[WG:[^:]+]]: tensor<8x16xf32>, %[[RB:[^:]+]]: tensor<8xf32>, %[[SB:[^:]+]]: tensor<?xf32>,
// CHECK: moe.layer %[[X]], %[[WG]] router_bias(%[[RB]]) score_bias(%[[SB]]) experts(%{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}})
// CHECK-SAME: {n_group = 2 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, top_k = 2 : i64, topk_group = 1 : i64}
// CHECK-SAME: : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x16xf32>
func.func @layer_both_biases_dynamic(%x: tensor<?x16xf32>, %wg: tensor<8x16xf32>, %rb: tensor<8xf32>, %sb: tensor<?xf32>, %g: tensor<?x?x?xf32>, %u: tensor<?x?x?xf32>, %d: tensor<?x?x?xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %wg router_bias(%rb) score_bias(%sb) experts(%g, %u, %d) {top_k = 2 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, n_group = 2 : i64, topk_group = 1 : i64} : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

// Tests a plain softmax router: indices are i32, weights f32, both [T, k].

// CHECK-LABEL: func.func @route_plain
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>, %[[WG:[^:]+]]: tensor<8x64xf32>)
// CHECK: %[[IDX:.+]], %[[W:.+]] = moe.route %[[X]], %[[WG]] {normalize = true, top_k = 2 : i64} : (tensor<?x64xf32>, tensor<8x64xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
// CHECK: return %[[IDX]], %[[W]]
func.func @route_plain(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %idx, %w = moe.route %x, %wg {top_k = 2 : i64, normalize = true} : (tensor<?x64xf32>, tensor<8x64xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return %idx, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// Tests a group-limited sigmoid router with both biases, i64 indices and a
// static token count.

// CHECK-LABEL: func.func @route_grouped_biases
// CHECK-SAME: (%[[X:[^:]+]]: tensor<4x64xf32>, %[[WG:[^:]+]]: tensor<16x64xf32>, %[[RB:[^:]+]]: tensor<16xf32>, %[[SB:[^:]+]]: tensor<16xf32>)
// CHECK: moe.route %[[X]], %[[WG]] router_bias(%[[RB]]) score_bias(%[[SB]])
// CHECK-SAME: {n_group = 4 : i64, normalize = true, routed_scaling_factor = 2.500000e+00 : f64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, top_k = 8 : i64, topk_group = 2 : i64}
// CHECK-SAME: : (tensor<4x64xf32>, tensor<16x64xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<4x8xi64>, tensor<4x8xf32>)
func.func @route_grouped_biases(%x: tensor<4x64xf32>, %wg: tensor<16x64xf32>, %rb: tensor<16xf32>, %sb: tensor<16xf32>) -> (tensor<4x8xi64>, tensor<4x8xf32>) {
  %idx, %w = moe.route %x, %wg router_bias(%rb) score_bias(%sb) {top_k = 8 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, n_group = 4 : i64, topk_group = 2 : i64, normalize = true, routed_scaling_factor = 2.5 : f64} : (tensor<4x64xf32>, tensor<16x64xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<4x8xi64>, tensor<4x8xf32>)
  return %idx, %w : tensor<4x8xi64>, tensor<4x8xf32>
}

//===----------------------------------------------------------------------===//
// moe.dispatch / moe.experts / moe.combine (layout-free)
//===----------------------------------------------------------------------===//

// Tests the layout-free decomposition end to end: route, dropless dispatch to
// !moe.grouped, gated experts on !moe.grouped, and combine, with the SSA
// values threaded through.

// CHECK-LABEL: func.func @decomposed_dropless
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>, %[[WG:[^:]+]]: tensor<8x64xf32>, %[[G:[^:]+]]: tensor<8x96x64xf32>, %[[U:[^:]+]]: tensor<8x96x64xf32>, %[[D:[^:]+]]: tensor<8x64x96xf32>)
// CHECK: %[[IDX:.+]], %[[W:.+]] = moe.route %[[X]], %[[WG]] {top_k = 2 : i64}
// CHECK: %[[GRP:.+]] = moe.dispatch %[[X]], %[[IDX]] : (tensor<?x64xf32>, tensor<?x2xi32>) -> !moe.grouped<8 x 64 x f32>
// CHECK: %[[OUT:.+]] = moe.experts %[[GRP]] weights(%[[G]], %[[U]], %[[D]]) : (!moe.grouped<8 x 64 x f32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> !moe.grouped<8 x 64 x f32>
// CHECK: %[[Y:.+]] = moe.combine %[[OUT]], %[[IDX]], %[[W]] : (!moe.grouped<8 x 64 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x64xf32>
// CHECK: return %[[Y]]
func.func @decomposed_dropless(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) -> tensor<?x64xf32> {
  %idx, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<?x64xf32>, tensor<8x64xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  %grp = moe.dispatch %x, %idx : (tensor<?x64xf32>, tensor<?x2xi32>) -> !moe.grouped<8 x 64 x f32>
  %out = moe.experts %grp weights(%g, %u, %d) : (!moe.grouped<8 x 64 x f32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> !moe.grouped<8 x 64 x f32>
  %y = moe.combine %out, %idx, %w : (!moe.grouped<8 x 64 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Tests a capacity-limited dispatch (capacity_factor with min_capacity),
// non-gated experts with relu on !moe.grouped, and a passthrough combine.

// CHECK-LABEL: func.func @decomposed_capacity_passthrough
// CHECK-SAME: (%[[X:[^:]+]]: tensor<16x64xf32>, %[[IDX:[^:]+]]: tensor<16x1xi32>, %[[W:[^:]+]]: tensor<16x1xf32>, %[[WI:[^:]+]]: tensor<8x96x64xf32>, %[[WO:[^:]+]]: tensor<8x64x96xf32>)
// CHECK: %[[GRP:.+]] = moe.dispatch %[[X]], %[[IDX]] {capacity_factor = 1.000000e+00 : f64, min_capacity = 2 : i64} : (tensor<16x64xf32>, tensor<16x1xi32>) -> !moe.grouped<8 x 64 x f32>
// CHECK: %[[OUT:.+]] = moe.experts %[[GRP]] weights(%[[WI]], %[[WO]]) {activation = #moe.activation<relu>} : (!moe.grouped<8 x 64 x f32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> !moe.grouped<8 x 64 x f32>
// CHECK: %[[Y:.+]] = moe.combine %[[OUT]], %[[IDX]], %[[W]] passthrough(%[[X]]) {drop_policy = #moe.drop_policy<passthrough>} : (!moe.grouped<8 x 64 x f32>, tensor<16x1xi32>, tensor<16x1xf32>, tensor<16x64xf32>) -> tensor<16x64xf32>
// CHECK: return %[[Y]]
func.func @decomposed_capacity_passthrough(%x: tensor<16x64xf32>, %idx: tensor<16x1xi32>, %w: tensor<16x1xf32>, %wi: tensor<8x96x64xf32>, %wo: tensor<8x64x96xf32>) -> tensor<16x64xf32> {
  %grp = moe.dispatch %x, %idx {capacity_factor = 1.0 : f64, min_capacity = 2 : i64} : (tensor<16x64xf32>, tensor<16x1xi32>) -> !moe.grouped<8 x 64 x f32>
  %out = moe.experts %grp weights(%wi, %wo) {activation = #moe.activation<relu>} : (!moe.grouped<8 x 64 x f32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> !moe.grouped<8 x 64 x f32>
  %y = moe.combine %out, %idx, %w passthrough(%x) {drop_policy = #moe.drop_policy<passthrough>} : (!moe.grouped<8 x 64 x f32>, tensor<16x1xi32>, tensor<16x1xf32>, tensor<16x64xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// Tests a dispatch with a fixed expert_capacity and a bf16 !moe.grouped.

// CHECK-LABEL: func.func @dispatch_expert_capacity
// CHECK: moe.dispatch %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} {expert_capacity = 3 : i64} : (tensor<?x32xbf16>, tensor<?x2xi64>) -> !moe.grouped<4 x 32 x bf16>
func.func @dispatch_expert_capacity(%x: tensor<?x32xbf16>, %idx: tensor<?x2xi64>) -> !moe.grouped<4 x 32 x bf16> {
  %grp = moe.dispatch %x, %idx {expert_capacity = 3 : i64} : (tensor<?x32xbf16>, tensor<?x2xi64>) -> !moe.grouped<4 x 32 x bf16>
  return %grp : !moe.grouped<4 x 32 x bf16>
}

// Tests moe.experts on a padded [E, C, D] buffer (static-capacity form), with
// dynamic and static capacity, gated and not.

// CHECK-LABEL: func.func @experts_buffer
// CHECK-SAME: (%[[BUF:[^:]+]]: tensor<8x?x64xf32>, %[[G:[^:]+]]: tensor<8x96x64xf32>, %[[U:[^:]+]]: tensor<8x96x64xf32>, %[[D:[^:]+]]: tensor<8x64x96xf32>, %[[SBUF:[^:]+]]: tensor<8x5x64xf32>)
// CHECK: %[[H:.+]] = moe.experts %[[BUF]] weights(%[[G]], %[[U]], %[[D]]) : (tensor<8x?x64xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x?x64xf32>
// CHECK: %[[H2:.+]] = moe.experts %[[SBUF]] weights(%[[G]], %[[D]]) {activation = #moe.activation<gelu>} : (tensor<8x5x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x5x64xf32>
// CHECK: return %[[H]], %[[H2]]
func.func @experts_buffer(%buf: tensor<8x?x64xf32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>, %sbuf: tensor<8x5x64xf32>) -> (tensor<8x?x64xf32>, tensor<8x5x64xf32>) {
  %h = moe.experts %buf weights(%g, %u, %d) : (tensor<8x?x64xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x?x64xf32>
  %h2 = moe.experts %sbuf weights(%g, %d) {activation = #moe.activation<gelu>} : (tensor<8x5x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x5x64xf32>
  return %h, %h2 : tensor<8x?x64xf32>, tensor<8x5x64xf32>
}

// Tests moe.experts on a padded buffer with the per-expert counts that let it
// skip padding slots.

// CHECK-LABEL: func.func @experts_buffer_counts
// CHECK-SAME: (%[[BUF:[^:]+]]: tensor<8x?x64xf32>, %[[N:[^:]+]]: tensor<8xi32>
// CHECK: moe.experts %[[BUF]] counts(%[[N]]) weights(%{{[^,]+}}, %{{[^,]+}}, %{{[^)]+}}) : (tensor<8x?x64xf32>, tensor<8xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x?x64xf32>
func.func @experts_buffer_counts(%buf: tensor<8x?x64xf32>, %n: tensor<8xi32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) -> tensor<8x?x64xf32> {
  %h = moe.experts %buf counts(%n) weights(%g, %u, %d) : (tensor<8x?x64xf32>, tensor<8xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x?x64xf32>
  return %h : tensor<8x?x64xf32>
}

// Tests moe.experts on rows sorted by expert: `offsets(...)` comes between the
// tokens and `weights(...)`.

// CHECK-LABEL: func.func @experts_sorted
// CHECK-SAME: (%[[ROWS:[^:]+]]: tensor<?x64xf32>, %[[OFF:[^:]+]]: tensor<9xi32>, %[[G:[^:]+]]: tensor<8x96x64xf32>, %[[U:[^:]+]]: tensor<8x96x64xf32>, %[[D:[^:]+]]: tensor<8x64x96xf32>)
// CHECK: %[[R:.+]] = moe.experts %[[ROWS]] offsets(%[[OFF]]) weights(%[[G]], %[[U]], %[[D]]) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
// CHECK: return %[[R]]
func.func @experts_sorted(%rows: tensor<?x64xf32>, %off: tensor<9xi32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) -> tensor<?x64xf32> {
  %r = moe.experts %rows offsets(%off) weights(%g, %u, %d) {activation = #moe.activation<silu>} : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// Static-capacity layout
//===----------------------------------------------------------------------===//

// Tests the padded-buffer path: dispatch_capacity (buffer, slots, counts),
// experts on the buffer, and combine_capacity without and with passthrough.

// CHECK-LABEL: func.func @static_capacity
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>, %[[IDX:[^:]+]]: tensor<?x2xi32>, %[[W:[^:]+]]: tensor<?x2xf32>, %[[C:[^:]+]]: index, %[[G:[^:]+]]: tensor<8x96x64xf32>, %[[U:[^:]+]]: tensor<8x96x64xf32>, %[[D:[^:]+]]: tensor<8x64x96xf32>)
// CHECK: %[[BUF:.+]], %[[SLOTS:.+]], %[[COUNTS:.+]] = moe.dispatch_capacity %[[X]], %[[IDX]], %[[C]] : (tensor<?x64xf32>, tensor<?x2xi32>, index) -> (tensor<8x?x64xf32>, tensor<?x2xi32>, tensor<8xi32>)
// CHECK: %[[OUT:.+]] = moe.experts %[[BUF]] weights(%[[G]], %[[U]], %[[D]])
// CHECK: %[[Y:.+]] = moe.combine_capacity %[[OUT]], %[[SLOTS]], %[[IDX]], %[[W]] : (tensor<8x?x64xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x64xf32>
// CHECK: %[[YP:.+]] = moe.combine_capacity %[[OUT]], %[[SLOTS]], %[[IDX]], %[[W]] passthrough(%[[X]]) {drop_policy = #moe.drop_policy<passthrough>} : (tensor<8x?x64xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
// CHECK: return %[[Y]], %[[YP]], %[[COUNTS]]
func.func @static_capacity(%x: tensor<?x64xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %c: index, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<8xi32>) {
  %buf, %slots, %counts = moe.dispatch_capacity %x, %idx, %c : (tensor<?x64xf32>, tensor<?x2xi32>, index) -> (tensor<8x?x64xf32>, tensor<?x2xi32>, tensor<8xi32>)
  %out = moe.experts %buf weights(%g, %u, %d) : (tensor<8x?x64xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x?x64xf32>
  %y = moe.combine_capacity %out, %slots, %idx, %w : (tensor<8x?x64xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x64xf32>
  %yp = moe.combine_capacity %out, %slots, %idx, %w passthrough(%x) {drop_policy = #moe.drop_policy<passthrough>} : (tensor<8x?x64xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y, %yp, %counts : tensor<?x64xf32>, tensor<?x64xf32>, tensor<8xi32>
}

// Tests dispatch_capacity with a static token count and capacity.

// CHECK-LABEL: func.func @dispatch_capacity_static
// CHECK: moe.dispatch_capacity %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} : (tensor<6x32xf16>, tensor<6x1xi32>, index) -> (tensor<4x3x32xf16>, tensor<6x1xi32>, tensor<4xi32>)
func.func @dispatch_capacity_static(%x: tensor<6x32xf16>, %idx: tensor<6x1xi32>, %c: index) -> (tensor<4x3x32xf16>, tensor<6x1xi32>, tensor<4xi32>) {
  %buf, %slots, %counts = moe.dispatch_capacity %x, %idx, %c : (tensor<6x32xf16>, tensor<6x1xi32>, index) -> (tensor<4x3x32xf16>, tensor<6x1xi32>, tensor<4xi32>)
  return %buf, %slots, %counts : tensor<4x3x32xf16>, tensor<6x1xi32>, tensor<4xi32>
}

//===----------------------------------------------------------------------===//
// Dropless sorted-segment layout
//===----------------------------------------------------------------------===//

// Tests the sorted-rows path without capacity: dispatch_sorted (rows, offsets,
// positions, counts), experts on the sorted rows, and combine_sorted.

// CHECK-LABEL: func.func @sorted_dropless
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>, %[[IDX:[^:]+]]: tensor<?x2xi32>, %[[W:[^:]+]]: tensor<?x2xf32>, %[[G:[^:]+]]: tensor<8x96x64xf32>, %[[U:[^:]+]]: tensor<8x96x64xf32>, %[[D:[^:]+]]: tensor<8x64x96xf32>)
// CHECK: %[[ROWS:.+]], %[[OFF:.+]], %[[POS:.+]], %[[COUNTS:.+]] = moe.dispatch_sorted %[[X]], %[[IDX]] : (tensor<?x64xf32>, tensor<?x2xi32>) -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
// CHECK: %[[OUT:.+]] = moe.experts %[[ROWS]] offsets(%[[OFF]]) weights(%[[G]], %[[U]], %[[D]])
// CHECK: %[[Y:.+]] = moe.combine_sorted %[[OUT]], %[[POS]], %[[W]] : (tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x64xf32>
// CHECK: return %[[Y]], %[[COUNTS]]
func.func @sorted_dropless(%x: tensor<?x64xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) -> (tensor<?x64xf32>, tensor<8xi32>) {
  %rows, %off, %pos, %counts = moe.dispatch_sorted %x, %idx : (tensor<?x64xf32>, tensor<?x2xi32>) -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
  %out = moe.experts %rows offsets(%off) weights(%g, %u, %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
  %y = moe.combine_sorted %out, %pos, %w : (tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x64xf32>
  return %y, %counts : tensor<?x64xf32>, tensor<8xi32>
}

// Tests dispatch_sorted with a capacity operand (static T, so rows are
// [T * k, D]) and combine_sorted with passthrough.

// CHECK-LABEL: func.func @sorted_capacity_passthrough
// CHECK-SAME: (%[[X:[^:]+]]: tensor<6x32xf32>, %[[IDX:[^:]+]]: tensor<6x2xi32>, %[[W:[^:]+]]: tensor<6x2xf32>, %[[C:[^:]+]]: index)
// CHECK: %[[ROWS:.+]], %[[OFF:.+]], %[[POS:.+]], %[[COUNTS:.+]] = moe.dispatch_sorted %[[X]], %[[IDX]] capacity(%[[C]]) : (tensor<6x32xf32>, tensor<6x2xi32>, index) -> (tensor<12x32xf32>, tensor<5xi32>, tensor<6x2xi32>, tensor<4xi32>)
// CHECK: %[[Y:.+]] = moe.combine_sorted %[[ROWS]], %[[POS]], %[[W]] passthrough(%[[X]]) {drop_policy = #moe.drop_policy<passthrough>} : (tensor<12x32xf32>, tensor<6x2xi32>, tensor<6x2xf32>, tensor<6x32xf32>) -> tensor<6x32xf32>
// CHECK: return %[[Y]]
func.func @sorted_capacity_passthrough(%x: tensor<6x32xf32>, %idx: tensor<6x2xi32>, %w: tensor<6x2xf32>, %c: index) -> tensor<6x32xf32> {
  %rows, %off, %pos, %counts = moe.dispatch_sorted %x, %idx capacity(%c) : (tensor<6x32xf32>, tensor<6x2xi32>, index) -> (tensor<12x32xf32>, tensor<5xi32>, tensor<6x2xi32>, tensor<4xi32>)
  %y = moe.combine_sorted %rows, %pos, %w passthrough(%x) {drop_policy = #moe.drop_policy<passthrough>} : (tensor<12x32xf32>, tensor<6x2xi32>, tensor<6x2xf32>, tensor<6x32xf32>) -> tensor<6x32xf32>
  return %y : tensor<6x32xf32>
}

// Tests the sorted layout read in place: sort_assignments (sources,
// offsets, positions, counts) with a capacity, and experts that gather the
// tokens through the sources.

// CHECK-LABEL: func.func @sorted_gather
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x64xf32>, %[[IDX:[^:]+]]: tensor<?x2xi32>, %[[C:[^:]+]]: index, %[[G:[^:]+]]: tensor<8x96x64xf32>, %[[U:[^:]+]]: tensor<8x96x64xf32>, %[[D:[^:]+]]: tensor<8x64x96xf32>)
// CHECK: %[[SRC:.+]], %[[OFF:.+]], %[[POS:.+]], %[[COUNTS:.+]] = moe.sort_assignments %[[IDX]] capacity(%[[C]]) : (tensor<?x2xi32>, index) -> (tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
// CHECK: moe.experts %[[X]] gather(%[[SRC]]) offsets(%[[OFF]]) weights(%[[G]], %[[U]], %[[D]]) : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
func.func @sorted_gather(%x: tensor<?x64xf32>, %idx: tensor<?x2xi32>, %c: index, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) -> (tensor<?x64xf32>, tensor<?x2xi32>) {
  %src, %off, %pos, %counts = moe.sort_assignments %idx capacity(%c) : (tensor<?x2xi32>, index) -> (tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
  %h = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d) : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
  return %h, %pos : tensor<?x64xf32>, tensor<?x2xi32>
}

// Tests the padded layout read in place: assign_slots (sources [E, C],
// slots, counts) and experts that gather the tokens over the filled slots.

// CHECK-LABEL: func.func @padded_gather
// CHECK: %[[SRC:.+]], %[[SLOTS:.+]], %[[COUNTS:.+]] = moe.assign_slots %{{.+}}, %{{.+}} : (tensor<?x2xi32>, index) -> (tensor<8x?xi32>, tensor<?x2xi32>, tensor<8xi32>)
// CHECK: moe.experts %{{.+}} gather(%[[SRC]]) counts(%[[COUNTS]]) weights(%{{.+}}, %{{.+}}) : (tensor<?x64xf32>, tensor<8x?xi32>, tensor<8xi32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x?x64xf32>
func.func @padded_gather(%x: tensor<?x64xf32>, %idx: tensor<?x2xi32>, %c: index, %wi: tensor<8x96x64xf32>, %wo: tensor<8x64x96xf32>) -> (tensor<8x?x64xf32>, tensor<?x2xi32>) {
  %src, %slots, %counts = moe.assign_slots %idx, %c : (tensor<?x2xi32>, index) -> (tensor<8x?xi32>, tensor<?x2xi32>, tensor<8xi32>)
  %h = moe.experts %x gather(%src) counts(%counts) weights(%wi, %wo) : (tensor<?x64xf32>, tensor<8x?xi32>, tensor<8xi32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x?x64xf32>
  return %h, %slots : tensor<8x?x64xf32>, tensor<?x2xi32>
}

// Tests the combine in the experts: the routing weights moved to the sorted
// rows (moe.scatter_weights over positions), and experts whose result is the
// tokens' [T, D].

// CHECK-LABEL: func.func @sorted_combine
// CHECK: %[[SRC:.+]], %[[OFF:.+]], %[[POS:.+]], %{{.+}} = moe.sort_assignments
// CHECK: %[[RW:.+]] = moe.scatter_weights %{{.+}}, %[[POS]] : (tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?xf32>
// CHECK: moe.experts %{{.+}} gather(%[[SRC]]) offsets(%[[OFF]]) weights(%{{.+}}, %{{.+}}, %{{.+}}) combine(%[[RW]]) : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>, tensor<?xf32>) -> tensor<?x64xf32>
func.func @sorted_combine(%x: tensor<?x64xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) -> tensor<?x64xf32> {
  %src, %off, %pos, %counts = moe.sort_assignments %idx : (tensor<?x2xi32>) -> (tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
  %rw = moe.scatter_weights %w, %pos : (tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?xf32>
  %y = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d) combine(%rw) : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>, tensor<?xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Tests a dense FFN (one expert over all rows, the shared expert) whose rows
// add into another tensor: gated per row, and unweighted; and a combine
// whose sum starts from another tensor.

// CHECK-LABEL: func.func @experts_into
// CHECK: moe.experts %{{.+}} offsets(%{{.+}}) weights(%{{.+}}, %{{.+}}, %{{.+}}) combine(%{{.+}}) into(%{{.+}}) : (tensor<?x64xf32>, tensor<2xi32>, tensor<1x96x64xf32>, tensor<1x96x64xf32>, tensor<1x64x96xf32>, tensor<?xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
// CHECK: moe.experts %{{.+}} offsets(%{{.+}}) weights(%{{.+}}, %{{.+}}, %{{.+}}) into(%{{.+}}) : (tensor<?x64xf32>, tensor<2xi32>, tensor<1x96x64xf32>, tensor<1x96x64xf32>, tensor<1x64x96xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
// CHECK: moe.experts %{{.+}} gather(%{{.+}}) offsets(%{{.+}}) weights(%{{.+}}, %{{.+}}, %{{.+}}) combine(%{{.+}}) into(%{{.+}}) : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>, tensor<?xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
func.func @experts_into(%x: tensor<?x64xf32>, %y: tensor<?x64xf32>, %gate: tensor<?xf32>, %all: tensor<2xi32>, %sg: tensor<1x96x64xf32>, %su: tensor<1x96x64xf32>, %sd: tensor<1x64x96xf32>, %src: tensor<?xi32>, %off: tensor<9xi32>, %rw: tensor<?xf32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %z = moe.experts %x offsets(%all) weights(%sg, %su, %sd) combine(%gate) into(%y) {activation = #moe.activation<silu>} : (tensor<?x64xf32>, tensor<2xi32>, tensor<1x96x64xf32>, tensor<1x96x64xf32>, tensor<1x64x96xf32>, tensor<?xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %z2 = moe.experts %x offsets(%all) weights(%sg, %su, %sd) into(%y) : (tensor<?x64xf32>, tensor<2xi32>, tensor<1x96x64xf32>, tensor<1x96x64xf32>, tensor<1x64x96xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %z3 = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d) combine(%rw) into(%y) : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>, tensor<?xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %z, %z2, %z3 : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// Tests the same on the padded layout: weights moved to the [E, C] slots of
// each assignment's expert.

// CHECK-LABEL: func.func @padded_combine
// CHECK: %[[SRC:.+]], %[[SLOTS:.+]], %[[COUNTS:.+]] = moe.assign_slots
// CHECK: %[[RW:.+]] = moe.scatter_weights %{{.+}}, %[[SLOTS]] experts(%{{.+}}, %{{.+}}) : (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x2xi32>, index) -> tensor<8x?xf32>
// CHECK: moe.experts %{{.+}} gather(%[[SRC]]) counts(%[[COUNTS]]) weights(%{{.+}}, %{{.+}}) combine(%[[RW]]) : (tensor<?x64xf32>, tensor<8x?xi32>, tensor<8xi32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>, tensor<8x?xf32>) -> tensor<?x64xf32>
func.func @padded_combine(%x: tensor<?x64xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %c: index, %wi: tensor<8x96x64xf32>, %wo: tensor<8x64x96xf32>) -> tensor<?x64xf32> {
  %src, %slots, %counts = moe.assign_slots %idx, %c : (tensor<?x2xi32>, index) -> (tensor<8x?xi32>, tensor<?x2xi32>, tensor<8xi32>)
  %rw = moe.scatter_weights %w, %slots experts(%idx, %c) : (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x2xi32>, index) -> tensor<8x?xf32>
  %y = moe.experts %x gather(%src) counts(%counts) weights(%wi, %wo) combine(%rw) : (tensor<?x64xf32>, tensor<8x?xi32>, tensor<8xi32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>, tensor<8x?xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// moe.all_to_all
//===----------------------------------------------------------------------===//

// Tests the flat exchange: `stage = flat` is the default and is elided.

// CHECK-LABEL: func.func @all_to_all_flat
// CHECK-SAME: (%[[ROWS:[^:]+]]: tensor<?x64xf32>, %[[SC:[^:]+]]: tensor<4xi32>)
// CHECK: %[[RECV:.+]], %[[RC:.+]] = moe.all_to_all %[[ROWS]], %[[SC]] {world_size = 4 : i64} : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>)
// CHECK: return %[[RECV]], %[[RC]]
func.func @all_to_all_flat(%rows: tensor<?x64xf32>, %sc: tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>) {
  %recv, %rc = moe.all_to_all %rows, %sc {world_size = 4 : i64, stage = #moe.stage<flat>} : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>)
  return %recv, %rc : tensor<?x64xf32>, tensor<4xi32>
}

// Tests an exchange whose receive counts are known (no count exchange) and
// an integer payload.

// CHECK-LABEL: func.func @all_to_all_known_counts
// CHECK: moe.all_to_all %{{.*}}, %[[SC:.+]] recv_counts(%[[SC]]) {world_size = 2 : i64} : (tensor<4xi32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<4xi32>, tensor<2xi32>)
func.func @all_to_all_known_counts(%kept: tensor<4xi32>, %sc: tensor<2xi32>) -> tensor<4xi32> {
  %recv, %rc = moe.all_to_all %kept, %sc recv_counts(%sc) {world_size = 2 : i64} : (tensor<4xi32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<4xi32>, tensor<2xi32>)
  return %recv : tensor<4xi32>
}

// CHECK-LABEL: func.func @transpose_segments
// CHECK: moe.transpose_segments %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<4x2xi32>) -> (tensor<?x64xf32>, tensor<3xi32>)
func.func @transpose_segments(%rows: tensor<?x64xf32>, %counts: tensor<4x2xi32>) -> (tensor<?x64xf32>, tensor<3xi32>) {
  %r, %o = moe.transpose_segments %rows, %counts : (tensor<?x64xf32>, tensor<4x2xi32>) -> (tensor<?x64xf32>, tensor<3xi32>)
  return %r, %o : tensor<?x64xf32>, tensor<3xi32>
}

// Tests the two stages of a hierarchical exchange (W = 8 ranks on 2 nodes of
// 4): intra_node then inter_node, both with ranks_per_node and one count per
// rank of the stage (here W = 8, G = 4: 4, then 2); and a flat stage that carries ranks_per_node too.

// CHECK-LABEL: func.func @all_to_all_hierarchical
// CHECK-SAME: (%[[ROWS:[^:]+]]: tensor<?x64xbf16>, %[[SC:[^:]+]]: tensor<4xi32>, %[[SN:[^:]+]]: tensor<2xi32>, %[[WC:[^:]+]]: tensor<8xi32>)
// CHECK: %[[R1:.+]], %[[C1:.+]] = moe.all_to_all %[[ROWS]], %[[SC]] {ranks_per_node = 4 : i64, stage = #moe.stage<intra_node>, world_size = 8 : i64} : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>)
// CHECK: %[[R2:.+]], %[[C2:.+]] = moe.all_to_all %[[R1]], %[[SN]] {ranks_per_node = 4 : i64, stage = #moe.stage<inter_node>, world_size = 8 : i64} : (tensor<?x64xbf16>, tensor<2xi32>) -> (tensor<?x64xbf16>, tensor<2xi32>)
// CHECK: moe.all_to_all %[[R2]], %[[WC]] {ranks_per_node = 4 : i64, world_size = 8 : i64} : (tensor<?x64xbf16>, tensor<8xi32>) -> (tensor<?x64xbf16>, tensor<8xi32>)
func.func @all_to_all_hierarchical(%rows: tensor<?x64xbf16>, %sc: tensor<4xi32>, %sn: tensor<2xi32>, %wc: tensor<8xi32>) -> (tensor<?x64xbf16>, tensor<8xi32>) {
  %r1, %c1 = moe.all_to_all %rows, %sc {world_size = 8 : i64, stage = #moe.stage<intra_node>, ranks_per_node = 4 : i64} : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>)
  %r2, %c2 = moe.all_to_all %r1, %sn {world_size = 8 : i64, stage = #moe.stage<inter_node>, ranks_per_node = 4 : i64} : (tensor<?x64xbf16>, tensor<2xi32>) -> (tensor<?x64xbf16>, tensor<2xi32>)
  %r3, %c3 = moe.all_to_all %r2, %wc {world_size = 8 : i64, ranks_per_node = 4 : i64} : (tensor<?x64xbf16>, tensor<8xi32>) -> (tensor<?x64xbf16>, tensor<8xi32>)
  return %r3, %c3 : tensor<?x64xbf16>, tensor<8xi32>
}

// Tests that segments of single-element rows (counts) of any element type
// can be regrouped.

// CHECK-LABEL: func.func @transpose_segments_i32
// CHECK: moe.transpose_segments %{{.*}}, %{{.*}} : (tensor<8xi32>, tensor<2x4xi32>) -> (tensor<8xi32>, tensor<5xi32>)
func.func @transpose_segments_i32(%rows: tensor<8xi32>, %counts: tensor<2x4xi32>) -> (tensor<8xi32>, tensor<5xi32>) {
  %r, %o = moe.transpose_segments %rows, %counts : (tensor<8xi32>, tensor<2x4xi32>) -> (tensor<8xi32>, tensor<5xi32>)
  return %r, %o : tensor<8xi32>, tensor<5xi32>
}

// Tests that the payload may have any rank, and that only its leading
// (row-count) dimension may differ from the received rows.

// CHECK-LABEL: func.func @all_to_all_rank3
// CHECK: moe.all_to_all %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} {world_size = 2 : i64} : (tensor<10x4x8xf32>, tensor<2xi64>) -> (tensor<?x4x8xf32>, tensor<2xi64>)
func.func @all_to_all_rank3(%p: tensor<10x4x8xf32>, %sc: tensor<2xi64>) -> (tensor<?x4x8xf32>, tensor<2xi64>) {
  %r, %c = moe.all_to_all %p, %sc {world_size = 2 : i64} : (tensor<10x4x8xf32>, tensor<2xi64>) -> (tensor<?x4x8xf32>, tensor<2xi64>)
  return %r, %c : tensor<?x4x8xf32>, tensor<2xi64>
}

//===----------------------------------------------------------------------===//
// Expert biases and clamped SwiGLU (GPT-OSS)
//===----------------------------------------------------------------------===//

// Tests a GPT-OSS-shaped layer: a router bias, expert biases after the
// expert weights, and the clamped SwiGLU with its limit (alpha left at its
// default is not printed).

// CHECK-LABEL: func.func @layer_gpt_oss
// CHECK: moe.layer %{{.+}}, %{{.+}} router_bias(%{{.+}}) experts(%{{.+}}, %{{.+}}, %{{.+}}) expert_biases(%[[BG:.+]], %[[BU:.+]], %[[BD:.+]]) {activation = #moe.activation<clamped_swiglu>, normalize = true, swiglu_limit = 7.000000e+00 : f64, top_k = 2 : i64}
func.func @layer_gpt_oss(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %br: tensor<4xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %bg: tensor<4x8xf32>, %bu: tensor<4x8xf32>, %bd: tensor<4x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %wr router_bias(%br) experts(%g, %u, %d) expert_biases(%bg, %bu, %bd) {top_k = 2 : i64, normalize = true, activation = #moe.activation<clamped_swiglu>, swiglu_limit = 7.0 : f64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// Tests moe.experts with biases on sorted rows, non-gated, and an explicit
// swiglu_alpha on a gated padded buffer.

// CHECK-LABEL: func.func @experts_biases
// CHECK: moe.experts %{{.+}} offsets(%{{.+}}) weights(%{{.+}}, %{{.+}}) biases(%{{.+}}, %{{.+}}) {activation = #moe.activation<relu>}
// CHECK: moe.experts %{{.+}} weights(%{{.+}}, %{{.+}}, %{{.+}}) biases(%{{.+}}, %{{.+}}, %{{.+}}) {activation = #moe.activation<clamped_swiglu>, swiglu_alpha = 1.500000e+00 : f64, swiglu_limit = 3.000000e+00 : f64}
func.func @experts_biases(%rows: tensor<?x16xf32>, %off: tensor<5xi32>, %i: tensor<4x8x16xf32>, %o: tensor<4x16x8xf32>, %bi: tensor<4x8xf32>, %bo: tensor<4x16xf32>, %buf: tensor<4x?x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %bg: tensor<4x8xf32>, %bu: tensor<4x8xf32>, %bd: tensor<4x16xf32>) -> (tensor<?x16xf32>, tensor<4x?x16xf32>) {
  %a = moe.experts %rows offsets(%off) weights(%i, %o) biases(%bi, %bo) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x8xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  %b = moe.experts %buf weights(%g, %u, %d) biases(%bg, %bu, %bd) {activation = #moe.activation<clamped_swiglu>, swiglu_alpha = 1.5 : f64, swiglu_limit = 3.0 : f64} : (tensor<4x?x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16xf32>) -> tensor<4x?x16xf32>
  return %a, %b : tensor<?x16xf32>, tensor<4x?x16xf32>
}

// Tests the group mask of a group-limited router: zero (deepseek-ai's remote
// code, transformers < 5.6) is printed, neg_inf (the default) is elided.

// CHECK-LABEL: func.func @route_group_mask
// CHECK: moe.route %{{.+}}, %{{.+}} score_bias(%{{.+}}) {group_mask = #moe.group_mask<zero>, n_group = 2 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, top_k = 2 : i64, topk_group = 1 : i64}
// CHECK: moe.route %{{.+}}, %{{.+}} score_bias(%{{.+}}) {n_group = 2 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, top_k = 2 : i64, topk_group = 1 : i64}
func.func @route_group_mask(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %b: tensor<4xf32>) -> (tensor<?x2xi32>, tensor<?x2xi32>) {
  %i0, %w0 = moe.route %x, %wg score_bias(%b) {top_k = 2 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, n_group = 2 : i64, topk_group = 1 : i64, group_mask = #moe.group_mask<zero>} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  %i1, %w1 = moe.route %x, %wg score_bias(%b) {top_k = 2 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, n_group = 2 : i64, topk_group = 1 : i64, group_mask = #moe.group_mask<neg_inf>} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return %i0, %i1 : tensor<?x2xi32>, tensor<?x2xi32>
}

// Tests a layer whose expert weights (routed and shared) are stored in bf16
// under f32 tokens; the router, the biases and the shared-expert gate row
// stay f32.

// CHECK-LABEL: func.func @layer_bf16_expert_weights
// CHECK: moe.layer
// CHECK-SAME: : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xbf16>, tensor<4x8x16xbf16>, tensor<4x16x8xbf16>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<16x8xbf16>, tensor<1x16xf32>) -> tensor<?x16xf32>
func.func @layer_bf16_expert_weights(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xbf16>, %u: tensor<4x8x16xbf16>, %d: tensor<4x16x8xbf16>, %bg: tensor<4x8xf32>, %bu: tensor<4x8xf32>, %bd: tensor<4x16xf32>, %sg: tensor<8x16xbf16>, %su: tensor<8x16xbf16>, %sd: tensor<16x8xbf16>, %seg: tensor<1x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %wr experts(%g, %u, %d) expert_biases(%bg, %bu, %bd) shared(%sg, %su, %sd, %seg) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xbf16>, tensor<4x8x16xbf16>, tensor<4x16x8xbf16>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<16x8xbf16>, tensor<1x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

//===----------------------------------------------------------------------===//
// moe.grouped_matmul
//===----------------------------------------------------------------------===//

// Tests both segment forms on buffers: sorted rows with offsets, and a padded
// buffer with counts and a bias.

// CHECK-LABEL: func.func @grouped_matmul
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} offsets(%{{.+}} : memref<5xi32>) outs(%{{.+}} : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} counts(%{{.+}} : memref<4xi32>) bias(%{{.+}} : memref<4x8xf32>) outs(%{{.+}} : memref<4x?x8xf32>) : memref<4x?x16xf32>, memref<4x8x16xf32>
func.func @grouped_matmul(%rows: memref<?x16xf32>, %off: memref<5xi32>, %h: memref<?x8xf32>, %buf: memref<4x?x16xf32>, %counts: memref<4xi32>, %bias: memref<4x8xf32>, %hb: memref<4x?x8xf32>, %w: memref<4x8x16xf32>) {
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  moe.grouped_matmul %buf, %w counts(%counts : memref<4xi32>) bias(%bias : memref<4x8xf32>) outs(%hb : memref<4x?x8xf32>) : memref<4x?x16xf32>, memref<4x8x16xf32>
  return
}

// Tests a gather: 3 tokens read as 6 sorted rows.

// CHECK-LABEL: func.func @grouped_matmul_gather
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} gather(%{{.+}} : memref<6xi32>) offsets(%{{.+}} : memref<5xi32>) outs(%{{.+}} : memref<6x8xf32>) : memref<3x16xf32>, memref<4x8x16xf32>
func.func @grouped_matmul_gather(%x: memref<3x16xf32>, %src: memref<6xi32>, %off: memref<5xi32>, %h: memref<6x8xf32>, %w: memref<4x8x16xf32>) {
  moe.grouped_matmul %x, %w gather(%src : memref<6xi32>) offsets(%off : memref<5xi32>) outs(%h : memref<6x8xf32>) : memref<3x16xf32>, memref<4x8x16xf32>
  return
}

// Tests a gather into a padded buffer: slot s of expert e reads token
// src[e, s].

// CHECK-LABEL: func.func @grouped_matmul_gather_padded
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} gather(%{{.+}} : memref<4x?xi32>) counts(%{{.+}} : memref<4xi32>) outs(%{{.+}} : memref<4x?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
func.func @grouped_matmul_gather_padded(%x: memref<?x16xf32>, %src: memref<4x?xi32>, %counts: memref<4xi32>, %h: memref<4x?x8xf32>, %w: memref<4x8x16xf32>) {
  moe.grouped_matmul %x, %w gather(%src : memref<4x?xi32>) counts(%counts : memref<4xi32>) outs(%h : memref<4x?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// Tests a scatter: 6 sorted rows added, weighted, into 3 tokens (and
// unweighted, without a scale).

// CHECK-LABEL: func.func @grouped_matmul_scatter
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} offsets(%{{.+}} : memref<5xi32>) scatter(%{{.+}} : memref<6xi32>) scale(%{{.+}} : memref<6xf32>) outs(%{{.+}} : memref<3x16xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} counts(%{{.+}} : memref<4xi32>) bias(%{{.+}} : memref<4x16xf32>) scatter(%{{.+}} : memref<4x?xi32>) scale(%{{.+}} : memref<4x?xf32>) outs(%{{.+}} : memref<?x16xf32>) : memref<4x?x8xf32>, memref<4x16x8xf32>
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} offsets(%{{.+}} : memref<5xi32>) scatter(%{{.+}} : memref<6xi32>) outs(%{{.+}} : memref<3x16xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
func.func @grouped_matmul_scatter(%h: memref<6x8xf32>, %off: memref<5xi32>, %src: memref<6xi32>, %rw: memref<6xf32>, %y: memref<3x16xf32>, %w: memref<4x16x8xf32>, %hb: memref<4x?x8xf32>, %counts: memref<4xi32>, %bias: memref<4x16xf32>, %slots: memref<4x?xi32>, %sw: memref<4x?xf32>, %yb: memref<?x16xf32>) {
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) scatter(%src : memref<6xi32>) scale(%rw : memref<6xf32>) outs(%y : memref<3x16xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
  moe.grouped_matmul %hb, %w counts(%counts : memref<4xi32>) bias(%bias : memref<4x16xf32>) scatter(%slots : memref<4x?xi32>) scale(%sw : memref<4x?xf32>) outs(%yb : memref<?x16xf32>) : memref<4x?x8xf32>, memref<4x16x8xf32>
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) scatter(%src : memref<6xi32>) outs(%y : memref<3x16xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
  return
}

// Tests bf16 weights under f32 rows.

// CHECK-LABEL: func.func @grouped_matmul_bf16_weights
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} offsets(%{{.+}} : memref<5xi32>) outs(%{{.+}} : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xbf16>
func.func @grouped_matmul_bf16_weights(%rows: memref<?x16xf32>, %off: memref<5xi32>, %h: memref<?x8xf32>, %w: memref<4x8x16xbf16>) {
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xbf16>
  return
}

// Tests the fused gate/up form with biases and a clamped SwiGLU epilogue.

// CHECK-LABEL: func.func @grouped_matmul_epilogue
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} up(%{{.+}} : memref<4x8x16xf32>) offsets(%{{.+}} : memref<5xi32>) bias(%{{.+}} : memref<4x8xf32>) up_bias(%{{.+}} : memref<4x8xf32>) outs(%{{.+}} : memref<?x8xf32>) {activation = #moe.activation<clamped_swiglu>, swiglu_limit = 7.000000e+00 : f64} : memref<?x16xf32>, memref<4x8x16xf32>
func.func @grouped_matmul_epilogue(%rows: memref<?x16xf32>, %off: memref<5xi32>, %h: memref<?x8xf32>, %g: memref<4x8x16xf32>, %u: memref<4x8x16xf32>, %bg: memref<4x8xf32>, %bu: memref<4x8xf32>) {
  moe.grouped_matmul %rows, %g up(%u : memref<4x8x16xf32>) offsets(%off : memref<5xi32>) bias(%bg : memref<4x8xf32>) up_bias(%bu : memref<4x8xf32>) outs(%h : memref<?x8xf32>) {activation = #moe.activation<clamped_swiglu>, swiglu_limit = 7.0 : f64} : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.grouped_activation
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @grouped_activation
// CHECK: moe.grouped_activation %{{.+}} up(%{{.+}} : memref<?x8xf32>) offsets(%{{.+}} : memref<5xi32>) outs(%{{.+}} : memref<?x8xf32>) : memref<?x8xf32>
// CHECK: moe.grouped_activation %{{.+}} counts(%{{.+}} : memref<4xi32>) outs(%{{.+}} : memref<4x?x8xf32>) {activation = #moe.activation<gelu>} : memref<4x?x8xf32>
func.func @grouped_activation(%g: memref<?x8xf32>, %u: memref<?x8xf32>, %off: memref<5xi32>, %gb: memref<4x?x8xf32>, %counts: memref<4xi32>) {
  moe.grouped_activation %g up(%u : memref<?x8xf32>) offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x8xf32>
  moe.grouped_activation %gb counts(%counts : memref<4xi32>) outs(%gb : memref<4x?x8xf32>) {activation = #moe.activation<gelu>} : memref<4x?x8xf32>
  return
}

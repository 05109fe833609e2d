// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per verifier message of the moe dialect (MoEOps.cpp and
// GroupedType::verify in MoEDialect.cpp), plus a few ODS-generated constraint
// errors. Shapes: D = 16 (hidden), E = 4 (experts), F = 8 (intermediate),
// k = 2 (top_k) unless a case says otherwise.

//===----------------------------------------------------------------------===//
// ODS-generated constraints
//===----------------------------------------------------------------------===//

// Tests that top_k must be positive (ConfinedAttr<I64Attr, [IntPositive]>).
func.func @top_k_zero(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{attribute 'top_k' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %i, %w = moe.route %x, %wg {top_k = 0 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x0xi32>, tensor<?x0xf32>)
  return
}

// -----

// Tests that top_k is required.
func.func @top_k_missing(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op requires attribute 'top_k'}}
  %i, %w = moe.route %x, %wg {normalize = true} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that the tokens of moe.layer must be floating-point.
func.func @layer_i32_hidden(%x: tensor<?x16xi32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<?x16xi32>'}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xi32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that route indices must be an integer tensor.
func.func @route_float_indices(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op result #0 must be ranked tensor of signless integer values, but got 'tensor<?x2xf32>'}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that the capacity operand of moe.dispatch_capacity must be an index.
func.func @dispatch_capacity_i32_capacity(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>, %c: i32) {
  // expected-error @+1 {{'moe.dispatch_capacity' op operand #2 must be index, but got 'i32'}}
  %b, %s, %n = moe.dispatch_capacity %x, %i, %c : (tensor<?x16xf32>, tensor<?x2xi32>, i32) -> (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that world_size must be positive.
func.func @all_to_all_world_size_zero(%p: tensor<?x16xf32>, %sc: tensor<4xi32>) {
  // expected-error @+1 {{attribute 'world_size' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 0 : i64} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
  return
}

//===----------------------------------------------------------------------===//
// !moe.grouped
//===----------------------------------------------------------------------===//

// -----

// Tests that !moe.grouped needs a positive number of experts.
func.func @grouped_zero_experts(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{!moe.grouped expects a positive number of experts, got 0}}
  %g = moe.dispatch %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<0 x 16 x f32>
  return
}

// -----

// Tests that !moe.grouped needs a positive hidden size.
func.func @grouped_negative_hidden(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{!moe.grouped expects a positive hidden size, got -1}}
  %g = moe.dispatch %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x -1 x f32>
  return
}

// -----

// Tests that !moe.grouped needs a floating-point element type.
func.func @grouped_int_element(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{!moe.grouped expects a floating-point element type, got 'i32'}}
  %g = moe.dispatch %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x i32>
  return
}

//===----------------------------------------------------------------------===//
// Router (moe.route and moe.layer)
//===----------------------------------------------------------------------===//

// -----

// Tests that the router tokens must be [T, D].
func.func @route_hidden_rank(%x: tensor<16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects 'hidden' to have rank 2, got 'tensor<16xf32>'}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that the router weight must be [E, D].
func.func @route_router_weight_rank(%x: tensor<?x16xf32>, %wg: tensor<4x16x1xf32>) {
  // expected-error @+1 {{'moe.route' op expects 'router_weight' to have rank 2, got 'tensor<4x16x1xf32>'}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16x1xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that the number of experts must be static.
func.func @route_dynamic_experts(%x: tensor<?x16xf32>, %wg: tensor<?x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects a static number of experts (dimension 0 of 'router_weight')}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<?x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that the router weight's D must match the tokens' D.
func.func @route_router_weight_hidden(%x: tensor<?x16xf32>, %wg: tensor<4x32xf32>) {
  // expected-error @+1 {{'moe.route' op expects dimension 1 of 'router_weight' to be hidden size D = 16, got 32}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x32xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that router_bias must be [E].
func.func @route_router_bias_size(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %rb: tensor<5xf32>) {
  // expected-error @+1 {{'moe.route' op expects dimension 0 of 'router_bias' to be number of experts E = 4, got 5}}
  %i, %w = moe.route %x, %wg router_bias(%rb) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<5xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that router_bias must have rank 1.
func.func @route_router_bias_rank(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %rb: tensor<1x4xf32>) {
  // expected-error @+1 {{'moe.route' op expects 'router_bias' to have rank 1, got 'tensor<1x4xf32>'}}
  %i, %w = moe.route %x, %wg router_bias(%rb) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<1x4xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that score_bias must be [E] (on moe.layer).
func.func @layer_score_bias_size(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %sb: tensor<8xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 0 of 'score_bias' to be number of experts E = 4, got 8}}
  %y = moe.layer %x, %wg score_bias(%sb) experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<8xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that top_k cannot exceed the number of experts.
func.func @route_top_k_too_large(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects top_k <= number of experts (4), got top_k = 5}}
  %i, %w = moe.route %x, %wg {top_k = 5 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x5xi32>, tensor<?x5xf32>)
  return
}

// -----

// Tests that routed_scaling_factor must be positive.
func.func @route_scaling_zero(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects a finite routed_scaling_factor > 0, got 0.000000e+00}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64, routed_scaling_factor = 0.0 : f64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that n_group/topk_group are rejected with the plain selection.
func.func @route_groups_with_plain(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op 'n_group' and 'topk_group' require a group-limited selection (group_sum_top2 or group_max), got selection = plain}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64, n_group = 2 : i64, topk_group = 1 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that a group-limited selection needs both n_group and topk_group.
func.func @route_group_max_missing_topk_group(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op selection = group_max requires both 'n_group' and 'topk_group'}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64, selection = #moe.selection<group_max>, n_group = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that n_group must be positive.
func.func @route_n_group_zero(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects n_group > 0, got 0}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64, selection = #moe.selection<group_max>, n_group = 0 : i64, topk_group = 1 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that n_group must divide the number of experts.
func.func @route_n_group_not_divisor(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects the number of experts (4) to be divisible by n_group (3)}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64, selection = #moe.selection<group_max>, n_group = 3 : i64, topk_group = 1 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that topk_group cannot exceed n_group.
func.func @route_topk_group_too_large(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects 1 <= topk_group <= n_group (2), got topk_group = 3}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64, selection = #moe.selection<group_max>, n_group = 2 : i64, topk_group = 3 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that topk_group must be at least 1.
func.func @route_topk_group_zero(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects 1 <= topk_group <= n_group (2), got topk_group = 0}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64, selection = #moe.selection<group_max>, n_group = 2 : i64, topk_group = 0 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that top_k cannot exceed the experts in the kept groups.
func.func @route_top_k_exceeds_kept_groups(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects top_k <= topk_group * (E / n_group) = 2, got top_k = 3}}
  %i, %w = moe.route %x, %wg {top_k = 3 : i64, selection = #moe.selection<group_max>, n_group = 2 : i64, topk_group = 1 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x3xi32>, tensor<?x3xf32>)
  return
}

// -----

// Tests that group_sum_top2 needs groups of at least two experts.
func.func @layer_group_sum_top2_singleton_groups(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op selection = group_sum_top2 needs at least 2 experts per group, got E / n_group = 1}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, n_group = 4 : i64, topk_group = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.route results
//===----------------------------------------------------------------------===//

// -----

// Tests that the route indices must be [T, top_k].
func.func @route_indices_top_k(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects dimension 1 of 'indices' to be top_k = 2, got 3}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x3xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that the route weights must be [T, top_k].
func.func @route_weights_tokens(%x: tensor<8x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects dimension 0 of 'weights' to be number of tokens T = 8, got 4}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<8x16xf32>, tensor<4x16xf32>) -> (tensor<8x2xi32>, tensor<4x2xf32>)
  return
}

// -----

// Tests that the route weights must have rank 2.
func.func @route_weights_rank(%x: tensor<8x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects 'weights' to have rank 2, got 'tensor<16xf32>'}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<8x16xf32>, tensor<4x16xf32>) -> (tensor<8x2xi32>, tensor<16xf32>)
  return
}

//===----------------------------------------------------------------------===//
// Capacity attributes (moe.layer and moe.dispatch)
//===----------------------------------------------------------------------===//

// -----

// Tests that capacity_factor must be positive.
func.func @layer_capacity_factor_negative(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects a finite capacity_factor > 0, got -1.000000e+00}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64, capacity_factor = -1.0 : f64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that a NaN capacity_factor is rejected too.
func.func @dispatch_capacity_factor_nan(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op expects a finite capacity_factor > 0, got nan}}
  %g = moe.dispatch %x, %i {capacity_factor = 0x7FF8000000000000 : f64} : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  return
}

// -----

// Tests that expert_capacity must be positive.
func.func @dispatch_expert_capacity_zero(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op expects expert_capacity > 0, got 0}}
  %g = moe.dispatch %x, %i {expert_capacity = 0 : i64} : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  return
}

// -----

// Tests that capacity_factor and expert_capacity are exclusive.
func.func @layer_both_capacities(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects at most one of 'capacity_factor' and 'expert_capacity'}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64, capacity_factor = 1.25 : f64, expert_capacity = 4 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that min_capacity must not be negative.
func.func @layer_min_capacity_negative(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects min_capacity >= 0, got -5}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64, capacity_factor = 1.0 : f64, min_capacity = -5 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that a negative expert_capacity is rejected (the attribute is read
// as a signed value).
func.func @dispatch_expert_capacity_negative(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op expects expert_capacity > 0, got -1}}
  %g = moe.dispatch %x, %i {expert_capacity = -1 : i64} : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  return
}

// -----

// Tests that a NaN routed_scaling_factor is rejected.
func.func @route_scale_nan(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op expects a finite routed_scaling_factor > 0, got nan}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64, routed_scaling_factor = 0x7FF8000000000000 : f64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that a padded buffer's expert count must match the weights'.
func.func @experts_buffer_expert_mismatch(%buf: tensor<4x?x64xf32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 0 of 'tokens' to be the weights' number of experts E = 8, got 4}}
  %h = moe.experts %buf weights(%g, %u, %d) : (tensor<4x?x64xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<4x?x64xf32>
  return
}

// -----

// Tests that expert weights must have the tokens' element type.
func.func @experts_weight_element_type(%rows: tensor<?x64xf16>, %off: tensor<9xi32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) {
  // expected-error @+1 {{'moe.experts' op expects 'weights' to have element type 'f16', got 'f32'}}
  %h = moe.experts %rows offsets(%off) weights(%g, %u, %d) : (tensor<?x64xf16>, tensor<9xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf16>
  return
}

// -----

// Tests that the padded buffer keeps the tokens' element type.
func.func @dispatch_capacity_element_type(%x: tensor<?x16xf16>, %i: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.dispatch_capacity' op expects 'buffer' to have element type 'f16', got 'bf16'}}
  %b, %s, %n = moe.dispatch_capacity %x, %i, %c : (tensor<?x16xf16>, tensor<?x2xi32>, index) -> (tensor<4x?x16xbf16>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that sorted rows keep the tokens' element type.
func.func @dispatch_sorted_element_type(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch_sorted' op expects 'rows' to have element type 'f32', got 'bf16'}}
  %r, %o, %p, %n = moe.dispatch_sorted %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xbf16>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that combine returns the grouped element type.
func.func @combine_element_type(%g: !moe.grouped<4 x 16 x f32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine' op expects 'result' to have element type 'f32', got 'f16'}}
  %y = moe.combine %g, %i, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf16>
  return
}

//===----------------------------------------------------------------------===//
// Expert weights (moe.layer and moe.experts)
//===----------------------------------------------------------------------===//

// -----

// Tests that the experts take 3 (gated) or 2 (non-gated) weights.
func.func @layer_one_expert_weight(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 3 expert weights (gate, up, down) or 2 (in, out), got 1}}
  %y = moe.layer %x, %wg experts(%g) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the gate weight must have rank 3.
func.func @layer_gate_rank(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'gate' to have rank 3, got 'tensor<8x16xf32>'}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the gate weight must have E experts.
func.func @layer_gate_experts(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<5x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 0 of 'gate' to be number of experts E = 4, got 5}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<5x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the gate weight must be [E, F, D].
func.func @layer_gate_hidden(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x32xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 2 of 'gate' to be hidden size D = 16, got 32}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x32xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the up weight must have the gate's intermediate size F.
func.func @layer_up_intermediate(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x12x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 1 of 'up' to be intermediate size F = 8, got 12}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x12x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the down weight must be [E, D, F].
func.func @layer_down_intermediate(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x12xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 2 of 'down' to be intermediate size F = 8, got 12}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x12xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the non-gated weights are named (in, out) and that `out` must
// be [E, D, F].
func.func @layer_out_hidden(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x8x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 1 of 'out' to be hidden size D = 16, got 8}}
  %y = moe.layer %x, %wg experts(%wi, %wo) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the non-gated `in` weight must have rank 3.
func.func @layer_in_rank(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %wi: tensor<4x8x16x1xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'in' to have rank 3, got 'tensor<4x8x16x1xf32>'}}
  %y = moe.layer %x, %wg experts(%wi, %wo) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16x1xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

// -----

// Tests that the passthrough drop policy needs a capacity limit.
func.func @layer_passthrough_dropless(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op drop_policy = passthrough requires a capacity limit ('capacity_factor' or 'expert_capacity')}}
  %y = moe.layer %x, %wg experts(%wi, %wo) {top_k = 1 : i64, drop_policy = #moe.drop_policy<passthrough>} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the shared expert takes 3 or 4 weights.
func.func @layer_two_shared_weights(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %sg: tensor<24x16xf32>, %su: tensor<24x16xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 3 shared-expert weights (gate, up, down) or 4 (with the shared-expert gate), got 2}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) shared(%sg, %su) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<24x16xf32>, tensor<24x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the shared gate projection must have rank 2.
func.func @layer_shared_gate_rank(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %sg: tensor<1x24x16xf32>, %su: tensor<24x16xf32>, %sd: tensor<16x24xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'shared gate' to have rank 2, got 'tensor<1x24x16xf32>'}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) shared(%sg, %su, %sd) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<1x24x16xf32>, tensor<24x16xf32>, tensor<16x24xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the shared gate projection must be [Fs, D].
func.func @layer_shared_gate_hidden(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %sg: tensor<24x32xf32>, %su: tensor<24x16xf32>, %sd: tensor<16x24xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 1 of 'shared gate' to be hidden size D = 16, got 32}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) shared(%sg, %su, %sd) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<24x32xf32>, tensor<24x16xf32>, tensor<16x24xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the shared up projection must have the shared gate's width.
func.func @layer_shared_up_width(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %sg: tensor<24x16xf32>, %su: tensor<12x16xf32>, %sd: tensor<16x24xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 0 of 'shared up' to be shared intermediate size = 24, got 12}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) shared(%sg, %su, %sd) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<24x16xf32>, tensor<12x16xf32>, tensor<16x24xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the shared down projection must be [D, Fs].
func.func @layer_shared_down_width(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %sg: tensor<24x16xf32>, %su: tensor<24x16xf32>, %sd: tensor<16x12xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 1 of 'shared down' to be shared intermediate size = 24, got 12}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) shared(%sg, %su, %sd) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<24x16xf32>, tensor<24x16xf32>, tensor<16x12xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the shared-expert gate must be [1, D].
func.func @layer_shared_expert_gate_rows(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %sg: tensor<24x16xf32>, %su: tensor<24x16xf32>, %sd: tensor<16x24xf32>, %gate: tensor<2x16xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 0 of 'shared_expert_gate' to be a single row = 1, got 2}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) shared(%sg, %su, %sd, %gate) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<24x16xf32>, tensor<24x16xf32>, tensor<16x24xf32>, tensor<2x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the shared-expert gate must have rank 2.
func.func @layer_shared_expert_gate_rank(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %sg: tensor<24x16xf32>, %su: tensor<24x16xf32>, %sd: tensor<16x24xf32>, %gate: tensor<16xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'shared_expert_gate' to have rank 2, got 'tensor<16xf32>'}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) shared(%sg, %su, %sd, %gate) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<24x16xf32>, tensor<24x16xf32>, tensor<16x24xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the layer result must be [T, D]: T.
func.func @layer_result_tokens(%x: tensor<8x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 0 of 'result' to be number of tokens T = 8, got 4}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<4x16xf32>
  return
}

// -----

// Tests that the layer result must be [T, D]: D.
func.func @layer_result_hidden(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 1 of 'result' to be hidden size D = 16, got 32}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that the layer result must have rank 2.
func.func @layer_result_rank(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'result' to have rank 2, got 'tensor<1x?x16xf32>'}}
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<1x?x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

// -----

// Tests that the dispatched tokens must be [T, D].
func.func @dispatch_hidden_rank(%x: tensor<16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op expects 'hidden' to have rank 2, got 'tensor<16xf32>'}}
  %g = moe.dispatch %x, %i : (tensor<16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  return
}

// -----

// Tests that the dispatch indices must be [T, k].
func.func @dispatch_indices_rank(%x: tensor<?x16xf32>, %i: tensor<?xi32>) {
  // expected-error @+1 {{'moe.dispatch' op expects 'indices' to have rank 2, got 'tensor<?xi32>'}}
  %g = moe.dispatch %x, %i : (tensor<?x16xf32>, tensor<?xi32>) -> !moe.grouped<4 x 16 x f32>
  return
}

// -----

// Tests that the dispatch indices must have one row per token.
func.func @dispatch_indices_tokens(%x: tensor<8x16xf32>, %i: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op expects dimension 0 of 'indices' to be number of tokens T = 8, got 4}}
  %g = moe.dispatch %x, %i : (tensor<8x16xf32>, tensor<4x2xi32>) -> !moe.grouped<4 x 16 x f32>
  return
}

// -----

// Tests that the tokens' D must match the result's.
func.func @dispatch_hidden_size(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op expects dimension 1 of 'hidden' to be the result's hidden size D = 32, got 16}}
  %g = moe.dispatch %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 32 x f32>
  return
}

// -----

// Tests that the element type of !moe.grouped must match the tokens'.
func.func @dispatch_element_type(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op expects the result element type to match 'hidden' ('f32'), got 'f16'}}
  %g = moe.dispatch %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f16>
  return
}

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

// -----

// Tests that the experts' result type must equal the tokens' type.
func.func @experts_result_type(%t: !moe.grouped<4 x 16 x f32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op expects the result type to equal the tokens type '!moe.grouped<4 x 16 x f32>', got 'tensor<4x16xf32>'}}
  %h = moe.experts %t weights(%wi, %wo) : (!moe.grouped<4 x 16 x f32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<4x16xf32>
  return
}

// -----

// Tests that offsets are rejected with !moe.grouped tokens.
func.func @experts_grouped_offsets(%t: !moe.grouped<4 x 16 x f32>, %off: tensor<5xi32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op 'offsets' are only valid with sorted rows (a rank-2 tokens tensor)}}
  %h = moe.experts %t offsets(%off) weights(%wi, %wo) : (!moe.grouped<4 x 16 x f32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> !moe.grouped<4 x 16 x f32>
  return
}

// -----

// Tests that the weights must match the experts of !moe.grouped.
func.func @experts_grouped_num_experts(%t: !moe.grouped<4 x 16 x f32>, %g: tensor<8x8x16xf32>, %u: tensor<8x8x16xf32>, %d: tensor<8x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 0 of 'gate' to be number of experts E = 4, got 8}}
  %h = moe.experts %t weights(%g, %u, %d) : (!moe.grouped<4 x 16 x f32>, tensor<8x8x16xf32>, tensor<8x8x16xf32>, tensor<8x16x8xf32>) -> !moe.grouped<4 x 16 x f32>
  return
}

// -----

// Tests that !moe.grouped tokens still need 2 or 3 weights.
func.func @experts_grouped_four_weights(%t: !moe.grouped<4 x 16 x f32>, %g: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op expects 3 expert weights (gate, up, down) or 2 (in, out), got 4}}
  %h = moe.experts %t weights(%g, %g, %g, %d) : (!moe.grouped<4 x 16 x f32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> !moe.grouped<4 x 16 x f32>
  return
}

// -----

// Tests that tensor tokens without any weight are rejected.
func.func @experts_no_weights(%buf: tensor<4x?x16xf32>) {
  // expected-error @+1 {{'moe.experts' op expects 3 expert weights (gate, up, down) or 2 (in, out), got 0}}
  %h = moe.experts %buf weights() : (tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
  return
}

// -----

// Tests that, with tensor tokens, the first weight must have rank 3.
func.func @experts_weights_rank(%buf: tensor<4x?x16xf32>, %wi: tensor<8x16xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op expects 'weights' to have rank 3, got 'tensor<8x16xf32>'}}
  %h = moe.experts %buf weights(%wi, %wo) : (tensor<4x?x16xf32>, tensor<8x16xf32>, tensor<4x16x8xf32>) -> tensor<4x?x16xf32>
  return
}

// -----

// Tests that offsets are rejected with a padded [E, C, D] buffer.
func.func @experts_buffer_offsets(%buf: tensor<4x?x16xf32>, %off: tensor<5xi32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op 'offsets' are only valid with sorted rows (a rank-2 tokens tensor), got a rank-3 buffer}}
  %h = moe.experts %buf offsets(%off) weights(%wi, %wo) : (tensor<4x?x16xf32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<4x?x16xf32>
  return
}

// -----

// Tests that the weights must match the buffer's D.
func.func @experts_buffer_hidden(%buf: tensor<4x?x32xf32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 2 of 'in' to be hidden size D = 32, got 16}}
  %h = moe.experts %buf weights(%wi, %wo) : (tensor<4x?x32xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<4x?x32xf32>
  return
}

// -----

// Tests that sorted rows need offsets.
func.func @experts_sorted_no_offsets(%rows: tensor<?x16xf32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op sorted rows (a rank-2 tokens tensor) require 'offsets'}}
  %h = moe.experts %rows weights(%wi, %wo) : (tensor<?x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that offsets must have rank 1.
func.func @experts_offsets_rank(%rows: tensor<?x16xf32>, %off: tensor<5x1xi32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op expects 'offsets' to have rank 1, got 'tensor<5x1xi32>'}}
  %h = moe.experts %rows offsets(%off) weights(%wi, %wo) : (tensor<?x16xf32>, tensor<5x1xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the weights must match the sorted rows' D.
func.func @experts_sorted_hidden(%rows: tensor<?x32xf32>, %off: tensor<5xi32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 2 of 'gate' to be hidden size D = 32, got 16}}
  %h = moe.experts %rows offsets(%off) weights(%g, %u, %d) : (tensor<?x32xf32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that offsets must have E + 1 entries.
func.func @experts_offsets_size(%rows: tensor<?x16xf32>, %off: tensor<4xi32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op expects 'offsets' to have E + 1 = 5 entries, got 4}}
  %h = moe.experts %rows offsets(%off) weights(%wi, %wo) : (tensor<?x16xf32>, tensor<4xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that tensor tokens must have rank 2 or 3.
func.func @experts_tokens_rank(%t: tensor<16xf32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op expects tokens as !moe.grouped, a [E, C, D] buffer or [N, D] sorted rows, got 'tensor<16xf32>'}}
  %h = moe.experts %t weights(%wi, %wo) : (tensor<16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

// -----

// Tests that the combine indices must have rank 2.
func.func @combine_indices_rank(%g: !moe.grouped<4 x 16 x f32>, %i: tensor<?xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine' op expects 'indices' to have rank 2, got 'tensor<?xi32>'}}
  %y = moe.combine %g, %i, %w : (!moe.grouped<4 x 16 x f32>, tensor<?xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the combine result must have rank 2.
func.func @combine_result_rank(%g: !moe.grouped<4 x 16 x f32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine' op expects 'result' to have rank 2, got 'tensor<?x2x16xf32>'}}
  %y = moe.combine %g, %i, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x2x16xf32>
  return
}

// -----

// Tests that the indices must have one row per result token.
func.func @combine_indices_tokens(%g: !moe.grouped<4 x 16 x f32>, %i: tensor<4x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine' op expects dimension 0 of 'indices' to be number of tokens T = 8, got 4}}
  %y = moe.combine %g, %i, %w : (!moe.grouped<4 x 16 x f32>, tensor<4x2xi32>, tensor<?x2xf32>) -> tensor<8x16xf32>
  return
}

// -----

// Tests that the weights must be [T, k] like the indices.
func.func @combine_weights_top_k(%g: !moe.grouped<4 x 16 x f32>, %i: tensor<?x2xi32>, %w: tensor<?x3xf32>) {
  // expected-error @+1 {{'moe.combine' op expects dimension 1 of 'weights' to be top_k = 2, got 3}}
  %y = moe.combine %g, %i, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x3xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the result's D must match !moe.grouped's.
func.func @combine_result_hidden(%g: !moe.grouped<4 x 16 x f32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine' op expects dimension 1 of 'result' to be hidden size D = 16, got 32}}
  %y = moe.combine %g, %i, %w : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that drop_policy = passthrough needs the passthrough tokens.
func.func @combine_passthrough_missing(%g: !moe.grouped<4 x 16 x f32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine' op drop_policy = passthrough requires the 'passthrough' tokens operand}}
  %y = moe.combine %g, %i, %w {drop_policy = #moe.drop_policy<passthrough>} : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that passthrough tokens need drop_policy = passthrough.
func.func @combine_passthrough_with_zero(%g: !moe.grouped<4 x 16 x f32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %x: tensor<?x16xf32>) {
  // expected-error @+1 {{'moe.combine' op a 'passthrough' tokens operand requires drop_policy = passthrough}}
  %y = moe.combine %g, %i, %w passthrough(%x) : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the passthrough tokens must be [T, D].
func.func @combine_passthrough_hidden(%g: !moe.grouped<4 x 16 x f32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>, %x: tensor<?x32xf32>) {
  // expected-error @+1 {{'moe.combine' op expects dimension 1 of 'passthrough' to be hidden size D = 16, got 32}}
  %y = moe.combine %g, %i, %w passthrough(%x) {drop_policy = #moe.drop_policy<passthrough>} : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>, tensor<?x32xf32>) -> tensor<?x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.dispatch_capacity
//===----------------------------------------------------------------------===//

// -----

// Tests that the buffer must have rank 3.
func.func @dispatch_capacity_buffer_rank(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.dispatch_capacity' op expects 'buffer' to have rank 3, got 'tensor<?x16xf32>'}}
  %b, %s, %n = moe.dispatch_capacity %x, %i, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<?x16xf32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that counts must have rank 1.
func.func @dispatch_capacity_counts_rank(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.dispatch_capacity' op expects 'counts' to have rank 1, got 'tensor<4x1xi32>'}}
  %b, %s, %n = moe.dispatch_capacity %x, %i, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<4x1xi32>)
  return
}

// -----

// Tests that the indices must have one row per token.
func.func @dispatch_capacity_indices_tokens(%x: tensor<8x16xf32>, %i: tensor<4x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.dispatch_capacity' op expects dimension 0 of 'indices' to be number of tokens T = 8, got 4}}
  %b, %s, %n = moe.dispatch_capacity %x, %i, %c : (tensor<8x16xf32>, tensor<4x2xi32>, index) -> (tensor<4x?x16xf32>, tensor<8x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that slots must be [T, k].
func.func @dispatch_capacity_slots_top_k(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.dispatch_capacity' op expects dimension 1 of 'slots' to be top_k = 2, got 1}}
  %b, %s, %n = moe.dispatch_capacity %x, %i, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x?x16xf32>, tensor<?x1xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that the buffer's D must match the tokens'.
func.func @dispatch_capacity_buffer_hidden(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.dispatch_capacity' op expects dimension 2 of 'buffer' to be hidden size D = 16, got 32}}
  %b, %s, %n = moe.dispatch_capacity %x, %i, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x?x32xf32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that counts must have one entry per expert of the buffer.
func.func @dispatch_capacity_counts_experts(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.dispatch_capacity' op expects dimension 0 of 'counts' to be number of experts E = 4, got 5}}
  %b, %s, %n = moe.dispatch_capacity %x, %i, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<5xi32>)
  return
}

// -----

// Tests that the number of experts must be known from the buffer or counts.
func.func @dispatch_capacity_dynamic_experts(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.dispatch_capacity' op expects a static number of experts}}
  %b, %s, %n = moe.dispatch_capacity %x, %i, %c : (tensor<?x16xf32>, tensor<?x2xi32>, index) -> (tensor<?x?x16xf32>, tensor<?x2xi32>, tensor<?xi32>)
  return
}

//===----------------------------------------------------------------------===//
// moe.combine_capacity
//===----------------------------------------------------------------------===//

// -----

// Tests that the buffer must have rank 3.
func.func @combine_capacity_buffer_rank(%b: tensor<?x16xf32>, %s: tensor<?x2xi32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine_capacity' op expects 'buffer' to have rank 3, got 'tensor<?x16xf32>'}}
  %y = moe.combine_capacity %b, %s, %i, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that slots must be [T, k] like the indices.
func.func @combine_capacity_slots_top_k(%b: tensor<4x?x16xf32>, %s: tensor<?x1xi32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine_capacity' op expects dimension 1 of 'slots' to be top_k = 2, got 1}}
  %y = moe.combine_capacity %b, %s, %i, %w : (tensor<4x?x16xf32>, tensor<?x1xi32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the indices must have one row per result token.
func.func @combine_capacity_indices_tokens(%b: tensor<4x?x16xf32>, %s: tensor<?x2xi32>, %i: tensor<6x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine_capacity' op expects dimension 0 of 'indices' to be number of tokens T = 8, got 6}}
  %y = moe.combine_capacity %b, %s, %i, %w : (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<6x2xi32>, tensor<?x2xf32>) -> tensor<8x16xf32>
  return
}

// -----

// Tests that the weights must be [T, k].
func.func @combine_capacity_weights_tokens(%b: tensor<4x?x16xf32>, %s: tensor<?x2xi32>, %i: tensor<8x2xi32>, %w: tensor<6x2xf32>) {
  // expected-error @+1 {{'moe.combine_capacity' op expects dimension 0 of 'weights' to be number of tokens T = 8, got 6}}
  %y = moe.combine_capacity %b, %s, %i, %w : (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<8x2xi32>, tensor<6x2xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the result's D must match the buffer's.
func.func @combine_capacity_result_hidden(%b: tensor<4x?x16xf32>, %s: tensor<?x2xi32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine_capacity' op expects dimension 1 of 'result' to be hidden size D = 16, got 8}}
  %y = moe.combine_capacity %b, %s, %i, %w : (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that drop_policy = passthrough needs the passthrough tokens.
func.func @combine_capacity_passthrough_missing(%b: tensor<4x?x16xf32>, %s: tensor<?x2xi32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine_capacity' op drop_policy = passthrough requires the 'passthrough' tokens operand}}
  %y = moe.combine_capacity %b, %s, %i, %w {drop_policy = #moe.drop_policy<passthrough>} : (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the passthrough tokens must have one row per token.
func.func @combine_capacity_passthrough_tokens(%b: tensor<4x?x16xf32>, %s: tensor<8x2xi32>, %i: tensor<8x2xi32>, %w: tensor<8x2xf32>, %x: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.combine_capacity' op expects dimension 0 of 'passthrough' to be number of tokens T = 8, got 4}}
  %y = moe.combine_capacity %b, %s, %i, %w passthrough(%x) {drop_policy = #moe.drop_policy<passthrough>} : (tensor<4x?x16xf32>, tensor<8x2xi32>, tensor<8x2xi32>, tensor<8x2xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.dispatch_sorted
//===----------------------------------------------------------------------===//

// -----

// Tests that the sorted rows must have rank 2.
func.func @dispatch_sorted_rows_rank(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch_sorted' op expects 'rows' to have rank 2, got 'tensor<4x?x16xf32>'}}
  %r, %o, %p, %n = moe.dispatch_sorted %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<4x?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that offsets must have rank 1.
func.func @dispatch_sorted_offsets_rank(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch_sorted' op expects 'offsets' to have rank 1, got 'tensor<1x5xi32>'}}
  %r, %o, %p, %n = moe.dispatch_sorted %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<1x5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that the number of experts (the size of counts) must be static.
func.func @dispatch_sorted_dynamic_experts(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch_sorted' op expects a static number of experts (the size of 'counts')}}
  %r, %o, %p, %n = moe.dispatch_sorted %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<?xi32>)
  return
}

// -----

// Tests that positions must be [T, k].
func.func @dispatch_sorted_positions_tokens(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{'moe.dispatch_sorted' op expects dimension 0 of 'positions' to be number of tokens T = 6, got 3}}
  %r, %o, %p, %n = moe.dispatch_sorted %x, %i : (tensor<6x16xf32>, tensor<6x2xi32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<3x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that there is one sorted row per assignment (T * k).
func.func @dispatch_sorted_rows_count(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.dispatch_sorted' op expects dimension 0 of 'rows' to be T * top_k = 12, got 10}}
  %r, %o, %p, %n = moe.dispatch_sorted %x, %i capacity(%c) : (tensor<6x16xf32>, tensor<6x2xi32>, index) -> (tensor<10x16xf32>, tensor<5xi32>, tensor<6x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that the sorted rows' D must match the tokens'.
func.func @dispatch_sorted_rows_hidden(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch_sorted' op expects dimension 1 of 'rows' to be hidden size D = 16, got 32}}
  %r, %o, %p, %n = moe.dispatch_sorted %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x32xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

// Tests that offsets must have E + 1 entries.
func.func @dispatch_sorted_offsets_size(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch_sorted' op expects dimension 0 of 'offsets' to be E + 1 = 5, got 4}}
  %r, %o, %p, %n = moe.dispatch_sorted %x, %i : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<4xi32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

//===----------------------------------------------------------------------===//
// moe.combine_sorted
//===----------------------------------------------------------------------===//

// -----

// Tests that positions must have rank 2.
func.func @combine_sorted_positions_rank(%rows: tensor<?x16xf32>, %p: tensor<?xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine_sorted' op expects 'positions' to have rank 2, got 'tensor<?xi32>'}}
  %y = moe.combine_sorted %rows, %p, %w : (tensor<?x16xf32>, tensor<?xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that positions must have one row per result token.
func.func @combine_sorted_positions_tokens(%rows: tensor<?x16xf32>, %p: tensor<3x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine_sorted' op expects dimension 0 of 'positions' to be number of tokens T = 6, got 3}}
  %y = moe.combine_sorted %rows, %p, %w : (tensor<?x16xf32>, tensor<3x2xi32>, tensor<?x2xf32>) -> tensor<6x16xf32>
  return
}

// -----

// Tests that the weights must be [T, k] like the positions.
func.func @combine_sorted_weights_top_k(%rows: tensor<?x16xf32>, %p: tensor<?x2xi32>, %w: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.combine_sorted' op expects dimension 1 of 'weights' to be top_k = 2, got 4}}
  %y = moe.combine_sorted %rows, %p, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x4xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the result's D must match the rows'.
func.func @combine_sorted_result_hidden(%rows: tensor<?x16xf32>, %p: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.combine_sorted' op expects dimension 1 of 'result' to be hidden size D = 16, got 32}}
  %y = moe.combine_sorted %rows, %p, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x32xf32>
  return
}

// -----

// Tests that passthrough tokens need drop_policy = passthrough.
func.func @combine_sorted_passthrough_with_zero(%rows: tensor<?x16xf32>, %p: tensor<?x2xi32>, %w: tensor<?x2xf32>, %x: tensor<?x16xf32>) {
  // expected-error @+1 {{'moe.combine_sorted' op a 'passthrough' tokens operand requires drop_policy = passthrough}}
  %y = moe.combine_sorted %rows, %p, %w passthrough(%x) {drop_policy = #moe.drop_policy<zero>} : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the passthrough tokens must have rank 2.
func.func @combine_sorted_passthrough_rank(%rows: tensor<?x16xf32>, %p: tensor<?x2xi32>, %w: tensor<?x2xf32>, %x: tensor<16xf32>) {
  // expected-error @+1 {{'moe.combine_sorted' op expects 'passthrough' to have rank 2, got 'tensor<16xf32>'}}
  %y = moe.combine_sorted %rows, %p, %w passthrough(%x) {drop_policy = #moe.drop_policy<passthrough>} : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.all_to_all
//===----------------------------------------------------------------------===//

// -----

// Tests that send_counts must have world_size entries.
func.func @all_to_all_send_counts(%p: tensor<?x16xf32>, %sc: tensor<3xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op expects dimension 0 of 'send_counts' to be world_size = 4, got 3}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 4 : i64} : (tensor<?x16xf32>, tensor<3xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
  return
}

// -----

// Tests that recv_counts must be [world_size].
func.func @all_to_all_recv_counts_rank(%p: tensor<?x16xf32>, %sc: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op expects 'recv_counts' to have rank 1, got 'tensor<2x2xi32>'}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 4 : i64} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x16xf32>, tensor<2x2xi32>)
  return
}

// -----

// Tests that the received rows have the payload's rank.
func.func @all_to_all_received_rank(%p: tensor<?x16xf32>, %sc: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op expects 'received' to have the rank of 'payload' (2), got 3}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 4 : i64} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x16x1xf32>, tensor<4xi32>)
  return
}

// -----

// Tests that the received rows have the payload's row size.
func.func @all_to_all_received_row_size(%p: tensor<?x16xf32>, %sc: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op expects dimension 1 of 'received' to be the payload's row size = 16, got 32}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 4 : i64} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x32xf32>, tensor<4xi32>)
  return
}

// -----

// Tests that the received rows have the payload's element type.
func.func @all_to_all_received_element_type(%p: tensor<?x16xf32>, %sc: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op expects 'received' element type 'f32', got 'f16'}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 4 : i64} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x16xf16>, tensor<4xi32>)
  return
}

// -----

// Tests that an intra-node stage needs ranks_per_node.
func.func @all_to_all_intra_node_no_ranks_per_node(%p: tensor<?x16xf32>, %sc: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op stage = intra_node requires 'ranks_per_node'}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 4 : i64, stage = #moe.stage<intra_node>} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
  return
}

// -----

// Tests that an inter-node stage needs ranks_per_node.
func.func @all_to_all_inter_node_no_ranks_per_node(%p: tensor<?x16xf32>, %sc: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op stage = inter_node requires 'ranks_per_node'}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 4 : i64, stage = #moe.stage<inter_node>} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
  return
}

// -----

// Tests that ranks_per_node must divide world_size.
func.func @all_to_all_ranks_per_node_not_divisor(%p: tensor<?x16xf32>, %sc: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op expects ranks_per_node to divide world_size (4), got 3}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 4 : i64, stage = #moe.stage<intra_node>, ranks_per_node = 3 : i64} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
  return
}

// -----

// Tests that an intra-node stage has one count per rank of the node.
func.func @all_to_all_intra_node_counts(%p: tensor<?x16xf32>, %sc: tensor<8xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op expects dimension 0 of 'send_counts' to be ranks_per_node = 4, got 8}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 8 : i64, stage = #moe.stage<intra_node>, ranks_per_node = 4 : i64} : (tensor<?x16xf32>, tensor<8xi32>) -> (tensor<?x16xf32>, tensor<8xi32>)
  return
}

// -----

// Tests that an inter-node stage has one count per node.
func.func @all_to_all_inter_node_counts(%p: tensor<?x16xf32>, %sc: tensor<2xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op expects dimension 0 of 'recv_counts' to be world_size / ranks_per_node = 2, got 4}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 8 : i64, stage = #moe.stage<inter_node>, ranks_per_node = 4 : i64} : (tensor<?x16xf32>, tensor<2xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
  return
}

// -----

// Tests that ranks_per_node must be positive.
func.func @all_to_all_ranks_per_node_zero(%p: tensor<?x16xf32>, %sc: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op expects ranks_per_node to divide world_size (4), got 0}}
  %r, %c = moe.all_to_all %p, %sc {world_size = 4 : i64, stage = #moe.stage<inter_node>, ranks_per_node = 0 : i64} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
  return
}

// -----

// Tests that counts are only accepted with a padded buffer.
func.func @experts_counts_with_rows(%rows: tensor<?x64xf32>, %off: tensor<9xi32>, %n: tensor<8xi32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) {
  // expected-error @+1 {{'moe.experts' op 'counts' are only valid with a padded [E, C, D] buffer}}
  %h = moe.experts %rows offsets(%off) counts(%n) weights(%g, %u, %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
  return
}

// -----

// Tests that counts must have one entry per expert.
func.func @experts_counts_shape(%buf: tensor<8x?x64xf32>, %n: tensor<4xi32>, %g: tensor<8x96x64xf32>, %u: tensor<8x96x64xf32>, %d: tensor<8x64x96xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 0 of 'counts' to be number of experts E = 8, got 4}}
  %h = moe.experts %buf counts(%n) weights(%g, %u, %d) : (tensor<8x?x64xf32>, tensor<4xi32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x?x64xf32>
  return
}

// -----

// Tests that moe.layer needs a static hidden size (it sizes !moe.grouped).
func.func @layer_dynamic_hidden(%x: tensor<?x?xf32>, %wg: tensor<4x?xf32>, %i: tensor<4x8x?xf32>, %o: tensor<4x?x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects a static hidden size D (dimension 1 of 'hidden')}}
  %y = moe.layer %x, %wg experts(%i, %o) {top_k = 1 : i64} : (tensor<?x?xf32>, tensor<4x?xf32>, tensor<4x8x?xf32>, tensor<4x?x8xf32>) -> tensor<?x?xf32>
  return
}

//===----------------------------------------------------------------------===//
// Expert biases, clamped SwiGLU and element types of moe.layer
//===----------------------------------------------------------------------===//

// -----

// Tests that clamped_swiglu needs gated experts.
func.func @swiglu_non_gated(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %i: tensor<4x8x16xf32>, %o: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op activation = clamped_swiglu requires gated experts (gate, up, down)}}
  %y = moe.layer %x, %wr experts(%i, %o) {top_k = 1 : i64, activation = #moe.activation<clamped_swiglu>, swiglu_limit = 7.0 : f64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that clamped_swiglu needs its limit.
func.func @swiglu_no_limit(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op activation = clamped_swiglu requires 'swiglu_limit'}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) {top_k = 2 : i64, activation = #moe.activation<clamped_swiglu>} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the limit must be a finite positive number.
func.func @swiglu_bad_limit(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects a finite swiglu_limit > 0, got -1.000000e+00}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) {top_k = 2 : i64, activation = #moe.activation<clamped_swiglu>, swiglu_limit = -1.0 : f64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that alpha must be a finite positive number.
func.func @swiglu_bad_alpha(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects a finite swiglu_alpha > 0, got 0.000000e+00}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) {top_k = 2 : i64, activation = #moe.activation<clamped_swiglu>, swiglu_alpha = 0.0 : f64, swiglu_limit = 7.0 : f64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the swiglu attributes are rejected on other activations.
func.func @swiglu_attr_on_silu(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op 'swiglu_alpha' and 'swiglu_limit' require activation = clamped_swiglu, got activation = silu}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) {top_k = 2 : i64, swiglu_limit = 7.0 : f64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that there is one expert bias per expert weight.
func.func @bias_count(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %bg: tensor<4x8xf32>, %bu: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects one expert bias per expert weight (3), got 2}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) expert_biases(%bg, %bu) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the down bias is [E, D].
func.func @bias_down_shape(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %bg: tensor<4x8xf32>, %bu: tensor<4x8xf32>, %bd: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects dimension 1 of 'down bias' to be hidden size D = 16, got 8}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) expert_biases(%bg, %bu, %bd) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that an expert bias has rank 2.
func.func @bias_gate_rank(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %bg: tensor<8xf32>, %bu: tensor<4x8xf32>, %bd: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'gate bias' to have rank 2, got 'tensor<8xf32>'}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) expert_biases(%bg, %bu, %bd) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<8xf32>, tensor<4x8xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that expert weights share one element type: bf16 storage for the first makes it the group's.
func.func @mixed_expert_weight(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xbf16>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'expert weight #1' to have element type 'bf16', got 'f32'}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xbf16>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that bf16 is the only narrower storage for expert weights under f32 tokens.
func.func @f16_expert_weights(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf16>, %u: tensor<4x8x16xf16>, %d: tensor<4x16x8xf16>) {
  // expected-error @+1 {{'moe.layer' op expects 'expert weight #0' to have element type 'f32' (or bf16 for every weight of its group), got 'f16'}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf16>, tensor<4x8x16xf16>, tensor<4x16x8xf16>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that expert biases stay in the tokens' type when the weights are bf16.
func.func @bf16_expert_bias(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xbf16>, %u: tensor<4x8x16xbf16>, %d: tensor<4x16x8xbf16>, %bg: tensor<4x8xbf16>, %bu: tensor<4x8xf32>, %bd: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'expert bias #0' to have element type 'f32', got 'bf16'}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) expert_biases(%bg, %bu, %bd) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xbf16>, tensor<4x8x16xbf16>, tensor<4x16x8xbf16>, tensor<4x8xbf16>, tensor<4x8xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that the shared expert's gate row stays in the tokens' type (only gate, up and down may be bf16).
func.func @bf16_shared_expert_gate(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %sg: tensor<8x16xbf16>, %su: tensor<8x16xbf16>, %sd: tensor<16x8xbf16>, %seg: tensor<1x16xbf16>) {
  // expected-error @+1 {{'moe.layer' op expects 'shared weight #3' to have element type 'f32', got 'bf16'}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) shared(%sg, %su, %sd, %seg) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<8x16xbf16>, tensor<8x16xbf16>, tensor<16x8xbf16>, tensor<1x16xbf16>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that an expert bias of another element type is rejected.
func.func @mixed_bias(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %bg: tensor<4x8xf32>, %bu: tensor<4x8xf32>, %bd: tensor<4x16xf16>) {
  // expected-error @+1 {{'moe.layer' op expects 'expert bias #2' to have element type 'f32', got 'f16'}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) expert_biases(%bg, %bu, %bd) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16xf16>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that a result of another element type is rejected.
func.func @mixed_result(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'result' to have element type 'f32', got 'bf16'}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xbf16>
  return
}

// -----

// Tests that a shared-expert weight of another element type is rejected.
func.func @mixed_shared(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %sg: tensor<8x16xf32>, %su: tensor<8x16xbf16>, %sd: tensor<16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'shared weight #1' to have element type 'f32' (or bf16 for every weight of its group), got 'bf16'}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) shared(%sg, %su, %sd) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<8x16xf32>, tensor<8x16xbf16>, tensor<16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that a router weight of another element type is rejected.
func.func @mixed_router(%x: tensor<?x16xbf16>, %wr: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.layer' op expects 'router_weight' to have element type 'bf16', got 'f32'}}
  %y = moe.layer %x, %wr experts(%g, %u, %d) {top_k = 2 : i64} : (tensor<?x16xbf16>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xbf16>
  return
}

// -----

// Tests that moe.experts checks its biases like moe.layer.
func.func @experts_bias_shape(%rows: tensor<?x16xf32>, %off: tensor<5xi32>, %i: tensor<4x8x16xf32>, %o: tensor<4x16x8xf32>, %bi: tensor<4x16xf32>, %bo: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 1 of 'in bias' to be intermediate size F = 8, got 16}}
  %a = moe.experts %rows offsets(%off) weights(%i, %o) biases(%bi, %bo) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that moe.experts biases must have the tokens' element type.
func.func @experts_bias_type(%rows: tensor<?x16xf32>, %off: tensor<5xi32>, %i: tensor<4x8x16xf32>, %o: tensor<4x16x8xf32>, %bi: tensor<4x8xbf16>, %bo: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.experts' op expects 'biases' to have element type 'f32', got 'bf16'}}
  %a = moe.experts %rows offsets(%off) weights(%i, %o) biases(%bi, %bo) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x8xbf16>, tensor<4x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that moe.experts checks its activation attributes like moe.layer.
func.func @experts_swiglu_nongated(%rows: tensor<?x16xf32>, %off: tensor<5xi32>, %i: tensor<4x8x16xf32>, %o: tensor<4x16x8xf32>) {
  // expected-error @+1 {{'moe.experts' op activation = clamped_swiglu requires gated experts (gate, up, down)}}
  %a = moe.experts %rows offsets(%off) weights(%i, %o) {activation = #moe.activation<clamped_swiglu>, swiglu_limit = 1.0 : f64} : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return
}

// -----

// Tests that a zero group mask needs a group-limited selection.
func.func @group_mask_plain(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) {
  // expected-error @+1 {{'moe.route' op group_mask = zero requires a group-limited selection (group_sum_top2 or group_max), got selection = plain}}
  %i, %w = moe.route %x, %wg {top_k = 2 : i64, group_mask = #moe.group_mask<zero>} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return
}

// -----

// Tests that known recv counts have the recv_counts type.
func.func @all_to_all_known_recv_counts(%p: tensor<?x16xf32>, %sc: tensor<4xi32>, %k: tensor<4xi64>) {
  // expected-error @+1 {{'moe.all_to_all' op expects the known recv_counts to have the type of the 'recv_counts' result, got 'tensor<4xi64>'}}
  %r, %c = moe.all_to_all %p, %sc recv_counts(%k) {world_size = 4 : i64} : (tensor<?x16xf32>, tensor<4xi32>, tensor<4xi64>) -> (tensor<?x16xf32>, tensor<4xi32>)
  return
}

// -----

//===----------------------------------------------------------------------===//
// moe.transpose_segments
//===----------------------------------------------------------------------===//

// Tests that the segment grid is static.
func.func @transpose_segments_dynamic_counts(%rows: tensor<?x16xf32>, %counts: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.transpose_segments' op expects static 'counts' dimensions [A, B], got 'tensor<?x2xi32>'}}
  %r, %o = moe.transpose_segments %rows, %counts : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<3xi32>)
  return
}

// -----

// Tests that the rows are single elements or vectors.
func.func @transpose_segments_rows_rank(%rows: tensor<?x4x4xf32>, %counts: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.transpose_segments' op expects 'rows' of rank 1 or 2, got 'tensor<?x4x4xf32>'}}
  %r, %o = moe.transpose_segments %rows, %counts : (tensor<?x4x4xf32>, tensor<4x2xi32>) -> (tensor<?x4x4xf32>, tensor<3xi32>)
  return
}

// -----

// Tests that there is one offset per group b, plus the end.
func.func @transpose_segments_offsets(%rows: tensor<?x16xf32>, %counts: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.transpose_segments' op expects dimension 0 of 'group_offsets' to be B + 1 = 3, got 5}}
  %r, %o = moe.transpose_segments %rows, %counts : (tensor<?x16xf32>, tensor<4x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>)
  return
}

// -----

// Tests that the result has the rows' type.
func.func @transpose_segments_result(%rows: tensor<?x16xf32>, %counts: tensor<4x2xi32>) {
  // expected-error @+1 {{'moe.transpose_segments' op expects the result to have the type of 'rows' ('tensor<?x16xf32>'), got 'tensor<?x8xf32>'}}
  %r, %o = moe.transpose_segments %rows, %counts : (tensor<?x16xf32>, tensor<4x2xi32>) -> (tensor<?x8xf32>, tensor<3xi32>)
  return
}

// -----

// Tests that sorted rows need their segment offsets.
func.func @grouped_matmul_no_offsets(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op sorted rows (a rank-2 'out') require 'offsets'}}
  moe.grouped_matmul %rows, %w outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests that sorted rows take no counts.
func.func @grouped_matmul_sorted_counts(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %c: memref<4xi32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op 'counts' are only valid with a padded [E, C, K] buffer}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) counts(%c : memref<4xi32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests that there is one offset per expert, plus the end.
func.func @grouped_matmul_offsets(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<4xi32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 0 of 'offsets' to be E + 1 (the weights' number of experts, plus one) = 5, got 4}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<4xi32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests that a padded buffer takes no offsets.
func.func @grouped_matmul_padded_offsets(%buf: memref<4x?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %h: memref<4x?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op 'offsets' are only valid with sorted rows (a rank-2 'out'), got a rank-3 buffer}}
  moe.grouped_matmul %buf, %w offsets(%off : memref<5xi32>) outs(%h : memref<4x?x8xf32>) : memref<4x?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests that the padded buffer has one block of rows per expert.
func.func @grouped_matmul_padded_experts(%buf: memref<3x?x16xf32>, %w: memref<4x8x16xf32>, %h: memref<3x?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 0 of 'lhs' to be the weights' number of experts E = 4, got 3}}
  moe.grouped_matmul %buf, %w outs(%h : memref<3x?x8xf32>) : memref<3x?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests that 'out' has the rank of 'lhs'.
func.func @grouped_matmul_out_rank(%buf: memref<4x?x16xf32>, %w: memref<4x8x16xf32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects 'out' to have the rank of 'lhs' (3), got 'memref<?x8xf32>'}}
  moe.grouped_matmul %buf, %w outs(%h : memref<?x8xf32>) : memref<4x?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests that 'lhs' is sorted rows or a padded buffer.
func.func @grouped_matmul_lhs_rank(%x: memref<16xf32>, %w: memref<4x8x16xf32>, %h: memref<8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects 'lhs' as [R, K] sorted rows or a [E, C, K] padded buffer, got 'memref<16xf32>'}}
  moe.grouped_matmul %x, %w outs(%h : memref<8xf32>) : memref<16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests the inner size K: the rows' width is the weights' input size.
func.func @grouped_matmul_depth(%rows: memref<?x12xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 1 of 'lhs' to be the weights' inner size K = 16, got 12}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) : memref<?x12xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests the output width: the weights' output size N.
func.func @grouped_matmul_cols(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %h: memref<?x6xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 1 of 'out' to be the weights' output size N = 8, got 6}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x6xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests that 'out' has the rows of 'lhs'.
func.func @grouped_matmul_rows(%rows: memref<10x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %h: memref<12x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 0 of 'out' to be the rows of 'lhs' = 10, got 12}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<12x8xf32>) : memref<10x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests the bias shape: [E, N].
func.func @grouped_matmul_bias(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %b: memref<4x16xf32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 1 of 'bias' to be output size N = 8, got 16}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) bias(%b : memref<4x16xf32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests that the counts have one entry per expert.
func.func @grouped_matmul_counts(%buf: memref<4x?x16xf32>, %w: memref<4x8x16xf32>, %c: memref<3xi32>, %h: memref<4x?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 0 of 'counts' to be number of experts E = 4, got 3}}
  moe.grouped_matmul %buf, %w counts(%c : memref<3xi32>) outs(%h : memref<4x?x8xf32>) : memref<4x?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests that grouped-matmul weights are f32 or bf16.
func.func @grouped_matmul_f16_weights(%rows: memref<?x16xf32>, %w: memref<4x8x16xf16>, %off: memref<5xi32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op operand #1 must be 3D/4D memref of 32-bit float or bfloat16 type values}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf16>
  return
}

// -----

// Tests that packed weights [E, N / P, K, P] have a static panel width P.
func.func @grouped_matmul_dynamic_panel(%rows: memref<?x16xf32>, %w: memref<4x2x16x?xf32>, %off: memref<5xi32>, %h: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects packed weights [E, N / P, K, P] with a static panel width P, got 'memref<4x2x16x?xf32>'}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x32xf32>) : memref<?x16xf32>, memref<4x2x16x?xf32>
  return
}

// -----

// Tests that the output's width is the panels times their width.
func.func @grouped_matmul_packed_width(%rows: memref<?x16xf32>, %w: memref<4x2x16x16xf32>, %off: memref<5xi32>, %h: memref<?x30xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x30xf32>) : memref<?x16xf32>, memref<4x2x16x16xf32>
  return
}

// -----

// Tests that the up projection's weights have the gate's type.
func.func @grouped_matmul_up_type(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %u: memref<4x8x16xbf16>, %off: memref<5xi32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects 'up' of the type of 'weights' ('memref<4x8x16xf32>'), got 'memref<4x8x16xbf16>'}}
  moe.grouped_matmul %rows, %w up(%u : memref<4x8x16xbf16>) offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) {activation = #moe.activation<silu>} : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests that an up projection needs an epilogue to combine it.
func.func @grouped_matmul_up_no_activation(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op 'up' requires an epilogue 'activation'}}
  moe.grouped_matmul %rows, %w up(%w : memref<4x8x16xf32>) offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

func.func @grouped_matmul_up_bias_no_up(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %b: memref<4x8xf32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op 'up_bias' requires 'up'}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) up_bias(%b : memref<4x8xf32>) outs(%h : memref<?x8xf32>) {activation = #moe.activation<silu>} : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

func.func @grouped_matmul_up_bias_shape(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %b: memref<4x7xf32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 1 of 'up_bias' to be output size N = 8, got 7}}
  moe.grouped_matmul %rows, %w up(%w : memref<4x8x16xf32>) offsets(%off : memref<5xi32>) up_bias(%b : memref<4x7xf32>) outs(%h : memref<?x8xf32>) {activation = #moe.activation<silu>} : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

func.func @grouped_matmul_swiglu_no_epilogue(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op 'swiglu_alpha' and 'swiglu_limit' require an epilogue 'activation'}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) {swiglu_limit = 7.0 : f64} : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

func.func @grouped_matmul_clamped_no_up(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %h: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op activation = clamped_swiglu requires 'up'}}
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) {activation = #moe.activation<clamped_swiglu>, swiglu_limit = 7.0 : f64} : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

func.func @grouped_activation_rank(%g: memref<8xf32>) {
  // expected-error @+1 {{'moe.grouped_activation' op expects 'gate' as [R, F] sorted rows or a [E, C, F] padded buffer, got 'memref<8xf32>'}}
  moe.grouped_activation %g outs(%g : memref<8xf32>) : memref<8xf32>
  return
}

// -----

func.func @grouped_activation_up_shape(%g: memref<?x8xf32>, %u: memref<?x16xf32>, %off: memref<5xi32>) {
  // expected-error @+1 {{'moe.grouped_activation' op expects 'up' of the shape of 'gate' ('memref<?x8xf32>'), got 'memref<?x16xf32>'}}
  moe.grouped_activation %g up(%u : memref<?x16xf32>) offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) : memref<?x8xf32>
  return
}

// -----

func.func @grouped_activation_no_offsets(%g: memref<?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_activation' op sorted rows (a rank-2 'gate') require 'offsets'}}
  moe.grouped_activation %g outs(%g : memref<?x8xf32>) : memref<?x8xf32>
  return
}

// -----

func.func @grouped_activation_sorted_counts(%g: memref<?x8xf32>, %off: memref<5xi32>, %c: memref<4xi32>) {
  // expected-error @+1 {{'moe.grouped_activation' op 'counts' are only valid with a padded [E, C, F] buffer}}
  moe.grouped_activation %g offsets(%off : memref<5xi32>) counts(%c : memref<4xi32>) outs(%g : memref<?x8xf32>) : memref<?x8xf32>
  return
}

// -----

func.func @grouped_activation_padded_offsets(%g: memref<4x?x8xf32>, %off: memref<5xi32>) {
  // expected-error @+1 {{'moe.grouped_activation' op 'offsets' are only valid with sorted rows (a rank-2 'gate'), got a rank-3 buffer}}
  moe.grouped_activation %g offsets(%off : memref<5xi32>) outs(%g : memref<4x?x8xf32>) : memref<4x?x8xf32>
  return
}

// -----

func.func @grouped_activation_counts(%g: memref<4x?x8xf32>, %c: memref<3xi32>) {
  // expected-error @+1 {{'moe.grouped_activation' op expects dimension 0 of 'counts' to be number of experts E = 4, got 3}}
  moe.grouped_activation %g counts(%c : memref<3xi32>) outs(%g : memref<4x?x8xf32>) : memref<4x?x8xf32>
  return
}

// -----

func.func @grouped_activation_clamped_no_up(%g: memref<4x?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_activation' op activation = clamped_swiglu requires 'up'}}
  moe.grouped_activation %g outs(%g : memref<4x?x8xf32>) {activation = #moe.activation<clamped_swiglu>, swiglu_limit = 7.0 : f64} : memref<4x?x8xf32>
  return
}

// -----

func.func @grouped_matmul_gather_padded_lhs(%buf: memref<4x?x16xf32>, %src: memref<4x?xi32>, %w: memref<4x8x16xf32>, %h: memref<4x?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects 'lhs' to be the tokens [T, K] with a 'gather', got 'memref<4x?x16xf32>'}}
  moe.grouped_matmul %buf, %w gather(%src : memref<4x?xi32>) outs(%h : memref<4x?x8xf32>) : memref<4x?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

func.func @grouped_matmul_gather_rank(%x: memref<?x16xf32>, %src: memref<?xi32>, %w: memref<4x8x16xf32>, %h: memref<4x?x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects 'gather' to have rank 2, got 'memref<?xi32>'}}
  moe.grouped_matmul %x, %w gather(%src : memref<?xi32>) outs(%h : memref<4x?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

func.func @grouped_matmul_gather_slots(%x: memref<?x16xf32>, %src: memref<4x5xi32>, %w: memref<4x8x16xf32>, %h: memref<4x6x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 1 of 'gather' to be the rows of 'out' = 6, got 5}}
  moe.grouped_matmul %x, %w gather(%src : memref<4x5xi32>) outs(%h : memref<4x6x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

func.func @grouped_matmul_gather_rows(%x: memref<3x16xf32>, %src: memref<5xi32>, %off: memref<5xi32>, %w: memref<4x8x16xf32>, %h: memref<6x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 0 of 'gather' to be the rows of 'out' = 6, got 5}}
  moe.grouped_matmul %x, %w gather(%src : memref<5xi32>) offsets(%off : memref<5xi32>) outs(%h : memref<6x8xf32>) : memref<3x16xf32>, memref<4x8x16xf32>
  return
}

// -----

func.func @grouped_matmul_rows_without_gather(%x: memref<3x16xf32>, %off: memref<5xi32>, %w: memref<4x8x16xf32>, %h: memref<6x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 0 of 'out' to be the rows of 'lhs' = 3, got 6}}
  moe.grouped_matmul %x, %w offsets(%off : memref<5xi32>) outs(%h : memref<6x8xf32>) : memref<3x16xf32>, memref<4x8x16xf32>
  return
}

// -----

func.func @experts_gather_padded(%buf: tensor<4x?x16xf32>, %src: tensor<?xi32>, %c: tensor<4xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op 'gather' is only valid with [T, D] tokens (read in place as sorted rows or a padded buffer)}}
  %h = moe.experts %buf gather(%src) counts(%c) weights(%wi, %wo) : (tensor<4x?x16xf32>, tensor<?xi32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x?x16xf32>
  return
}

// -----

func.func @experts_gather_rows(%x: tensor<3x16xf32>, %src: tensor<6xi32>, %off: tensor<5xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 0 of 'result' to be the rows of 'gather' = 6, got 3}}
  %h = moe.experts %x gather(%src) offsets(%off) weights(%wi, %wo) : (tensor<3x16xf32>, tensor<6xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<3x16xf32>
  return
}

// -----

func.func @experts_gather_hidden(%x: tensor<3x16xf32>, %src: tensor<6xi32>, %off: tensor<5xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 1 of 'result' to be hidden size D = 16, got 8}}
  %h = moe.experts %x gather(%src) offsets(%off) weights(%wi, %wo) : (tensor<3x16xf32>, tensor<6xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<6x8xf32>
  return
}

// -----

func.func @experts_gather_rank(%x: tensor<3x16xf32>, %src: tensor<6x1x1xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op expects 'gather' as [N] sorted rows or [E, C] slots, got 'tensor<6x1x1xi32>'}}
  %h = moe.experts %x gather(%src) weights(%wi, %wo) : (tensor<3x16xf32>, tensor<6x1x1xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @sort_assignments_sources(%idx: tensor<3x2xi32>) {
  // expected-error @+1 {{'moe.sort_assignments' op expects dimension 0 of 'sources' to be T * top_k = 6, got 5}}
  %src, %off, %pos, %counts = moe.sort_assignments %idx : (tensor<3x2xi32>) -> (tensor<5xi32>, tensor<5xi32>, tensor<3x2xi32>, tensor<4xi32>)
  return
}

// -----

func.func @sort_assignments_offsets(%idx: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.sort_assignments' op expects dimension 0 of 'offsets' to be E + 1 = 5, got 4}}
  %src, %off, %pos, %counts = moe.sort_assignments %idx : (tensor<?x2xi32>) -> (tensor<?xi32>, tensor<4xi32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

func.func @sort_assignments_positions(%idx: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.sort_assignments' op expects dimension 1 of 'positions' to be top_k = 2, got 3}}
  %src, %off, %pos, %counts = moe.sort_assignments %idx : (tensor<?x2xi32>) -> (tensor<?xi32>, tensor<5xi32>, tensor<?x3xi32>, tensor<4xi32>)
  return
}

// -----

func.func @sort_assignments_dynamic_experts(%idx: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.sort_assignments' op expects a static number of experts (the size of 'counts')}}
  %src, %off, %pos, %counts = moe.sort_assignments %idx : (tensor<?x2xi32>) -> (tensor<?xi32>, tensor<?xi32>, tensor<?x2xi32>, tensor<?xi32>)
  return
}

// -----

func.func @experts_gather_sorted_no_offsets(%x: tensor<3x16xf32>, %src: tensor<6xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op a rank-1 'gather' (sorted rows) requires 'offsets'}}
  %h = moe.experts %x gather(%src) weights(%wi, %wo) : (tensor<3x16xf32>, tensor<6xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @experts_gather_slots_offsets(%x: tensor<3x16xf32>, %src: tensor<4x2xi32>, %off: tensor<5xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op 'offsets' are only valid with a rank-1 'gather' (sorted rows), got an [E, C] gather}}
  %h = moe.experts %x gather(%src) offsets(%off) weights(%wi, %wo) : (tensor<3x16xf32>, tensor<4x2xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x2x16xf32>
  return
}

// -----

func.func @experts_gather_slots_experts(%x: tensor<3x16xf32>, %src: tensor<2x2xi32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 0 of 'result' to be the weights' number of experts E = 4, got 2}}
  %h = moe.experts %x gather(%src) weights(%wi, %wo) : (tensor<3x16xf32>, tensor<2x2xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<2x2x16xf32>
  return
}

// -----

func.func @assign_slots_sources(%idx: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.assign_slots' op expects dimension 0 of 'counts' to be number of experts E = 3, got 4}}
  %src, %slots, %counts = moe.assign_slots %idx, %c : (tensor<?x2xi32>, index) -> (tensor<3x?xi32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

func.func @assign_slots_rank(%idx: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.assign_slots' op expects 'sources' to have rank 2, got 'tensor<?xi32>'}}
  %src, %slots, %counts = moe.assign_slots %idx, %c : (tensor<?x2xi32>, index) -> (tensor<?xi32>, tensor<?x2xi32>, tensor<4xi32>)
  return
}

// -----

func.func @scatter_weights_rows(%w: tensor<3x2xf32>, %pos: tensor<3x2xi32>) {
  // expected-error @+1 {{'moe.scatter_weights' op expects dimension 0 of 'result' to be T * top_k = 6, got 5}}
  %rw = moe.scatter_weights %w, %pos : (tensor<3x2xf32>, tensor<3x2xi32>) -> tensor<5xf32>
  return
}

// -----

func.func @scatter_weights_where(%w: tensor<3x2xf32>, %pos: tensor<3x1xi32>) {
  // expected-error @+1 {{'moe.scatter_weights' op expects dimension 1 of 'where' to be top_k = 2, got 1}}
  %rw = moe.scatter_weights %w, %pos : (tensor<3x2xf32>, tensor<3x1xi32>) -> tensor<6xf32>
  return
}

// -----

func.func @scatter_weights_slots_rank(%w: tensor<?x2xf32>, %slots: tensor<?x2xi32>, %idx: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.scatter_weights' op expects 'result' to have rank 2, got 'tensor<?xf32>'}}
  %rw = moe.scatter_weights %w, %slots experts(%idx, %c) : (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x2xi32>, index) -> tensor<?xf32>
  return
}

// -----

func.func @scatter_weights_dynamic_experts(%w: tensor<?x2xf32>, %slots: tensor<?x2xi32>, %idx: tensor<?x2xi32>, %c: index) {
  // expected-error @+1 {{'moe.scatter_weights' op expects a static number of experts (dimension 0 of the [E, C] result)}}
  %rw = moe.scatter_weights %w, %slots experts(%idx, %c) : (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x2xi32>, index) -> tensor<?x?xf32>
  return
}

// -----

func.func @experts_combine_without_gather(%rows: tensor<?x16xf32>, %off: tensor<5xi32>, %rw: tensor<?xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op 'combine' requires a 'gather' (the token each row adds into) or 'into' (rows that are the tokens)}}
  %y = moe.experts %rows offsets(%off) weights(%wi, %wo) combine(%rw) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<?xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @experts_combine_shape(%x: tensor<3x16xf32>, %src: tensor<6xi32>, %off: tensor<5xi32>, %rw: tensor<5xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op expects 'combine' (a weight per row) of the shape of 'gather' ('tensor<6xi32>'), got 'tensor<5xf32>'}}
  %y = moe.experts %x gather(%src) offsets(%off) weights(%wi, %wo) combine(%rw) : (tensor<3x16xf32>, tensor<6xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<5xf32>) -> tensor<3x16xf32>
  return
}

// -----

func.func @experts_combine_result(%x: tensor<3x16xf32>, %src: tensor<6xi32>, %off: tensor<5xi32>, %rw: tensor<6xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op expects the result of a combine to have the tokens' type 'tensor<3x16xf32>', got 'tensor<6x16xf32>'}}
  %y = moe.experts %x gather(%src) offsets(%off) weights(%wi, %wo) combine(%rw) : (tensor<3x16xf32>, tensor<6xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<6xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @experts_combine_slots_experts(%x: tensor<?x16xf32>, %src: tensor<3x?xi32>, %rw: tensor<3x?xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 0 of 'gather' to be the weights' number of experts E = 4, got 3}}
  %y = moe.experts %x gather(%src) weights(%wi, %wo) combine(%rw) : (tensor<?x16xf32>, tensor<3x?xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<3x?xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @experts_into_type(%x: tensor<?x16xf32>, %off: tensor<2xi32>, %y: tensor<8x16xf32>, %wi: tensor<1x24x16xf32>, %wo: tensor<1x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op expects 'into' (the sum's start) of the result type 'tensor<?x16xf32>', got 'tensor<8x16xf32>'}}
  %z = moe.experts %x offsets(%off) weights(%wi, %wo) into(%y) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @experts_into_gather_without_combine(%x: tensor<?x16xf32>, %src: tensor<?xi32>, %off: tensor<5xi32>, %y: tensor<?x16xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op 'into' with a 'gather' requires 'combine' (the rows then add into their tokens)}}
  %z = moe.experts %x gather(%src) offsets(%off) weights(%wi, %wo) into(%y) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @experts_into_padded(%buf: tensor<4x?x16xf32>, %y: tensor<4x?x16xf32>, %wi: tensor<4x24x16xf32>, %wo: tensor<4x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op 'into' without a 'gather' requires sorted rows [N, D] with 'offsets' (row r adds into row r), got 'tensor<4x?x16xf32>'}}
  %z = moe.experts %buf weights(%wi, %wo) into(%y) : (tensor<4x?x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<4x?x16xf32>) -> tensor<4x?x16xf32>
  return
}

// -----

func.func @experts_into_combine_shape(%x: tensor<8x16xf32>, %off: tensor<2xi32>, %gate: tensor<7xf32>, %y: tensor<8x16xf32>, %wi: tensor<1x24x16xf32>, %wo: tensor<1x16x24xf32>) {
  // expected-error @+1 {{'moe.experts' op expects dimension 0 of 'combine' to be the number of rows = 8, got 7}}
  %z = moe.experts %x offsets(%off) weights(%wi, %wo) combine(%gate) into(%y) : (tensor<8x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>, tensor<7xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @grouped_matmul_scale_without_scatter(%h: memref<6x8xf32>, %off: memref<5xi32>, %rw: memref<6xf32>, %y: memref<6x16xf32>, %w: memref<4x16x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op 'scale' requires 'scatter' (the token each weighted row adds into)}}
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) scale(%rw : memref<6xf32>) outs(%y : memref<6x16xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
  return
}

// -----

func.func @grouped_matmul_scale_shape(%h: memref<6x8xf32>, %off: memref<5xi32>, %src: memref<6xi32>, %rw: memref<5xf32>, %y: memref<3x16xf32>, %w: memref<4x16x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects 'scale' of the shape of 'scatter' ('memref<6xi32>'), got 'memref<5xf32>'}}
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) scatter(%src : memref<6xi32>) scale(%rw : memref<5xf32>) outs(%y : memref<3x16xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
  return
}

// -----

func.func @grouped_matmul_scatter_gather(%x: memref<3x8xf32>, %off: memref<5xi32>, %src: memref<6xi32>, %rw: memref<6xf32>, %y: memref<3x16xf32>, %w: memref<4x16x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op 'scatter' is not supported with 'gather'}}
  moe.grouped_matmul %x, %w gather(%src : memref<6xi32>) offsets(%off : memref<5xi32>) scatter(%src : memref<6xi32>) scale(%rw : memref<6xf32>) outs(%y : memref<3x16xf32>) : memref<3x8xf32>, memref<4x16x8xf32>
  return
}

// -----

func.func @grouped_matmul_scatter_activation(%h: memref<6x8xf32>, %off: memref<5xi32>, %src: memref<6xi32>, %rw: memref<6xf32>, %y: memref<3x16xf32>, %w: memref<4x16x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op 'scatter' is not supported with an epilogue 'activation'}}
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) scatter(%src : memref<6xi32>) scale(%rw : memref<6xf32>) outs(%y : memref<3x16xf32>) {activation = #moe.activation<relu>} : memref<6x8xf32>, memref<4x16x8xf32>
  return
}

// -----

func.func @grouped_matmul_scatter_out(%h: memref<6x8xf32>, %off: memref<5xi32>, %src: memref<6xi32>, %rw: memref<6xf32>, %y: memref<4x3x16xf32>, %w: memref<4x16x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects 'out' as the tokens [T, N] with a 'scatter', got 'memref<4x3x16xf32>'}}
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) scatter(%src : memref<6xi32>) scale(%rw : memref<6xf32>) outs(%y : memref<4x3x16xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
  return
}

// -----

func.func @grouped_matmul_scatter_rank(%hb: memref<4x?x8xf32>, %counts: memref<4xi32>, %src: memref<6xi32>, %rw: memref<6xf32>, %y: memref<3x16xf32>, %w: memref<4x16x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects 'scatter' to have rank 2 (a row of 'lhs' each), got 'memref<6xi32>'}}
  moe.grouped_matmul %hb, %w counts(%counts : memref<4xi32>) scatter(%src : memref<6xi32>) scale(%rw : memref<6xf32>) outs(%y : memref<3x16xf32>) : memref<4x?x8xf32>, memref<4x16x8xf32>
  return
}

// -----

func.func @grouped_matmul_scatter_rows(%h: memref<6x8xf32>, %off: memref<5xi32>, %src: memref<5xi32>, %rw: memref<5xf32>, %y: memref<3x16xf32>, %w: memref<4x16x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 0 of 'scatter' to be the rows of 'lhs' = 6, got 5}}
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) scatter(%src : memref<5xi32>) scale(%rw : memref<5xf32>) outs(%y : memref<3x16xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
  return
}

// -----

func.func @grouped_matmul_scatter_cols(%h: memref<6x8xf32>, %off: memref<5xi32>, %src: memref<6xi32>, %rw: memref<6xf32>, %y: memref<3x12xf32>, %w: memref<4x16x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op expects dimension 1 of 'out' to be the weights' output size N = 16, got 12}}
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) scatter(%src : memref<6xi32>) scale(%rw : memref<6xf32>) outs(%y : memref<3x12xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
  return
}

// -----

func.func @grouped_matmul_scatter_no_offsets(%h: memref<6x8xf32>, %src: memref<6xi32>, %rw: memref<6xf32>, %y: memref<3x16xf32>, %w: memref<4x16x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op sorted rows (a rank-1 'scatter') require 'offsets'}}
  moe.grouped_matmul %h, %w scatter(%src : memref<6xi32>) scale(%rw : memref<6xf32>) outs(%y : memref<3x16xf32>) : memref<6x8xf32>, memref<4x16x8xf32>
  return
}

// -----

func.func @grouped_matmul_scatter_padded_offsets(%hb: memref<4x?x8xf32>, %off: memref<5xi32>, %src: memref<4x?xi32>, %rw: memref<4x?xf32>, %y: memref<3x16xf32>, %w: memref<4x16x8xf32>) {
  // expected-error @+1 {{'moe.grouped_matmul' op 'offsets' are only valid with sorted rows (a rank-1 'scatter'), got an [E, C] scatter}}
  moe.grouped_matmul %hb, %w offsets(%off : memref<5xi32>) scatter(%src : memref<4x?xi32>) scale(%rw : memref<4x?xf32>) outs(%y : memref<3x16xf32>) : memref<4x?x8xf32>, memref<4x16x8xf32>
  return
}

// RUN: moe-opt %s -split-input-file --moe-decompose | FileCheck %s

// Tests that a Mixtral-shaped layer becomes route -> dispatch -> experts ->
// combine over !moe.grouped, with the router attributes carried over.

// CHECK-LABEL: func.func @mixtral
// CHECK-SAME: (%[[X:.+]]: tensor<?x16xf32>, %[[WG:.+]]: tensor<4x16xf32>, %[[G:.+]]: tensor<4x24x16xf32>, %[[U:.+]]: tensor<4x24x16xf32>, %[[D:.+]]: tensor<4x16x24xf32>)
// CHECK: %[[IDX:.+]], %[[W:.+]] = moe.route %[[X]], %[[WG]] {normalize = true, top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
// CHECK: %[[GRP:.+]] = moe.dispatch %[[X]], %[[IDX]] : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
// CHECK: %[[OUT:.+]] = moe.experts %[[GRP]] weights(%[[G]], %[[U]], %[[D]])
// CHECK-SAME: -> !moe.grouped<4 x 16 x f32>
// CHECK: %[[Y:.+]] = moe.combine %[[OUT]], %[[IDX]], %[[W]] : (!moe.grouped<4 x 16 x f32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
// CHECK: return %[[Y]]
// CHECK-NOT: moe.layer
func.func @mixtral(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %wg experts(%g, %u, %d) {top_k = 2 : i64, normalize = true} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that DeepSeek-V3 routing (sigmoid, score bias, group-limited top-k,
// scaling) reaches moe.route unchanged and capacity attributes reach
// moe.dispatch.

// CHECK-LABEL: func.func @deepseek_capacity
// CHECK: moe.route %{{.+}}, %{{.+}} score_bias(%{{.+}}) {n_group = 4 : i64, normalize = true, routed_scaling_factor = 2.500000e+00 : f64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, top_k = 4 : i64, topk_group = 2 : i64}
// CHECK: moe.dispatch %{{.+}}, %{{.+}} {capacity_factor = 1.250000e+00 : f64, min_capacity = 2 : i64}
func.func @deepseek_capacity(%x: tensor<8x16xf32>, %wg: tensor<16x16xf32>, %b: tensor<16xf32>, %g: tensor<16x8x16xf32>, %u: tensor<16x8x16xf32>, %d: tensor<16x16x8xf32>) -> tensor<8x16xf32> {
  %y = moe.layer %x, %wg score_bias(%b) experts(%g, %u, %d) {top_k = 4 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, n_group = 4 : i64, topk_group = 2 : i64, normalize = true, routed_scaling_factor = 2.5 : f64, capacity_factor = 1.25 : f64, min_capacity = 2 : i64} : (tensor<8x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x8x16xf32>, tensor<16x8x16xf32>, tensor<16x16x8xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// -----

// Tests that a gated shared expert (Qwen2-MoE) becomes a one-expert
// moe.experts over the single segment [0, T), a sigmoid gate per token, and
// an add of the gated output (moe-fuse-shared-expert's pattern).

// CHECK-LABEL: func.func @qwen2_shared
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>
// CHECK: %[[Y:.+]] = moe.combine
// CHECK: %[[T:.+]] = tensor.dim %[[X]], %{{.+}} : tensor<?x16xf32>
// CHECK: %[[END:.+]] = arith.index_cast %[[T]] : index to i32
// CHECK: %[[OFF:.+]] = tensor.from_elements %{{.+}}, %[[END]] : tensor<2xi32>
// CHECK: %[[SG:.+]] = tensor.expand_shape %{{.+}} {{\[\[}}0, 1], [2]] output_shape [1, 12, 16] : tensor<12x16xf32> into tensor<1x12x16xf32>
// CHECK: %[[S:.+]] = moe.experts %[[X]] offsets(%[[OFF]]) weights(%[[SG]], %{{.+}}, %{{.+}}) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x12x16xf32>, tensor<1x12x16xf32>, tensor<1x16x12xf32>) -> tensor<?x16xf32>
// CHECK: %[[LOGIT:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%[[X]], %{{.+}} : tensor<?x16xf32>, tensor<1x16xf32>)
// CHECK: %[[GATE:.+]] = linalg.generic {{.*}}iterator_types = ["parallel"]{{.*}} ins(%[[LOGIT]] : tensor<?xf32>)
// CHECK: arith.negf
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: arith.divf
// CHECK: linalg.generic {{.*}} ins(%[[Y]], %[[S]], %[[GATE]] : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?xf32>)
// CHECK-NEXT: ^bb0(%[[R:.+]]: f32, %[[V:.+]]: f32, %[[G:.+]]: f32, %{{.+}}: f32):
// CHECK-NEXT: %[[W:.+]] = arith.mulf %[[G]], %[[V]] : f32
// CHECK-NEXT: %[[SUM:.+]] = arith.addf %[[R]], %[[W]] : f32
// CHECK-NEXT: linalg.yield %[[SUM]] : f32
// CHECK: return
func.func @qwen2_shared(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %sg: tensor<12x16xf32>, %su: tensor<12x16xf32>, %sd: tensor<16x12xf32>, %sgate: tensor<1x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %wg experts(%g, %u, %d) shared(%sg, %su, %sd, %sgate) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<12x16xf32>, tensor<12x16xf32>, tensor<16x12xf32>, tensor<1x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that the passthrough drop policy hands the tokens to moe.combine.

// CHECK-LABEL: func.func @switch_passthrough
// CHECK-SAME: (%[[X:[^:]+]]: tensor<32x16xf32>
// CHECK: moe.dispatch %[[X]], %{{.+}} {expert_capacity = 5 : i64}
// CHECK: moe.experts %{{.+}} weights(%{{.+}}, %{{.+}}) {activation = #moe.activation<relu>}
// CHECK: moe.combine %{{.+}}, %{{.+}}, %{{.+}} passthrough(%[[X]]) {drop_policy = #moe.drop_policy<passthrough>}
func.func @switch_passthrough(%x: tensor<32x16xf32>, %wg: tensor<4x16xf32>, %wi: tensor<4x8x16xf32>, %wo: tensor<4x16x8xf32>) -> tensor<32x16xf32> {
  %y = moe.layer %x, %wg experts(%wi, %wo) {top_k = 1 : i64, activation = #moe.activation<relu>, expert_capacity = 5 : i64, drop_policy = #moe.drop_policy<passthrough>} : (tensor<32x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<32x16xf32>
  return %y : tensor<32x16xf32>
}

// -----

// Tests that expert biases and the clamped SwiGLU attributes reach moe.experts.

// CHECK-LABEL: func.func @gpt_oss
// CHECK: moe.experts %{{.+}} weights(%{{.+}}, %{{.+}}, %{{.+}}) biases(%[[BG:[^,]+]], %[[BU:[^,]+]], %[[BD:[^)]+]]) {activation = #moe.activation<clamped_swiglu>, swiglu_alpha = 1.500000e+00 : f64, swiglu_limit = 7.000000e+00 : f64}
func.func @gpt_oss(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %br: tensor<4xf32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %bg: tensor<4x8xf32>, %bu: tensor<4x8xf32>, %bd: tensor<4x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %wr router_bias(%br) experts(%g, %u, %d) expert_biases(%bg, %bu, %bd) {top_k = 2 : i64, normalize = true, activation = #moe.activation<clamped_swiglu>, swiglu_alpha = 1.5 : f64, swiglu_limit = 7.0 : f64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

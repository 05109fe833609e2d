func.func @forward(%x: tensor<?x64xf32> {moe.input = "hidden_states"},
    %router: tensor<16x64xf32> {moe.weight = "model.layers.1.mlp.gate.weight"},
    %score_bias: tensor<16xf32> {moe.weight = "model.layers.1.mlp.gate.e_score_correction_bias"},
    %w_gate: tensor<16x32x64xf32> {moe.weight = "model.layers.1.mlp.experts.{e}.gate_proj.weight"},
    %w_up: tensor<16x32x64xf32> {moe.weight = "model.layers.1.mlp.experts.{e}.up_proj.weight"},
    %w_down: tensor<16x64x32xf32> {moe.weight = "model.layers.1.mlp.experts.{e}.down_proj.weight"},
    %shared_gate: tensor<32x64xf32> {moe.weight = "model.layers.1.mlp.shared_experts.gate_proj.weight"},
    %shared_up: tensor<32x64xf32> {moe.weight = "model.layers.1.mlp.shared_experts.up_proj.weight"},
    %shared_down: tensor<64x32xf32> {moe.weight = "model.layers.1.mlp.shared_experts.down_proj.weight"})
    -> (tensor<?x64xf32> {moe.output = "output"}) {
  %y = moe.layer %x, %router score_bias(%score_bias) experts(%w_gate, %w_up, %w_down) shared(%shared_gate, %shared_up, %shared_down) {top_k = 4 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, n_group = 4 : i64, topk_group = 2 : i64, normalize = true, routed_scaling_factor = 2.5 : f64, activation = #moe.activation<silu>} : (tensor<?x64xf32>, tensor<16x64xf32>, tensor<16xf32>, tensor<16x32x64xf32>, tensor<16x32x64xf32>, tensor<16x64x32xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<64x32xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

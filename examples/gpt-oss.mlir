func.func @forward(%x: tensor<?x64xf32> {moe.input = "hidden_states"},
    %router: tensor<8x64xf32> {moe.weight = "model.layers.0.mlp.router.weight"},
    %router_bias: tensor<8xf32> {moe.weight = "model.layers.0.mlp.router.bias"},
    %w_gate: tensor<8x32x64xf32> {moe.weight = "model.layers.0.mlp.experts.gate", moe.weight_sources = [{name = "model.layers.0.mlp.experts.gate_up_proj", transpose = true, parts = 2 : i64, interleave = true}]},
    %w_up: tensor<8x32x64xf32> {moe.weight = "model.layers.0.mlp.experts.up", moe.weight_sources = [{name = "model.layers.0.mlp.experts.gate_up_proj", transpose = true, parts = 2 : i64, part = 1 : i64, interleave = true}]},
    %w_down: tensor<8x64x32xf32> {moe.weight = "model.layers.0.mlp.experts.down", moe.weight_sources = [{name = "model.layers.0.mlp.experts.down_proj", transpose = true}]},
    %b_gate: tensor<8x32xf32> {moe.weight = "model.layers.0.mlp.experts.gate_bias", moe.weight_sources = [{name = "model.layers.0.mlp.experts.gate_up_proj_bias", parts = 2 : i64, interleave = true}]},
    %b_up: tensor<8x32xf32> {moe.weight = "model.layers.0.mlp.experts.up_bias", moe.weight_sources = [{name = "model.layers.0.mlp.experts.gate_up_proj_bias", parts = 2 : i64, part = 1 : i64, interleave = true}]},
    %b_down: tensor<8x64xf32> {moe.weight = "model.layers.0.mlp.experts.down_bias", moe.weight_sources = [{name = "model.layers.0.mlp.experts.down_proj_bias"}]})
    -> (tensor<?x64xf32> {moe.output = "output"}) {
  %y = moe.layer %x, %router router_bias(%router_bias) experts(%w_gate, %w_up, %w_down) expert_biases(%b_gate, %b_up, %b_down) {top_k = 2 : i64, scoring = #moe.scoring<softmax>, normalize = true, activation = #moe.activation<clamped_swiglu>, swiglu_limit = 7.0 : f64} : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8xf32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

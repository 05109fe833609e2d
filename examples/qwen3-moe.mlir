func.func @forward(%x: tensor<?x64xf32> {moe.input = "hidden_states"},
    %router: tensor<16x64xf32> {moe.weight = "model.layers.0.mlp.gate.weight"},
    %w_gate: tensor<16x48x64xf32> {moe.weight = "model.layers.0.mlp.experts.{e}.gate_proj.weight"},
    %w_up: tensor<16x48x64xf32> {moe.weight = "model.layers.0.mlp.experts.{e}.up_proj.weight"},
    %w_down: tensor<16x64x48xf32> {moe.weight = "model.layers.0.mlp.experts.{e}.down_proj.weight"})
    -> (tensor<?x64xf32> {moe.output = "output"}) {
  %y = moe.layer %x, %router experts(%w_gate, %w_up, %w_down) {top_k = 4 : i64, scoring = #moe.scoring<softmax>, normalize = true, activation = #moe.activation<silu>} : (tensor<?x64xf32>, tensor<16x64xf32>, tensor<16x48x64xf32>, tensor<16x48x64xf32>, tensor<16x64x48xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

func.func @forward(%x: tensor<?x64xf32> {moe.input = "hidden_states"},
    %router: tensor<8x64xf32> {moe.weight = "model.layers.0.block_sparse_moe.gate.weight"},
    %w_gate: tensor<8x96x64xf32> {moe.weight = "model.layers.0.block_sparse_moe.experts.{e}.w1.weight"},
    %w_up: tensor<8x96x64xf32> {moe.weight = "model.layers.0.block_sparse_moe.experts.{e}.w3.weight"},
    %w_down: tensor<8x64x96xf32> {moe.weight = "model.layers.0.block_sparse_moe.experts.{e}.w2.weight"})
    -> (tensor<?x64xf32> {moe.output = "output"}) {
  %y = moe.layer %x, %router experts(%w_gate, %w_up, %w_down) {top_k = 2 : i64, scoring = #moe.scoring<softmax>, normalize = true, activation = #moe.activation<silu>} : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// RUN: moe-opt %s --moe-decompose --moe-dynamic-shapes --moe-expert-parallel=world-size=3 -split-input-file -verify-diagnostics

func.func @uneven(%x: tensor<?x16xf32>, %wr: tensor<8x16xf32>,
                  %wi: tensor<8x8x16xf32>, %wo: tensor<8x16x8xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{'moe.experts' op moe-expert-parallel: 8 experts cannot be split evenly over world-size = 3 ranks (E must be a multiple of W)}}
  %y = moe.layer %x, %wr experts(%wi, %wo) {top_k = 1 : i64}
      : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8x8x16xf32>, tensor<8x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

func.func @static_tokens(%x: tensor<5x16xf32>, %wr: tensor<6x16xf32>,
                         %wi: tensor<6x8x16xf32>, %wo: tensor<6x16x8xf32>) -> tensor<5x16xf32> {
  // expected-error @+1 {{'moe.experts' op moe-expert-parallel needs a dynamic token count (tensor<?x...>): each rank runs its own slice of the tokens}}
  %y = moe.layer %x, %wr experts(%wi, %wo) {top_k = 1 : i64}
      : (tensor<5x16xf32>, tensor<6x16xf32>, tensor<6x8x16xf32>, tensor<6x16x8xf32>) -> tensor<5x16xf32>
  return %y : tensor<5x16xf32>
}

// -----

func.func @computed_weight(%x: tensor<?x16xf32>, %wr: tensor<6x16xf32>,
                           %wi: tensor<6x8x16xf32>, %wo: tensor<6x16x8xf32>) -> tensor<?x16xf32> {
  %neg = arith.negf %wi : tensor<6x8x16xf32>
  // expected-error @+1 {{'moe.experts' op moe-expert-parallel needs the expert weights to be arguments of the function (each rank loads its own experts)}}
  %y = moe.layer %x, %wr experts(%neg, %wo) {top_k = 1 : i64}
      : (tensor<?x16xf32>, tensor<6x16xf32>, tensor<6x8x16xf32>, tensor<6x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

func.func @weight_used_elsewhere(%x: tensor<?x16xf32>, %wr: tensor<6x16xf32>,
                                 %wi: tensor<6x8x16xf32>, %wo: tensor<6x16x8xf32>)
    -> (tensor<?x16xf32>, tensor<6x8x16xf32>) {
  // expected-error @+1 {{'moe.experts' op moe-expert-parallel: expert weight argument #2 has uses besides the experts}}
  %y = moe.layer %x, %wr experts(%wi, %wo) {top_k = 1 : i64}
      : (tensor<?x16xf32>, tensor<6x16xf32>, tensor<6x8x16xf32>, tensor<6x16x8xf32>) -> tensor<?x16xf32>
  return %y, %wi : tensor<?x16xf32>, tensor<6x8x16xf32>
}

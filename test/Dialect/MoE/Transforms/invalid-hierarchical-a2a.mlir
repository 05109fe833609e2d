// RUN: moe-opt %s --moe-hierarchical-a2a=ranks-per-node=3 -split-input-file -verify-diagnostics
// RUN: not moe-opt %s --moe-hierarchical-a2a="ranks-per-node=2 policy=sometimes" 2>&1 | FileCheck %s --check-prefix=POLICY

func.func @not_a_divisor(%rows: tensor<?x64xf32>, %sc: tensor<4xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op moe-hierarchical-a2a: ranks-per-node = 3 does not divide world_size = 4}}
  %recv, %rc = moe.all_to_all %rows, %sc {world_size = 4 : i64} : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>)
  return
}

// -----

func.func @rank3_rows(%rows: tensor<?x4x16xf32>, %sc: tensor<6xi32>) {
  // expected-error @+1 {{'moe.all_to_all' op moe-hierarchical-a2a: rows of rank 3 are not supported (rank 1 or 2)}}
  %recv, %rc = moe.all_to_all %rows, %sc {world_size = 6 : i64} : (tensor<?x4x16xf32>, tensor<6xi32>) -> (tensor<?x4x16xf32>, tensor<6xi32>)
  return
}

// POLICY: moe-hierarchical-a2a: unknown policy 'sometimes' (always or cost-model)

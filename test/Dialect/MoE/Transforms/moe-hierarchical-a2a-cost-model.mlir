// RUN: moe-opt %s --moe-hierarchical-a2a="ranks-per-node=2 policy=cost-model tokens-per-rank=65536 explain=true" -split-input-file -verify-diagnostics | FileCheck %s

// The alpha-beta model at its default link figures (intra-node 3 us and
// 450 GB/s, inter-node 10 us and 50 GB/s). Expected values worked by hand
// from the formulas in docs/expert-parallelism.md; S = 65536 tokens x 1 row
// x 64 x 4 B = 16777216 B.
//
// W = 8 on 4 nodes, counts unknown. Flat: counts (1 intra msg 4 B, 6 inter
// msgs 24 B: 60.0 us), then rows (1 intra msg S/8, 6 inter msgs 6S/8:
// 60 us + 12582912 B / 50 GB/s = 311.66 us): 371.7 us. Hierarchical: 1
// intra msg of 4 counts (3.0 us), 1 intra msg S/2 (3 us + 18.64 us), 3 inter
// msgs of 2 counts (30.0 us), 3 inter msgs 3S/4 (30 us + 251.66 us):
// 336.3 us.

// CHECK-LABEL: func.func @many_nodes
// CHECK: stage = #moe.stage<inter_node>
func.func @many_nodes(%rows: tensor<?x64xf32>, %sc: tensor<8xi32>) -> (tensor<?x64xf32>, tensor<8xi32>) {
  // expected-remark @+1 {{all-to-all of 16777216 B per rank over 8 ranks, 2 per node: flat 371.7 us (intra-node 2 msgs, 2097156 B; inter-node 12 msgs, 12582936 B); hierarchical 336.3 us (intra-node 2 msgs, 8388624 B; inter-node 6 msgs, 12582936 B): hierarchical (faster)}}
  %recv, %rc = moe.all_to_all %rows, %sc {world_size = 8 : i64} : (tensor<?x64xf32>, tensor<8xi32>) -> (tensor<?x64xf32>, tensor<8xi32>)
  return %recv, %rc : tensor<?x64xf32>, tensor<8xi32>
}

// -----

// W = 4 on 2 nodes, counts known. Flat: 1 intra msg S/4 (3 us + 9.32 us),
// 2 inter msgs S/2 (20 us + 167.77 us) at once: 187.8 us. Hierarchical:
// 1 intra msg of 2 counts (3.0 us), 1 intra msg S/2 (21.64 us), 1 inter msg
// S/2 (177.77 us): 202.4 us. The second stage moves as much across nodes
// and the first adds a hop: flat stays.

// CHECK-LABEL: func.func @two_nodes_large
// CHECK-NOT: stage = #moe.stage<inter_node>
// CHECK: moe.all_to_all %{{.*}}, %{{.*}} recv_counts(%{{.*}}) {world_size = 4 : i64}
func.func @two_nodes_large(%rows: tensor<?x64xf32>, %sc: tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>) {
  // expected-remark @+1 {{all-to-all of 16777216 B per rank over 4 ranks, 2 per node: flat 187.8 us (intra-node 1 msgs, 4194304 B; inter-node 2 msgs, 8388608 B); hierarchical 202.4 us (intra-node 2 msgs, 8388616 B; inter-node 1 msgs, 8388608 B): flat (faster)}}
  %recv, %rc = moe.all_to_all %rows, %sc recv_counts(%sc) {world_size = 4 : i64} : (tensor<?x64xf32>, tensor<4xi32>, tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>)
  return %recv, %rc : tensor<?x64xf32>, tensor<4xi32>
}

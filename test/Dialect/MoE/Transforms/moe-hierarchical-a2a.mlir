// RUN: moe-opt %s --moe-hierarchical-a2a=ranks-per-node=2 -split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-hierarchical-a2a=ranks-per-node=4 -split-input-file | FileCheck %s --check-prefix=ONE-NODE
// RUN: moe-opt %s --moe-hierarchical-a2a=ranks-per-node=1 -split-input-file | FileCheck %s --check-prefix=ONE-NODE

// W = 4 ranks on N = 2 nodes of G = 2, counts unknown to the receivers.
// Rank (n, l) first tells each local peer l' how many of its rows go to
// (m, l') for every node m (N counts each), regroups its rows by local
// destination and sends them within the node; then it regroups what it got
// by destination node, exchanges the per-source counts across nodes (G
// each) and sends the rows to the rank of its local index on each node.

// CHECK-LABEL: func.func @flat_rows
// CHECK-SAME: (%[[ROWS:[^:]+]]: tensor<?x64xf32>, %[[SC:[^:]+]]: tensor<4xi32>)
// CHECK-SAME: attributes {moe.ranks_per_node = 2 : i64}
// CHECK: %[[SC_NG:.+]] = tensor.expand_shape %[[SC]] {{\[\[}}0, 1]] output_shape [2, 2] : tensor<4xi32> into tensor<2x2xi32>
// CHECK: %[[SC_GN:.+]] = linalg.transpose ins(%[[SC_NG]] : tensor<2x2xi32>) {{.*}} permutation = [1, 0]
// CHECK: %[[TWO:.+]] = arith.constant dense<2> : tensor<2xi32>
// CHECK: %[[FINE_SEND:.+]] = tensor.collapse_shape %[[SC_GN]]
// CHECK: %[[FINE:.+]], %{{.+}} = moe.all_to_all %[[FINE_SEND]], %[[TWO]] recv_counts(%[[TWO]]) {ranks_per_node = 2 : i64, stage = #moe.stage<intra_node>, world_size = 4 : i64} : (tensor<4xi32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<4xi32>, tensor<2xi32>)
// CHECK: %[[FINE_GN:.+]] = tensor.expand_shape %[[FINE]]
// CHECK: %[[BY_PEER:.+]], %{{.+}} = moe.transpose_segments %[[ROWS]], %[[SC_NG]] : (tensor<?x64xf32>, tensor<2x2xi32>) -> (tensor<?x64xf32>, tensor<3xi32>)
// CHECK: %[[TO_PEER:.+]] = linalg.generic {{.*}} ins(%[[SC_GN]] : tensor<2x2xi32>)
// CHECK: %[[FROM_PEER:.+]] = linalg.generic {{.*}} ins(%[[FINE_GN]] : tensor<2x2xi32>)
// CHECK: %[[INTRA:.+]], %{{.+}} = moe.all_to_all %[[BY_PEER]], %[[TO_PEER]] recv_counts(%[[FROM_PEER]]) {ranks_per_node = 2 : i64, stage = #moe.stage<intra_node>, world_size = 4 : i64} : (tensor<?x64xf32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<?x64xf32>, tensor<2xi32>)
// CHECK: %[[BY_NODE:.+]], %{{.+}} = moe.transpose_segments %[[INTRA]], %[[FINE_GN]] : (tensor<?x64xf32>, tensor<2x2xi32>) -> (tensor<?x64xf32>, tensor<3xi32>)
// CHECK: %[[FINE_NG:.+]] = linalg.transpose ins(%[[FINE_GN]] : tensor<2x2xi32>)
// CHECK: %[[TWO_B:.+]] = arith.constant dense<2> : tensor<2xi32>
// CHECK: %[[SOURCE_SEND:.+]] = tensor.collapse_shape %[[FINE_NG]]
// CHECK: %[[RC:.+]], %{{.+}} = moe.all_to_all %[[SOURCE_SEND]], %[[TWO_B]] recv_counts(%[[TWO_B]]) {ranks_per_node = 2 : i64, stage = #moe.stage<inter_node>, world_size = 4 : i64} : (tensor<4xi32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<4xi32>, tensor<2xi32>)
// CHECK: %[[RC_NG:.+]] = tensor.expand_shape %[[RC]]
// CHECK: %[[FROM_NODE:.+]] = linalg.generic {{.*}} ins(%[[RC_NG]] : tensor<2x2xi32>)
// CHECK: %[[TO_NODE:.+]] = linalg.generic {{.*}} ins(%[[FINE_NG]] : tensor<2x2xi32>)
// CHECK: %[[RECV:.+]], %{{.+}} = moe.all_to_all %[[BY_NODE]], %[[TO_NODE]] recv_counts(%[[FROM_NODE]]) {ranks_per_node = 2 : i64, stage = #moe.stage<inter_node>, world_size = 4 : i64} : (tensor<?x64xf32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<?x64xf32>, tensor<2xi32>)
// CHECK: return %[[RECV]], %[[RC]] : tensor<?x64xf32>, tensor<4xi32>

// ONE-NODE-LABEL: func.func @flat_rows
// ONE-NODE: moe.all_to_all %{{.*}}, %{{.*}} {world_size = 4 : i64}
// ONE-NODE-NOT: stage
func.func @flat_rows(%rows: tensor<?x64xf32>, %sc: tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>) {
  %recv, %rc = moe.all_to_all %rows, %sc {world_size = 4 : i64} : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>)
  return %recv, %rc : tensor<?x64xf32>, tensor<4xi32>
}

// -----

// Known counts (the way back, and the dropless forward exchange): the
// inter-node count exchange is skipped, the known counts are the result and
// a static payload keeps its static type.

// CHECK-LABEL: func.func @known_counts
// CHECK-SAME: (%[[KEPT:[^:]+]]: tensor<8xi32>, %[[SC:[^:]+]]: tensor<4xi32>)
// CHECK-SAME: attributes {moe.ranks_per_node = 2 : i64}
// CHECK: moe.all_to_all {{.*}}stage = #moe.stage<intra_node>{{.*}} : (tensor<4xi32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<4xi32>, tensor<2xi32>)
// CHECK: moe.transpose_segments %[[KEPT]], %{{.*}} : (tensor<8xi32>, tensor<2x2xi32>) -> (tensor<8xi32>, tensor<3xi32>)
// CHECK: moe.all_to_all {{.*}}stage = #moe.stage<intra_node>{{.*}} : (tensor<8xi32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<?xi32>, tensor<2xi32>)
// CHECK: tensor.expand_shape %[[SC]]
// CHECK: %[[RECV:.+]], %{{.+}} = moe.all_to_all {{.*}}stage = #moe.stage<inter_node>{{.*}} : (tensor<?xi32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<?xi32>, tensor<2xi32>)
// CHECK-NOT: moe.all_to_all
// CHECK: %[[CAST:.+]] = tensor.cast %[[RECV]] : tensor<?xi32> to tensor<8xi32>
// CHECK: return %[[CAST]], %[[SC]]
func.func @known_counts(%kept: tensor<8xi32>, %sc: tensor<4xi32>) -> (tensor<8xi32>, tensor<4xi32>) {
  %recv, %rc = moe.all_to_all %kept, %sc recv_counts(%sc) {world_size = 4 : i64} : (tensor<8xi32>, tensor<4xi32>, tensor<4xi32>) -> (tensor<8xi32>, tensor<4xi32>)
  return %recv, %rc : tensor<8xi32>, tensor<4xi32>
}

// RUN: moe-opt %s --moe-decompose --moe-dynamic-shapes --moe-expert-parallel=world-size=4 | FileCheck %s --check-prefix=SORTED
// RUN: moe-opt %s --moe-decompose --moe-static-capacity --moe-expert-parallel=world-size=4 | FileCheck %s --check-prefix=PADDED
// RUN: moe-opt %s --moe-decompose --moe-dynamic-shapes --moe-expert-parallel=world-size=1 | FileCheck %s --check-prefix=ONE

// Each of 4 ranks keeps 2 of the 8 experts: the expert weights become
// [2, ...] arguments marked for the loader; the router stays whole.
// SORTED-LABEL: func.func @mixtral(
// SORTED-SAME:    %{{.*}}: tensor<?x16xf32>, %{{.*}}: tensor<8x16xf32>,
// SORTED-SAME:    %[[G:[^:]+]]: tensor<2x24x16xf32> {moe.expert_shards = 4 : i64},
// SORTED-SAME:    %[[U:[^:]+]]: tensor<2x24x16xf32> {moe.expert_shards = 4 : i64},
// SORTED-SAME:    %[[D:[^:]+]]: tensor<2x16x24xf32> {moe.expert_shards = 4 : i64})
// SORTED:       %[[ROWS:.*]], %[[OFF:.*]], %[[POS:.*]], %{{.*}} = moe.dispatch_sorted
// Per-expert kept rows, and rows per destination rank (offsets every 2 experts).
// SORTED:       tensor.extract_slice %[[OFF]][1] [8] [1]
// SORTED:       tensor.extract_slice %[[OFF]][2] [4] [2]
// SORTED:       %[[L:.*]] = arith.constant dense<2> : tensor<4xi32>
// Counts of each local expert from each source, then the rows.
// SORTED:       %[[CNT:.*]], %{{.*}} = moe.all_to_all %{{.*}}, %[[L]] recv_counts(%[[L]]) {world_size = 4 : i64} : (tensor<8xi32>, tensor<4xi32>, tensor<4xi32>) -> (tensor<8xi32>, tensor<4xi32>)
// SORTED:       %[[WL:.*]] = tensor.expand_shape %[[CNT]] {{\[\[}}0, 1]] output_shape [4, 2]
// SORTED:       %[[FROM:.*]] = linalg.generic
// SORTED:       %[[RECV:.*]], %{{.*}} = moe.all_to_all %[[ROWS]], %[[TO:.*]] recv_counts(%[[FROM]]) {world_size = 4 : i64} : (tensor<?x16xf32>, tensor<4xi32>, tensor<4xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
// SORTED:       %[[BYEXP:.*]], %[[EOFF:.*]] = moe.transpose_segments %[[RECV]], %[[WL]] : (tensor<?x16xf32>, tensor<4x2xi32>) -> (tensor<?x16xf32>, tensor<3xi32>)
// SORTED:       %[[H:.*]] = moe.experts %[[BYEXP]] offsets(%[[EOFF]]) weights(%[[G]], %[[U]], %[[D]])
// SORTED:       %[[LW:.*]] = linalg.transpose ins(%[[WL]] : tensor<4x2xi32>)
// SORTED:       %[[BACK:.*]], %{{.*}} = moe.transpose_segments %[[H]], %[[LW]] : (tensor<?x16xf32>, tensor<2x4xi32>) -> (tensor<?x16xf32>, tensor<5xi32>)
// SORTED:       %[[RET:.*]], %{{.*}} = moe.all_to_all %[[BACK]], %[[FROM]] recv_counts(%[[TO]])
// SORTED:       moe.combine_sorted %[[RET]], %[[POS]]

// The padded layout sends each owner its [2, C, 16] block.
// PADDED-LABEL: func.func @mixtral(
// PADDED:       %[[BUF:.*]], %[[SLOTS:.*]], %{{.*}} = moe.dispatch_capacity
// PADDED:       %[[ROWS:.*]] = tensor.collapse_shape %[[BUF]] {{\[\[}}0, 1], [2]]
// PADDED:       %[[C:.*]] = tensor.dim %[[BUF]], %{{.*}} : tensor<8x?x16xf32>
// PADDED:       %[[RECV:.*]], %[[RC:.*]] = moe.all_to_all %[[ROWS]], %[[TO:.*]] {world_size = 4 : i64} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
// PADDED:       moe.transpose_segments %[[RECV]]
// PADDED:       moe.experts
// PADDED:       %[[RET:.*]], %{{.*}} = moe.all_to_all %{{.*}}, %[[RC]] recv_counts(%[[TO]])
// PADDED:       %[[BACK:.*]] = tensor.expand_shape %[[RET]] {{\[\[}}0, 1], [2]] output_shape [8, %[[C]], 16]
// PADDED:       moe.combine_capacity %[[BACK]], %[[SLOTS]]

// ONE-LABEL: func.func @mixtral(
// ONE-NOT:     moe.all_to_all
// ONE:         moe.experts %{{.*}} offsets
// ONE-NOT:     moe.all_to_all
func.func @mixtral(%x: tensor<?x16xf32>, %wr: tensor<8x16xf32>,
                   %wg: tensor<8x24x16xf32>, %wu: tensor<8x24x16xf32>,
                   %wd: tensor<8x16x24xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %wr experts(%wg, %wu, %wd) {top_k = 2 : i64, normalize = true}
      : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8x24x16xf32>, tensor<8x24x16xf32>, tensor<8x16x24xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// The shared expert stays data-parallel: its weights keep their shape.
// SORTED-LABEL: func.func @shared(
// SORTED-SAME:    %{{.*}}: tensor<2x16x8xf32> {moe.expert_shards = 4 : i64}
// SORTED-SAME:    %{{.*}}: tensor<12x16xf32>, %{{.*}}: tensor<12x16xf32>, %{{.*}}: tensor<16x12xf32>)
// SORTED-COUNT-3: moe.all_to_all
// SORTED-NOT:   moe.all_to_all
// SORTED:       return
func.func @shared(%x: tensor<?x16xf32>, %wr: tensor<8x16xf32>,
                  %wi: tensor<8x8x16xf32>, %wo: tensor<8x16x8xf32>,
                  %sg: tensor<12x16xf32>, %su: tensor<12x16xf32>,
                  %sd: tensor<16x12xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %wr experts(%wi, %wo) shared(%sg, %su, %sd) {top_k = 1 : i64, activation = #moe.activation<gelu>}
      : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8x8x16xf32>, tensor<8x16x8xf32>, tensor<12x16xf32>, tensor<12x16xf32>, tensor<16x12xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// RUN: moe-opt %s -split-input-file --moe-lower-to-loops | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-lower-to-loops=combine-per-element=true | FileCheck %s --check-prefix=ELEM

// Tests that moe.route becomes two parallel loops on read-only buffers: the
// fp32 router dot products over (token, expert) into a [T, E] scratch
// buffer (reassociation allowed, so LLVM vectorizes them and a GPU splits
// them across lanes), then one over tokens, each working in its own row: a
// max-subtracted softmax and the top-k; results returned as restrict
// tensors.

// CHECK-LABEL: func.func @route
// CHECK-SAME: (%[[X:.+]]: tensor<?x16xf32>, %[[WG:.+]]: tensor<4x16xf32>)
// CHECK: %[[XB:.+]] = bufferization.to_buffer %[[X]] read_only : tensor<?x16xf32> to memref<?x16xf32>
// CHECK: %[[T:.+]] = memref.dim %[[XB]], %{{.+}} : memref<?x16xf32>
// CHECK: %[[IDX:.+]] = memref.alloc(%[[T]]) : memref<?x2xi32>
// CHECK: %[[W:.+]] = memref.alloc(%[[T]]) : memref<?x2xf32>
// CHECK: %[[SCORES:.+]] = memref.alloc(%[[T]]) : memref<?x4xf32>
// CHECK: scf.parallel (%[[LT:.+]], %[[LE:.+]]) = (%{{.+}}, %{{.+}}) to (%[[T]], %c4)
// CHECK: %[[DOT:.+]] = scf.for %[[D:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[ACC:.+]] = %{{.+}}) -> (f32) {
// CHECK: memref.load %[[XB]][%[[LT]], %[[D]]] : memref<?x16xf32>
// CHECK: arith.mulf %{{.+}}, %{{.+}} fastmath<reassoc,contract> : f32
// CHECK: arith.addf %[[ACC]], %{{.+}} fastmath<reassoc,contract> : f32
// CHECK: memref.store %[[DOT]], %[[SCORES]][%[[LT]], %[[LE]]] : memref<?x4xf32>
// CHECK: scf.reduce
// CHECK: scf.parallel (%[[TOK:.+]]) = (%{{.+}}) to (%[[T]])
// CHECK: %[[ROW:.+]] = memref.subview %[[SCORES]][%[[TOK]], 0] [1, 4] [1, 1] : memref<?x4xf32> to memref<4xf32, strided<[1], offset: ?>>
// CHECK: memref.load %[[ROW]]
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.cmpf ogt
// CHECK: memref.store %{{.+}}, %[[IDX]][%[[TOK]], %{{.+}}] : memref<?x2xi32>
// CHECK: scf.reduce
// CHECK: %[[IT:.+]] = bufferization.to_tensor %[[IDX]] restrict writable : memref<?x2xi32> to tensor<?x2xi32>
// CHECK: %[[WT:.+]] = bufferization.to_tensor %[[W]] restrict writable : memref<?x2xf32> to tensor<?x2xf32>
// CHECK: return %[[IT]], %[[WT]]
// CHECK-NOT: moe.{{(route|dispatch|experts|combine|all_to_all|transpose)}}
func.func @route(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %idx, %w = moe.route %x, %wg {top_k = 2 : i64, normalize = true} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return %idx, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// Tests that sigmoid scoring with a group-limited selection adds the score
// bias, computes group scores, and normalizes with the 1e-20 guard.

// CHECK-LABEL: func.func @route_grouped
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.addf
// The experts of dropped groups get -inf as their selection score.
// CHECK: scf.if
// CHECK-NEXT: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK-NEXT: memref.store %[[NEGINF]]
// CHECK: arith.constant 9.99999968E-21 : f32
// CHECK: arith.constant 2.500000e+00 : f32
func.func @route_grouped(%x: tensor<?x16xf32>, %wg: tensor<8x16xf32>, %b: tensor<8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %idx, %w = moe.route %x, %wg score_bias(%b) {top_k = 2 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, n_group = 4 : i64, topk_group = 2 : i64, normalize = true, routed_scaling_factor = 2.5 : f64} : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return %idx, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// Tests that group_mask = zero gives the experts of dropped groups 0.0.

// CHECK-LABEL: func.func @route_group_mask_zero
// CHECK: scf.if
// CHECK-NEXT: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: memref.store %[[ZERO]]
func.func @route_group_mask_zero(%x: tensor<?x16xf32>, %wg: tensor<8x16xf32>, %b: tensor<8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  %idx, %w = moe.route %x, %wg score_bias(%b) {top_k = 2 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, n_group = 4 : i64, topk_group = 2 : i64, group_mask = #moe.group_mask<zero>} : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return %idx, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// Tests the sorted layout: a parallel stable counting sort (per-chunk
// histograms of 256-token runs of one choice, an exclusive scan over the
// chunks of each expert, a scan into offsets, then each chunk ranks and
// copies its own rows; the rows buffer is not zero-filled, its padding is
// unspecified), the experts' FFNs as grouped matmuls over the segments the
// offsets give, and the weighted un-permute, parallel over tokens.

// CHECK-LABEL: func.func @sorted
// CHECK: %[[ROWS:.+]] = memref.alloc(%{{.+}}) : memref<?x16xf32>
// CHECK: %[[POS:.+]] = memref.alloc(%{{.+}}) : memref<?x2xi32>
// CHECK: %[[OFF:.+]] = memref.alloc() : memref<5xi32>
// CHECK: %[[COUNTS:.+]] = memref.alloc() : memref<4xi32>
// CHECK-NOT: outs(%[[ROWS]]
// CHECK: %[[TC:.+]] = arith.ceildivui %{{.+}}, %{{.+}} : index
// CHECK: %[[NC:.+]] = arith.muli %{{.+}}, %[[TC]] : index
// CHECK: %[[CUR:.+]] = memref.alloc(%[[NC]]) : memref<?x4xi32>
// Histograms, one chunk per iteration: chunk j * runs + r holds choice j's
// token run r, so chunks are numbered in priority order; its tokens are
// [256 r, min(256 r + 256, T)).
// CHECK: scf.parallel (%[[J:.+]], %[[SPAN:.+]]) = {{.+}} to (%{{.+}}, %[[TC]])
// CHECK: %[[JR:.+]] = arith.muli %[[J]], %[[TC]] : index
// CHECK: %[[CH:.+]] = arith.addi %[[JR]], %[[SPAN]] : index
// CHECK: %[[T0:.+]] = arith.muli %[[SPAN]], %[[SZ:.+]] : index
// CHECK: %[[T1:.+]] = arith.minui
// CHECK: scf.for
// CHECK: memref.store %{{.+}}, %[[CUR]][%[[CH]], %{{.+}}]
// CHECK: scf.for %[[TH:.+]] = %[[T0]] to %[[T1]]
// CHECK: memref.load %{{.+}}[%[[TH]], %[[J]]] : memref<?x2xi32>
// CHECK: memref.store %{{.+}}, %[[CUR]][%[[CH]], %{{.+}}]
// CHECK: scf.reduce
// Exclusive scan over the chunks, one expert per iteration.
// CHECK: scf.parallel (%[[E0:.+]]) =
// CHECK: scf.for %[[CH:.+]] = %{{.+}} to %[[NC]]
// CHECK: memref.store %{{.+}}, %[[CUR]][%[[CH]], %[[E0]]]
// CHECK: memref.store %{{.+}}, %[[COUNTS]][%[[E0]]]
// Offsets: a sequential scan over the experts.
// CHECK: scf.for
// CHECK: memref.store %{{.+}}, %[[OFF]]
// Ranking and scatter, one chunk per iteration.
// CHECK: scf.parallel (%[[J2:.+]], %{{.+}}) = {{.+}} to (%{{.+}}, %[[TC]])
// CHECK: scf.for %[[TK:.+]] =
// CHECK: scf.if
// CHECK: memref.store %{{.+}}, %[[POS]][%[[TK]], %[[J2]]]
// CHECK: memref.store %{{.+}}, %[[ROWS]]
// CHECK: } else {
// CHECK: memref.store %{{.+}}, %[[POS]][%[[TK]], %[[J2]]]
// CHECK: bufferization.to_tensor %[[OFF]] restrict writable : memref<5xi32> to tensor<5xi32>
// The experts: each projection is one moe.grouped_matmul over the segments
// given by the offsets; the activation is a moe.grouped_activation over the
// same rows, in place of the gate projection.
// CHECK: %[[OUT:.+]] = memref.alloc(%{{.+}}) : memref<?x16xf32>
// CHECK: %[[HG:.+]] = memref.alloc(%{{.+}}) : memref<?x24xf32>
// CHECK: %[[HU:.+]] = memref.alloc(%{{.+}}) : memref<?x24xf32>
// CHECK: moe.grouped_matmul %[[XR:.+]], %{{.+}} offsets(%[[OFFB:.+]] : memref<5xi32>) outs(%[[HG]] : memref<?x24xf32>) : memref<?x16xf32>, memref<4x24x16xf32>
// CHECK: moe.grouped_matmul %[[XR]], %{{.+}} offsets(%[[OFFB]] : memref<5xi32>) outs(%[[HU]] : memref<?x24xf32>)
// CHECK: moe.grouped_activation %[[HG]] up(%[[HU]] : memref<?x24xf32>) offsets(%[[OFFB]] : memref<5xi32>) outs(%[[HG]] : memref<?x24xf32>) : memref<?x24xf32>
// CHECK: moe.grouped_matmul %[[HG]], %{{.+}} offsets(%[[OFFB]] : memref<5xi32>) outs(%[[OUT]] : memref<?x16xf32>) : memref<?x24xf32>, memref<4x16x24xf32>
// The combine: each token zeroes and accumulates its own output row, its
// rows in ascending expert order: k selections, each of the smallest kept
// position above the last one taken (dropped ones, -1, rank above all).
// CHECK: %[[Y:.+]] = memref.alloc(%{{.+}}) : memref<?x16xf32>
// CHECK-NOT: linalg.fill
// CHECK: scf.parallel (%[[TY:.+]]) =
// CHECK: memref.store %{{.+}}, %[[Y]][%[[TY]], %{{.+}}]
// CHECK: %[[NONE:.+]] = arith.constant 2147483648 : index
// CHECK: scf.for %{{.+}} iter_args(%[[LAST:.+]] = %{{.+}}) -> (index)
// CHECK: scf.for %{{.+}} iter_args(%[[BEST:.+]] = %[[NONE]], %{{.+}} = %{{.+}}) -> (index, index)
// CHECK: %[[AT:.+]] = memref.load %{{.+}}[%[[TY]], %{{.+}}] : memref<?x2xi32>
// CHECK: %[[KEPT:.+]] = arith.cmpi sge, %[[AT]]
// CHECK: %[[KEY:.+]] = arith.select %[[KEPT]], %{{.+}}, %[[NONE]] : index
// CHECK: arith.cmpi sgt, %[[KEY]], %[[LAST]] : index
// CHECK: arith.cmpi slt, %[[KEY]], %[[BEST]] : index
// CHECK: scf.if
// CHECK: memref.load %[[Y]][%[[TY]], %{{.+}}]
// CHECK-NEXT: %[[ROW:.+]] = memref.load %{{.+}} : memref<?x16xf32>
// CHECK: %[[WR:.+]] = arith.mulf %{{.+}}, %[[ROW]] : f32
// CHECK: %[[SUM:.+]] = arith.addf %{{.+}}, %[[WR]] : f32
// CHECK: memref.store %[[SUM]], %[[Y]][%[[TY]], %{{.+}}]
// CHECK-NOT: moe.{{(route|dispatch|experts|combine|all_to_all|transpose)}}
func.func @sorted(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %rows, %off, %pos, %counts = moe.dispatch_sorted %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %out = moe.experts %rows offsets(%off) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  %y = moe.combine_sorted %out, %pos, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests the sorted layout read in place: moe.sort_assignments ranks like
// the sorted dispatch but stores each kept row's token (an i32) where the
// dispatch would copy the row; the experts' first projections gather the
// tokens through those sources, the down projection reads the hidden rows
// as they are. Output rows are as many as the sources.

// CHECK-LABEL: func.func @sorted_gather
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[IDX:[^:]+]]: tensor<?x2xi32>
// CHECK: %[[SRC:.+]] = memref.alloc(%{{.+}}) : memref<?xi32>
// CHECK-NOT: memref<?x16xf32>
// CHECK: scf.parallel
// CHECK: scf.parallel
// CHECK: scf.parallel
// CHECK: scf.for %[[TK:.+]] =
// CHECK: scf.if
// CHECK: %[[TOK:.+]] = arith.index_cast %[[TK]] : index to i32
// CHECK-NEXT: memref.store %[[TOK]], %[[SRC]][%{{.+}}] : memref<?xi32>
// CHECK: %[[SRCT:.+]] = bufferization.to_tensor %[[SRC]]
// CHECK: %[[XB:.+]] = bufferization.to_buffer %[[X]]
// CHECK: %[[SRCB:.+]] = bufferization.to_buffer %[[SRCT]]
// CHECK: %[[NR:.+]] = memref.dim %[[SRCB]], %{{.+}} : memref<?xi32>
// CHECK: %[[OUT:.+]] = memref.alloc(%[[NR]]) : memref<?x16xf32>
// CHECK: %[[HG:.+]] = memref.alloc(%[[NR]]) : memref<?x24xf32>
// CHECK: %[[HU:.+]] = memref.alloc(%[[NR]]) : memref<?x24xf32>
// CHECK: moe.grouped_matmul %[[XB]], %{{.+}} gather(%[[SRCB]] : memref<?xi32>) offsets(%{{.+}}) outs(%[[HG]] : memref<?x24xf32>)
// CHECK: moe.grouped_matmul %[[XB]], %{{.+}} gather(%[[SRCB]] : memref<?xi32>) offsets(%{{.+}}) outs(%[[HU]] : memref<?x24xf32>)
// CHECK: moe.grouped_activation %[[HG]] up(%[[HU]]
// CHECK: moe.grouped_matmul %[[HG]], %{{.+}} offsets(%{{.+}}) outs(%[[OUT]] : memref<?x16xf32>)
// CHECK-NOT: moe.{{(route|dispatch|experts|combine|all_to_all|transpose|sort)}}
func.func @sorted_gather(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %src, %off, %pos, %counts = moe.sort_assignments %idx : (tensor<?x2xi32>) -> (tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %out = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  %y = moe.combine_sorted %out, %pos, %w : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests the padded layout read in place: moe.assign_slots assigns slots
// against the capacity like the capacity dispatch, but stores each kept
// slot's token into the [E, C] sources instead of copying the row; the
// experts' first projection gathers the tokens through them, over the
// filled slots.

// CHECK-LABEL: func.func @padded_gather
// CHECK-SAME: (%[[X:[^:]+]]: tensor<10x16xf32>, %[[IDX:[^:]+]]: tensor<10x1xi32>
// CHECK-SAME: %[[C:[^:]+]]: index
// CHECK: %[[SRC:.+]] = memref.alloc(%[[C]]) : memref<4x?xi32>
// CHECK-NOT: memref<4x?x16xf32>
// CHECK: scf.parallel
// CHECK: scf.parallel
// CHECK: scf.parallel
// CHECK: scf.for %[[TK:[^ ]+]] =
// CHECK: arith.cmpi slt, %{{.+}}, %[[C]] : index
// CHECK: scf.if
// CHECK: %[[TOK:.+]] = arith.index_cast %[[TK]] : index to i32
// CHECK-NEXT: memref.store %[[TOK]], %[[SRC]][%{{.+}}, %{{.+}}] : memref<4x?xi32>
// CHECK: } else {
// CHECK: %[[XB:.+]] = bufferization.to_buffer %[[X]]
// CHECK: %[[SRCB:.+]] = bufferization.to_buffer %{{.+}} : tensor<4x?xi32>
// CHECK: %[[CAP:.+]] = memref.dim %[[SRCB]], %{{.+}} : memref<4x?xi32>
// CHECK: %[[H:.+]] = memref.alloc(%[[CAP]]) : memref<4x?x24xf32>
// CHECK: moe.grouped_matmul %[[XB]], %{{.+}} gather(%[[SRCB]] : memref<4x?xi32>) counts(%{{.+}}) outs(%[[H]] : memref<4x?x24xf32>) : memref<10x16xf32>, memref<4x24x16xf32>
// CHECK: moe.grouped_matmul %[[H]], %{{.+}} counts(%{{.+}}) outs(%{{.+}} : memref<4x?x16xf32>) : memref<4x?x24xf32>, memref<4x16x24xf32>
// CHECK-NOT: moe.{{(route|dispatch|experts|combine|all_to_all|transpose|assign)}}
func.func @padded_gather(%x: tensor<10x16xf32>, %idx: tensor<10x1xi32>, %w: tensor<10x1xf32>, %i: tensor<4x24x16xf32>, %o: tensor<4x16x24xf32>, %c: index) -> tensor<10x16xf32> {
  %src, %slots, %counts = moe.assign_slots %idx, %c : (tensor<10x1xi32>, index) -> (tensor<4x?xi32>, tensor<10x1xi32>, tensor<4xi32>)
  %out = moe.experts %x gather(%src) counts(%counts) weights(%i, %o) {activation = #moe.activation<relu>} : (tensor<10x16xf32>, tensor<4x?xi32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x?x16xf32>
  %y = moe.combine_capacity %out, %slots, %idx, %w : (tensor<4x?x16xf32>, tensor<10x1xi32>, tensor<10x1xi32>, tensor<10x1xf32>) -> tensor<10x16xf32>
  return %y : tensor<10x16xf32>
}

// -----

// Tests the combine in the experts (sorted rows): the routing weights go to
// the sorted rows (zeros first, then each kept assignment's weight at its
// position), and the down projection adds each row, scaled, into its token
// (zeros first too): no [rows, D] output and no combine loop.

// CHECK-LABEL: func.func @sorted_combine
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[IDX:[^:]+]]: tensor<?x2xi32>, %[[W:[^:]+]]: tensor<?x2xf32>
// CHECK: %[[WB:.+]] = bufferization.to_buffer %[[W]]
// CHECK: %[[NRW:.+]] = arith.muli
// CHECK: %[[RW:.+]] = memref.alloc(%[[NRW]]) : memref<?xf32>
// CHECK: linalg.fill ins(%{{.+}} : f32) outs(%[[RW]] : memref<?xf32>)
// CHECK: scf.parallel (%[[T:.+]]) =
// CHECK: scf.for %[[J:.+]] =
// CHECK: %[[AT:.+]] = memref.load %{{.+}}[%[[T]], %[[J]]] : memref<?x2xi32>
// CHECK: scf.if
// CHECK: %[[ROW:.+]] = arith.index_cast %[[AT]] : i32 to index
// CHECK: %[[WT:.+]] = memref.load %[[WB]][%[[T]], %[[J]]] : memref<?x2xf32>
// CHECK: memref.store %[[WT]], %[[RW]][%[[ROW]]] : memref<?xf32>
// CHECK: %[[XB:.+]] = bufferization.to_buffer %[[X]]
// CHECK: %[[SRCB:.+]] = bufferization.to_buffer %{{.+}} : tensor<?xi32>
// CHECK: %[[RWB:.+]] = bufferization.to_buffer %{{.+}} : tensor<?xf32>
// CHECK: %[[NT:.+]] = memref.dim %[[XB]], %{{.+}} : memref<?x16xf32>
// CHECK: %[[Y:.+]] = memref.alloc(%[[NT]]) : memref<?x16xf32>
// CHECK: linalg.fill ins(%{{.+}} : f32) outs(%[[Y]] : memref<?x16xf32>)
// CHECK: %[[HG:.+]] = memref.alloc(%{{.+}}) : memref<?x24xf32>
// CHECK: moe.grouped_matmul %[[XB]], %{{.+}} gather(%[[SRCB]] : memref<?xi32>) offsets(%{{.+}}) outs(%[[HG]] : memref<?x24xf32>)
// CHECK: moe.grouped_matmul %[[HG]], %{{.+}} offsets(%{{.+}} : memref<5xi32>) scatter(%[[SRCB]] : memref<?xi32>) scale(%[[RWB]] : memref<?xf32>) outs(%[[Y]] : memref<?x16xf32>) : memref<?x24xf32>, memref<4x16x24xf32>
// CHECK: %[[YT:.+]] = bufferization.to_tensor %[[Y]]
// CHECK-NEXT: return %[[YT]]
// CHECK-NOT: moe.{{(route|dispatch|experts|combine|all_to_all|transpose|sort|scatter_weights)}}
func.func @sorted_combine(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %g: tensor<4x24x16xf32>, %u: tensor<4x24x16xf32>, %d: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %src, %off, %pos, %counts = moe.sort_assignments %idx : (tensor<?x2xi32>) -> (tensor<?xi32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %rw = moe.scatter_weights %w, %pos : (tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?xf32>
  %y = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d) combine(%rw) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x24x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<?xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests a shared expert that adds into another tensor: the down projection
// starts from a copy of `into` and adds each row, times its gate, into its
// own row (the scatter is 0, 1, ..., T - 1); unweighted without a combine.
// The only [T, D] buffers are the copies the rows add into.

// CHECK-LABEL: func.func @shared_into
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x16xf32>, %[[Y:[^:]+]]: tensor<?x16xf32>, %[[GATE:[^:]+]]: tensor<?xf32>
// CHECK: %[[XB:.+]] = bufferization.to_buffer %[[X]] read_only
// CHECK: %[[GB:.+]] = bufferization.to_buffer %[[GATE]] read_only
// CHECK: %[[YB:.+]] = bufferization.to_buffer %[[Y]] read_only
// CHECK: %[[NY:.+]] = memref.dim %[[YB]]
// CHECK: %[[OUT:.+]] = memref.alloc(%[[NY]]) : memref<?x16xf32>
// CHECK: memref.copy %[[YB]], %[[OUT]]
// CHECK: %[[NX:.+]] = memref.dim %[[XB]]
// CHECK: %[[IOTA:.+]] = memref.alloc(%[[NX]]) : memref<?xi32>
// CHECK: scf.parallel (%[[I:.+]]) =
// CHECK-NEXT: %[[I32:.+]] = arith.index_cast %[[I]] : index to i32
// CHECK-NEXT: memref.store %[[I32]], %[[IOTA]][%[[I]]]
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} offsets(%{{.+}} : memref<2xi32>) scatter(%[[IOTA]] : memref<?xi32>) scale(%[[GB]] : memref<?xf32>) outs(%[[OUT]] : memref<?x16xf32>) : memref<?x24xf32>, memref<1x16x24xf32>
// CHECK: %[[R1:.+]] = bufferization.to_tensor %[[OUT]]
// CHECK: %[[OUT2:.+]] = memref.alloc(%{{.+}}) : memref<?x16xf32>
// CHECK: memref.copy %{{.+}}, %[[OUT2]]
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} offsets(%{{.+}} : memref<2xi32>) scatter(%{{.+}} : memref<?xi32>) outs(%[[OUT2]] : memref<?x16xf32>) : memref<?x24xf32>, memref<1x16x24xf32>
// CHECK-NOT: memref.alloc
// CHECK: return
func.func @shared_into(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>, %gate: tensor<?xf32>, %all: tensor<2xi32>, %g: tensor<1x24x16xf32>, %u: tensor<1x24x16xf32>, %d: tensor<1x16x24xf32>) -> tensor<?x16xf32> {
  %z = moe.experts %x offsets(%all) weights(%g, %u, %d) combine(%gate) into(%y) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>, tensor<?xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %z2 = moe.experts %x offsets(%all) weights(%g, %u, %d) into(%z) : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x24x16xf32>, tensor<1x24x16xf32>, tensor<1x16x24xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %z2 : tensor<?x16xf32>
}

// -----

// Tests the combine in the experts on the padded layout: the weights go to
// the [E, C] slots (expert indices[t, j], slot slots[t, j]), C the capacity
// operand; the down projection scatters the filled slots into the tokens.

// CHECK-LABEL: func.func @padded_combine
// CHECK-SAME: %[[C:[^:]+]]: index
// CHECK: %[[RW:.+]] = memref.alloc(%[[C]]) : memref<4x?xf32>
// CHECK: linalg.fill ins(%{{.+}} : f32) outs(%[[RW]] : memref<4x?xf32>)
// CHECK: scf.parallel (%[[T:.+]]) =
// CHECK: scf.for %[[J:.+]] =
// CHECK: %[[AT:.+]] = memref.load %{{.+}}[%[[T]], %[[J]]] : memref<10x1xi32>
// CHECK: scf.if
// CHECK: %[[E:.+]] = memref.load %{{.+}}[%[[T]], %[[J]]] : memref<10x1xi32>
// CHECK: %[[EI:.+]] = arith.index_cast %[[E]] : i32 to index
// CHECK: %[[SI:.+]] = arith.index_cast %[[AT]] : i32 to index
// CHECK: memref.store %{{.+}}, %[[RW]][%[[EI]], %[[SI]]] : memref<4x?xf32>
// CHECK: %[[Y:.+]] = memref.alloc() : memref<10x16xf32>
// CHECK: linalg.fill ins(%{{.+}} : f32) outs(%[[Y]] : memref<10x16xf32>)
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} counts(%{{.+}}) scatter(%{{.+}} : memref<4x?xi32>) scale(%{{.+}} : memref<4x?xf32>) outs(%[[Y]] : memref<10x16xf32>) : memref<4x?x24xf32>, memref<4x16x24xf32>
// CHECK-NOT: moe.{{(route|dispatch|experts|combine|all_to_all|transpose|assign|scatter_weights)}}
func.func @padded_combine(%x: tensor<10x16xf32>, %idx: tensor<10x1xi32>, %w: tensor<10x1xf32>, %i: tensor<4x24x16xf32>, %o: tensor<4x16x24xf32>, %c: index) -> tensor<10x16xf32> {
  %src, %slots, %counts = moe.assign_slots %idx, %c : (tensor<10x1xi32>, index) -> (tensor<4x?xi32>, tensor<10x1xi32>, tensor<4xi32>)
  %rw = moe.scatter_weights %w, %slots experts(%idx, %c) : (tensor<10x1xf32>, tensor<10x1xi32>, tensor<10x1xi32>, index) -> tensor<4x?xf32>
  %y = moe.experts %x gather(%src) counts(%counts) weights(%i, %o) combine(%rw) {activation = #moe.activation<relu>} : (tensor<10x16xf32>, tensor<4x?xi32>, tensor<4xi32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>, tensor<4x?xf32>) -> tensor<10x16xf32>
  return %y : tensor<10x16xf32>
}

// -----

// Tests the padded layout: slots assigned against the capacity operand,
// an [E, C, D] buffer (not zero-filled: slots no assignment takes are never
// read), and a non-gated ReLU expert: grouped matmuls on [E, C, *] buffers
// and its activation on the same [E, C, *] buffer.

// CHECK-LABEL: func.func @capacity
// CHECK-SAME: %[[C:[^:]+]]: index
// CHECK: %[[BUF:.+]] = memref.alloc(%[[C]]) : memref<4x?x16xf32>
// CHECK: arith.cmpi slt, %{{.+}}, %[[C]] : index
// CHECK: scf.if
// CHECK: } else {
// CHECK: arith.constant -1 : i32
// CHECK: %[[H:.+]] = memref.alloc(%{{.+}}) : memref<4x?x24xf32>
// CHECK: moe.grouped_matmul %{{.+}}, %{{.+}} outs(%[[H]] : memref<4x?x24xf32>) : memref<4x?x16xf32>, memref<4x24x16xf32>
// CHECK: moe.grouped_activation %[[H]] outs(%[[H]] : memref<4x?x24xf32>) {activation = #moe.activation<relu>} : memref<4x?x24xf32>
// CHECK: moe.grouped_matmul %[[H]], %{{.+}} outs(%{{.+}} : memref<4x?x16xf32>) : memref<4x?x24xf32>, memref<4x16x24xf32>
// CHECK-NOT: moe.{{(route|dispatch|experts|combine|all_to_all|transpose)}}
func.func @capacity(%x: tensor<10x16xf32>, %idx: tensor<10x1xi32>, %w: tensor<10x1xf32>, %i: tensor<4x24x16xf32>, %o: tensor<4x16x24xf32>, %c: index) -> tensor<10x16xf32> {
  %buf, %slots, %counts = moe.dispatch_capacity %x, %idx, %c : (tensor<10x16xf32>, tensor<10x1xi32>, index) -> (tensor<4x?x16xf32>, tensor<10x1xi32>, tensor<4xi32>)
  %out = moe.experts %buf weights(%i, %o) {activation = #moe.activation<relu>} : (tensor<4x?x16xf32>, tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<4x?x16xf32>
  %y = moe.combine_capacity %out, %slots, %idx, %w : (tensor<4x?x16xf32>, tensor<10x1xi32>, tensor<10x1xi32>, tensor<10x1xf32>) -> tensor<10x16xf32>
  return %y : tensor<10x16xf32>
}

// -----

// Tests the clamped SwiGLU with biases: the biases go to the grouped
// matmuls (added in their epilogue), the activation and its attributes to
// the moe.grouped_activation.

// CHECK-LABEL: func.func @clamped_swiglu
// CHECK-SAME: %[[BG:[^:]+]]: tensor<4x8xf32>, %[[BU:[^:]+]]: tensor<4x8xf32>, %[[BD:[^:]+]]: tensor<4x16xf32>
// CHECK: %[[MBG:.+]] = bufferization.to_buffer %[[BG]]
// CHECK: %[[MBU:.+]] = bufferization.to_buffer %[[BU]]
// CHECK: %[[MBD:.+]] = bufferization.to_buffer %[[BD]]
// CHECK: moe.grouped_matmul {{.+}} bias(%[[MBG]] : memref<4x8xf32>) outs(%[[HG:[^ ]+]] :
// CHECK: moe.grouped_matmul {{.+}} bias(%[[MBU]] : memref<4x8xf32>) outs(%[[HU:[^ ]+]] :
// CHECK: moe.grouped_activation %[[HG]] up(%[[HU]] : {{.+}} outs(%[[HG]] : {{.+}} {activation = #moe.activation<clamped_swiglu>, swiglu_limit = 3.000000e+00 : f64}
// CHECK: moe.grouped_matmul %[[HG]], {{.+}} bias(%[[MBD]] : memref<4x16xf32>)
// CHECK-NOT: moe.{{(route|dispatch|experts|combine|all_to_all|transpose)}}
func.func @clamped_swiglu(%rows: tensor<?x16xf32>, %off: tensor<5xi32>, %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>, %bg: tensor<4x8xf32>, %bu: tensor<4x8xf32>, %bd: tensor<4x16xf32>) -> tensor<?x16xf32> {
  %out = moe.experts %rows offsets(%off) weights(%g, %u, %d) biases(%bg, %bu, %bd) {activation = #moe.activation<clamped_swiglu>, swiglu_limit = 3.0 : f64} : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  return %out : tensor<?x16xf32>
}

// -----

// moe.all_to_all becomes runtime calls with the C memref interface: the
// counts first (unless known), then the rows into a buffer of their sum.
// CHECK-LABEL: func.func private @moert_comm_exchange_f32(i64, memref<*xf32>, memref<?xi32>, memref<*xf32>, memref<?xi32>) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func private @moert_comm_counts(i64, memref<?xi32>, memref<?xi32>) -> i64 attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @exchange
// CHECK:         %[[STAGE:.+]] = arith.constant 0 : i64
// CHECK:         %[[RC:.+]] = memref.alloc() : memref<4xi32>
// The runtime sums the received counts: the host never reads them (on a GPU
// they are device memory).
// CHECK:         %[[TOTAL:.+]] = call @moert_comm_counts(%[[STAGE]], %{{.+}}, %{{.+}}) : (i64, memref<?xi32>, memref<?xi32>) -> i64
// CHECK-NOT:     memref.load
// CHECK:         %[[ROWS:.+]] = arith.index_cast %[[TOTAL]] : i64 to index
// CHECK:         %[[RECV:.+]] = memref.alloc(%[[ROWS]]) : memref<?x16xf32>
// CHECK:         call @moert_comm_exchange_f32(%[[STAGE]], %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}) : (i64, memref<*xf32>, memref<?xi32>, memref<*xf32>, memref<?xi32>) -> ()
func.func @exchange(%rows: tensor<?x16xf32>, %sc: tensor<4xi32>) -> (tensor<?x16xf32>, tensor<4xi32>) {
  %r, %c = moe.all_to_all %rows, %sc {world_size = 4 : i64} : (tensor<?x16xf32>, tensor<4xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
  return %r, %c : tensor<?x16xf32>, tensor<4xi32>
}

// -----

// Known counts: no count exchange; a static receive size needs no sum.
// CHECK-LABEL: func.func @exchange_known
// CHECK-NOT:     moert_comm_counts
// CHECK-NOT:     moert_comm_total
// CHECK:         memref.alloc() : memref<8xi32>
// CHECK:         call @moert_comm_exchange_i32
func.func @exchange_known(%kept: tensor<8xi32>, %sc: tensor<4xi32>) -> tensor<8xi32> {
  %r, %c = moe.all_to_all %kept, %sc recv_counts(%sc) {world_size = 4 : i64} : (tensor<8xi32>, tensor<4xi32>, tensor<4xi32>) -> (tensor<8xi32>, tensor<4xi32>)
  return %r : tensor<8xi32>
}

// -----

// Known counts, dynamic receive size: the runtime sums them.
// CHECK-LABEL: func.func private @moert_comm_total(i64, memref<?xi32>) -> i64 attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @exchange_known_dynamic
// CHECK-NOT:     moert_comm_counts
// CHECK:         %[[TOTAL:.+]] = call @moert_comm_total(%{{.+}}, %{{.+}}) : (i64, memref<?xi32>) -> i64
// CHECK:         %[[ROWS:.+]] = arith.index_cast %[[TOTAL]] : i64 to index
// CHECK:         memref.alloc(%[[ROWS]]) : memref<?x16xf32>
// CHECK:         call @moert_comm_exchange_f32
func.func @exchange_known_dynamic(%rows: tensor<?x16xf32>, %sc: tensor<4xi32>, %rc: tensor<4xi32>) -> tensor<?x16xf32> {
  %r, %c = moe.all_to_all %rows, %sc recv_counts(%rc) {world_size = 4 : i64} : (tensor<?x16xf32>, tensor<4xi32>, tensor<4xi32>) -> (tensor<?x16xf32>, tensor<4xi32>)
  return %r : tensor<?x16xf32>
}

// -----

// CHECK-LABEL: func.func @regroup
// CHECK:         %[[OUT:.+]] = memref.alloc(%{{.+}}) : memref<?x16xf32>
// CHECK:         %[[OFF:.+]] = memref.alloc() : memref<3xi32>
// CHECK:         memref.alloc() : memref<4x2xi32>
// CHECK:         scf.for
// CHECK:         memref.store %{{.+}}, %[[OFF]]
func.func @regroup(%rows: tensor<?x16xf32>, %counts: tensor<4x2xi32>) -> (tensor<?x16xf32>, tensor<3xi32>) {
  %r, %o = moe.transpose_segments %rows, %counts : (tensor<?x16xf32>, tensor<4x2xi32>) -> (tensor<?x16xf32>, tensor<3xi32>)
  return %r, %o : tensor<?x16xf32>, tensor<3xi32>
}

// -----

// Tests the per-element combine (combine-per-element, the CUDA pipeline's):
// a loop over tokens writes the order of each token's kept rows (-1 past
// them), then a loop over (token, element) sums, in the per-token form's
// order, the dropped assignments' weighted tokens (passthrough) and the
// kept rows in that order, and stores the element once.

// CHECK-LABEL: func.func @passthrough_combine
// CHECK-NOT: combine_capacity
// ELEM-LABEL: func.func @passthrough_combine
// ELEM-SAME: (%[[H:[^:]+]]: tensor<4x?x16xf32>, %[[SLOTS:[^:]+]]: tensor<?x2xi32>, %[[IDX:[^:]+]]: tensor<?x2xi32>, %[[W:[^:]+]]: tensor<?x2xf32>, %[[X:[^:]+]]: tensor<?x16xf32>)
// ELEM-DAG: %[[HB:.+]] = bufferization.to_buffer %[[H]]
// ELEM-DAG: %[[SB:.+]] = bufferization.to_buffer %[[SLOTS]]
// ELEM-DAG: %[[XB:.+]] = bufferization.to_buffer %[[X]]
// ELEM: %[[Y:.+]] = memref.alloc(%{{.+}}) : memref<?x16xf32>
// ELEM: %[[ORDER:.+]] = memref.alloc(%{{.+}}) : memref<?x2xi32>
// ELEM: scf.parallel (%[[T:.+]]) =
// ELEM: memref.store %c-1_i32, %[[ORDER]][%[[T]], %{{.+}}]
// ELEM: scf.if
// ELEM: %[[J:.+]] = arith.index_cast %{{.+}} : index to i32
// ELEM: memref.store %[[J]], %[[ORDER]][%[[T]], %{{.+}}]
// ELEM: scf.reduce
// ELEM: scf.parallel (%[[T2:.+]], %[[D:.+]]) = (%{{.+}}, %{{.+}}) to (%{{.+}}, %c16)
// ELEM: %[[PASS:.+]] = scf.for %[[J1:.+]] = {{.+}} iter_args(%[[A1:.+]] = %{{.+}}) -> (f32) {
// ELEM: %[[AT:.+]] = memref.load %[[SB]][%[[T2]], %[[J1]]]
// ELEM: %[[DROPPED:.+]] = arith.cmpi slt, %[[AT]], %{{.+}} : i32
// ELEM: scf.if %[[DROPPED]] -> (f32) {
// ELEM: %[[XV:.+]] = memref.load %[[XB]][%[[T2]], %[[D]]]
// ELEM: %[[WX:.+]] = arith.mulf %{{.+}}, %[[XV]] : f32
// ELEM: arith.addf %[[A1]], %[[WX]] : f32
// ELEM: } else {
// ELEM: scf.yield %[[A1]] : f32
// ELEM: %[[SUM:.+]] = scf.for %[[I:.+]] = {{.+}} iter_args(%[[A2:.+]] = %[[PASS]]) -> (f32) {
// ELEM: %[[JO:.+]] = memref.load %[[ORDER]][%[[T2]], %[[I]]]
// ELEM: %[[KEPT:.+]] = arith.cmpi sge, %[[JO]], %{{.+}} : i32
// ELEM: scf.if %[[KEPT]] -> (f32) {
// ELEM: %[[ROW:.+]] = memref.load %[[HB]][%{{.+}}, %{{.+}}, %[[D]]]
// ELEM: %[[WR:.+]] = arith.mulf %{{.+}}, %[[ROW]] : f32
// ELEM: arith.addf %[[A2]], %[[WR]] : f32
// ELEM: memref.store %[[SUM]], %[[Y]][%[[T2]], %[[D]]]
func.func @passthrough_combine(%h: tensor<4x?x16xf32>, %slots: tensor<?x2xi32>, %idx: tensor<?x2xi32>, %w: tensor<?x2xf32>, %x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %y = moe.combine_capacity %h, %slots, %idx, %w passthrough(%x) {drop_policy = #moe.drop_policy<passthrough>} : (tensor<4x?x16xf32>, tensor<?x2xi32>, tensor<?x2xi32>, tensor<?x2xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

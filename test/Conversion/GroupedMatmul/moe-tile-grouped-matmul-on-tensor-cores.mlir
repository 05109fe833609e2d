// RUN: moe-opt %s -split-input-file --moe-tile-grouped-matmul-on-tensor-cores --canonicalize --cse | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-tile-grouped-matmul-on-tensor-cores='tile-rows=32 tile-cols=64' --canonicalize | FileCheck %s --check-prefix=SMALL
// RUN: not moe-opt %s --moe-tile-grouped-matmul-on-tensor-cores='tile-rows=48' 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: error: moe-tile-grouped-matmul-on-tensor-cores: tile-rows and tile-cols must be positive multiples of 32

// Sorted rows, K = 128 (2 groups of 4 whole k steps), N = 96: the tile list of
// ceil(R / 64) + E slots x ceil(96 / 64) column tiles, 128 threads (2 x 2
// warps) per tile. Lane l reads A rows g = l / 4 (+8, +16, +24) clamped to
// the tile's last row, and weight rows (B columns) g (+8, +16, +24) clamped
// to N - 1, at k = 2 (l % 4) and +8: f32 pairs rounded to bf16, bf16 pairs
// as they are, each packed into an i32. 2 x 4 mma.sync per k step carry 32
// f32 accumulators; the k loop loads the fragments of 4 steps before their
// 32 mma.sync. The epilogue adds the bias and stores the lane's outputs
// that are inside the tile and the matrix.

// CHECK-LABEL: func.func @sorted
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x128xf32>, %[[W:[^:]+]]: memref<8x96x128xbf16>, %[[OFF:[^:]+]]: memref<9xi32>, %[[BIAS:[^:]+]]: memref<8x96xf32>, %[[H:[^:]+]]: memref<?x96xf32>)
// CHECK: %[[NR:.+]] = memref.dim %[[H]], %c0 : memref<?x96xf32>
// CHECK: %[[RT:.+]] = arith.ceildivui %[[NR]], %c64 : index
// CHECK: %[[SLOTS:.+]] = arith.addi %[[RT]], %c8 : index
// CHECK: scf.parallel (%[[SLOT:.+]], %[[CT:.+]]) = (%c0, %c0) to (%[[SLOTS]], %c2) step (%c1, %c1) {
// CHECK: %[[FOUND:.+]]:2 = scf.for %{{.+}} = %c0 to %c3 step %c1
// CHECK: scf.yield
// CHECK: arith.addi %[[FOUND]]#0, %c1 : index
// CHECK: memref.load
// CHECK: %[[SEGEND:.+]] = arith.index_cast
// CHECK: %[[TB:.+]] = arith.minui %{{.+}}, %[[SEGEND]] : index
// CHECK: %[[TE0:.+]] = arith.addi %[[TB]], %c64 : index
// CHECK: %[[TE:.+]] = arith.minui %[[TE0]], %[[SEGEND]] : index
// CHECK: %[[COL0:.+]] = arith.muli %[[CT]], %c64 : index
// CHECK: scf.parallel (%[[TID:.+]]) = (%c0) to (%c128) step (%c1) {
// CHECK: %[[NONEMPTY:.+]] = arith.cmpi ult, %[[TB]], %[[TE]] : index
// CHECK: scf.if %[[NONEMPTY]] {
// CHECK: %[[WARP:.+]] = arith.divui %[[TID]], %c32 : index
// CHECK: %[[LANE:.+]] = arith.remui %[[TID]], %c32 : index
// CHECK: %[[G:.+]] = arith.divui %[[LANE]], %c4 : index
// CHECK: %[[T:.+]] = arith.remui %[[LANE]], %c4 : index
// CHECK: %[[T2:.+]] = arith.muli %[[T]], %c2 : index
// CHECK: %[[LAST:.+]] = arith.subi %[[TE]], %c1 : index
// CHECK: %[[R0:.+]] = arith.minui %{{.+}}, %[[LAST]] : index
// CHECK: %[[N0:.+]] = arith.minui %{{.+}}, %c95 : index
// CHECK: %[[ACC:.+]]:32 = scf.for %[[K0:.+]] = %c0 to %c128 step %c64 iter_args(
// CHECK: %[[KLO:.+]] = arith.addi %[[K0]], %[[T2]] : index
// CHECK: %[[KHI:.+]] = arith.addi %[[KLO]], %c8 : index
// CHECK: %[[APAIR:.+]] = vector.load %[[X]][%[[R0]], %[[KLO]]] {alignment = 8 : i64} : memref<?x128xf32>, vector<2xf32>
// CHECK: %[[ABF:.+]] = arith.truncf %[[APAIR]] : vector<2xf32> to vector<2xbf16>
// CHECK: %[[AV:.+]] = vector.bitcast %[[ABF]] : vector<2xbf16> to vector<1xi32>
// CHECK: %[[A0:.+]] = vector.extract %[[AV]][0] : i32 from vector<1xi32>
// CHECK: %[[BPAIR:.+]] = vector.load %[[W]][%[[FOUND]]#0, %[[N0]], %[[KLO]]] {alignment = 4 : i64} : memref<8x96x128xbf16>, vector<2xbf16>
// CHECK: %[[BV:.+]] = vector.bitcast %[[BPAIR]] : vector<2xbf16> to vector<1xi32>
// CHECK: %[[B0:.+]] = vector.extract %[[BV]][0] : i32 from vector<1xi32>
// CHECK: vector.load %[[W]][%[[FOUND]]#0, %[[N0]], %[[KHI]]]
// CHECK-NOT: nvvm.mma.sync
// CHECK: %[[K3:.+]] = arith.addi %[[K0]], %c48 : index
// CHECK-NOT: nvvm.mma.sync
// CHECK: vector.load %[[W]][%[[FOUND]]#0, %[[N0]], %{{.+}}]
// CHECK: nvvm.mma.sync A[%[[A0]], %{{.+}}, %{{.+}}, %{{.+}}]  B[%[[B0]], %{{.+}}]  C[
// CHECK-SAME: multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK-COUNT-31: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: scf.yield
// CHECK: arith.cmpi ult, %{{.+}}, %c96 : index
// CHECK: scf.if
// CHECK: %[[BIASV:.+]] = memref.load %[[BIAS]][%[[FOUND]]#0, %{{.+}}] : memref<8x96xf32>
// CHECK: %[[Y:.+]] = arith.addf %[[ACC]]#0, %[[BIASV]] : f32
// CHECK: memref.store %[[Y]], %[[H]][%{{.+}}, %{{.+}}] : memref<?x96xf32>
// The loops come mapped (threads, then blocks), so a 1 x 1 tile grid that
// canonicalization folds away still runs its warps as threads.
// CHECK: {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK: {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>, #gpu.loop_dim_map<processor = block_y, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
// CHECK-NOT: moe.grouped_matmul

// SMALL-LABEL: func.func @sorted
// SMALL: scf.parallel (%{{.+}}) = (%c0) to (%c64) step (%c1) {
func.func @sorted(%rows: memref<?x128xf32>, %w: memref<8x96x128xbf16>, %off: memref<9xi32>, %b: memref<8x96xf32>, %h: memref<?x96xf32>) {
  moe.grouped_matmul %rows, %w offsets(%off : memref<9xi32>) bias(%b : memref<8x96xf32>) outs(%h : memref<?x96xf32>) : memref<?x128xf32>, memref<8x96x128xbf16>
  return
}

// -----

// A padded buffer, K = 40 (odd multiple of 8): two whole k steps (fewer
// than a group of 4: no loop), then a tail step whose pairs are read as
// scalars, clamped to k = 39, and zeroed past it.

// CHECK-LABEL: func.func @padded_k_tail
// CHECK-NOT: scf.for %{{.+}} = %c0 to %c32
// CHECK-COUNT-16: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: %[[K:.+]] = arith.minui %{{.+}}, %c39 : index
// CHECK: %[[V:.+]] = memref.load %{{.+}}[%{{.+}}, %{{.+}}, %[[K]]] : memref<4x?x40xf32>
// CHECK: %[[IN:.+]] = arith.cmpi ult, %{{.+}}, %c40 : index
// CHECK: arith.select %[[IN]], %[[V]], %cst{{.*}} : f32
// CHECK: vector.from_elements
// CHECK: nvvm.mma.sync
// CHECK: memref.store %{{.+}}, %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}] : memref<4x?x8xf32>
func.func @padded_k_tail(%buf: memref<4x?x40xf32>, %w: memref<4x8x40xbf16>, %c: memref<4xi32>, %h: memref<4x?x8xf32>) {
  moe.grouped_matmul %buf, %w counts(%c : memref<4xi32>) outs(%h : memref<4x?x8xf32>) : memref<4x?x40xf32>, memref<4x8x40xbf16>
  return
}

// -----

// The fused first projection: rows gathered from the tokens, gate and up
// in one kernel with SiLU in the epilogue. Each lane finds the token of
// each of its 4 rows once, before the k loop, and reads A from the tokens;
// 2 x 4 mma.sync on the gate weights and 2 x 4 on the up weights share the
// A registers and carry 64 accumulators, 2 k steps loaded at once (their
// fragments before their 32 mma.sync); the epilogue stores
// silu(g) * (u + up_bias), the gate's sum being accumulator 0 and the up's
// accumulator 32.

// CHECK-LABEL: func.func @gathered_gated
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x64xf32>, %[[WG:[^:]+]]: memref<8x96x64xbf16>, %[[WU:[^:]+]]: memref<8x96x64xbf16>, %[[SRC:[^:]+]]: memref<?xi32>, %[[OFF:[^:]+]]: memref<9xi32>, %[[BU:[^:]+]]: memref<8x96xf32>, %[[H:[^:]+]]: memref<?x96xf32>)
// CHECK: %[[FOUND:.+]]:2 = scf.for
// CHECK: scf.yield
// CHECK: arith.addi %[[FOUND]]#0, %c1 : index
// CHECK: memref.load
// CHECK: %[[SEGEND:.+]] = arith.index_cast
// CHECK: %[[TB:.+]] = arith.minui %{{.+}}, %[[SEGEND]] : index
// CHECK: %[[TE0:.+]] = arith.addi %[[TB]], %c64 : index
// CHECK: %[[TE:.+]] = arith.minui %[[TE0]], %[[SEGEND]] : index
// CHECK: %[[LAST:.+]] = arith.subi %[[TE]], %c1 : index
// CHECK: %[[R0:.+]] = arith.minui %{{.+}}, %[[LAST]] : index
// CHECK: %[[TOK0I:.+]] = memref.load %[[SRC]][%[[R0]]] : memref<?xi32>
// CHECK: %[[TOK0:.+]] = arith.index_cast %[[TOK0I]] : i32 to index
// CHECK-COUNT-3: memref.load %[[SRC]]
// CHECK: %[[ACC:.+]]:64 = scf.for %{{.+}} = %c0 to %c64 step %c32 iter_args(
// CHECK-NOT: memref.load %[[SRC]]
// CHECK: %[[KLO:.+]] = arith.addi
// CHECK: vector.load %[[X]][%[[TOK0]], %[[KLO]]] {alignment = 8 : i64} : memref<?x64xf32>, vector<2xf32>
// CHECK-NOT: nvvm.mma.sync
// CHECK: vector.load %[[WG]][%[[FOUND]]#0, %{{.+}}, %[[KLO]]]
// CHECK-NOT: nvvm.mma.sync
// CHECK: vector.load %[[WU]][%[[FOUND]]#0, %{{.+}}, %[[KLO]]]
// CHECK-COUNT-32: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: scf.yield
// CHECK: scf.if
// CHECK: %[[UB:.+]] = memref.load %[[BU]][%[[FOUND]]#0, %{{.+}}] : memref<8x96xf32>
// CHECK: %[[U:.+]] = arith.addf %[[ACC]]#32, %[[UB]] : f32
// CHECK: %[[NEG:.+]] = arith.negf %[[ACC]]#0 : f32
// CHECK: math.exp %[[NEG]] : f32
// CHECK: %[[SIG:.+]] = arith.divf
// CHECK: %[[ACT:.+]] = arith.mulf %[[ACC]]#0, %[[SIG]] : f32
// CHECK: %[[Y:.+]] = arith.mulf %[[ACT]], %[[U]] : f32
// CHECK: memref.store %[[Y]], %[[H]][%{{.+}}, %{{.+}}] : memref<?x96xf32>
func.func @gathered_gated(%x: memref<?x64xf32>, %wg: memref<8x96x64xbf16>, %wu: memref<8x96x64xbf16>, %src: memref<?xi32>, %off: memref<9xi32>, %bu: memref<8x96xf32>, %h: memref<?x96xf32>) {
  moe.grouped_matmul %x, %wg up(%wu : memref<8x96x64xbf16>) gather(%src : memref<?xi32>) offsets(%off : memref<9xi32>) up_bias(%bu : memref<8x96xf32>) outs(%h : memref<?x96xf32>) {activation = #moe.activation<silu>} : memref<?x64xf32>, memref<8x96x64xbf16>
  return
}

// -----

// A padded buffer gathered from the tokens ([E, C] slots), with an ungated
// ReLU epilogue (Switch's experts): the token of slot (e, r) is
// gather[e, r], the A loads have no expert prefix, one set of mma tiles.

// CHECK-LABEL: func.func @padded_gathered_relu
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x64xf32>, %[[W:[^:]+]]: memref<4x32x64xbf16>, %[[SRC:[^:]+]]: memref<4x?xi32>
// CHECK: %[[TOK:.+]] = memref.load %[[SRC]][%{{.+}}, %{{.+}}] : memref<4x?xi32>
// CHECK: %[[TOKI:.+]] = arith.index_cast %[[TOK]] : i32 to index
// K = 64 is one group of 4 steps: the loop folds away.
// CHECK: vector.load %[[X]][%[[TOKI]], %{{.+}}] {alignment = 8 : i64} : memref<?x64xf32>, vector<2xf32>
// CHECK-COUNT-32: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: %[[Y:.+]] = arith.maximumf %{{.+}}, %{{.+}} : f32
// CHECK: memref.store %[[Y]], %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}] : memref<4x?x32xf32>
func.func @padded_gathered_relu(%x: memref<?x64xf32>, %w: memref<4x32x64xbf16>, %src: memref<4x?xi32>, %c: memref<4xi32>, %h: memref<4x?x32xf32>) {
  moe.grouped_matmul %x, %w gather(%src : memref<4x?xi32>) counts(%c : memref<4xi32>) outs(%h : memref<4x?x32xf32>) {activation = #moe.activation<relu>} : memref<?x64xf32>, memref<4x32x64xbf16>
  return
}

// -----

// A scatter (the combine) is left for the per-expert schedule: tiles of
// different experts would add into one token at once.

// CHECK-LABEL: func.func @scatter_left_alone
// CHECK: moe.grouped_matmul
// CHECK-NOT: nvvm.mma.sync
func.func @scatter_left_alone(%h: memref<?x32xf32>, %w: memref<4x16x32xbf16>, %off: memref<5xi32>, %dst: memref<?xi32>, %y: memref<?x16xf32>) {
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) scatter(%dst : memref<?xi32>) outs(%y : memref<?x16xf32>) : memref<?x32xf32>, memref<4x16x32xbf16>
  return
}

// -----

// f32 weights are left for moe-tile-grouped-matmul.

// CHECK-LABEL: func.func @f32_left_alone
// CHECK: moe.grouped_matmul
// CHECK-NOT: nvvm.mma.sync
func.func @f32_left_alone(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %h: memref<?x8xf32>) {
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

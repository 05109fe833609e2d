// RUN: moe-opt %s -split-input-file --moe-tile-grouped-matmul='tile-rows=4 tile-cols=8' | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-tile-grouped-matmul | FileCheck %s --check-prefix=DEFAULT
// RUN: not moe-opt %s --moe-tile-grouped-matmul='tile-rows=0' 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: moe-tile-grouped-matmul: tile-rows and tile-cols must be positive

// Tests sorted rows: the grid is ceil(R / 4) + E row-tile slots by
// ceil(N / 8) column tiles, known before the routing is. Expert e's tiles
// take the slots from start(e) = (off[e] - off[0]) / 4 + e on; a binary
// search of ceil(log2 4) = 2 steps finds the last e with start(e) <= slot,
// and the slot gets rows off[e] + 4 (slot - start(e)) up to the segment's
// end (none, begin = end, past it). The 4 x 8 elements of a tile are a
// nested parallel loop; each one that falls inside the rows and the columns
// is one dot product in k order, plus the bias.

// DEFAULT: %[[R:.+]] = arith.ceildivui %{{.+}}, %c16 : index
// CHECK-LABEL: func.func @sorted
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x16xf32>, %[[W:[^:]+]]: memref<4x8x16xf32>, %[[OFF:[^:]+]]: memref<5xi32>, %[[BIAS:[^:]+]]: memref<4x8xf32>, %[[H:[^:]+]]: memref<?x8xf32>)
// CHECK: %[[N:.+]] = memref.dim %[[W]], %c1 : memref<4x8x16xf32>
// CHECK: %[[K:.+]] = memref.dim %[[W]], %c2 : memref<4x8x16xf32>
// CHECK: %[[NE:.+]] = memref.dim %[[W]], %c0 : memref<4x8x16xf32>
// CHECK: %[[NR:.+]] = memref.dim %[[H]], %{{.+}} : memref<?x8xf32>
// CHECK: %[[RT:.+]] = arith.ceildivui %[[NR]], %c4 : index
// CHECK: %[[SLOTS:.+]] = arith.addi %[[RT]], %[[NE]] : index
// CHECK: %[[CT:.+]] = arith.ceildivui %[[N]], %c8 : index
// CHECK: scf.parallel (%[[SLOT:.+]], %[[COL:.+]]) = (%{{.+}}, %{{.+}}) to (%[[SLOTS]], %[[CT]])
// CHECK: %[[BASE0:.+]] = memref.load %[[OFF]][%[[Z:.+]]] : memref<5xi32>
// CHECK: %[[BASE:.+]] = arith.index_cast %[[BASE0]] : i32 to index
// CHECK: %[[STEPS:.+]] = arith.constant 2 : index
// CHECK: %[[E0:.+]] = memref.dim %[[W]], %{{.+}} : memref<4x8x16xf32>
// CHECK: %[[FOUND:.+]]:2 = scf.for %{{.+}} = %[[Z]] to %[[STEPS]] step %{{.+}} iter_args(%[[LO:.+]] = %[[Z]], %[[HI:.+]] = %[[E0]]) -> (index, index)
// CHECK: %[[SUM:.+]] = arith.addi %[[LO]], %[[HI]] : index
// CHECK: %[[MID:.+]] = arith.divui %[[SUM]], %{{.+}} : index
// CHECK: %[[OM0:.+]] = memref.load %[[OFF]][%[[MID]]] : memref<5xi32>
// CHECK: %[[OM:.+]] = arith.index_cast %[[OM0]] : i32 to index
// CHECK: %[[RM:.+]] = arith.subi %[[OM]], %[[BASE]] : index
// CHECK: %[[TM:.+]] = arith.divui %[[RM]], %c4 : index
// CHECK: %[[SM:.+]] = arith.addi %[[TM]], %[[MID]] : index
// CHECK: %[[LE:.+]] = arith.cmpi ule, %[[SM]], %[[SLOT]] : index
// CHECK: %[[NLO:.+]] = arith.select %[[LE]], %[[MID]], %[[LO]] : index
// CHECK: %[[NHI:.+]] = arith.select %[[LE]], %[[HI]], %[[MID]] : index
// CHECK: scf.yield %[[NLO]], %[[NHI]] : index, index
// CHECK: %[[B0:.+]] = memref.load %[[OFF]][%[[FOUND]]#0]
// CHECK: %[[BEGIN:.+]] = arith.index_cast %[[B0]]
// CHECK: %[[COUNT:.+]] = arith.subi %{{.+}}, %[[BEGIN]] : index
// CHECK: %[[RE:.+]] = arith.subi %[[BEGIN]], %[[BASE]] : index
// CHECK: %[[TE1:.+]] = arith.divui %[[RE]], %c4 : index
// CHECK: %[[START:.+]] = arith.addi %[[TE1]], %[[FOUND]]#0 : index
// CHECK: %[[DS:.+]] = arith.subi %[[SLOT]], %[[START]] : index
// CHECK: %[[DR:.+]] = arith.muli %[[DS]], %c4 : index
// CHECK: %[[SEGEND:.+]] = arith.addi %[[BEGIN]], %[[COUNT]] : index
// CHECK: %[[TB0:.+]] = arith.addi %[[BEGIN]], %[[DR]] : index
// CHECK: %[[TB:.+]] = arith.minui %[[TB0]], %[[SEGEND]] : index
// CHECK: %[[TE0:.+]] = arith.addi %[[TB]], %c4 : index
// CHECK: %[[TE:.+]] = arith.minui %[[TE0]], %[[SEGEND]] : index
// CHECK: %[[COL0:.+]] = arith.muli %[[COL]], %c8 : index
// CHECK: scf.parallel (%[[I:.+]], %[[J:.+]]) = (%{{.+}}, %{{.+}}) to (%c4, %c8)
// CHECK: %[[ROW:.+]] = arith.addi %[[TB]], %[[I]] : index
// CHECK: %[[C:.+]] = arith.addi %[[COL0]], %[[J]] : index
// CHECK: %[[IN1:.+]] = arith.cmpi ult, %[[ROW]], %[[TE]] : index
// CHECK: %[[IN2:.+]] = arith.cmpi ult, %[[C]], %[[N]] : index
// CHECK: %[[IN:.+]] = arith.andi %[[IN1]], %[[IN2]] : i1
// CHECK: scf.if %[[IN]] {
// CHECK: %[[DOT:.+]] = scf.for %[[KK:.+]] = %{{.+}} to %[[K]] step %{{.+}} iter_args(%[[ACC:.+]] = %{{.+}}) -> (f32)
// CHECK: %[[A:.+]] = memref.load %[[X]][%[[ROW]], %[[KK]]]
// CHECK: %[[B:.+]] = memref.load %[[W]][%[[FOUND]]#0, %[[C]], %[[KK]]]
// CHECK: %[[P:.+]] = arith.mulf %[[A]], %[[B]] : f32
// CHECK: %[[S:.+]] = arith.addf %[[ACC]], %[[P]] : f32
// CHECK: scf.yield %[[S]] : f32
// CHECK: %[[BV:.+]] = memref.load %[[BIAS]][%[[FOUND]]#0, %[[C]]]
// CHECK: %[[Y:.+]] = arith.addf %[[DOT]], %[[BV]] : f32
// CHECK: memref.store %[[Y]], %[[H]][%[[ROW]], %[[C]]]
// The loops come mapped: the tile's elements to threads, the tiles to blocks.
// CHECK: {mapping = [#gpu.loop_dim_map<processor = thread_x, {{.+}}>, #gpu.loop_dim_map<processor = thread_y, {{.+}}>]}
// CHECK: {mapping = [#gpu.loop_dim_map<processor = block_x, {{.+}}>, #gpu.loop_dim_map<processor = block_y, {{.+}}>]}
// CHECK-NOT: moe.grouped_matmul
func.func @sorted(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %b: memref<4x8xf32>, %h: memref<?x8xf32>) {
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) bias(%b : memref<4x8xf32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests a padded buffer: E · ceil(C / 4) slots; slot s is tile s mod
// ceil(C / 4) of expert s / ceil(C / 4), clipped to min(counts[e], C) rows.

// CHECK-LABEL: func.func @padded
// CHECK-SAME: (%[[X:[^:]+]]: memref<4x?x16xf32>, %[[W:[^:]+]]: memref<4x8x16xf32>, %[[CNT:[^:]+]]: memref<4xi32>, %[[H:[^:]+]]: memref<4x?x8xf32>)
// CHECK: %[[NE:.+]] = memref.dim %[[W]], %c0 : memref<4x8x16xf32>
// CHECK: %[[CAP:.+]] = memref.dim %[[H]], %{{.+}} : memref<4x?x8xf32>
// CHECK: %[[PER:.+]] = arith.ceildivui %[[CAP]], %c4 : index
// CHECK: %[[SLOTS:.+]] = arith.muli %[[NE]], %[[PER]] : index
// CHECK: scf.parallel (%[[SLOT:.+]], %{{.+}}) = (%{{.+}}, %{{.+}}) to (%[[SLOTS]], %{{.+}})
// CHECK: %[[E:.+]] = arith.divui %[[SLOT]], %[[PER]] : index
// CHECK: %[[T:.+]] = arith.remui %[[SLOT]], %[[PER]] : index
// CHECK: %[[KE:.+]] = memref.load %[[CNT]][%[[E]]]
// CHECK: %[[KI:.+]] = arith.index_cast %[[KE]]
// CHECK: %[[FILLED:.+]] = arith.minsi %[[KI]], %{{.+}} : index
// CHECK: %[[TB:.+]] = arith.muli %[[T]], %c4 : index
// CHECK: %[[TE0:.+]] = arith.addi %[[TB]], %c4 : index
// CHECK: %[[TE:.+]] = arith.minui %[[TE0]], %[[FILLED]] : index
// CHECK: scf.parallel (%[[I:.+]], %{{.+}}) =
// CHECK: %[[ROW:.+]] = arith.addi %[[TB]], %[[I]] : index
// CHECK: arith.cmpi ult, %[[ROW]], %[[TE]] : index
// CHECK: memref.load %[[X]][%[[E]], %[[ROW]], %{{.+}}]
// CHECK: memref.load %[[W]][%[[E]], %{{.+}}, %{{.+}}]
// CHECK: memref.store %{{.+}}, %[[H]][%[[E]], %[[ROW]], %{{.+}}]
func.func @padded(%buf: memref<4x?x16xf32>, %w: memref<4x8x16xf32>, %c: memref<4xi32>, %h: memref<4x?x8xf32>) {
  moe.grouped_matmul %buf, %w counts(%c : memref<4xi32>) outs(%h : memref<4x?x8xf32>) : memref<4x?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// bf16 weights are widened to f32 where the dot product reads them.

// CHECK-LABEL: func.func @bf16_weights
// CHECK: %[[W:.+]] = memref.load %{{.+}} : memref<4x8x16xbf16>
// CHECK-NEXT: %[[WF:.+]] = arith.extf %[[W]] : bf16 to f32
// CHECK-NEXT: arith.mulf %{{.+}}, %[[WF]] : f32
func.func @bf16_weights(%rows: memref<?x16xf32>, %w: memref<4x8x16xbf16>, %off: memref<5xi32>, %h: memref<?x8xf32>) {
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xbf16>
  return
}


// -----

// Tests an activation epilogue: each element's thread sums the gate's dot
// product, then the up's, adds the up bias and stores SiLU(gate) · up.

// CHECK-LABEL: func.func @epilogue
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x16xf32>, %[[WG:[^:]+]]: memref<4x8x16xf32>, %[[WU:[^:]+]]: memref<4x8x16xf32>, %[[OFF:[^:]+]]: memref<5xi32>, %[[BU:[^:]+]]: memref<4x8xf32>, %[[H:[^:]+]]: memref<?x8xf32>)
// CHECK: scf.if
// CHECK: %[[G:.+]] = scf.for
// CHECK: memref.load %[[WG]]
// CHECK: %[[U:.+]] = scf.for
// CHECK: memref.load %[[WU]]
// CHECK: %[[B:.+]] = memref.load %[[BU]]
// CHECK-NEXT: %[[UB:.+]] = arith.addf %[[U]], %[[B]] : f32
// CHECK: %[[NEG:.+]] = arith.negf %[[G]] : f32
// CHECK-NEXT: math.exp %[[NEG]]
// CHECK: %[[SILU:.+]] = arith.mulf %[[G]], %{{.+}} : f32
// CHECK-NEXT: %[[OUT:.+]] = arith.mulf %[[SILU]], %[[UB]] : f32
// CHECK-NEXT: memref.store %[[OUT]], %[[H]]
func.func @epilogue(%rows: memref<?x16xf32>, %wg: memref<4x8x16xf32>, %wu: memref<4x8x16xf32>, %off: memref<5xi32>, %bu: memref<4x8xf32>, %h: memref<?x8xf32>) {
  moe.grouped_matmul %rows, %wg up(%wu : memref<4x8x16xf32>) offsets(%off : memref<5xi32>) up_bias(%bu : memref<4x8xf32>) outs(%h : memref<?x8xf32>) {activation = #moe.activation<silu>} : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests a gather: the grid has a slot per 4 rows of `out` (6 here, not the
// 3 tokens), and each element reads its row's token once, then its dot
// product runs over that token of the input; the result goes to the sorted
// row.

// CHECK-LABEL: func.func @gather
// CHECK-SAME: (%[[X:[^:]+]]: memref<3x16xf32>, %[[SRC:[^:]+]]: memref<6xi32>, %[[W:[^:]+]]: memref<4x8x16xf32>, %[[OFF:[^:]+]]: memref<5xi32>, %[[H:[^:]+]]: memref<6x8xf32>)
// CHECK: %[[NR:.+]] = memref.dim %[[H]], %{{.+}} : memref<6x8xf32>
// CHECK: arith.ceildivui %[[NR]], %c4 : index
// CHECK: scf.if %{{.+}} {
// CHECK: %[[T:.+]] = memref.load %[[SRC]][%[[ROW:.+]]] : memref<6xi32>
// CHECK-NEXT: %[[TI:.+]] = arith.index_cast %[[T]] : i32 to index
// CHECK: scf.for %[[KK:[^ ]+]] =
// CHECK: memref.load %[[X]][%[[TI]], %[[KK]]] : memref<3x16xf32>
// CHECK: memref.store %{{.+}}, %[[H]][%[[ROW]], %{{.+}}] : memref<6x8xf32>
func.func @gather(%x: memref<3x16xf32>, %src: memref<6xi32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %h: memref<6x8xf32>) {
  moe.grouped_matmul %x, %w gather(%src : memref<6xi32>) offsets(%off : memref<5xi32>) outs(%h : memref<6x8xf32>) : memref<3x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests a gather into a padded buffer: slot `row` of the tile's expert
// reads token src[e, row].

// CHECK-LABEL: func.func @gather_padded
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x16xf32>, %[[SRC:[^:]+]]: memref<4x?xi32>, %[[W:[^:]+]]: memref<4x8x16xf32>, %[[CNT:[^:]+]]: memref<4xi32>, %[[H:[^:]+]]: memref<4x?x8xf32>)
// CHECK: scf.if %{{.+}} {
// CHECK: %[[T:.+]] = memref.load %[[SRC]][%[[E:.+]], %[[ROW:.+]]] : memref<4x?xi32>
// CHECK-NEXT: %[[TI:.+]] = arith.index_cast %[[T]] : i32 to index
// CHECK: scf.for %[[KK:[^ ]+]] =
// CHECK: memref.load %[[X]][%[[TI]], %[[KK]]] : memref<?x16xf32>
// CHECK: memref.store %{{.+}}, %[[H]][%[[E]], %[[ROW]], %{{.+}}] : memref<4x?x8xf32>
func.func @gather_padded(%x: memref<?x16xf32>, %src: memref<4x?xi32>, %w: memref<4x8x16xf32>, %c: memref<4xi32>, %h: memref<4x?x8xf32>) {
  moe.grouped_matmul %x, %w gather(%src : memref<4x?xi32>) counts(%c : memref<4xi32>) outs(%h : memref<4x?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// RUN: moe-opt %s -split-input-file --moe-expand-grouped-matmul | FileCheck %s
// RUN: not moe-opt %s --moe-expand-grouped-matmul='k-chunk=0' 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: moe-expand-grouped-matmul: block-rows and k-chunk must be positive

// Tests sorted rows: a loop over the experts; expert e's segment
// offsets[e] .. offsets[e+1] of the rows and of the output; if it is not
// empty, those and its [N, K] weight matrix as views, a zero fill right before a transposed-B
// linalg.matmul on them (so the CPU schedule folds the fill in); then the bias at [e, n] added to each element.

// CHECK-DAG: #[[A:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[B:.+]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[C:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @sorted
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x16xf32>, %[[W:[^:]+]]: memref<4x8x16xf32>, %[[OFF:[^:]+]]: memref<5xi32>, %[[BIAS:[^:]+]]: memref<4x8xf32>, %[[H:[^:]+]]: memref<?x8xf32>)
// CHECK: %[[E4:.+]] = memref.dim %[[W]], %{{.+}} : memref<4x8x16xf32>
// CHECK: scf.for %[[E:.+]] = %{{.+}} to %[[E4]]
// CHECK: %[[B0:.+]] = memref.load %[[OFF]][%[[E]]] : memref<5xi32>
// CHECK: %[[BEGIN:.+]] = arith.index_cast %[[B0]] : i32 to index
// CHECK: %[[NEXT:.+]] = arith.addi %[[E]], %{{.+}} : index
// CHECK: %[[E0:.+]] = memref.load %[[OFF]][%[[NEXT]]] : memref<5xi32>
// CHECK: %[[END:.+]] = arith.index_cast %[[E0]] : i32 to index
// CHECK: %[[N:.+]] = arith.subi %[[END]], %[[BEGIN]] : index
// CHECK: %[[CHOSEN:.+]] = arith.cmpi sgt, %[[N]], %{{.+}} : index
// CHECK-NEXT: scf.if %[[CHOSEN]] {
// CHECK-NEXT: %[[XS:.+]] = memref.subview %[[X]][%[[BEGIN]], 0] [%[[N]], 16] [1, 1]
// CHECK: %[[HS:.+]] = memref.subview %[[H]][%[[BEGIN]], 0] [%[[N]], 8] [1, 1]
// CHECK: %[[WS:.+]] = memref.subview %[[W]][%[[E]], 0, 0] [1, 8, 16] [1, 1, 1] : memref<4x8x16xf32> to memref<8x16xf32, strided<[16, 1], offset: ?>>
// CHECK: linalg.fill ins(%{{.+}} : f32) outs(%[[HS]] :
// CHECK-NEXT: linalg.matmul indexing_maps = [#[[A]], #[[B]], #[[C]]] ins(%[[XS]], %[[WS]] : {{.+}}) outs(%[[HS]] :
// CHECK: scf.for %[[I:.+]] = %{{.+}} to %[[N]]
// CHECK: scf.for %[[J:.+]] =
// CHECK: %[[V:.+]] = memref.load %[[HS]][%[[I]], %[[J]]]
// CHECK: %[[BV:.+]] = memref.load %[[BIAS]][%[[E]], %[[J]]] : memref<4x8xf32>
// CHECK: %[[SUM:.+]] = arith.addf %[[V]], %[[BV]] : f32
// CHECK: memref.store %[[SUM]], %[[HS]][%[[I]], %[[J]]]
// CHECK-NOT: moe.grouped_matmul
func.func @sorted(%rows: memref<?x16xf32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %b: memref<4x8xf32>, %h: memref<?x8xf32>) {
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) bias(%b : memref<4x8xf32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests a padded buffer with counts: expert e's first min(counts[e], C)
// slots, with no bias loop.

// CHECK-LABEL: func.func @padded
// CHECK-SAME: (%[[X:[^:]+]]: memref<4x?x16xf32>, %[[W:[^:]+]]: memref<4x8x16xf32>, %[[CNT:[^:]+]]: memref<4xi32>, %[[H:[^:]+]]: memref<4x?x8xf32>)
// CHECK: scf.for %[[E:.+]] =
// CHECK: %[[C:.+]] = memref.dim %[[H]], %{{.+}} : memref<4x?x8xf32>
// CHECK: %[[K:.+]] = memref.load %[[CNT]][%[[E]]] : memref<4xi32>
// CHECK: %[[KI:.+]] = arith.index_cast %[[K]] : i32 to index
// CHECK: %[[ROWS:.+]] = arith.minsi %[[KI]], %[[C]] : index
// CHECK: %[[XS:.+]] = memref.subview %[[X]][%[[E]], %{{.+}}, 0] [1, %[[ROWS]], 16] [1, 1, 1] : memref<4x?x16xf32> to memref<?x16xf32, strided<[16, 1], offset: ?>>
// CHECK: %[[HS:.+]] = memref.subview %[[H]][%[[E]], %{{.+}}, 0] [1, %[[ROWS]], 8] [1, 1, 1]
// CHECK: linalg.fill ins(%{{.+}} : f32) outs(%[[HS]] :
// CHECK-NEXT: linalg.matmul {{.+}} ins(%[[XS]], %{{.+}} : {{.+}}) outs(%[[HS]] :
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @padded(%buf: memref<4x?x16xf32>, %w: memref<4x8x16xf32>, %c: memref<4xi32>, %h: memref<4x?x8xf32>) {
  moe.grouped_matmul %buf, %w counts(%c : memref<4xi32>) outs(%h : memref<4x?x8xf32>) : memref<4x?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// bf16 weights: each expert's matmul reads its bf16 slice; linalg's mixed-
// type matmul widens them (the register-block schedule keeps that).

// CHECK-LABEL: func.func @bf16_weights
// CHECK: linalg.matmul
// CHECK-SAME: ins(%{{.+}}, %{{.+}} : memref<?x16xf32, strided<[16, 1], offset: ?>>, memref<8x16xbf16, strided<[16, 1], offset: ?>>)
func.func @bf16_weights(%rows: memref<?x16xf32>, %w: memref<4x8x16xbf16>, %off: memref<5xi32>, %h: memref<?x8xf32>) {
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) : memref<?x16xf32>, memref<4x8x16xbf16>
  return
}

// -----

// Tests weights packed in panels of 16 columns ([E, N / 16, K, 16]): expert
// e's panels as a view, and a linalg.mmt4d on [m, K, 1, 1], [N / 16, K, 16, 1]
// and [m, N / 16, 1, 16] expansions of the same views as the matmul's, right
// after the zero fill (whose view the mmt4d's C expands).

// CHECK-LABEL: func.func @packed
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x16xf32>, %[[W:[^:]+]]: memref<4x2x16x16xbf16>, %[[OFF:[^:]+]]: memref<5xi32>, %[[H:[^:]+]]: memref<?x32xf32>)
// CHECK: scf.for %[[E:.+]] =
// CHECK: %[[N:.+]] = arith.subi
// CHECK: %[[XS:.+]] = memref.subview %[[X]]
// CHECK: %[[HS:.+]] = memref.subview %[[H]]
// CHECK: %[[WS:.+]] = memref.subview %[[W]][%[[E]], 0, 0, 0] [1, 2, 16, 16] [1, 1, 1, 1] : memref<4x2x16x16xbf16> to memref<2x16x16xbf16, strided<[256, 16, 1], offset: ?>>
// CHECK: linalg.fill ins(%{{.+}} : f32) outs(%[[HS]] :
// CHECK: %[[A4:.+]] = memref.expand_shape %[[XS]] {{\[\[}}0], [1, 2, 3]] output_shape [%[[N]], 16, 1, 1]
// CHECK-NEXT: %[[B4:.+]] = memref.expand_shape %[[WS]] {{\[\[}}0], [1], [2, 3]] output_shape [2, 16, 16, 1]
// CHECK-NEXT: %[[C4:.+]] = memref.expand_shape %[[HS]] {{\[\[}}0], [1, 2, 3]] output_shape [%[[N]], 2, 1, 16]
// CHECK-NEXT: linalg.mmt4d ins(%[[A4]], %[[B4]] : memref<?x16x1x1xf32, {{.+}}>, memref<2x16x16x1xbf16, {{.+}}>) outs(%[[C4]] : memref<?x2x1x16xf32, {{.+}}>)
// CHECK-NOT: linalg.matmul
func.func @packed(%rows: memref<?x16xf32>, %w: memref<4x2x16x16xbf16>, %off: memref<5xi32>, %h: memref<?x32xf32>) {
  moe.grouped_matmul %rows, %w offsets(%off : memref<5xi32>) outs(%h : memref<?x32xf32>) : memref<?x16xf32>, memref<4x2x16x16xbf16>
  return
}

// -----

// Tests the gate/up projections with a SiLU epilogue on packed weights: one
// scratch buffer for the up sums; per expert, the panels in parallel, each
// row block running the gate panel's chunk of k, then the up panel's on the
// same rows; once a panel's k is done, each row's gate and up vectors get
// their biases and the gate's SiLU times the up is stored in place.

// CHECK-LABEL: func.func @fused_packed
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x16xf32>, %[[WG:[^:]+]]: memref<4x2x16x16xf32>, %[[WU:[^:]+]]: memref<4x2x16x16xf32>, %[[OFF:[^:]+]]: memref<5xi32>, %[[BG:[^:]+]]: memref<4x32xf32>, %[[BU:[^:]+]]: memref<4x32xf32>, %[[H:[^:]+]]: memref<?x32xf32>)
// CHECK: %[[UP:.+]] = memref.alloc(%{{.+}}) : memref<?x32xf32>
// CHECK: scf.for %[[E:.+]] =
// CHECK: scf.if
// CHECK: %[[HS:.+]] = memref.subview %[[H]]
// CHECK: %[[WGS:.+]] = memref.subview %[[WG]][%[[E]], 0, 0, 0]
// CHECK: %[[WUS:.+]] = memref.subview %[[WU]][%[[E]], 0, 0, 0]
// CHECK: %[[UPS:.+]] = memref.subview %[[UP]]
// CHECK: scf.parallel (%[[P:.+]]) =
// CHECK: scf.for
// CHECK: scf.for
// CHECK: vector.load %[[WGS]][%[[P]], {{.+}}] : {{.+}}, vector<8xf32>
// CHECK: vector.fma
// CHECK: vector.store %{{.+}}, %[[HS]]
// CHECK: vector.load %[[WUS]][%[[P]], {{.+}}] : {{.+}}, vector<8xf32>
// CHECK: vector.fma
// CHECK: vector.store %{{.+}}, %[[UPS]]
// CHECK: scf.index_switch
// The epilogue, after every chunk of k of the panel.
// CHECK: default {
// CHECK: scf.for %[[R:.+]] =
// CHECK: %[[G:.+]] = vector.load %[[HS]][%[[R]], %[[COL:.+]]] : {{.+}}, vector<8xf32>
// CHECK-NEXT: %[[U:.+]] = vector.load %[[UPS]][%[[R]], %[[COL]]] : {{.+}}, vector<8xf32>
// CHECK-NEXT: %[[GB:.+]] = vector.load %[[BG]][%[[E]], %[[COL]]] : memref<4x32xf32>, vector<8xf32>
// CHECK-NEXT: %[[G1:.+]] = arith.addf %[[G]], %[[GB]] : vector<8xf32>
// CHECK-NEXT: %[[UB:.+]] = vector.load %[[BU]][%[[E]], %[[COL]]] : memref<4x32xf32>, vector<8xf32>
// CHECK-NEXT: %[[U1:.+]] = arith.addf %[[U]], %[[UB]] : vector<8xf32>
// CHECK: math.exp %{{.+}} : vector<8xf32>
// CHECK: %[[SILU:.+]] = arith.mulf %[[G1]], %{{.+}} : vector<8xf32>
// CHECK-NEXT: %[[OUT:.+]] = arith.mulf %[[SILU]], %[[U1]] : vector<8xf32>
// CHECK-NEXT: vector.store %[[OUT]], %[[HS]][%[[R]], %[[COL]]]
// CHECK: memref.dealloc %[[UP]] : memref<?x32xf32>
func.func @fused_packed(%rows: memref<?x16xf32>, %wg: memref<4x2x16x16xf32>, %wu: memref<4x2x16x16xf32>, %off: memref<5xi32>, %bg: memref<4x32xf32>, %bu: memref<4x32xf32>, %h: memref<?x32xf32>) {
  moe.grouped_matmul %rows, %wg up(%wu : memref<4x2x16x16xf32>) offsets(%off : memref<5xi32>) bias(%bg : memref<4x32xf32>) up_bias(%bu : memref<4x32xf32>) outs(%h : memref<?x32xf32>) {activation = #moe.activation<silu>} : memref<?x16xf32>, memref<4x2x16x16xf32>
  return
}

// -----

// Tests a ReLU epilogue on [E, N, K] weights and a padded buffer: the
// expert's matmul, then the activation over its rows, in place; no scratch.

// CHECK-LABEL: func.func @fused_relu
// CHECK-NOT: memref.alloc
// CHECK: scf.if
// CHECK: %[[HS:.+]] = memref.subview %{{.+}}[%{{.+}}, %{{.+}}, 0] [1, %{{.+}}, 8] [1, 1, 1]
// CHECK: linalg.fill ins(%{{.+}} : f32) outs(%[[HS]] :
// CHECK-NEXT: linalg.matmul {{.+}} outs(%[[HS]] :
// CHECK: scf.for %[[I:.+]] =
// CHECK: scf.for %[[J:.+]] =
// CHECK: %[[V:.+]] = memref.load %[[HS]][%[[I]], %[[J]]]
// CHECK-NEXT: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[R:.+]] = arith.maximumf %[[V]], %[[ZERO]] : f32
// CHECK-NEXT: memref.store %[[R]], %[[HS]][%[[I]], %[[J]]]
// CHECK-NOT: memref.dealloc
func.func @fused_relu(%buf: memref<4x?x16xf32>, %w: memref<4x8x16xf32>, %c: memref<4xi32>, %h: memref<4x?x8xf32>) {
  moe.grouped_matmul %buf, %w counts(%c : memref<4xi32>) outs(%h : memref<4x?x8xf32>) {activation = #moe.activation<relu>} : memref<4x?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests a moe.grouped_activation left unfused (LowerGroupedActivation.cpp):
// one parallel loop over the sorted rows before offsets[E]; each element
// clamps the gate above at the limit and the up to [-limit, limit],
// multiplies the gate by σ(α·gate) and by (up + 1).

// CHECK-LABEL: func.func @activation_sorted
// CHECK-SAME: (%[[G:[^:]+]]: memref<?x8xf32>, %[[U:[^:]+]]: memref<?x8xf32>, %[[OFF:[^:]+]]: memref<5xi32>)
// CHECK: scf.parallel (%[[R:.+]]) =
// CHECK: %[[END:.+]] = memref.load %[[OFF]][%{{.+}}] : memref<5xi32>
// CHECK: %[[ENDI:.+]] = arith.index_cast %[[END]]
// CHECK: arith.cmpi ult, %[[R]], %[[ENDI]] : index
// CHECK: %[[GV:.+]] = memref.load %[[G]][%[[R]], %{{.+}}]
// CHECK-NEXT: %[[UV:.+]] = memref.load %[[U]][%[[R]], %{{.+}}]
// CHECK-NEXT: %[[LIM:.+]] = arith.constant 3.000000e+00 : f32
// CHECK-NEXT: %[[GC:.+]] = arith.minimumf %[[GV]], %[[LIM]] : f32
// CHECK-NEXT: %[[UC0:.+]] = arith.minimumf %[[UV]], %[[LIM]] : f32
// CHECK-NEXT: %[[NLIM:.+]] = arith.constant -3.000000e+00 : f32
// CHECK-NEXT: %[[UC:.+]] = arith.maximumf %[[UC0]], %[[NLIM]] : f32
// CHECK-NEXT: %[[ALPHA:.+]] = arith.constant 1.702000e+00 : f32
// CHECK-NEXT: %[[AG:.+]] = arith.mulf %[[ALPHA]], %[[GC]] : f32
// CHECK: arith.negf %[[AG]]
// CHECK: %[[SIG:.+]] = arith.divf
// CHECK-NEXT: %[[GLU:.+]] = arith.mulf %[[GC]], %[[SIG]] : f32
// CHECK-NEXT: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[UP1:.+]] = arith.addf %[[UC]], %[[ONE]] : f32
// CHECK-NEXT: %[[H:.+]] = arith.mulf %[[GLU]], %[[UP1]] : f32
// CHECK-NEXT: memref.store %[[H]], %[[G]]
// CHECK-NOT: moe.grouped_activation
func.func @activation_sorted(%g: memref<?x8xf32>, %u: memref<?x8xf32>, %off: memref<5xi32>) {
  moe.grouped_activation %g up(%u : memref<?x8xf32>) offsets(%off : memref<5xi32>) outs(%g : memref<?x8xf32>) {activation = #moe.activation<clamped_swiglu>, swiglu_limit = 3.0 : f64} : memref<?x8xf32>
  return
}

// -----

// Tests a padded buffer's activation: a parallel loop over (expert, slot),
// slots at or past counts[e] skipped.

// CHECK-LABEL: func.func @activation_padded
// CHECK-SAME: (%[[G:[^:]+]]: memref<4x?x8xf32>, %[[CNT:[^:]+]]: memref<4xi32>, %[[OUT:[^:]+]]: memref<4x?x8xf32>)
// CHECK: scf.parallel (%[[E:.+]], %[[S:.+]]) =
// CHECK: %[[K:.+]] = memref.load %[[CNT]][%[[E]]] : memref<4xi32>
// CHECK: %[[KI:.+]] = arith.index_cast %[[K]]
// CHECK: %[[USED:.+]] = arith.cmpi slt, %[[S]], %[[KI]] : index
// CHECK: scf.if %[[USED]]
// CHECK: memref.load %[[G]][%[[E]], %[[S]], %{{.+}}]
// CHECK: arith.maximumf
// CHECK: memref.store %{{.+}}, %[[OUT]][%[[E]], %[[S]], %{{.+}}]
func.func @activation_padded(%g: memref<4x?x8xf32>, %c: memref<4xi32>, %h: memref<4x?x8xf32>) {
  moe.grouped_activation %g counts(%c : memref<4xi32>) outs(%h : memref<4x?x8xf32>) {activation = #moe.activation<relu>} : memref<4x?x8xf32>
  return
}

// -----

// Tests panels of 4 columns (not a whole AVX2 vector), gated: the vector
// kernel does not take them, so each projection is a linalg.mmt4d into its
// buffer, then the epilogue loop.

// CHECK-LABEL: func.func @fused_narrow_panels
// CHECK: %[[UP:.+]] = memref.alloc(%{{.+}}) : memref<?x8xf32>
// CHECK: linalg.mmt4d
// CHECK: linalg.mmt4d
// CHECK: scf.for
// CHECK: scf.for
// CHECK: math.exp
// CHECK: memref.dealloc %[[UP]]
func.func @fused_narrow_panels(%rows: memref<?x16xf32>, %wg: memref<4x2x16x4xf32>, %wu: memref<4x2x16x4xf32>, %off: memref<5xi32>, %h: memref<?x8xf32>) {
  moe.grouped_matmul %rows, %wg up(%wu : memref<4x2x16x4xf32>) offsets(%off : memref<5xi32>) outs(%h : memref<?x8xf32>) {activation = #moe.activation<silu>} : memref<?x16xf32>, memref<4x2x16x4xf32>
  return
}

// -----

// Tests a gather on weights packed in panels, with a bias and no
// activation: the vector kernel reads the tokens in place; each block finds
// its rows' tokens once (outside the k loop), the FMAs broadcast elements
// of those tokens, and the bias is the kernel's epilogue. Nothing is
// copied.

// CHECK-LABEL: func.func @gather_packed
// CHECK-SAME: (%[[X:[^:]+]]: memref<3x16xf32>, %[[SRC:[^:]+]]: memref<6xi32>, %[[W:[^:]+]]: memref<4x2x16x16xf32>, %[[OFF:[^:]+]]: memref<5xi32>, %[[B:[^:]+]]: memref<4x32xf32>, %[[H:[^:]+]]: memref<6x32xf32>)
// CHECK-NOT: {{memref.alloc|linalg.mmt4d}}
// CHECK: scf.for %[[E:.+]] =
// CHECK: scf.if
// CHECK: %[[SRCS:.+]] = memref.subview %[[SRC]][%{{.+}}] [%{{.+}}] [1] : memref<6xi32> to memref<?xi32, strided<[1], offset: ?>>
// CHECK: %[[HS:.+]] = memref.subview %[[H]]
// CHECK: scf.parallel (%[[P:.+]]) =
// CHECK: scf.for
// CHECK: scf.for %[[I:.+]] =
// CHECK: %[[T0:.+]] = memref.load %[[SRCS]][%[[I]]] : memref<?xi32, strided<[1], offset: ?>>
// CHECK-NEXT: %[[R0:.+]] = arith.index_cast %[[T0]] : i32 to index
// CHECK: scf.for %[[K:.+]] = {{.+}} iter_args(
// CHECK: %[[A:.+]] = memref.load %[[X]][%[[R0]], %[[K]]] : memref<3x16xf32>
// CHECK-NEXT: vector.broadcast %[[A]] : f32 to vector<8xf32>
// CHECK: vector.fma
// CHECK: scf.index_switch
// CHECK: default {
// CHECK: scf.for %[[RE:[^ ]+]] =
// CHECK: %[[C:.+]] = vector.load %[[HS]][%[[RE]], %[[COL:.+]]] : {{.+}}, vector<8xf32>
// CHECK-NEXT: %[[BV:.+]] = vector.load %[[B]][%[[E]], %[[COL]]] : memref<4x32xf32>, vector<8xf32>
// CHECK-NEXT: %[[CB:.+]] = arith.addf %[[C]], %[[BV]] : vector<8xf32>
// CHECK-NEXT: vector.store %[[CB]], %[[HS]][%[[RE]], %[[COL]]]
func.func @gather_packed(%x: memref<3x16xf32>, %src: memref<6xi32>, %w: memref<4x2x16x16xf32>, %off: memref<5xi32>, %b: memref<4x32xf32>, %h: memref<6x32xf32>) {
  moe.grouped_matmul %x, %w gather(%src : memref<6xi32>) offsets(%off : memref<5xi32>) bias(%b : memref<4x32xf32>) outs(%h : memref<6x32xf32>) : memref<3x16xf32>, memref<4x2x16x16xf32>
  return
}

// -----

// Tests a gather on [E, N, K] weights, which the vector kernel does not
// take: each expert's rows are first copied from the tokens into one
// scratch buffer (at their own rows, in parallel), which the matmul then
// reads.

// CHECK-LABEL: func.func @gather_unpacked
// CHECK-SAME: (%[[X:[^:]+]]: memref<3x16xf32>, %[[SRC:[^:]+]]: memref<6xi32>, %[[W:[^:]+]]: memref<4x8x16xf32>, %[[OFF:[^:]+]]: memref<5xi32>, %[[H:[^:]+]]: memref<6x8xf32>)
// CHECK: %[[ROWS:.+]] = memref.alloc() : memref<6x16xf32>
// CHECK: scf.for %[[E:.+]] =
// CHECK: scf.if
// CHECK: %[[SRCS:.+]] = memref.subview %[[SRC]]
// CHECK: %[[HS:.+]] = memref.subview %[[H]]
// CHECK: %[[RS:.+]] = memref.subview %[[ROWS]]
// CHECK: scf.parallel (%[[I:.+]]) =
// CHECK: %[[T:.+]] = memref.load %[[SRCS]][%[[I]]]
// CHECK-NEXT: %[[TI:.+]] = arith.index_cast %[[T]] : i32 to index
// CHECK: scf.for %[[K:.+]] =
// CHECK: %[[V:.+]] = memref.load %[[X]][%[[TI]], %[[K]]] : memref<3x16xf32>
// CHECK-NEXT: memref.store %[[V]], %[[RS]][%[[I]], %[[K]]]
// CHECK: linalg.fill ins(%{{.+}} : f32) outs(%[[HS]] :
// CHECK-NEXT: linalg.matmul indexing_maps = {{.+}} ins(%[[RS]], %{{.+}} : {{.+}}) outs(%[[HS]] :
// CHECK: memref.dealloc %[[ROWS]] : memref<6x16xf32>
func.func @gather_unpacked(%x: memref<3x16xf32>, %src: memref<6xi32>, %w: memref<4x8x16xf32>, %off: memref<5xi32>, %h: memref<6x8xf32>) {
  moe.grouped_matmul %x, %w gather(%src : memref<6xi32>) offsets(%off : memref<5xi32>) outs(%h : memref<6x8xf32>) : memref<3x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests a gather into a padded buffer on packed weights: expert e's view of
// the [E, C] sources is its first min(counts[e], C) slots, and the vector
// kernel reads the tokens through it.

// CHECK-LABEL: func.func @gather_padded_packed
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x16xf32>, %[[SRC:[^:]+]]: memref<4x?xi32>, %[[W:[^:]+]]: memref<4x2x16x16xf32>, %[[CNT:[^:]+]]: memref<4xi32>, %[[H:[^:]+]]: memref<4x?x32xf32>)
// CHECK-NOT: memref.alloc
// CHECK: scf.for %[[E:.+]] =
// CHECK: %[[SRCS:.+]] = memref.subview %[[SRC]][%[[E]], %{{.+}}] [1, %{{.+}}] [1, 1] : memref<4x?xi32> to memref<?xi32, strided<[1], offset: ?>>
// CHECK: scf.parallel
// CHECK: %[[T0:.+]] = memref.load %[[SRCS]][%{{.+}}] : memref<?xi32, strided<[1], offset: ?>>
// CHECK-NEXT: %[[R0:.+]] = arith.index_cast %[[T0]] : i32 to index
// CHECK: memref.load %[[X]][%[[R0]], %{{.+}}] : memref<?x16xf32>
func.func @gather_padded_packed(%x: memref<?x16xf32>, %src: memref<4x?xi32>, %w: memref<4x2x16x16xf32>, %c: memref<4xi32>, %h: memref<4x?x32xf32>) {
  moe.grouped_matmul %x, %w gather(%src : memref<4x?xi32>) counts(%c : memref<4xi32>) outs(%h : memref<4x?x32xf32>) : memref<?x16xf32>, memref<4x2x16x16xf32>
  return
}

// -----

// Tests a scatter on weights packed in panels, with a bias: each expert's
// sums go to one scratch buffer as tall as the largest expert's segment
// (its first rows, reused expert after expert); after the panel's k loop,
// each row gets its bias, is scaled by its weight and added into its
// token's row of the output (a multiply, then an add, as the combine
// does). The experts run one after the other; the panels in parallel.

// CHECK-LABEL: func.func @scatter_packed
// CHECK-SAME: (%[[H:[^:]+]]: memref<6x16xf32>, %[[W:[^:]+]]: memref<4x2x16x16xf32>, %[[OFF:[^:]+]]: memref<5xi32>, %[[B:[^:]+]]: memref<4x32xf32>, %[[SRC:[^:]+]]: memref<6xi32>, %[[RW:[^:]+]]: memref<6xf32>, %[[Y:[^:]+]]: memref<3x32xf32>)
// CHECK: %[[TALLEST:.+]] = scf.for {{.+}} iter_args(%[[MAX:.+]] = %{{.+}}) -> (index)
// CHECK: %[[ROWS:.+]] = arith.subi
// CHECK-NEXT: %[[NEW:.+]] = arith.maxui %[[MAX]], %[[ROWS]] : index
// CHECK-NEXT: scf.yield %[[NEW]]
// CHECK: %[[SUMS:.+]] = memref.alloc(%[[TALLEST]]) : memref<?x32xf32>
// CHECK: scf.for %[[E:.+]] =
// CHECK: scf.if
// CHECK: %[[CS:.+]] = memref.subview %[[SUMS]][0, 0] [%[[M:.+]], 32] [1, 1]
// CHECK: %[[SRCS:.+]] = memref.subview %[[SRC]][%{{.+}}] [%[[M]]] [1]
// CHECK: %[[RWS:.+]] = memref.subview %[[RW]][%{{.+}}] [%[[M]]] [1]
// CHECK: scf.parallel (%[[P:.+]]) =
// CHECK: vector.fma
// CHECK: scf.index_switch
// CHECK: default {
// CHECK: scf.for %[[R:[^ ]+]] =
// CHECK: %[[T:.+]] = memref.load %[[SRCS]][%[[R]]]
// CHECK-NEXT: %[[TI:.+]] = arith.index_cast %[[T]] : i32 to index
// CHECK-NEXT: %[[S:.+]] = memref.load %[[RWS]][%[[R]]]
// CHECK-NEXT: %[[SV:.+]] = vector.broadcast %[[S]] : f32 to vector<8xf32>
// CHECK: %[[C:.+]] = vector.load %[[CS]][%[[R]], %[[COL:.+]]] :
// CHECK-NEXT: %[[BV:.+]] = vector.load %[[B]][%[[E]], %[[COL]]]
// CHECK-NEXT: %[[CB:.+]] = arith.addf %[[C]], %[[BV]] : vector<8xf32>
// CHECK-NEXT: %[[OLD:.+]] = vector.load %[[Y]][%[[TI]], %[[COL]]] : memref<3x32xf32>, vector<8xf32>
// CHECK-NEXT: %[[WT:.+]] = arith.mulf %[[SV]], %[[CB]] : vector<8xf32>
// CHECK-NEXT: %[[SUM:.+]] = arith.addf %[[OLD]], %[[WT]] : vector<8xf32>
// CHECK-NEXT: vector.store %[[SUM]], %[[Y]][%[[TI]], %[[COL]]] : memref<3x32xf32>, vector<8xf32>
// CHECK: memref.dealloc %[[SUMS]] : memref<?x32xf32>
func.func @scatter_packed(%h: memref<6x16xf32>, %w: memref<4x2x16x16xf32>, %off: memref<5xi32>, %b: memref<4x32xf32>, %src: memref<6xi32>, %rw: memref<6xf32>, %y: memref<3x32xf32>) {
  moe.grouped_matmul %h, %w offsets(%off : memref<5xi32>) bias(%b : memref<4x32xf32>) scatter(%src : memref<6xi32>) scale(%rw : memref<6xf32>) outs(%y : memref<3x32xf32>) : memref<6x16xf32>, memref<4x2x16x16xf32>
  return
}

// -----

// Tests a scatter from a padded buffer on [E, N, K] weights: the expert's
// sums (its first min(counts[e], C) slots) come from a matmul into the
// scratch rows, then a loop over them adds each, scaled, into its token.

// CHECK-LABEL: func.func @scatter_padded_unpacked
// CHECK-SAME: (%[[H:[^:]+]]: memref<4x?x16xf32>, %[[W:[^:]+]]: memref<4x8x16xf32>, %[[CNT:[^:]+]]: memref<4xi32>, %[[SRC:[^:]+]]: memref<4x?xi32>, %[[RW:[^:]+]]: memref<4x?xf32>, %[[Y:[^:]+]]: memref<?x8xf32>)
// CHECK: %[[SUMS:.+]] = memref.alloc(%{{.+}}) : memref<?x8xf32>
// CHECK: scf.for %[[E:.+]] =
// CHECK: scf.if
// CHECK: %[[CS:.+]] = memref.subview %[[SUMS]][0, 0]
// CHECK: %[[SRCS:.+]] = memref.subview %[[SRC]][%[[E]], %{{.+}}]
// CHECK: %[[RWS:.+]] = memref.subview %[[RW]][%[[E]], %{{.+}}]
// CHECK: linalg.matmul {{.+}} outs(%[[CS]] :
// CHECK: scf.for %[[R:[^ ]+]] =
// CHECK: scf.for %[[N:[^ ]+]] =
// CHECK: %[[C:.+]] = memref.load %[[CS]][%[[R]], %[[N]]]
// CHECK: %[[T:.+]] = memref.load %[[SRCS]][%[[R]]]
// CHECK-NEXT: %[[TI:.+]] = arith.index_cast %[[T]] : i32 to index
// CHECK-NEXT: %[[S:.+]] = memref.load %[[RWS]][%[[R]]]
// CHECK-NEXT: %[[WT:.+]] = arith.mulf %[[S]], %[[C]] : f32
// CHECK-NEXT: %[[OLD:.+]] = memref.load %[[Y]][%[[TI]], %[[N]]]
// CHECK-NEXT: %[[SUM:.+]] = arith.addf %[[OLD]], %[[WT]] : f32
// CHECK-NEXT: memref.store %[[SUM]], %[[Y]][%[[TI]], %[[N]]]
func.func @scatter_padded_unpacked(%h: memref<4x?x16xf32>, %w: memref<4x8x16xf32>, %c: memref<4xi32>, %src: memref<4x?xi32>, %rw: memref<4x?xf32>, %y: memref<?x8xf32>) {
  moe.grouped_matmul %h, %w counts(%c : memref<4xi32>) scatter(%src : memref<4x?xi32>) scale(%rw : memref<4x?xf32>) outs(%y : memref<?x8xf32>) : memref<4x?x16xf32>, memref<4x8x16xf32>
  return
}

// -----

// Tests a scatter without a scale (a shared expert adding into the routed
// output), in the vector kernel and in the scalar loop: each row is added
// as it is, with no multiply.

// CHECK-LABEL: func.func @scatter_unscaled
// CHECK-SAME: (%[[H:[^:]+]]: memref<6x16xf32>, %[[W:[^:]+]]: memref<1x2x16x16xf32>, %[[OFF:[^:]+]]: memref<2xi32>, %[[SRC:[^:]+]]: memref<6xi32>, %[[Y:[^:]+]]: memref<6x32xf32>, %[[WS:[^:]+]]: memref<1x32x16xf32>)
// CHECK: vector.fma
// CHECK: arith.index_cast
// CHECK: %[[C:.+]] = vector.load %{{.+}}[%{{.+}}, %[[COL:.+]]] : memref<?x32xf32, strided<[32, 1]>>, vector<8xf32>
// CHECK-NEXT: %[[OLD:.+]] = vector.load %[[Y]][%[[TI:.+]], %[[COL]]] : memref<6x32xf32>, vector<8xf32>
// CHECK-NEXT: %[[SUM:.+]] = arith.addf %[[OLD]], %[[C]] : vector<8xf32>
// CHECK-NEXT: vector.store %[[SUM]], %[[Y]][%[[TI]], %[[COL]]] : memref<6x32xf32>, vector<8xf32>
// CHECK: linalg.matmul
// CHECK: %[[C2:.+]] = memref.load %{{.+}}[%[[R2:.+]], %[[N:.+]]] : memref<?x32xf32, strided<[32, 1]>>
// CHECK-NEXT: %[[T2:.+]] = memref.load %{{.+}}[%[[R2]]]
// CHECK-NEXT: %[[TI2:.+]] = arith.index_cast %[[T2]] : i32 to index
// CHECK-NEXT: %[[OLD2:.+]] = memref.load %[[Y]][%[[TI2]], %[[N]]]
// CHECK-NEXT: %[[SUM2:.+]] = arith.addf %[[OLD2]], %[[C2]] : f32
// CHECK-NEXT: memref.store %[[SUM2]], %[[Y]][%[[TI2]], %[[N]]]
func.func @scatter_unscaled(%h: memref<6x16xf32>, %w: memref<1x2x16x16xf32>, %off: memref<2xi32>, %src: memref<6xi32>, %y: memref<6x32xf32>, %ws: memref<1x32x16xf32>) {
  moe.grouped_matmul %h, %w offsets(%off : memref<2xi32>) scatter(%src : memref<6xi32>) outs(%y : memref<6x32xf32>) : memref<6x16xf32>, memref<1x2x16x16xf32>
  moe.grouped_matmul %h, %ws offsets(%off : memref<2xi32>) scatter(%src : memref<6xi32>) outs(%y : memref<6x32xf32>) : memref<6x16xf32>, memref<1x32x16xf32>
  return
}

// RUN: moe-opt %s -split-input-file --moe-expand-grouped-matmul | FileCheck %s

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
// CHECK: %[[C:.+]] = memref.dim %[[X]], %{{.+}} : memref<4x?x16xf32>
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

// RUN: moe-opt %s -split-input-file --moe-lower-matmul-to-register-blocks | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-lower-matmul-to-register-blocks="block-rows=1 block-cols=2" | FileCheck %s --check-prefix=SMALL
// RUN: not moe-opt %s -split-input-file --moe-lower-matmul-to-register-blocks="block-rows=0" 2>&1 | FileCheck %s --check-prefix=BAD

// An expert projection, C += A · Bᵀ on views: row chunks, a parallel loop
// over column blocks, and 2 x 4 accumulators carried through the k loop.
// Each block adds its sums to C's old values, loaded before it stores.

// CHECK-LABEL: func.func @transposed_b
// CHECK-SAME: (%[[A:[^:]+]]: memref<?x64xf32, strided<[64, 1], offset: ?>>, %[[B:[^:]+]]: memref<128x64xf32>, %[[C:[^:]+]]: memref<?x128xf32>)
// CHECK-NOT: linalg.matmul
// CHECK: scf.for %[[ROW0:[^ ]+]] = %{{.+}} to %{{.+}} step %{{.+}} {
// CHECK: scf.parallel (%[[COL0:[^)]+]]) = (%{{.+}}) to (%{{.+}}) step (%{{.+}}) {
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} {
// CHECK: %{{.+}}:8 = scf.for %[[K:[^ ]+]] = {{.+}} -> (f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK-COUNT-2: memref.load %[[A]][%{{.+}}, %[[K]]]
// CHECK-COUNT-4: memref.load %[[B]][%{{.+}}, %[[K]]]
// CHECK: arith.mulf %{{.+}}, %{{.+}} fastmath<reassoc,contract> : f32
// CHECK: arith.addf %{{.+}}, %{{.+}} fastmath<reassoc,contract> : f32
// CHECK: scf.yield
// CHECK-COUNT-8: memref.load %[[C]]
// CHECK-COUNT-8: memref.store %{{.+}}, %[[C]]
// CHECK: scf.reduce

// SMALL-LABEL: func.func @transposed_b
// SMALL: %{{.+}}:2 = scf.for {{.+}} -> (f32, f32) {

// BAD: error: moe-lower-matmul-to-register-blocks: block-rows, block-cols and chunk-elements must be positive
func.func @transposed_b(%a: memref<?x64xf32, strided<[64, 1], offset: ?>>, %b: memref<128x64xf32>, %c: memref<?x128xf32>) {
  linalg.matmul indexing_maps = [affine_map<(i, j, k) -> (i, k)>,
                                 affine_map<(i, j, k) -> (j, k)>,
                                 affine_map<(i, j, k) -> (i, j)>]
      ins(%a, %b : memref<?x64xf32, strided<[64, 1], offset: ?>>, memref<128x64xf32>)
      outs(%c : memref<?x128xf32>)
  return
}

// -----

// Other forms are left to convert-linalg-to-loops: the default maps (B not
// transposed), tensors, and element types other than f32.

// CHECK-LABEL: func.func @left_alone
// CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : memref<8x16xf32>, memref<16x4xf32>)
// CHECK: linalg.matmul indexing_maps = {{.+}} ins(%{{.+}}, %{{.+}} : tensor<8x16xf32>, tensor<4x16xf32>)
// CHECK: linalg.matmul indexing_maps = {{.+}} ins(%{{.+}}, %{{.+}} : memref<8x16xf16>, memref<4x16xf16>)
// CHECK-NOT: scf.parallel
func.func @left_alone(%a: memref<8x16xf32>, %b: memref<16x4xf32>, %c: memref<8x4xf32>,
                      %ta: tensor<8x16xf32>, %tb: tensor<4x16xf32>, %tc: tensor<8x4xf32>,
                      %ha: memref<8x16xf16>, %hb: memref<4x16xf16>, %hc: memref<8x4xf16>) -> tensor<8x4xf32> {
  linalg.matmul ins(%a, %b : memref<8x16xf32>, memref<16x4xf32>) outs(%c : memref<8x4xf32>)
  %r = linalg.matmul indexing_maps = [affine_map<(i, j, k) -> (i, k)>,
                                      affine_map<(i, j, k) -> (j, k)>,
                                      affine_map<(i, j, k) -> (i, j)>]
      ins(%ta, %tb : tensor<8x16xf32>, tensor<4x16xf32>) outs(%tc : tensor<8x4xf32>) -> tensor<8x4xf32>
  linalg.matmul indexing_maps = [affine_map<(i, j, k) -> (i, k)>,
                                 affine_map<(i, j, k) -> (j, k)>,
                                 affine_map<(i, j, k) -> (i, j)>]
      ins(%ha, %hb : memref<8x16xf16>, memref<4x16xf16>) outs(%hc : memref<8x4xf16>)
  return %r : tensor<8x4xf32>
}

// -----

// A zero fill of C right before the matmul is folded in: the fill goes and
// the blocks store their sums without loading C.

// CHECK-LABEL: func.func @zero_filled
// CHECK-SAME: (%[[A:[^:]+]]: memref<?x64xf32>, %[[B:[^:]+]]: memref<128x64xf32>, %[[C:[^:]+]]: memref<?x128xf32>)
// CHECK-NOT: linalg.fill
// CHECK: scf.parallel
// CHECK: %[[S:.+]]:8 = scf.for
// CHECK-NOT: memref.load %[[C]]
// CHECK: memref.store %[[S]]#0, %[[C]]
// CHECK-NOT: memref.load %[[C]]
// CHECK: scf.reduce
func.func @zero_filled(%a: memref<?x64xf32>, %b: memref<128x64xf32>, %c: memref<?x128xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<?x128xf32>)
  linalg.matmul indexing_maps = [affine_map<(i, j, k) -> (i, k)>,
                                 affine_map<(i, j, k) -> (j, k)>,
                                 affine_map<(i, j, k) -> (i, j)>]
      ins(%a, %b : memref<?x64xf32>, memref<128x64xf32>) outs(%c : memref<?x128xf32>)
  return
}

// -----

// A fill with another value, or of another buffer, stays: C is accumulated.

// CHECK-LABEL: func.func @filled_with_one
// CHECK: linalg.fill
// CHECK: scf.parallel
// CHECK: memref.load %{{.+}}[%{{.+}}, %{{.+}}] : memref<?x128xf32>
func.func @filled_with_one(%a: memref<?x64xf32>, %b: memref<128x64xf32>, %c: memref<?x128xf32>) {
  %one = arith.constant 1.0 : f32
  linalg.fill ins(%one : f32) outs(%c : memref<?x128xf32>)
  linalg.matmul indexing_maps = [affine_map<(i, j, k) -> (i, k)>,
                                 affine_map<(i, j, k) -> (j, k)>,
                                 affine_map<(i, j, k) -> (i, j)>]
      ins(%a, %b : memref<?x64xf32>, memref<128x64xf32>) outs(%c : memref<?x128xf32>)
  return
}

// -----

// bf16 weights (B) under f32 rows: each loaded B element is widened to f32
// before the FMAs; A and C stay f32.

// CHECK-LABEL: func.func @bf16_weights
// CHECK-SAME: (%[[A:[^:]+]]: memref<?x64xf32>, %[[B:[^:]+]]: memref<128x64xbf16>, %[[C:[^:]+]]: memref<?x128xf32>)
// CHECK-NOT: linalg.matmul
// CHECK: scf.for %[[K:[^ ]+]] = {{.+}} -> (f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK: %[[BV:.+]] = memref.load %[[B]][%{{.+}}, %[[K]]] : memref<128x64xbf16>
// CHECK-NEXT: arith.extf %[[BV]] : bf16 to f32
func.func @bf16_weights(%a: memref<?x64xf32>, %b: memref<128x64xbf16>, %c: memref<?x128xf32>) {
  linalg.matmul indexing_maps = [affine_map<(i, j, k) -> (i, k)>,
                                 affine_map<(i, j, k) -> (j, k)>,
                                 affine_map<(i, j, k) -> (i, j)>]
      ins(%a, %b : memref<?x64xf32>, memref<128x64xbf16>)
      outs(%c : memref<?x128xf32>)
  return
}

// RUN: moe-opt %s -split-input-file --moe-lower-mmt4d-to-vectors="k-chunk=32" | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-lower-mmt4d-to-vectors="block-rows=2" | FileCheck %s --check-prefix=TWO
// RUN: not moe-opt %s -split-input-file --moe-lower-mmt4d-to-vectors="k-chunk=0" 2>&1 | FileCheck %s --check-prefix=BAD

// A packed expert projection (moe-expand-grouped-matmul's mmt4d on weights
// packed in panels of 16 columns) after a zero fill of C: a parallel loop
// over the panels, k in chunks, 6-row blocks with 6 x 2 vector<8xf32>
// accumulators starting at zero (two weight loads, a broadcast per row, an
// FMA per row and vector), whose sums are stored in the first chunk and
// added to C after it; then the m mod 6 rows past the last block as one
// block of that many rows (a switch over 1 .. 5). The fill is folded.

// CHECK-LABEL: func.func @zero_filled
// CHECK-SAME: (%[[A:[^:]+]]: memref<?x64xf32, {{.+}}>, %[[B:[^:]+]]: memref<2x64x16xf32, {{.+}}>, %[[C:[^:]+]]: memref<?x32xf32, {{.+}}>,
// CHECK-NOT: linalg.fill
// CHECK-DAG: %[[A2:.+]] = memref.collapse_shape {{.+}} into memref<?x64xf32,
// CHECK-DAG: %[[B3:.+]] = memref.collapse_shape {{.+}} into memref<2x64x16xf32,
// CHECK-DAG: %[[C2:.+]] = memref.collapse_shape {{.+}} into memref<?x32xf32,
// CHECK: scf.parallel (%[[P:[^)]+]]) =
// CHECK: scf.for %[[K0:[^ ]+]] = %{{.+}} to %{{.+}} step %{{.+}} {
// CHECK: %[[FIRST:.+]] = arith.cmpi eq, %[[K0]], %{{.+}} : index
// CHECK: scf.for %[[I:[^ ]+]] = %{{.+}} to %{{.+}} step %{{.+}} {
// CHECK: %[[ZERO:.+]] = arith.constant dense<0.000000e+00> : vector<8xf32>
// CHECK: %[[ACC:.+]]:12 = scf.for %[[K:[^ ]+]] = %[[K0]] to %{{.+}} step %{{.+}} iter_args(%{{[^ ]+}} = %[[ZERO]], {{.+}}) -> (vector<8xf32>,
// CHECK-COUNT-2: vector.load %[[B3]][%[[P]], %[[K]], %{{.+}}] : {{.+}}, vector<8xf32>
// CHECK: memref.load %[[A2]][%[[I]], %[[K]]]
// CHECK-NEXT: vector.broadcast
// CHECK-NEXT: vector.fma
// CHECK-NEXT: vector.fma
// CHECK-COUNT-5: vector.fma
// CHECK-COUNT-5: vector.fma
// CHECK: scf.yield
// CHECK: scf.if %[[FIRST]] {
// CHECK-COUNT-12: vector.store %[[ACC]]#{{[0-9]+}}, %[[C2]]
// CHECK: } else {
// CHECK: %[[OLD:.+]] = vector.load %[[C2]][%[[I]], %{{.+}}]
// CHECK-NEXT: %[[SUM:.+]] = arith.addf %[[OLD]], %[[ACC]]#0 : vector<8xf32>
// CHECK-NEXT: vector.store %[[SUM]], %[[C2]][%[[I]], %{{.+}}]
// CHECK-COUNT-11: arith.addf
// CHECK: %[[REM:.+]] = arith.subi %[[M:.+]], %[[MAIN:.+]] : index
// CHECK-NEXT: scf.index_switch %[[REM]]
// CHECK-NEXT: case 1 {
// CHECK: scf.for {{.+}} -> (vector<8xf32>, vector<8xf32>) {
// CHECK: memref.load %[[A2]][%[[MAIN]], %{{.+}}]
// CHECK-COUNT-2: vector.fma
// CHECK: scf.if %[[FIRST]] {
// CHECK-COUNT-2: vector.store %{{.+}}, %[[C2]][%[[MAIN]], %{{.+}}]
// CHECK: case 2 {
// CHECK: scf.for {{.+}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
// CHECK: case 5 {
// CHECK: scf.for {{.+}} -> ({{(vector<8xf32>, )+}}vector<8xf32>) {
// CHECK-COUNT-10: vector.fma
// CHECK: default {
// CHECK-NOT: case
// CHECK: scf.reduce

// TWO-LABEL: func.func @zero_filled
// TWO: scf.for {{.+}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// TWO: scf.index_switch
// TWO-NEXT: case 1 {
// TWO-NOT: case 2
// TWO: default {

// BAD: error: moe-lower-mmt4d-to-vectors: block-rows and k-chunk must be positive
func.func @zero_filled(%a: memref<?x64xf32, strided<[64, 1], offset: ?>>, %b: memref<2x64x16xf32, strided<[1024, 16, 1], offset: ?>>, %c: memref<?x32xf32, strided<[32, 1], offset: ?>>, %m: index) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<?x32xf32, strided<[32, 1], offset: ?>>)
  %a4 = memref.expand_shape %a [[0], [1, 2, 3]] output_shape [%m, 64, 1, 1] : memref<?x64xf32, strided<[64, 1], offset: ?>> into memref<?x64x1x1xf32, strided<[64, 1, 1, 1], offset: ?>>
  %b4 = memref.expand_shape %b [[0], [1], [2, 3]] output_shape [2, 64, 16, 1] : memref<2x64x16xf32, strided<[1024, 16, 1], offset: ?>> into memref<2x64x16x1xf32, strided<[1024, 16, 1, 1], offset: ?>>
  %c4 = memref.expand_shape %c [[0], [1, 2, 3]] output_shape [%m, 2, 1, 16] : memref<?x32xf32, strided<[32, 1], offset: ?>> into memref<?x2x1x16xf32, strided<[32, 16, 16, 1], offset: ?>>
  linalg.mmt4d ins(%a4, %b4 : memref<?x64x1x1xf32, strided<[64, 1, 1, 1], offset: ?>>, memref<2x64x16x1xf32, strided<[1024, 16, 1, 1], offset: ?>>) outs(%c4 : memref<?x2x1x16xf32, strided<[32, 16, 16, 1], offset: ?>>)
  return
}

// -----

// bf16 weights, no fill: every chunk's sums are added to C, and each
// weight vector is widened by putting its 16 bits in the high half of an
// f32 (zero extension, shift, bitcast).

// CHECK-LABEL: func.func @accumulating_bf16
// CHECK-NOT: scf.if
// CHECK: scf.parallel
// CHECK: scf.for
// CHECK: %[[RAW:.+]] = vector.load %{{.+}} : memref<2x64x16xbf16>, vector<8xbf16>
// CHECK-NEXT: %[[BITS:.+]] = vector.bitcast %[[RAW]] : vector<8xbf16> to vector<8xi16>
// CHECK-NEXT: %[[WIDE:.+]] = arith.extui %[[BITS]] : vector<8xi16> to vector<8xi32>
// CHECK-NEXT: %[[SIXTEEN:.+]] = arith.constant dense<16> : vector<8xi32>
// CHECK-NEXT: %[[HIGH:.+]] = arith.shli %[[WIDE]], %[[SIXTEEN]] : vector<8xi32>
// CHECK-NEXT: vector.bitcast %[[HIGH]] : vector<8xi32> to vector<8xf32>
// CHECK: scf.yield
// CHECK-NOT: scf.if
// CHECK: %[[OLD:.+]] = vector.load %{{.+}} : memref<?x32xf32
// CHECK-NEXT: arith.addf %[[OLD]], %{{.+}} : vector<8xf32>
func.func @accumulating_bf16(%a: memref<?x64x1x1xf32>, %b: memref<2x64x16x1xbf16>, %c: memref<?x2x1x16xf32>) {
  linalg.mmt4d ins(%a, %b : memref<?x64x1x1xf32>, memref<2x64x16x1xbf16>) outs(%c : memref<?x2x1x16xf32>)
  return
}

// -----

// Tiles other than 1 x 1 of A and 1 x P of B are not this schedule's: the
// op is left to convert-linalg-to-loops.

// CHECK-LABEL: func.func @other_tiles
// CHECK: linalg.mmt4d
func.func @other_tiles(%a: memref<4x8x2x1xf32>, %b: memref<2x8x16x1xf32>, %c: memref<4x2x2x16xf32>) {
  linalg.mmt4d ins(%a, %b : memref<4x8x2x1xf32>, memref<2x8x16x1xf32>) outs(%c : memref<4x2x2x16xf32>)
  return
}

// RUN: moe-opt %s | FileCheck %s
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// The layout-free !moe.grouped<E x D x elt> type. The dimensions are written
// with spaces around `x` (`8x64xf32` lexes as one token and does not parse).

// Tests that !moe.grouped prints in its `<E x D x elt>` form for the float
// element types it accepts, as function arguments and results.

// CHECK-LABEL: func.func @grouped_element_types
// CHECK-SAME: (%{{[a-z0-9_]+}}: !moe.grouped<8 x 4096 x f32>, %{{[a-z0-9_]+}}: !moe.grouped<1 x 1 x f16>, %{{[a-z0-9_]+}}: !moe.grouped<64 x 7168 x bf16>, %{{[a-z0-9_]+}}: !moe.grouped<2 x 3 x f64>, %{{[a-z0-9_]+}}: !moe.grouped<4 x 16 x f8E4M3FN>)
// CHECK-SAME: -> !moe.grouped<8 x 4096 x f32>
func.func @grouped_element_types(%a: !moe.grouped<8 x 4096 x f32>, %b: !moe.grouped<1 x 1 x f16>, %c: !moe.grouped<64 x 7168 x bf16>, %d: !moe.grouped<2 x 3 x f64>, %e: !moe.grouped<4 x 16 x f8E4M3FN>) -> !moe.grouped<8 x 4096 x f32> {
  return %a : !moe.grouped<8 x 4096 x f32>
}

// Tests that !moe.grouped is accepted wherever a type is (here a block
// argument) and that extra whitespace inside the brackets is normalized.

// CHECK-LABEL: func.func @grouped_block_argument
// CHECK: ^bb1(%[[G:.+]]: !moe.grouped<4 x 16 x f32>):
// CHECK: return %[[G]] : !moe.grouped<4 x 16 x f32>
func.func @grouped_block_argument(%a: !moe.grouped<4   x   16   x   f32>) -> !moe.grouped<4 x 16 x f32> {
  cf.br ^bb1(%a : !moe.grouped<4 x 16 x f32>)
^bb1(%g: !moe.grouped<4 x 16 x f32>):
  return %g : !moe.grouped<4 x 16 x f32>
}

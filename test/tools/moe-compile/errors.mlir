// Tests that moe-compile rejects bad input with one clear line and a
// non-zero exit.

// RUN: rm -rf %t && mkdir -p %t && split-file %s %t

// RUN: not moe-compile %t/unnamed.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=UNNAMED
// UNNAMED: error: argument #1 of @forward needs a name: one of moe.input, moe.weight = "..."

// RUN: not moe-compile %t/two.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=TWO
// TWO: error: expects exactly one public function with a body, found @a and @b

// RUN: not moe-compile %t/dynweight.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=DYN
// DYN: error: argument #1 ('w'): only dimension 0 of inputs and outputs may be dynamic (the token count T), got 'tensor<?x16xf32>'

// RUN: not moe-compile %t/invalid.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=INVALID
// INVALID: error: 'moe.layer' op expects top_k <= number of experts (4), got top_k = 5

// RUN: not moe-compile %t/bf16.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=BF16
// BF16: error: 'moe.route' op moe-lower-to-linalg supports f32 tensors only, got 'tensor<?x16xbf16>'

// RUN: not moe-compile %t/missing.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: moe-compile: error: {{.*}}missing.mlir

// RUN: not moe-compile %t/unnamed.mlir 2>&1 | FileCheck %s --check-prefix=NOOUT
// NOOUT: moe-compile: error: no output file: pass -o model.so

// RUN: not moe-compile %t/two.mlir -o %t/x.so --emit=pdf 2>&1 | FileCheck %s --check-prefix=EMIT
// EMIT: moe-compile: error: unknown --emit=pdf (so, obj, llvm, mlir)

// RUN: not moe-compile %t/two.mlir -o %t/x.so --lowering=padded 2>&1 | FileCheck %s --check-prefix=LOWERING
// LOWERING: Cannot find option named 'padded'!

//--- unnamed.mlir
func.func @forward(%x: tensor<?x16xf32> {moe.input = "x"}, %w: tensor<4x16xf32>) -> (tensor<?x16xf32> {moe.output = "y"}) {
  return %x : tensor<?x16xf32>
}

//--- two.mlir
func.func @a(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
func.func @b(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

//--- dynweight.mlir
func.func @forward(%x: tensor<?x16xf32> {moe.input = "x"}, %w: tensor<?x16xf32> {moe.weight = "w"}) -> (tensor<?x16xf32> {moe.output = "y"}) {
  return %x : tensor<?x16xf32>
}

//--- invalid.mlir
func.func @forward(%x: tensor<?x16xf32> {moe.input = "x"}, %wg: tensor<4x16xf32> {moe.weight = "wg"}, %i: tensor<4x8x16xf32> {moe.weight = "i"}, %o: tensor<4x16x8xf32> {moe.weight = "o"}) -> (tensor<?x16xf32> {moe.output = "y"}) {
  %y = moe.layer %x, %wg experts(%i, %o) {top_k = 5 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

//--- bf16.mlir
func.func @forward(%x: tensor<?x16xbf16> {moe.input = "x"}, %wg: tensor<4x16xbf16> {moe.weight = "wg"}, %i: tensor<4x8x16xbf16> {moe.weight = "i"}, %o: tensor<4x16x8xbf16> {moe.weight = "o"}) -> (tensor<?x16xbf16> {moe.output = "y"}) {
  %y = moe.layer %x, %wg experts(%i, %o) {top_k = 1 : i64} : (tensor<?x16xbf16>, tensor<4x16xbf16>, tensor<4x8x16xbf16>, tensor<4x16x8xbf16>) -> tensor<?x16xbf16>
  return %y : tensor<?x16xbf16>
}

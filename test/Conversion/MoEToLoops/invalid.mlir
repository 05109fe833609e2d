// RUN: moe-opt %s -split-input-file -verify-diagnostics --moe-lower-to-loops

// Tests that an undecomposed layer is rejected with the passes to run.
func.func @layer(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>, %i: tensor<4x8x16xf32>, %o: tensor<4x16x8xf32>) -> tensor<?x16xf32> {
  // expected-error @+1 {{'moe.layer' op must be decomposed before moe-lower-to-loops (run moe-decompose and a layout pass)}}
  %y = moe.layer %x, %wg experts(%i, %o) {top_k = 1 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that a layout-free dispatch is rejected.
func.func @grouped(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32> {
  // expected-error @+1 {{'moe.dispatch' op has no layout yet: run moe-static-capacity or moe-dynamic-shapes before moe-lower-to-loops}}
  %g = moe.dispatch %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> !moe.grouped<4 x 16 x f32>
  return %g : !moe.grouped<4 x 16 x f32>
}

// -----

// Tests that non-f32 compute is rejected rather than silently converted.
func.func @bf16(%x: tensor<?x16xbf16>, %wg: tensor<4x16xbf16>) -> (tensor<?x2xi32>, tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.route' op moe-lower-to-loops supports f32 tensors only, got 'tensor<?x16xbf16>'}}
  %idx, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<?x16xbf16>, tensor<4x16xbf16>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  return %idx, %w : tensor<?x2xi32>, tensor<?x2xf32>
}

// -----

// Tests that i64 index tensors are rejected.
func.func @i64(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) -> (tensor<?x2xi64>, tensor<?x2xf32>) {
  // expected-error @+1 {{'moe.route' op moe-lower-to-loops supports i32 index tensors only, got 'tensor<?x2xi64>'}}
  %idx, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi64>, tensor<?x2xf32>)
  return %idx, %w : tensor<?x2xi64>, tensor<?x2xf32>
}

// -----

// Tests that a dynamic k (or E, or D) is rejected: only the token count and
// the capacity may be dynamic.
func.func @dynamic_k(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>) -> (tensor<?x?xi32>, tensor<?x?xf32>) {
  // expected-error @+1 {{'moe.route' op moe-lower-to-loops needs static shapes except the token count (or capacity), got 'tensor<?x?xi32>'}}
  %idx, %w = moe.route %x, %wg {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x?xi32>, tensor<?x?xf32>)
  return %idx, %w : tensor<?x?xi32>, tensor<?x?xf32>
}

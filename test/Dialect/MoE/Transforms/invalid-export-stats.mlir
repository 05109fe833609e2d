// RUN: moe-opt %s -split-input-file --moe-export-stats -verify-diagnostics

// Tests that moe-export-stats refuses dispatches it cannot return the
// statistics of: one inside a loop, and a branch without one dispatch in
// each of its regions.

func.func @in_loop(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    // expected-error @+1 {{moe-export-stats expects the dispatch at the top level of its function, or one in each branch of a top-level scf.if (moe-choose-dispatch-layout)}}
    %rows, %off, %pos, %counts = moe.dispatch_sorted %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  }
  return
}

// -----

func.func @one_branch(%x: tensor<?x16xf32>, %idx: tensor<?x2xi32>, %c: i1) -> tensor<4xi32> {
  // expected-error @+1 {{moe-export-stats expects one dispatch in each branch of this scf.if}}
  %r = scf.if %c -> (tensor<4xi32>) {
    %rows, %off, %pos, %counts = moe.dispatch_sorted %x, %idx : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
    scf.yield %counts : tensor<4xi32>
  } else {
    %e = tensor.empty() : tensor<4xi32>
    scf.yield %e : tensor<4xi32>
  }
  return %r : tensor<4xi32>
}

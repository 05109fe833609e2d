// RUN: moe-opt %s -split-input-file --moe-pack-expert-weights | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-pack-expert-weights="panel=8" | FileCheck %s --check-prefix=EIGHT
// RUN: not moe-opt %s --moe-pack-expert-weights="panel=0" 2>&1 | FileCheck %s --check-prefix=BAD

// Expert weights [E, N, K] become [E, N / 16, K, 16] arguments marked
// moe.weight_panels, unpacked at the top of the function for moe.experts;
// the router's [E, D] weight is not an expert weight and stays as it is.

// CHECK-LABEL: func.func @forward
// CHECK-SAME: %{{[^:]+}}: tensor<4x16xf32> {moe.weight = "router"}
// CHECK-SAME: %[[G:[^:]+]]: tensor<4x2x16x16xbf16> {moe.weight = "gate", moe.weight_panels = 16 : i64}
// CHECK-SAME: %[[U:[^:]+]]: tensor<4x2x16x16xbf16> {moe.weight = "up", moe.weight_panels = 16 : i64}
// CHECK-SAME: %[[D:[^:]+]]: tensor<4x1x32x16xbf16> {moe.weight = "down", moe.weight_panels = 16 : i64}
// CHECK: %[[EG:.+]] = tensor.empty() : tensor<4x32x16xbf16>
// CHECK: %[[UG:.+]] = linalg.unpack %[[G]] inner_dims_pos = [1] inner_tiles = [16] into %[[EG]] : tensor<4x2x16x16xbf16> -> tensor<4x32x16xbf16>
// CHECK: %[[UU:.+]] = linalg.unpack %[[U]] inner_dims_pos = [1] inner_tiles = [16]
// CHECK: %[[UD:.+]] = linalg.unpack %[[D]] inner_dims_pos = [1] inner_tiles = [16] into %{{.+}} : tensor<4x1x32x16xbf16> -> tensor<4x16x32xbf16>
// CHECK: moe.experts %{{.+}} offsets(%{{.+}}) weights(%[[UG]], %[[UU]], %[[UD]])

// With panels of 8: N = 16 and 32 are multiples too.
// EIGHT-LABEL: func.func @forward
// EIGHT-SAME: tensor<4x4x16x8xbf16> {moe.weight = "gate", moe.weight_panels = 8 : i64}
// EIGHT-SAME: tensor<4x2x32x8xbf16> {moe.weight = "down", moe.weight_panels = 8 : i64}

// BAD: error: moe-pack-expert-weights: panel must be positive, got 0
func.func @forward(%x: tensor<?x16xf32> {moe.input = "x"}, %router: tensor<4x16xf32> {moe.weight = "router"}, %wg: tensor<4x32x16xbf16> {moe.weight = "gate"}, %wu: tensor<4x32x16xbf16> {moe.weight = "up"}, %wd: tensor<4x16x32xbf16> {moe.weight = "down"}) -> (tensor<?x16xf32> {moe.output = "y"}) {
  %indices, %weights = moe.route %x, %router {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  %rows, %offsets, %positions, %counts = moe.dispatch_sorted %x, %indices : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %0 = moe.experts %rows offsets(%offsets) weights(%wg, %wu, %wd) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<?x16xf32>
  %1 = moe.combine_sorted %0, %positions, %weights : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %1 : tensor<?x16xf32>
}

// -----

// Left as they are: N = 20 (not a multiple of 16, the gate and up
// projections), a weight without moe.weight (the down projection), and a
// private function's arguments (not the model's entry point).

// CHECK-LABEL: func.func @not_packed
// CHECK-SAME: tensor<4x20x16xf32> {moe.weight = "gate"}, %{{[^:]+}}: tensor<4x20x16xf32> {moe.weight = "up"}, %{{[^:]+}}: tensor<4x16x20xf32>)
// CHECK-NOT: linalg.unpack
// CHECK-LABEL: func.func private @helper
// CHECK-SAME: tensor<4x16x16xf32> {moe.weight = "w"}
// CHECK-NOT: linalg.unpack
func.func @not_packed(%x: tensor<?x16xf32> {moe.input = "x"}, %router: tensor<4x16xf32> {moe.weight = "router"}, %wg: tensor<4x20x16xf32> {moe.weight = "gate"}, %wu: tensor<4x20x16xf32> {moe.weight = "up"}, %wd: tensor<4x16x20xf32>) -> (tensor<?x16xf32> {moe.output = "y"}) {
  %indices, %weights = moe.route %x, %router {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xi32>, tensor<?x2xf32>)
  %rows, %offsets, %positions, %counts = moe.dispatch_sorted %x, %indices : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>, tensor<4xi32>)
  %0 = moe.experts %rows offsets(%offsets) weights(%wg, %wu, %wd) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x20x16xf32>, tensor<4x20x16xf32>, tensor<4x16x20xf32>) -> tensor<?x16xf32>
  %1 = moe.combine_sorted %0, %positions, %weights : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> tensor<?x16xf32>
  return %1 : tensor<?x16xf32>
}
func.func private @helper(%w: tensor<4x16x16xf32> {moe.weight = "w"}) -> tensor<4x16x16xf32> {
  return %w : tensor<4x16x16xf32>
}

// -----

// A weight that something besides moe.experts reads keeps its layout; the
// other expert weight is packed.

// CHECK-LABEL: func.func @also_read
// CHECK-SAME: %[[W:[^:]+]]: tensor<4x16x16xf32> {moe.weight = "in"}
// CHECK-SAME: %[[W2:[^:]+]]: tensor<4x1x16x16xf32> {moe.weight = "out", moe.weight_panels = 16 : i64}
// CHECK: %[[U2:.+]] = linalg.unpack %[[W2]]
// CHECK: moe.experts %{{.+}} offsets(%{{.+}}) weights(%[[W]], %[[U2]])
// CHECK: tensor.extract %[[W]]
func.func @also_read(%rows: tensor<?x16xf32> {moe.input = "x"}, %offsets: tensor<5xi32> {moe.input = "o"}, %w: tensor<4x16x16xf32> {moe.weight = "in"}, %w2: tensor<4x16x16xf32> {moe.weight = "out"}) -> (tensor<?x16xf32>, f32) {
  %0 = moe.experts %rows offsets(%offsets) weights(%w, %w2) {activation = #moe.activation<relu>} : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x16x16xf32>, tensor<4x16x16xf32>) -> tensor<?x16xf32>
  %c0 = arith.constant 0 : index
  %v = tensor.extract %w[%c0, %c0, %c0] : tensor<4x16x16xf32>
  return %0, %v : tensor<?x16xf32>, f32
}

// RUN: moe-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(moe-serial-host-code-to-gpu))' | FileCheck %s

// Tests that the host code left after convert-parallel-loops-to-gpu which
// reads or writes a buffer moves into one-thread launches: a run of such ops
// (separated only by side-effect-free ops, which stay on the host) becomes
// one launch at the run's last op; launches, allocations and copies stay.

// CHECK-LABEL: func.func @offsets_scan
// CHECK-SAME: (%[[COUNTS:.+]]: memref<8xi32>, %[[OFFSETS:.+]]: memref<9xi32>)
// CHECK: %[[BUF:.+]] = memref.alloc() : memref<4xf32>
// The index arithmetic between the store and the loop stays on the host.
// CHECK: %[[N:.+]] = memref.dim %[[COUNTS]]
// CHECK: %[[ONE:.+]] = arith.constant 1 : index
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]]) threads(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]])
// CHECK-NEXT: memref.store %{{.+}}, %[[OFFSETS]][%{{.+}}] : memref<9xi32>
// CHECK-NEXT: %{{.+}} = scf.for %{{.+}} = %{{.+}} to %[[N]]
// CHECK: memref.load %[[COUNTS]]
// CHECK: memref.store
// CHECK: gpu.terminator
// CHECK: memref.copy
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @offsets_scan(%counts: memref<8xi32>, %offsets: memref<9xi32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0 : i32
  %buf = memref.alloc() : memref<4xf32>
  memref.store %zero, %offsets[%c0] : memref<9xi32>
  %n = memref.dim %counts, %c0 : memref<8xi32>
  %total = scf.for %e = %c0 to %n step %c1 iter_args(%acc = %zero) -> (i32) {
    %c = memref.load %counts[%e] : memref<8xi32>
    %s = arith.addi %acc, %c : i32
    %e1 = arith.addi %e, %c1 : index
    memref.store %s, %offsets[%e1] : memref<9xi32>
    scf.yield %s : i32
  }
  %other = memref.alloc() : memref<4xf32>
  memref.copy %buf, %other : memref<4xf32> to memref<4xf32>
  return
}

// -----

// An allocation ends a run: two stores on either side become two launches.
// CHECK-LABEL: func.func @two_runs
// CHECK: gpu.launch
// CHECK-NEXT: memref.store
// CHECK: memref.alloc
// CHECK: gpu.launch
// CHECK-NEXT: memref.store
func.func @two_runs(%a: memref<2xi32>) {
  %c0 = arith.constant 0 : index
  %v = arith.constant 7 : i32
  memref.store %v, %a[%c0] : memref<2xi32>
  %b = memref.alloc() : memref<2xi32>
  memref.store %v, %b[%c0] : memref<2xi32>
  return
}

// -----

// Nothing on the host touches a buffer: no launch.
// CHECK-LABEL: func.func @nothing
// CHECK-NOT: gpu.launch
func.func @nothing(%a: memref<?xf32>) -> index {
  %c0 = arith.constant 0 : index
  %n = memref.dim %a, %c0 : memref<?xf32>
  return %n : index
}

// -----

// The host cannot use a value computed from device memory.
func.func @host_reads(%a: memref<2xi32>) -> i32 {
  %c0 = arith.constant 0 : index
  // expected-error @below {{reads or writes device memory, but the host uses its result; it cannot run as a one-thread GPU launch}}
  %v = memref.load %a[%c0] : memref<2xi32>
  return %v : i32
}

// -----

// A side-effect-free op on a value the run loaded joins the run (what a
// folded one-iteration loop leaves, e.g. the kept count of a one-expert
// layer), so the host never uses a device value.
// CHECK-LABEL: func.func @pure_op_on_a_loaded_value
// CHECK-SAME: (%[[COUNTS:.+]]: memref<1xi32>, %[[KEPT:.+]]: memref<1xi32>, %[[CAP:.+]]: i32)
// CHECK: gpu.launch
// CHECK-NEXT: %[[C:.+]] = memref.load %[[COUNTS]]
// CHECK-NEXT: %[[M:.+]] = arith.minsi %[[C]], %[[CAP]] : i32
// CHECK-NEXT: memref.store %[[M]], %[[KEPT]]
// CHECK-NEXT: gpu.terminator
func.func @pure_op_on_a_loaded_value(%counts: memref<1xi32>, %kept: memref<1xi32>, %cap: i32) {
  %c0 = arith.constant 0 : index
  %c = memref.load %counts[%c0] : memref<1xi32>
  %m = arith.minsi %c, %cap : i32
  memref.store %m, %kept[%c0] : memref<1xi32>
  return
}

// -----

// A run that only reads and whose value only a launch uses (a folded
// one-iteration tile list: the tile's end found from counts[0]) is copied
// into that launch; nothing is left on the host.
// CHECK-LABEL: func.func @read_only_run_into_its_launch
// CHECK-SAME: (%[[COUNTS:.+]]: memref<1xi32>, %[[OUT:.+]]: memref<64xf32>, %[[CAP:.+]]: i32)
// CHECK-NOT: memref.load
// CHECK: gpu.launch
// CHECK-NEXT: %[[C:.+]] = memref.load %[[COUNTS]]
// CHECK-NEXT: %[[M:.+]] = arith.minsi %[[C]], %[[CAP]] : i32
// CHECK: arith.cmpi slt, %{{.+}}, %[[M]] : i32
// CHECK: gpu.terminator
// CHECK-NOT: memref.load
func.func @read_only_run_into_its_launch(%counts: memref<1xi32>, %out: memref<64xf32>, %cap: i32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %one = arith.constant 1.0 : f32
  %c = memref.load %counts[%c0] : memref<1xi32>
  %m = arith.minsi %c, %cap : i32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %i = arith.index_cast %tx : index to i32
    %in = arith.cmpi slt, %i, %m : i32
    scf.if %in {
      memref.store %one, %out[%tx] : memref<64xf32>
    }
    gpu.terminator
  }
  return
}

// -----

// A read-only run is not copied past a write to what it reads (here the
// launch itself overwrites counts[0]): the host would use a device value.
func.func @read_only_run_but_written_later(%counts: memref<1xi32>, %cap: i32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c = memref.load %counts[%c0] : memref<1xi32>
  // expected-error @below {{reads or writes device memory, but the host uses its result; it cannot run as a one-thread GPU launch}}
  %m = arith.minsi %c, %cap : i32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    memref.store %m, %counts[%c0] : memref<1xi32>
    gpu.terminator
  }
  return
}

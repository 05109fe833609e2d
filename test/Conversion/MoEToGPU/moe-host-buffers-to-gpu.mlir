// RUN: moe-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(func.func(moe-host-buffers-to-gpu))' | FileCheck %s

// Tests that the host's allocations, deallocations and copies become their
// gpu dialect forms (device memory), and that a kernel's are left alone.

// CHECK-LABEL: func.func @buffers
// CHECK-SAME: (%[[T:.+]]: index, %[[OUT:.+]]: memref<?x8xf32>)
// CHECK: %[[BUF:.+]] = gpu.alloc  (%[[T]]) : memref<?x8xf32>
// CHECK: %[[TMP:.+]] = gpu.alloc  () : memref<4xi32>
// CHECK: gpu.launch
// CHECK: memref.alloca() : memref<2xf32>
// CHECK: gpu.terminator
// CHECK: gpu.memcpy  %[[OUT]], %[[BUF]] : memref<?x8xf32>, memref<?x8xf32>
// CHECK: gpu.dealloc  %[[TMP]] : memref<4xi32>
// CHECK: gpu.dealloc  %[[BUF]] : memref<?x8xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.dealloc
// CHECK-NOT: memref.copy
func.func @buffers(%t: index, %out: memref<?x8xf32>) {
  %c1 = arith.constant 1 : index
  %buf = memref.alloc(%t) : memref<?x8xf32>
  %tmp = memref.alloca() : memref<4xi32>
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%u = %c1, %v = %c1, %w = %c1) {
    %local = memref.alloca() : memref<2xf32>
    gpu.terminator
  }
  memref.copy %buf, %out : memref<?x8xf32> to memref<?x8xf32>
  memref.dealloc %tmp : memref<4xi32>
  memref.dealloc %buf : memref<?x8xf32>
  return
}

// -----

// A strided copy is not one contiguous range: it stays, and the conversion
// fails.
func.func @strided(%a: memref<4x4xf32>, %b: memref<4x4xf32, strided<[8, 1]>>) {
  // expected-error @below {{failed to legalize operation 'memref.copy'}}
  memref.copy %a, %b : memref<4x4xf32> to memref<4x4xf32, strided<[8, 1]>>
  return
}

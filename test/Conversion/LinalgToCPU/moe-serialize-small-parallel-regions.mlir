// RUN: moe-opt %s -split-input-file --moe-serialize-small-parallel-regions | FileCheck %s
// RUN: moe-opt %s -split-input-file --moe-serialize-small-parallel-regions="min-work=100" | FileCheck %s --check-prefix=LOW
// RUN: not moe-opt %s --moe-serialize-small-parallel-regions="min-work=-1" 2>&1 | FileCheck %s --check-prefix=BAD

// A worksharing loop over %n rows, each an inner loop of 64 steps of two
// operations (a load and a store; terminators count nothing): the
// estimate, %n x 128,
// is computed before the region from %n, and the region runs in parallel
// only when it reaches min-work.

// CHECK-LABEL: func.func @rows
// CHECK-SAME: (%[[N:[^:]+]]: index,
// CHECK: %[[SPAN:.+]] = arith.subi %[[N]], %{{.+}} : index
// CHECK: %[[TRIPS:.+]] = arith.maxsi %[[SPAN]], %{{.+}} : index
// CHECK: %[[PER:.+]] = arith.constant 128 : index
// CHECK: %[[WORK:.+]] = arith.muli %[[PER]], %[[TRIPS]] : index
// CHECK: %[[MIN:.+]] = arith.constant 32768 : index
// CHECK: %[[BIG:.+]] = arith.cmpi uge, %[[WORK]], %[[MIN]] : index
// CHECK: omp.parallel if(%[[BIG]]) {
// BAD: error: moe-serialize-small-parallel-regions: min-work must not be negative
func.func @rows(%n: index, %buf: memref<?x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        scf.for %j = %c0 to %c64 step %c1 {
          %v = memref.load %buf[%i, %j] : memref<?x64xf32>
          memref.store %v, %buf[%j, %i] : memref<?x64xf32>
        }
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// -----

// Constant work: 4 x 64 x 2 = 512 operations run on one thread (if false);
// with min-work=100 they are enough for threads and the region is left
// alone.

// CHECK-LABEL: func.func @small
// CHECK: %[[FALSE:.+]] = arith.constant false
// CHECK: omp.parallel if(%[[FALSE]]) {
// LOW-LABEL: func.func @small
// LOW-NOT: arith.constant false
// LOW: omp.parallel {
func.func @small(%buf: memref<?x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%c4) step (%c1) {
        scf.for %j = %c0 to %c64 step %c1 {
          %v = memref.load %buf[%i, %j] : memref<?x64xf32>
          memref.store %v, %buf[%j, %i] : memref<?x64xf32>
        }
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// -----

// A vector operation counts its elements: 1024 iterations of a
// vector<64xf32> load and store (64 each) are 131072 operations, enough.

// CHECK-LABEL: func.func @vectors
// CHECK-NOT: arith.cmpi
// CHECK: omp.parallel {
func.func @vectors(%buf: memref<1024x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c1024 = arith.constant 1024 : index
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%c1024) step (%c1) {
        %v = vector.load %buf[%i, %c0] : memref<1024x64xf32>, vector<64xf32>
        vector.store %v, %buf[%i, %c0] : memref<1024x64xf32>, vector<64xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// -----

// A chunk of a range, [c * 256, min(c * 256 + 256, %n)), has at most 256
// iterations whatever %n: the chunks' loop over ceil(%n / 256) is the only
// dynamic factor. Both branches of the scf.if count: a chunk is
// 3 + 256 x (1 + 1) = 515 operations.

// CHECK-LABEL: func.func @chunks
// CHECK-SAME: (%[[N:[^:]+]]: index,
// CHECK: %[[CHUNKS:.+]] = arith.ceildivui %[[N]]
// CHECK: arith.subi %[[CHUNKS]]
// CHECK: %[[PER:.+]] = arith.constant 515 : index
// CHECK: %[[WORK:.+]] = arith.muli %[[PER]],
// CHECK: arith.cmpi uge, %[[WORK]]
// CHECK: omp.parallel if(
func.func @chunks(%n: index, %buf: memref<?xf32>, %flag: i1) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %f = arith.constant 0.0 : f32
  %chunks = arith.ceildivui %n, %c256 : index
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%c) : index = (%c0) to (%chunks) step (%c1) {
        %lb = arith.muli %c, %c256 : index
        %end = arith.addi %lb, %c256 : index
        %ub = arith.minui %end, %n : index
        scf.for %t = %lb to %ub step %c1 {
          scf.if %flag {
            memref.store %f, %buf[%t] : memref<?xf32>
          } else {
            memref.store %f, %buf[%c0] : memref<?xf32>
          }
        }
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// -----

// A loop whose bound the region loads cannot be estimated beforehand: the
// region stays parallel, with no if, and what the estimate had built for the
// loop before it (its trip count over %n) is erased.

// CHECK-LABEL: func.func @loaded_bound
// CHECK-NOT: arith.subi
// CHECK-NOT: arith.maxsi
// CHECK-NOT: arith.cmpi
// CHECK: omp.parallel {
func.func @loaded_bound(%n: index, %sizes: memref<4xindex>, %buf: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %f = arith.constant 0.0 : f32
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%c4) step (%c1) {
        scf.for %t = %c0 to %n step %c1 {
          memref.store %f, %buf[%t] : memref<?xf32>
        }
        %m = memref.load %sizes[%i] : memref<4xindex>
        scf.for %t = %c0 to %m step %c1 {
          memref.store %f, %buf[%t] : memref<?xf32>
        }
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// -----

// A region that already has an if keeps it.

// CHECK-LABEL: func.func @has_if
// CHECK-SAME: (%[[COND:[^:]+]]: i1
// CHECK-NOT: arith.constant false
// CHECK: omp.parallel if(%[[COND]]) {
func.func @has_if(%cond: i1, %buf: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %f = arith.constant 0.0 : f32
  omp.parallel if(%cond) {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%c4) step (%c1) {
        memref.store %f, %buf[%i] : memref<4xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// RUN: moe-opt %s --moe-approximate-math | FileCheck %s --implicit-check-not=math.exp --implicit-check-not=math.erf
// RUN: moe-opt %s --moe-approximate-math --convert-math-to-llvm --convert-math-to-libm | FileCheck %s --check-prefix=CALLS --implicit-check-not=call

// f32 exp and erf, on vectors and scalars, become polynomials: range
// reduction with math.floor and a polynomial in math.fma, no math.exp or
// math.erf left. f64 keeps libm.

// CHECK-LABEL: func.func @activation
// CHECK: math.floor %{{.+}} : vector<8xf32>
// CHECK: math.fma %{{.+}}, %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: math.fma %{{.+}}, %{{.+}}, %{{.+}} : f32
// CHECK: math.exp %{{.+}} : f64
// CHECK: return

// After the CPU pipeline's math lowerings there is no call: the vector fma
// and floor are LLVM intrinsics (one instruction each, not one libm call
// per lane), and so is the f64 exp.

// CALLS-LABEL: func.func @activation
// CALLS: llvm.intr.floor(%{{.+}}) : (vector<8xf32>) -> vector<8xf32>
// CALLS: llvm.intr.fma(%{{.+}}, %{{.+}}, %{{.+}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// CALLS: llvm.intr.exp(%{{.+}}) : (f64) -> f64
func.func @activation(%v: vector<8xf32>, %s: f32, %d: f64)
    -> (vector<8xf32>, vector<8xf32>, f32, f64) {
  %e = math.exp %v : vector<8xf32>
  %g = math.erf %v : vector<8xf32>
  %f = math.exp %s : f32
  %h = math.exp %d : f64
  return %e, %g, %f, %h : vector<8xf32>, vector<8xf32>, f32, f64
}

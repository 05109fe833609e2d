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
// BF16: error: 'moe.route' op moe-lower-to-loops supports f32 tensors only, got 'tensor<?x16xbf16>'

// RUN: not moe-compile %t/missing.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: moe-compile: error: {{.*}}missing.mlir

// RUN: not moe-compile %t/unnamed.mlir 2>&1 | FileCheck %s --check-prefix=NOOUT
// NOOUT: moe-compile: error: no output file: pass -o model.so

// RUN: not moe-compile %t/two.mlir -o %t/x.so --emit=pdf 2>&1 | FileCheck %s --check-prefix=EMIT
// EMIT: moe-compile: error: unknown --emit=pdf (so, obj, llvm, mlir)

// RUN: not moe-compile %t/two.mlir -o %t/x.so --lowering=padded 2>&1 | FileCheck %s --check-prefix=LOWERING
// LOWERING: Cannot find option named 'padded'!

// RUN: not moe-compile %t/dup.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=DUP
// DUP: error: argument #3 of @forward: the name 'w' is already used by another weight

// RUN: not moe-compile %t/empty.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=EMPTY
// EMPTY: error: argument #1 of @forward has an empty moe.weight name

// RUN: not moe-compile %t/statname.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=STATNAME
// STATNAME: error: result #1 of @forward: the name 'expert_counts' is already used by another output
// RUN: not moe-compile %t/statname2.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=STATNAME2
// STATNAME2: error: the output 'expert_counts' has the name of a routing statistics result that moe-compile adds: rename the output (or compile with --no-stats)
// RUN: moe-compile %t/statname2.mlir -o %t/x.so --no-stats

// RUN: not moe-compile %t/sources.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=SOURCES
// SOURCES: error: moe.weight_sources of weight 'o': entry 0: expects parts >= 1 and 0 <= part < parts, got parts = 2, part = 2
// RUN: sed -e 's/parts = 2 : i64, part = 2 : i64/stride = 2 : i64/' %t/sources.mlir > %t/sources2.mlir
// RUN: not moe-compile %t/sources2.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=SOURCES2
// SOURCES2: error: moe.weight_sources of weight 'o': entry 0: unknown key 'stride' (name, transpose, parts, part, interleave)
// RUN: sed -e 's/\[{name = "o_fused", parts = 2 : i64, part = 2 : i64}\]/"o_fused"/' %t/sources.mlir > %t/sources3.mlir
// RUN: not moe-compile %t/sources3.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=SOURCES3
// SOURCES3: error: moe.weight_sources of weight 'o': expects a non-empty array of dictionaries
// RUN: not moe-compile %moec_src/examples/mixtral.mlir -o %t/x.so --weight-panels=12 2>&1 | FileCheck %s --check-prefix=PANELS
// PANELS: moe-compile: error: --weight-panels=12 must be 0 or a multiple of 8
// RUN: not moe-compile %moec_src/examples/mixtral.mlir -o %t/x.so --grouped-gemm=tile-list --weight-panels=16 2>&1 | FileCheck %s --check-prefix=PANELS-TILES
// PANELS-TILES: moe-compile: error: --weight-panels is the CPU per-expert schedule's weight layout; pass --weight-panels=0 with --grouped-gemm=tile-list
// RUN: not moe-compile %moec_src/examples/mixtral.mlir -o %t/x.so --parallel-min-work=-5 2>&1 | FileCheck %s --check-prefix=MIN-WORK
// MIN-WORK: moe-compile: error: --parallel-min-work=-5 must not be negative
// RUN: not moe-compile %moec_src/examples/mixtral.mlir -o %t/x.so --openmp=false --parallel-min-work=100 2>&1 | FileCheck %s --check-prefix=MIN-WORK-SERIAL
// MIN-WORK-SERIAL: moe-compile: error: --parallel-min-work tunes the CPU's OpenMP regions; it has no effect with --openmp=false
// The CUDA target fuses the gather and the activation (both can be turned
// off), but not the combine or the shared expert: asking for those fails.
// RUN: moe-compile %moec_src/examples/mixtral.mlir --target=cuda --fuse-gated-activation=false --fuse-dispatch-gather=false --fuse-expert-combine=false --print-pipeline | FileCheck %s --check-prefix=UNFUSED-CUDA
// UNFUSED-CUDA-NOT: moe-fuse
// RUN: not moe-compile %moec_src/examples/mixtral.mlir -o %t/x.so --target=cuda --fuse-expert-combine 2>&1 | FileCheck %s --check-prefix=COMBINE-CUDA
// COMBINE-CUDA: moe-compile: error: --fuse-expert-combine is a CPU option: the CUDA target's tile list runs the experts at once, so it cannot add their rows into the tokens in expert order
// RUN: not moe-compile %moec_src/examples/mixtral.mlir -o %t/x.so --grouped-gemm=tile-list --weight-panels=0 --fuse-expert-combine 2>&1 | FileCheck %s --check-prefix=COMBINE-TILES
// COMBINE-TILES: moe-compile: error: --fuse-expert-combine needs --grouped-gemm=per-expert: the tile list runs the experts at once, so it cannot add their rows into the tokens in expert order
// RUN: not moe-compile %moec_src/examples/deepseek-v3.mlir -o %t/x.so --target=cuda --fuse-shared-expert 2>&1 | FileCheck %s --check-prefix=SHARED-CUDA
// SHARED-CUDA: moe-compile: error: --fuse-shared-expert is a CPU option: the CUDA target's tile list does not add rows into a tensor
// RUN: not moe-compile %moec_src/examples/deepseek-v3.mlir -o %t/x.so --target=cuda --approximate-math=false 2>&1 | FileCheck %s --check-prefix=MATH-CUDA
// MATH-CUDA: moe-compile: error: --approximate-math is a CPU option: the CUDA target's exp and erf are libdevice's
// RUN: not moe-compile %moec_src/examples/deepseek-v3.mlir -o %t/x.so --grouped-gemm=tile-list --weight-panels=0 --fuse-shared-expert 2>&1 | FileCheck %s --check-prefix=SHARED-TILES
// SHARED-TILES: moe-compile: error: --fuse-shared-expert needs --grouped-gemm=per-expert: the tile list does not add rows into a tensor
// RUN: moe-compile %moec_src/examples/mixtral.mlir -o %t/unpacked.so --weight-panels=0
// RUN: strings %t/unpacked.so | FileCheck %s --check-prefix=UNPACKED
// UNPACKED-NOT: "panels"
// RUN: sed -e 's/name = "o_fused", parts = 2 : i64, part = 2 : i64/transpose = true/' %t/sources.mlir > %t/sources4.mlir
// RUN: not moe-compile %t/sources4.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=SOURCES4
// SOURCES4: error: moe.weight_sources of weight 'o': entry 0 has no 'name'
// RUN: sed -e 's/%wg: tensor<4x16xf32> {moe.weight = "wg"}/%wg: tensor<4x16xf32> {moe.weight = "wg", moe.weight_sources = [{name = "wg", transpose = 1 : i64}]}/' %t/sources.mlir > %t/sources5.mlir
// RUN: not moe-compile %t/sources5.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=SOURCES5
// SOURCES5: error: moe.weight_sources of weight 'wg': entry 0: 'transpose' must be a bool
// RUN: sed -e 's/parts = 2 : i64, part = 2 : i64/parts = 4194304 : i64/' %t/sources.mlir > %t/sources7.mlir
// RUN: not moe-compile %t/sources7.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=SOURCES7
// SOURCES7: error: moe.weight_sources of weight 'o': entry 0: expects parts <= 1048576, got 4194304
// RUN: not moe-compile %t/rank0.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=SOURCES8
// SOURCES8: error: moe.weight_sources of weight 'w': entry 0: a weight of rank 0 cannot be stacked from '{e}' tensors
// RUN: sed -e 's/%x: tensor<?x16xf32> {moe.input = "x"}/%x: tensor<?x16xf32> {moe.input = "x", moe.weight_sources = [{name = "x"}]}/' %t/dup.mlir > %t/sources6.mlir
// RUN: not moe-compile %t/sources6.mlir -o %t/x.so 2>&1 | FileCheck %s --check-prefix=SOURCES6
// SOURCES6: error: argument #0: moe.weight_sources is only valid on a moe.weight argument

// RUN: not moe-compile %t/invalid.mlir -o %t/x.so --mcpu=pentium9000 2>&1 | FileCheck %s --check-prefix=MCPU
// MCPU-NOT: LLVM ERROR
// MCPU: moe-compile: error: unknown --mcpu 'pentium9000'
// RUN: sed -e 's/top_k = 5/top_k = 2/' %t/invalid.mlir > %t/valid.mlir
// RUN: not moe-compile %t/valid.mlir -o %t/x.so --mcpu=pentium9000 2>&1 | FileCheck %s --check-prefix=MCPU

// RUN: not moe-compile %t/valid.mlir -o - 2>&1 | FileCheck %s --check-prefix=STDOUT
// STDOUT: moe-compile: error: -o -: a shared library or object cannot be written to standard output; give a file name (or --emit=mlir/llvm)
// RUN: moe-compile %t/valid.mlir -o - --emit=mlir | FileCheck %s --check-prefix=STDOUT-MLIR
// STDOUT-MLIR: llvm.func

// RUN: not moe-compile %t/valid.mlir -o %t/x.so -O 9 2>&1 | FileCheck %s --check-prefix=OPT
// OPT: moe-compile: error: -O9 is not an optimization level (0, 1, 2 or 3)

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

//--- dup.mlir
func.func @forward(%x: tensor<?x16xf32> {moe.input = "x"}, %wg: tensor<4x16xf32> {moe.weight = "wg"}, %i: tensor<4x8x16xf32> {moe.weight = "w"}, %o: tensor<4x16x8xf32> {moe.weight = "w"}) -> (tensor<?x16xf32> {moe.output = "y"}) {
  %y = moe.layer %x, %wg experts(%i, %o) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

//--- empty.mlir
func.func @forward(%x: tensor<?x16xf32> {moe.input = "x"}, %wg: tensor<4x16xf32> {moe.weight = ""}, %i: tensor<4x8x16xf32> {moe.weight = "i"}, %o: tensor<4x16x8xf32> {moe.weight = "o"}) -> (tensor<?x16xf32> {moe.output = "y"}) {
  %y = moe.layer %x, %wg experts(%i, %o) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

//--- statname.mlir
func.func @forward(%x: tensor<?x16xf32> {moe.input = "x"}, %wg: tensor<4x16xf32> {moe.weight = "wg"}, %i: tensor<4x8x16xf32> {moe.weight = "i"}, %o: tensor<4x16x8xf32> {moe.weight = "o"}) -> (tensor<?x16xf32> {moe.output = "expert_counts"}, tensor<?x16xf32> {moe.output = "expert_counts"}) {
  %y = moe.layer %x, %wg experts(%i, %o) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y, %y : tensor<?x16xf32>, tensor<?x16xf32>
}

//--- statname2.mlir
func.func @forward(%x: tensor<?x16xf32> {moe.input = "x"}, %wg: tensor<4x16xf32> {moe.weight = "wg"}, %i: tensor<4x8x16xf32> {moe.weight = "i"}, %o: tensor<4x16x8xf32> {moe.weight = "o"}) -> (tensor<?x16xf32> {moe.output = "expert_counts"}) {
  %y = moe.layer %x, %wg experts(%i, %o) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

//--- sources.mlir
func.func @forward(%x: tensor<?x16xf32> {moe.input = "x"}, %wg: tensor<4x16xf32> {moe.weight = "wg"}, %i: tensor<4x8x16xf32> {moe.weight = "i"}, %o: tensor<4x16x8xf32> {moe.weight = "o", moe.weight_sources = [{name = "o_fused", parts = 2 : i64, part = 2 : i64}]}) -> (tensor<?x16xf32> {moe.output = "y"}) {
  %y = moe.layer %x, %wg experts(%i, %o) {top_k = 2 : i64} : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

//--- rank0.mlir
func.func @forward(%x: tensor<?x4xf32> {moe.input = "x"}, %w: tensor<f32> {moe.weight = "w", moe.weight_sources = [{name = "a.{e}"}]}) -> (tensor<?x4xf32> {moe.output = "y"}) {
  return %x : tensor<?x4xf32>
}

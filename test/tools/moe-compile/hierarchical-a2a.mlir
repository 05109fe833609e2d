// The expert-parallel topology options of moe-compile: where the hierarchical
// exchange enters the pipeline, --explain, and bad values.
//
// RUN: moe-compile %s --expert-parallel=8 --ranks-per-node=4 --print-pipeline | FileCheck %s --check-prefix=AUTO
// AUTO: moe-expert-parallel{world-size=8},moe-hierarchical-a2a{{{.*}}policy=cost-model ranks-per-node=4{{.*}}},moe-export-stats
//
// RUN: moe-compile %s --expert-parallel=8 --ranks-per-node=4 --a2a=hierarchical --print-pipeline | FileCheck %s --check-prefix=ALWAYS
// ALWAYS: moe-hierarchical-a2a{{{.*}}policy=always ranks-per-node=4
//
// Flat on request, and with one node (the default) or one rank per node.
// RUN: moe-compile %s --expert-parallel=8 --ranks-per-node=4 --a2a=flat --print-pipeline | FileCheck %s --check-prefix=FLAT
// RUN: moe-compile %s --expert-parallel=8 --print-pipeline | FileCheck %s --check-prefix=FLAT
// RUN: moe-compile %s --expert-parallel=8 --ranks-per-node=8 --print-pipeline | FileCheck %s --check-prefix=FLAT
// FLAT-NOT: moe-hierarchical-a2a
//
// The dropless layer exchanges per-expert counts, rows, and rows back: one
// decision each. The sorted rows are sent, so they keep their copy (no
// gather fusion).
// RUN: moe-compile %s --expert-parallel=8 --ranks-per-node=4 --explain --emit=mlir -o %t.mlir 2>&1 | FileCheck %s --check-prefix=EXPLAIN
// EXPLAIN: remark: all-to-all of 32 B per rank over 8 ranks, 4 per node: flat {{.*}}: hierarchical (faster)
// EXPLAIN: remark: all-to-all of 524288 B per rank over 8 ranks, 4 per node: flat
// EXPLAIN: remark: all-to-all of 524288 B per rank over 8 ranks, 4 per node: flat
// EXPLAIN: remark: moe.dispatch_sorted keeps its copy: its rows are read by moe.{{(all_to_all|transpose_segments)}}, not as the tokens of moe.experts
// EXPLAIN: remark: moe.combine_sorted keeps its pass: its rows do not come from moe.experts
// EXPLAIN-NOT: remark:
//
// RUN: not moe-compile %s --expert-parallel=8 --ranks-per-node=3 -o %t.so 2>&1 | FileCheck %s --check-prefix=DIVIDE
// DIVIDE: moe-compile: error: --ranks-per-node=3 must divide --expert-parallel=8
// RUN: not moe-compile %s --expert-parallel=8 --ranks-per-node=4 --a2a=sometimes -o %t.so 2>&1 | FileCheck %s --check-prefix=MODE
// MODE: Cannot find option named 'sometimes'

func.func @forward(%x: tensor<?x64xf32> {moe.input = "x"},
    %router: tensor<8x64xf32> {moe.weight = "router"},
    %w_gate: tensor<8x96x64xf32> {moe.weight = "experts.{e}.gate"},
    %w_up: tensor<8x96x64xf32> {moe.weight = "experts.{e}.up"},
    %w_down: tensor<8x64x96xf32> {moe.weight = "experts.{e}.down"})
    -> (tensor<?x64xf32> {moe.output = "y"}) {
  %y = moe.layer %x, %router experts(%w_gate, %w_up, %w_down) {top_k = 2 : i64, activation = #moe.activation<silu>}
      : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

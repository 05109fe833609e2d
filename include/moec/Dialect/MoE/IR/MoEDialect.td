//===- MoEDialect.td - The moe dialect definition ----------*- tablegen -*-===//
//
// Part of moec. The `moe` dialect: Mixture-of-Experts layers as first-class
// ops (routing, dispatch, expert compute, combine, all-to-all).
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_DIALECT_MOE_IR_MOEDIALECT_TD
#define MOEC_DIALECT_MOE_IR_MOEDIALECT_TD

include "mlir/IR/OpBase.td"

def MoE_Dialect : Dialect {
  let name = "moe";
  let cppNamespace = "::mlir::moe";
  let summary = "Mixture-of-Experts layers: routing, dispatch, experts, combine";
  let description = [{
    The `moe` dialect captures what a Mixture-of-Experts layer computes, at the
    tensor level, and leaves how (buffer layout, fusion, placement) to passes.

    `moe.layer` is the whole block and the unit importers emit. `moe-decompose`
    splits it into `moe.route`, `moe.dispatch`, `moe.experts` and `moe.combine`
    over the layout-free `!moe.grouped` type; `moe-static-capacity` and
    `moe-dynamic-shapes` then pick a concrete layout (padded `[E, C, D]`
    buffers, or rows sorted by expert with per-expert offsets).
  }];
  let useDefaultAttributePrinterParser = 1;
  let useDefaultTypePrinterParser = 1;
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

class MoE_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoE_Dialect, mnemonic, traits>;

#endif // MOEC_DIALECT_MOE_IR_MOEDIALECT_TD

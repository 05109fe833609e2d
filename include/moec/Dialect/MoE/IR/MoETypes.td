//===- MoETypes.td - moe dialect types ---------------------*- tablegen -*-===//
//
// Part of moec. `!moe.grouped`: tokens grouped by expert, layout not chosen.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_DIALECT_MOE_IR_MOETYPES_TD
#define MOEC_DIALECT_MOE_IR_MOETYPES_TD

include "moec/Dialect/MoE/IR/MoEDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinTypeInterfaces.td"

def MoE_GroupedType : TypeDef<MoE_Dialect, "Grouped"> {
  let mnemonic = "grouped";
  let summary = "tokens grouped by expert, in a layout not yet chosen";
  let description = [{
    The value between `moe.dispatch` and `moe.combine` before a layout pass
    runs: for each of `numExperts` experts, the rows of width `hidden` (D)
    routed to it. Whether it becomes a padded `[E, C, D]` buffer
    (`moe-static-capacity`) or rows sorted by expert with offsets
    (`moe-dynamic-shapes`) is the layout passes' decision.

    ```mlir
    !moe.grouped<8 x 4096 x f32>
    ```
  }];
  let parameters = (ins "int64_t":$numExperts, "int64_t":$hidden,
                        "::mlir::Type":$elementType);
  let assemblyFormat = "`<` $numExperts `x` $hidden `x` $elementType `>`";
  let genVerifyDecl = 1;
}

#endif // MOEC_DIALECT_MOE_IR_MOETYPES_TD

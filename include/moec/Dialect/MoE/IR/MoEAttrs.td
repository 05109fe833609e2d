//===- MoEAttrs.td - moe dialect enum attributes -----------*- tablegen -*-===//
//
// Part of moec. The router, expert and capacity variants of docs/semantics.md as
// enum attributes.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_DIALECT_MOE_IR_MOEATTRS_TD
#define MOEC_DIALECT_MOE_IR_MOEATTRS_TD

include "moec/Dialect/MoE/IR/MoEDialect.td"
include "mlir/IR/EnumAttr.td"

def MoE_Scoring : I32EnumAttr<"Scoring", "router score function", [
    I32EnumAttrCase<"Softmax", 0, "softmax">,
    I32EnumAttrCase<"Sigmoid", 1, "sigmoid">]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}
def MoE_ScoringAttr : EnumAttr<MoE_Dialect, MoE_Scoring, "scoring"> {
  let assemblyFormat = "`<` $value `>`";
}

def MoE_Selection : I32EnumAttr<"Selection", "expert selection rule", [
    // Top-k over all experts (Mixtral, Qwen, OLMoE, Switch).
    I32EnumAttrCase<"Plain", 0, "plain">,
    // Group score = sum of the group's top-2 biased scores (DeepSeek-V3).
    I32EnumAttrCase<"GroupSumTop2", 1, "group_sum_top2">,
    // Group score = max score in the group (DeepSeek-V2).
    I32EnumAttrCase<"GroupMax", 2, "group_max">]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}
def MoE_SelectionAttr : EnumAttr<MoE_Dialect, MoE_Selection, "selection"> {
  let assemblyFormat = "`<` $value `>`";
}

def MoE_GroupMask : I32EnumAttr<"GroupMask",
    "selection score given to the experts of the groups a group-limited "
    "selection drops", [
    // -inf: they are never chosen (transformers >= 5.6).
    I32EnumAttrCase<"NegInf", 0, "neg_inf">,
    // 0.0: they win over negative biased scores (deepseek-ai's remote code,
    // transformers < 5.6).
    I32EnumAttrCase<"Zero", 1, "zero">]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}
def MoE_GroupMaskAttr : EnumAttr<MoE_Dialect, MoE_GroupMask, "group_mask"> {
  let assemblyFormat = "`<` $value `>`";
}

def MoE_Activation : I32EnumAttr<"Activation", "expert activation", [
    I32EnumAttrCase<"SiLU", 0, "silu">,
    I32EnumAttrCase<"GELU", 1, "gelu">,
    I32EnumAttrCase<"ReLU", 2, "relu">,
    // GPT-OSS: min(g, limit) · σ(alpha · min(g, limit)) · (clamp(u, ±limit) + 1)
    // on the gate and up projections; gated experts only.
    I32EnumAttrCase<"ClampedSwiGLU", 3, "clamped_swiglu">]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}
def MoE_ActivationAttr : EnumAttr<MoE_Dialect, MoE_Activation, "activation"> {
  let assemblyFormat = "`<` $value `>`";
}

def MoE_DropPolicy : I32EnumAttr<"DropPolicy",
    "what a capacity-dropped assignment contributes", [
    // GShard / DeepSpeed / Tutel: nothing.
    I32EnumAttrCase<"Zero", 0, "zero">,
    // Hugging Face Switch Transformers: w * x[t], the token passed through.
    I32EnumAttrCase<"Passthrough", 1, "passthrough">]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}
def MoE_DropPolicyAttr : EnumAttr<MoE_Dialect, MoE_DropPolicy, "drop_policy"> {
  let assemblyFormat = "`<` $value `>`";
}

def MoE_A2AStage : I32EnumAttr<"A2AStage", "all-to-all stage", [
    I32EnumAttrCase<"Flat", 0, "flat">,
    I32EnumAttrCase<"IntraNode", 1, "intra_node">,
    I32EnumAttrCase<"InterNode", 2, "inter_node">]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}
def MoE_A2AStageAttr : EnumAttr<MoE_Dialect, MoE_A2AStage, "stage"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // MOEC_DIALECT_MOE_IR_MOEATTRS_TD

//===- MoEOps.cpp - moe dialect op verifiers ------------------------------===//
//
// Part of moec. Each verifier names the broken invariant: the operand or
// attribute, and the expected versus the actual value.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

#include <cmath>
#include <iterator>

using namespace mlir;
using namespace mlir::moe;

#define GET_OP_CLASSES
#include "moec/Dialect/MoE/IR/MoEOps.cpp.inc"

namespace {

/// Prints a dimension, `?` for a dynamic one.
struct Dim {
  int64_t value;
};
Diagnostic &operator<<(Diagnostic &diag, Dim d) {
  if (ShapedType::isDynamic(d.value))
    return diag << "?";
  return diag << d.value;
}

/// Checks shapes of named values and reports the first mismatch. A dynamic
/// dimension on either side is compatible with anything.
class ShapeChecker {
public:
  explicit ShapeChecker(Operation *op) : op(op) {}

  /// `value` must be a ranked tensor or memref of rank `rank`.
  LogicalResult rank(StringRef name, Value value, int64_t rank) {
    auto type = cast<ShapedType>(value.getType());
    if (type.getRank() == rank)
      return success();
    return op->emitOpError() << "expects '" << name << "' to have rank " << rank
                             << ", got " << type;
  }

  /// Dimension `idx` of `value` must equal `expected` (named `what`).
  LogicalResult dim(StringRef name, Value value, unsigned idx, int64_t expected,
                    StringRef what) {
    auto type = cast<ShapedType>(value.getType());
    int64_t actual = type.getDimSize(idx);
    if (ShapedType::isDynamic(actual) || ShapedType::isDynamic(expected) ||
        actual == expected)
      return success();
    return op->emitOpError()
           << "expects dimension " << idx << " of '" << name << "' to be "
           << what << " = " << Dim{expected} << ", got " << Dim{actual};
  }

  /// `value` must have rank `dims.size()` and dims matching `dims`
  /// (entries named in `what`).
  LogicalResult shape(StringRef name, Value value, ArrayRef<int64_t> dims,
                      ArrayRef<StringRef> what) {
    if (failed(rank(name, value, dims.size())))
      return failure();
    for (auto [i, d] : llvm::enumerate(dims))
      if (failed(dim(name, value, i, d, what[i])))
        return failure();
    return success();
  }

private:
  Operation *op;
};

int64_t dimOf(Value v, unsigned idx) {
  return cast<ShapedType>(v.getType()).getDimSize(idx);
}

/// Merges two possibly-dynamic sizes: the static one wins.
int64_t merge(int64_t a, int64_t b) { return ShapedType::isDynamic(a) ? b : a; }

/// The router invariants shared by moe.layer and moe.route. Sets `numTokens`
/// and `hidden` from the operands.
template <typename OpTy>
LogicalResult verifyRouter(OpTy op, int64_t &numTokens, int64_t &hidden,
                           int64_t &numExperts) {
  ShapeChecker check(op);
  if (failed(check.rank("hidden", op.getHidden(), 2)) ||
      failed(check.rank("router_weight", op.getRouterWeight(), 2)))
    return failure();
  numTokens = dimOf(op.getHidden(), 0);
  hidden = dimOf(op.getHidden(), 1);
  numExperts = dimOf(op.getRouterWeight(), 0);
  if (ShapedType::isDynamic(numExperts))
    return op.emitOpError("expects a static number of experts (dimension 0 "
                          "of 'router_weight')");
  if (failed(check.dim("router_weight", op.getRouterWeight(), 1, hidden,
                       "hidden size D")))
    return failure();
  if (Value bias = op.getRouterBias())
    if (failed(check.shape("router_bias", bias, {numExperts},
                           {"number of experts E"})))
      return failure();
  if (Value bias = op.getScoreBias())
    if (failed(check.shape("score_bias", bias, {numExperts},
                           {"number of experts E"})))
      return failure();

  int64_t topK = op.getTopK();
  if (topK > numExperts)
    return op.emitOpError() << "expects top_k <= number of experts ("
                            << numExperts << "), got top_k = " << topK;
  double scale = op.getRoutedScalingFactor().convertToDouble();
  if (!(scale > 0.0) || std::isinf(scale))
    return op.emitOpError() << "expects a finite routed_scaling_factor > 0, "
                               "got "
                            << scale;

  bool grouped = op.getSelection() != Selection::Plain;
  if (!grouped) {
    if (op.getNGroup() || op.getTopkGroup())
      return op.emitOpError("'n_group' and 'topk_group' require a "
                            "group-limited selection (group_sum_top2 or "
                            "group_max), got selection = plain");
    if (op.getGroupMask() != GroupMask::NegInf)
      return op.emitOpError("group_mask = zero requires a group-limited "
                            "selection (group_sum_top2 or group_max), got "
                            "selection = plain");
    return success();
  }
  if (!op.getNGroup() || !op.getTopkGroup())
    return op.emitOpError()
           << "selection = " << stringifySelection(op.getSelection())
           << " requires both 'n_group' and 'topk_group'";
  int64_t nGroup = *op.getNGroup();
  int64_t topkGroup = *op.getTopkGroup();
  if (nGroup <= 0)
    return op.emitOpError() << "expects n_group > 0, got " << nGroup;
  if (numExperts % nGroup != 0)
    return op.emitOpError()
           << "expects the number of experts (" << numExperts
           << ") to be divisible by n_group (" << nGroup << ")";
  if (topkGroup < 1 || topkGroup > nGroup)
    return op.emitOpError() << "expects 1 <= topk_group <= n_group (" << nGroup
                            << "), got topk_group = " << topkGroup;
  int64_t groupSize = numExperts / nGroup;
  if (topK > topkGroup * groupSize)
    return op.emitOpError()
           << "expects top_k <= topk_group * (E / n_group) = "
           << topkGroup * groupSize << ", got top_k = " << topK;
  if (op.getSelection() == Selection::GroupSumTop2 && groupSize < 2)
    return op.emitOpError() << "selection = group_sum_top2 needs at least 2 "
                               "experts per group, got E / n_group = "
                            << groupSize;
  return success();
}

/// The capacity attribute invariants shared by moe.layer and moe.dispatch.
template <typename OpTy> LogicalResult verifyCapacity(OpTy op) {
  if (auto cf = op.getCapacityFactor())
    if (!(cf->convertToDouble() > 0.0) || std::isinf(cf->convertToDouble()))
      return op.emitOpError() << "expects a finite capacity_factor > 0, got "
                              << cf->convertToDouble();
  // The I64Attr getters are unsigned: read the signed value.
  if (IntegerAttr cap = op.getExpertCapacityAttr())
    if (cap.getInt() <= 0)
      return op.emitOpError()
             << "expects expert_capacity > 0, got " << cap.getInt();
  if (op.getCapacityFactor() && op.getExpertCapacity())
    return op.emitOpError("expects at most one of 'capacity_factor' and "
                          "'expert_capacity'");
  if (op.getMinCapacityAttr().getInt() < 0)
    return op.emitOpError() << "expects min_capacity >= 0, got "
                            << op.getMinCapacityAttr().getInt();
  return success();
}

/// Expert weights: gated (gate [E,F,D], up [E,F,D], down [E,D,F]) or not
/// (in [E,F,D], out [E,D,F]).
LogicalResult verifyExpertWeights(Operation *op, ValueRange weights,
                                  int64_t numExperts, int64_t hidden) {
  ShapeChecker check(op);
  if (weights.size() != 2 && weights.size() != 3)
    return op->emitOpError()
           << "expects 3 expert weights (gate, up, down) or 2 (in, out), got "
           << weights.size();
  bool gated = weights.size() == 3;
  StringRef firstName = gated ? "gate" : "in";
  StringRef downName = gated ? "down" : "out";
  Value first = weights.front(), down = weights.back();
  if (failed(check.rank(firstName, first, 3)))
    return failure();
  int64_t ffn = dimOf(first, 1);
  SmallVector<StringRef> efd = {"number of experts E", "intermediate size F",
                                "hidden size D"};
  SmallVector<StringRef> edf = {"number of experts E", "hidden size D",
                                "intermediate size F"};
  if (failed(check.shape(firstName, first, {numExperts, ffn, hidden}, efd)))
    return failure();
  if (gated &&
      failed(check.shape("up", weights[1], {numExperts, ffn, hidden}, efd)))
    return failure();
  return check.shape(downName, down, {numExperts, hidden, ffn}, edf);
}

/// Expert biases, if any: one per expert weight, [E, F] for the gate/up/in
/// projections and [E, D] for down/out.
LogicalResult verifyExpertBiases(Operation *op, ValueRange biases,
                                 ValueRange weights) {
  if (biases.empty())
    return success();
  if (biases.size() != weights.size())
    return op->emitOpError() << "expects one expert bias per expert weight ("
                             << weights.size() << "), got " << biases.size();
  ShapeChecker check(op);
  bool gated = weights.size() == 3;
  int64_t numExperts = dimOf(weights.front(), 0);
  int64_t ffn = dimOf(weights.front(), 1);
  int64_t hidden = dimOf(weights.back(), 1);
  SmallVector<StringRef> names =
      gated ? SmallVector<StringRef>{"gate bias", "up bias", "down bias"}
            : SmallVector<StringRef>{"in bias", "out bias"};
  for (auto [i, bias] : llvm::enumerate(biases)) {
    bool last = i + 1 == biases.size();
    if (failed(check.shape(names[i], bias, {numExperts, last ? hidden : ffn},
                           {"number of experts E", last ? "hidden size D"
                                                        : "intermediate "
                                                          "size F"})))
      return failure();
  }
  return success();
}

/// The activation and its attributes: clamped_swiglu needs gated experts
/// and a limit; the swiglu attributes mean nothing to other activations.
template <typename OpTy>
LogicalResult
verifyActivation(OpTy op, Activation activation, bool gated,
                 StringRef gatedOperands = "gated experts (gate, up, down)") {
  bool clamped = activation == Activation::ClampedSwiGLU;
  if (!clamped) {
    if (op.getSwigluAlpha() || op.getSwigluLimit())
      return op.emitOpError()
             << "'swiglu_alpha' and 'swiglu_limit' require activation = "
                "clamped_swiglu, got activation = "
             << stringifyActivation(activation);
    return success();
  }
  if (!gated)
    return op.emitOpError()
           << "activation = clamped_swiglu requires " << gatedOperands;
  if (!op.getSwigluLimit())
    return op.emitOpError("activation = clamped_swiglu requires "
                          "'swiglu_limit'");
  double limit = op.getSwigluLimit()->convertToDouble();
  if (!(limit > 0.0) || std::isinf(limit))
    return op.emitOpError()
           << "expects a finite swiglu_limit > 0, got " << limit;
  double alpha = op.getSwigluAlphaOrDefault();
  if (!(alpha > 0.0) || std::isinf(alpha))
    return op.emitOpError()
           << "expects a finite swiglu_alpha > 0, got " << alpha;
  return success();
}

/// `name` ([T, k] integer) must agree with the token count and top_k.
LogicalResult verifyAssignments(Operation *op, StringRef name, Value value,
                                int64_t numTokens, int64_t topK) {
  return ShapeChecker(op).shape(name, value, {numTokens, topK},
                                {"number of tokens T", "top_k"});
}

/// Passthrough needs the tokens; zero must not have them.
LogicalResult verifyDropPolicy(Operation *op, DropPolicy policy, Value hidden) {
  if (policy == DropPolicy::Passthrough && !hidden)
    return op->emitOpError("drop_policy = passthrough requires the "
                           "'passthrough' tokens operand");
  if (policy == DropPolicy::Zero && hidden)
    return op->emitOpError("a 'passthrough' tokens operand requires "
                           "drop_policy = passthrough");
  return success();
}

/// What every combine op checks after finding T, k and D: weights [T, k], the
/// result [T, D], and the passthrough tokens [T, D] iff the policy needs them.
LogicalResult verifyCombineOutputs(Operation *op, Value weights, Value result,
                                   Value passthrough, DropPolicy policy,
                                   int64_t numTokens, int64_t topK,
                                   int64_t hidden) {
  ShapeChecker check(op);
  SmallVector<StringRef> td = {"number of tokens T", "hidden size D"};
  if (failed(verifyAssignments(op, "weights", weights, numTokens, topK)) ||
      failed(check.shape("result", result, {numTokens, hidden}, td)) ||
      failed(verifyDropPolicy(op, policy, passthrough)))
    return failure();
  if (passthrough)
    return check.shape("passthrough", passthrough, {numTokens, hidden}, td);
  return success();
}

/// `value`'s element type must be `expected` (the op's token element type).
LogicalResult sameElementType(Operation *op, StringRef name, Value value,
                              Type expected) {
  Type actual = cast<ShapedType>(value.getType()).getElementType();
  if (actual == expected)
    return success();
  return op->emitOpError() << "expects '" << name << "' to have element type "
                           << expected << ", got " << actual;
}

/// Whether expert weights of element type `weight` may feed tokens of
/// element type `tokens`: the same type, or bf16 under f32 tokens (the
/// lowerings widen each weight where the grouped matmul reads it, so a bf16
/// checkpoint needs no f32 copy).
bool isWeightStorageType(Type weight, Type tokens) {
  return weight == tokens || (weight.isBF16() && tokens.isF32());
}

/// The element type every weight of a group (`weights`) must have: the
/// first one's when it is a storage type for `tokens`, else the tokens'.
Type weightGroupType(ValueRange weights, Type tokens) {
  if (weights.empty())
    return tokens;
  Type first = cast<ShapedType>(weights.front().getType()).getElementType();
  return isWeightStorageType(first, tokens) ? first : tokens;
}

/// `value` must have element type `expected`; for a weight group whose
/// type is the tokens' the message says bf16 would do too.
LogicalResult weightElementType(Operation *op, StringRef name, Value value,
                                Type expected, Type tokens) {
  Type actual = cast<ShapedType>(value.getType()).getElementType();
  if (actual == expected)
    return success();
  InFlightDiagnostic diag = op->emitOpError()
                            << "expects '" << name << "' to have element type "
                            << expected;
  if (expected == tokens && tokens.isF32())
    diag << " (or bf16 for every weight of its group)";
  return diag << ", got " << actual;
}

} // namespace

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

/// The name of operand \p index of a moe.layer, for diagnostics: the
/// operand group, with the position inside a variadic group.
static std::string layerOperandName(LayerOp op, unsigned index) {
  static constexpr const char *kGroups[] = {
      "hidden",        "router_weight", "router_bias",  "score_bias",
      "expert weight", "expert bias",   "shared weight"};
  for (unsigned group = 0; group < std::size(kGroups); ++group) {
    auto [start, length] = op.getODSOperandIndexAndLength(group);
    if (index < start || index >= start + length)
      continue;
    if (group < 4)
      return kGroups[group];
    return std::string(kGroups[group]) + " #" + std::to_string(index - start);
  }
  return "operand #" + std::to_string(index);
}

LogicalResult LayerOp::verify() {
  int64_t numTokens, hidden, numExperts;
  if (failed(verifyRouter(*this, numTokens, hidden, numExperts)) ||
      failed(verifyCapacity(*this)) ||
      failed(
          verifyExpertWeights(*this, getExpertWeights(), numExperts, hidden)))
    return failure();
  if (ShapedType::isDynamic(hidden))
    return emitOpError("expects a static hidden size D (dimension 1 of "
                       "'hidden')");
  if (getDropPolicy() == DropPolicy::Passthrough && !hasCapacity())
    return emitOpError("drop_policy = passthrough requires a capacity limit "
                       "('capacity_factor' or 'expert_capacity')");
  if (failed(
          verifyExpertBiases(*this, getExpertBiases(), getExpertWeights())) ||
      failed(verifyActivation(*this, getActivation(), isGated())))
    return failure();
  // The passes carry one element type from the tokens through every stage;
  // a mix has no lowering, so it is rejected here, not deep in a pass.
  // Only the expert weights (routed, and the shared expert's gate, up and
  // down) may be stored narrower, in bf16.
  Type element = getHidden().getType().getElementType();
  Type expertType = weightGroupType(getExpertWeights(), element);
  Type sharedType = weightGroupType(getSharedWeights().take_front(3), element);
  auto isIn = [](OperandRange range, unsigned index) {
    return !range.empty() && index >= range.getBeginOperandIndex() &&
           index < range.getBeginOperandIndex() + range.size();
  };
  for (OpOperand &operand : getOperation()->getOpOperands()) {
    unsigned index = operand.getOperandNumber();
    std::string name = layerOperandName(*this, index);
    LogicalResult ok = success();
    if (isIn(getExpertWeights(), index))
      ok = weightElementType(*this, name, operand.get(), expertType, element);
    else if (isIn(getSharedWeights().take_front(3), index))
      ok = weightElementType(*this, name, operand.get(), sharedType, element);
    else
      ok = sameElementType(*this, name, operand.get(), element);
    if (failed(ok))
      return failure();
  }
  if (failed(sameElementType(*this, "result", getResult(), element)))
    return failure();

  ShapeChecker check(*this);
  ValueRange shared = getSharedWeights();
  if (!shared.empty()) {
    if (shared.size() != 3 && shared.size() != 4)
      return emitOpError() << "expects 3 shared-expert weights (gate, up, "
                              "down) or 4 (with the shared-expert gate), got "
                           << shared.size();
    if (failed(check.rank("shared gate", shared[0], 2)))
      return failure();
    int64_t ffn = dimOf(shared[0], 0);
    if (failed(check.shape("shared gate", shared[0], {ffn, hidden},
                           {"shared intermediate size", "hidden size D"})) ||
        failed(check.shape("shared up", shared[1], {ffn, hidden},
                           {"shared intermediate size", "hidden size D"})) ||
        failed(check.shape("shared down", shared[2], {hidden, ffn},
                           {"hidden size D", "shared intermediate size"})))
      return failure();
    if (shared.size() == 4 &&
        failed(check.shape("shared_expert_gate", shared[3], {1, hidden},
                           {"a single row", "hidden size D"})))
      return failure();
  }
  return check.shape("result", getResult(), {numTokens, hidden},
                     {"number of tokens T", "hidden size D"});
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

LogicalResult RouteOp::verify() {
  int64_t numTokens, hidden, numExperts;
  if (failed(verifyRouter(*this, numTokens, hidden, numExperts)) ||
      failed(verifyAssignments(*this, "indices", getIndices(), numTokens,
                               getTopK())))
    return failure();
  return verifyAssignments(*this, "weights", getWeights(), numTokens,
                           getTopK());
}

//===----------------------------------------------------------------------===//
// Layout-free ops
//===----------------------------------------------------------------------===//

LogicalResult DispatchOp::verify() {
  ShapeChecker check(*this);
  if (failed(verifyCapacity(*this)) ||
      failed(check.rank("hidden", getHidden(), 2)) ||
      failed(check.rank("indices", getIndices(), 2)) ||
      failed(check.dim("indices", getIndices(), 0, dimOf(getHidden(), 0),
                       "number of tokens T")))
    return failure();
  GroupedType grouped = getResult().getType();
  if (failed(check.dim("hidden", getHidden(), 1, grouped.getHidden(),
                       "the result's hidden size D")))
    return failure();
  Type elementType = getHidden().getType().getElementType();
  if (elementType != grouped.getElementType())
    return emitOpError() << "expects the result element type to match "
                            "'hidden' ("
                         << elementType << "), got "
                         << grouped.getElementType();
  return success();
}

LogicalResult ExpertsOp::verify() {
  if (failed(verifyTokensAndWeights()) ||
      failed(verifyExpertBiases(*this, getBiases(), getWeights())) ||
      failed(verifyActivation(*this, getActivation(), isGated())))
    return failure();
  Type tokensType = getTokens().getType();
  Type element = isa<GroupedType>(tokensType)
                     ? cast<GroupedType>(tokensType).getElementType()
                     : cast<RankedTensorType>(tokensType).getElementType();
  for (Value bias : getBiases())
    if (failed(sameElementType(*this, "biases", bias, element)))
      return failure();
  return success();
}

LogicalResult ExpertsOp::verifyGather() {
  ShapeChecker check(*this);
  auto tokens = dyn_cast<RankedTensorType>(getTokens().getType());
  if (!tokens || tokens.getRank() != 2)
    return emitOpError("'gather' is only valid with [T, D] tokens (read in "
                       "place as sorted rows or a padded buffer)");
  int64_t rank = cast<ShapedType>(getGather().getType()).getRank();
  if (rank == 1 && !getOffsets())
    return emitOpError("a rank-1 'gather' (sorted rows) requires 'offsets'");
  if (rank == 2 && getOffsets())
    return emitOpError("'offsets' are only valid with a rank-1 'gather' "
                       "(sorted rows), got an [E, C] gather");
  if (rank != 1 && rank != 2)
    return emitOpError() << "expects 'gather' as [N] sorted rows or [E, C] "
                            "slots, got "
                         << getGather().getType();
  // With a combine the result is the tokens'; otherwise it is the layout
  // the gather reads: [N, D] or [E, C, D].
  if (getCombine())
    return verifyCombine();
  if (failed(check.rank("result", getResult(), rank + 1)))
    return failure();
  for (int64_t i = 0; i < rank; ++i)
    if (failed(check.dim("result", getResult(), i, dimOf(getGather(), i),
                         "the rows of 'gather'")))
      return failure();
  if (failed(check.dim("result", getResult(), rank, tokens.getDimSize(1),
                       "hidden size D")))
    return failure();
  return sameElementType(*this, "result", getResult(), tokens.getElementType());
}

LogicalResult ExpertsOp::verifyCombine() {
  Value combine = getCombine();
  auto weights = cast<RankedTensorType>(combine.getType());
  auto gather = cast<RankedTensorType>(getGather().getType());
  if (weights.getShape() != gather.getShape())
    return emitOpError() << "expects 'combine' (a weight per row) of the "
                            "shape of 'gather' ("
                         << gather << "), got " << weights;
  if (getResult().getType() != getTokens().getType())
    return emitOpError() << "expects the result of a combine to have the "
                            "tokens' type "
                         << getTokens().getType() << ", got "
                         << getResult().getType();
  return success();
}

LogicalResult ExpertsOp::verifyInto() {
  Value into = getInto();
  if (into.getType() != getResult().getType())
    return emitOpError() << "expects 'into' (the sum's start) of the result "
                            "type "
                         << getResult().getType() << ", got " << into.getType();
  if (getGather()) {
    if (!getCombine())
      return emitOpError("'into' with a 'gather' requires 'combine' (the "
                         "rows then add into their tokens)");
    return success();
  }
  // Without a gather the rows are the tokens themselves, sorted rows that
  // each add into the same row of the result.
  auto tokens = dyn_cast<RankedTensorType>(getTokens().getType());
  if (!tokens || tokens.getRank() != 2 || !getOffsets())
    return emitOpError() << "'into' without a 'gather' requires sorted rows "
                            "[N, D] with 'offsets' (row r adds into row r), "
                            "got "
                         << getTokens().getType();
  if (Value combine = getCombine()) {
    ShapeChecker check(*this);
    if (failed(check.shape("combine", combine, {tokens.getDimSize(0)},
                           {"the number of rows"})))
      return failure();
  }
  return success();
}

LogicalResult ExpertsOp::verifyTokensAndWeights() {
  ShapeChecker check(*this);
  Type tokensType = getTokens().getType();
  if (getCombine() && !getGather() && !getInto())
    return emitOpError("'combine' requires a 'gather' (the token each row "
                       "adds into) or 'into' (rows that are the tokens)");
  if (getInto() && failed(verifyInto()))
    return failure();
  if (getGather()) {
    if (failed(verifyGather()))
      return failure();
  } else if (tokensType != getResult().getType()) {
    return emitOpError() << "expects the result type to equal the tokens "
                            "type "
                         << tokensType << ", got " << getResult().getType();
  }
  if (auto grouped = dyn_cast<GroupedType>(tokensType)) {
    Type element = grouped.getElementType();
    Type expected = weightGroupType(getWeights(), element);
    for (Value w : getWeights())
      if (failed(weightElementType(*this, "weights", w, expected, element)))
        return failure();
    if (getOffsets())
      return emitOpError("'offsets' are only valid with sorted rows "
                         "(a rank-2 tokens tensor)");
    if (getCounts())
      return emitOpError("'counts' are only valid with a padded [E, C, D] "
                         "buffer");
    return verifyExpertWeights(*this, getWeights(), grouped.getNumExperts(),
                               grouped.getHidden());
  }
  Type tokenElement = isa<GroupedType>(tokensType)
                          ? cast<GroupedType>(tokensType).getElementType()
                          : cast<RankedTensorType>(tokensType).getElementType();
  Type expected = weightGroupType(getWeights(), tokenElement);
  for (Value w : getWeights())
    if (failed(weightElementType(*this, "weights", w, expected, tokenElement)))
      return failure();
  // The layout: the tokens, or with a gather the rows it reads (the result,
  // or with a combine the gather's rows of the tokens' width). A combine
  // without a gather (`into`) weighs the tokens' own rows.
  Value layout = getGather() ? getResult() : getTokens();
  StringRef layoutName = getGather() ? "result" : "tokens";
  auto tokens = cast<RankedTensorType>(layout.getType());
  if (getCombine() && getGather()) {
    auto gather = cast<RankedTensorType>(getGather().getType());
    SmallVector<int64_t> shape(gather.getShape());
    shape.push_back(tokens.getDimSize(1));
    tokens = RankedTensorType::get(shape, tokens.getElementType());
    layout = getGather();
    layoutName = "gather";
  }
  if (getWeights().empty())
    return emitOpError("expects 3 expert weights (gate, up, down) or 2 (in, "
                       "out), got 0");
  Value first = getWeights().front();
  if (failed(check.rank("weights", first, 3)))
    return failure();
  int64_t numExperts = dimOf(first, 0);
  if (tokens.getRank() == 3) {
    if (getOffsets())
      return emitOpError("'offsets' are only valid with sorted rows "
                         "(a rank-2 tokens tensor), got a rank-3 buffer");
    if (failed(check.dim(layoutName, layout, 0, numExperts,
                         "the weights' number of experts E")))
      return failure();
    if (Value counts = getCounts())
      if (failed(check.shape("counts", counts,
                             {merge(numExperts, tokens.getDimSize(0))},
                             {"number of experts E"})))
        return failure();
    return verifyExpertWeights(*this, getWeights(),
                               merge(numExperts, tokens.getDimSize(0)),
                               tokens.getDimSize(2));
  }
  if (tokens.getRank() == 2) {
    if (!getOffsets())
      return emitOpError("sorted rows (a rank-2 tokens tensor) require "
                         "'offsets'");
    if (getCounts())
      return emitOpError("'counts' are only valid with a padded [E, C, D] "
                         "buffer");
    if (failed(check.rank("offsets", getOffsets(), 1)) ||
        failed(verifyExpertWeights(*this, getWeights(), numExperts,
                                   tokens.getDimSize(1))))
      return failure();
    int64_t numOffsets = dimOf(getOffsets(), 0);
    if (!ShapedType::isDynamic(numOffsets) &&
        !ShapedType::isDynamic(numExperts) && numOffsets != numExperts + 1)
      return emitOpError() << "expects 'offsets' to have E + 1 = "
                           << numExperts + 1 << " entries, got " << numOffsets;
    return success();
  }
  return emitOpError() << "expects tokens as !moe.grouped, a [E, C, D] "
                          "buffer or [N, D] sorted rows, got "
                       << tokensType;
}

LogicalResult CombineOp::verify() {
  ShapeChecker check(*this);
  GroupedType grouped = getGrouped().getType();
  if (failed(check.rank("indices", getIndices(), 2)) ||
      failed(check.rank("result", getResult(), 2)))
    return failure();
  int64_t numTokens = merge(dimOf(getResult(), 0), dimOf(getIndices(), 0));
  int64_t topK = dimOf(getIndices(), 1);
  if (failed(
          verifyAssignments(*this, "indices", getIndices(), numTokens, topK)) ||
      failed(verifyCombineOutputs(*this, getWeights(), getResult(), getHidden(),
                                  getDropPolicy(), numTokens, topK,
                                  grouped.getHidden())))
    return failure();
  return sameElementType(*this, "result", getResult(),
                         grouped.getElementType());
}

//===----------------------------------------------------------------------===//
// Static-capacity layout
//===----------------------------------------------------------------------===//

/// The bookkeeping of both padded dispatches (moe.dispatch_capacity and
/// moe.assign_slots): `slots` [T, k] and `counts` [E], E static and shared
/// by dimension 0 of `layout` (the [E, C, ...] buffer or sources).
template <typename OpTy>
LogicalResult verifySlotBookkeeping(OpTy op, int64_t numTokens,
                                    StringRef layoutName, Value layout) {
  ShapeChecker check(op);
  if (failed(check.rank("counts", op.getCounts(), 1)))
    return failure();
  int64_t numExperts = merge(dimOf(layout, 0), dimOf(op.getCounts(), 0));
  if (failed(verifyAssignments(op, "slots", op.getSlots(), numTokens,
                               dimOf(op.getIndices(), 1))) ||
      failed(check.dim(layoutName, layout, 0, numExperts,
                       "number of experts E")) ||
      failed(check.shape("counts", op.getCounts(), {numExperts},
                         {"number of experts E"})))
    return failure();
  if (ShapedType::isDynamic(numExperts))
    return op.emitOpError("expects a static number of experts");
  return success();
}

LogicalResult DispatchCapacityOp::verify() {
  ShapeChecker check(*this);
  if (failed(check.rank("hidden", getHidden(), 2)) ||
      failed(check.rank("indices", getIndices(), 2)) ||
      failed(check.rank("buffer", getBuffer(), 3)))
    return failure();
  int64_t numTokens = dimOf(getHidden(), 0);
  if (failed(verifyAssignments(*this, "indices", getIndices(), numTokens,
                               dimOf(getIndices(), 1))) ||
      failed(verifySlotBookkeeping(*this, numTokens, "buffer", getBuffer())) ||
      failed(check.dim("buffer", getBuffer(), 2, dimOf(getHidden(), 1),
                       "hidden size D")))
    return failure();
  return sameElementType(*this, "buffer", getBuffer(),
                         getHidden().getType().getElementType());
}

LogicalResult AssignSlotsOp::verify() {
  ShapeChecker check(*this);
  if (failed(check.rank("indices", getIndices(), 2)) ||
      failed(check.rank("sources", getSources(), 2)))
    return failure();
  return verifySlotBookkeeping(*this, dimOf(getIndices(), 0), "sources",
                               getSources());
}

LogicalResult CombineCapacityOp::verify() {
  ShapeChecker check(*this);
  if (failed(check.rank("buffer", getBuffer(), 3)) ||
      failed(check.rank("indices", getIndices(), 2)) ||
      failed(check.rank("result", getResult(), 2)))
    return failure();
  int64_t numTokens = merge(dimOf(getResult(), 0), dimOf(getIndices(), 0));
  int64_t topK = dimOf(getIndices(), 1);
  int64_t hidden = dimOf(getBuffer(), 2);
  if (failed(verifyAssignments(*this, "slots", getSlots(), numTokens, topK)) ||
      failed(
          verifyAssignments(*this, "indices", getIndices(), numTokens, topK)))
    return failure();
  return verifyCombineOutputs(*this, getWeights(), getResult(), getHidden(),
                              getDropPolicy(), numTokens, topK, hidden);
}

//===----------------------------------------------------------------------===//
// Sorted-segment layout
//===----------------------------------------------------------------------===//

/// The bookkeeping of both sorted dispatches (moe.dispatch_sorted and
/// moe.sort_assignments): `offsets` [E + 1] and `counts` [E] with a static
/// E, and `positions` [T, k]. Sets `numRows` to T·k (dynamic if either is).
template <typename OpTy>
LogicalResult verifySortedBookkeeping(OpTy op, int64_t numTokens,
                                      int64_t &numRows) {
  ShapeChecker check(op);
  if (failed(check.rank("offsets", op.getOffsets(), 1)) ||
      failed(check.rank("counts", op.getCounts(), 1)))
    return failure();
  int64_t topK = dimOf(op.getIndices(), 1);
  int64_t numExperts = dimOf(op.getCounts(), 0);
  if (ShapedType::isDynamic(numExperts))
    return op.emitOpError("expects a static number of experts (the size of "
                          "'counts')");
  numRows = ShapedType::isDynamic(numTokens) || ShapedType::isDynamic(topK)
                ? ShapedType::kDynamic
                : numTokens * topK;
  if (failed(verifyAssignments(op, "positions", op.getPositions(), numTokens,
                               topK)))
    return failure();
  return check.shape("offsets", op.getOffsets(), {numExperts + 1}, {"E + 1"});
}

LogicalResult DispatchSortedOp::verify() {
  ShapeChecker check(*this);
  if (failed(check.rank("hidden", getHidden(), 2)) ||
      failed(check.rank("indices", getIndices(), 2)) ||
      failed(check.rank("rows", getRows(), 2)))
    return failure();
  int64_t numTokens = dimOf(getHidden(), 0);
  int64_t numRows;
  if (failed(verifySortedBookkeeping(*this, numTokens, numRows)) ||
      failed(verifyAssignments(*this, "indices", getIndices(), numTokens,
                               dimOf(getIndices(), 1))) ||
      failed(check.shape("rows", getRows(), {numRows, dimOf(getHidden(), 1)},
                         {"T * top_k", "hidden size D"})))
    return failure();
  return sameElementType(*this, "rows", getRows(),
                         getHidden().getType().getElementType());
}

LogicalResult SortAssignmentsOp::verify() {
  ShapeChecker check(*this);
  if (failed(check.rank("indices", getIndices(), 2)) ||
      failed(check.rank("sources", getSources(), 1)))
    return failure();
  int64_t numRows;
  if (failed(verifySortedBookkeeping(*this, dimOf(getIndices(), 0), numRows)))
    return failure();
  return check.dim("sources", getSources(), 0, numRows, "T * top_k");
}

LogicalResult CombineSortedOp::verify() {
  ShapeChecker check(*this);
  if (failed(check.rank("rows", getRows(), 2)) ||
      failed(check.rank("positions", getPositions(), 2)) ||
      failed(check.rank("result", getResult(), 2)))
    return failure();
  int64_t numTokens = merge(dimOf(getResult(), 0), dimOf(getPositions(), 0));
  int64_t topK = dimOf(getPositions(), 1);
  int64_t hidden = dimOf(getRows(), 1);
  if (failed(verifyAssignments(*this, "positions", getPositions(), numTokens,
                               topK)))
    return failure();
  return verifyCombineOutputs(*this, getWeights(), getResult(), getHidden(),
                              getDropPolicy(), numTokens, topK, hidden);
}

//===----------------------------------------------------------------------===//
// The combine in the experts
//===----------------------------------------------------------------------===//

LogicalResult ScatterWeightsOp::verify() {
  ShapeChecker check(*this);
  if (failed(check.rank("weights", getWeights(), 2)))
    return failure();
  int64_t numTokens = dimOf(getWeights(), 0);
  int64_t topK = dimOf(getWeights(), 1);
  if (failed(verifyAssignments(*this, "where", getWhere(), numTokens, topK)))
    return failure();
  if (!getIndices()) {
    // Sorted rows: one per assignment.
    int64_t numRows =
        ShapedType::isDynamic(numTokens) || ShapedType::isDynamic(topK)
            ? ShapedType::kDynamic
            : numTokens * topK;
    return check.shape("result", getResult(), {numRows}, {"T * top_k"});
  }
  if (failed(
          verifyAssignments(*this, "indices", getIndices(), numTokens, topK)) ||
      failed(check.rank("result", getResult(), 2)))
    return failure();
  if (ShapedType::isDynamic(dimOf(getResult(), 0)))
    return emitOpError("expects a static number of experts (dimension 0 of "
                       "the [E, C] result)");
  return success();
}

//===----------------------------------------------------------------------===//
// moe.all_to_all
//===----------------------------------------------------------------------===//

LogicalResult AllToAllOp::verify() {
  ShapeChecker check(*this);
  int64_t worldSize = getWorldSize();
  std::optional<int64_t> perNode = getRanksPerNode();
  if (getStage() != A2AStage::Flat && !perNode)
    return emitOpError() << "stage = " << stringifyA2AStage(getStage())
                         << " requires 'ranks_per_node'";
  if (perNode && (*perNode <= 0 || worldSize % *perNode != 0))
    return emitOpError() << "expects ranks_per_node to divide world_size ("
                         << worldSize << "), got " << *perNode;
  // One count per rank taking part in the stage.
  int64_t span = worldSize;
  StringRef spanName = "world_size";
  if (getStage() == A2AStage::IntraNode) {
    span = *perNode;
    spanName = "ranks_per_node";
  } else if (getStage() == A2AStage::InterNode) {
    span = worldSize / *perNode;
    spanName = "world_size / ranks_per_node";
  }
  if (failed(check.shape("send_counts", getSendCounts(), {span}, {spanName})) ||
      failed(check.shape("recv_counts", getRecvCounts(), {span}, {spanName})))
    return failure();
  if (Value known = getKnownRecvCounts())
    if (known.getType() != getRecvCounts().getType())
      return emitOpError() << "expects the known recv_counts to have the "
                              "type of the 'recv_counts' result, got "
                           << known.getType();
  auto payload = cast<RankedTensorType>(getPayload().getType());
  auto received = cast<RankedTensorType>(getReceived().getType());
  if (payload.getRank() == 0)
    return emitOpError() << "expects 'payload' to have rows (rank >= 1)";
  if (payload.getRank() != received.getRank())
    return emitOpError() << "expects 'received' to have the rank of "
                            "'payload' ("
                         << payload.getRank() << "), got "
                         << received.getRank();
  for (int64_t i = 1; i < payload.getRank(); ++i)
    if (failed(check.dim("received", getReceived(), i, payload.getDimSize(i),
                         "the payload's row size")))
      return failure();
  if (payload.getElementType() != received.getElementType())
    return emitOpError() << "expects 'received' element type "
                         << payload.getElementType() << ", got "
                         << received.getElementType();
  return success();
}

//===----------------------------------------------------------------------===//
// TransposeSegmentsOp
//===----------------------------------------------------------------------===//

LogicalResult TransposeSegmentsOp::verify() {
  ShapeChecker check(*this);
  auto rowsType = cast<RankedTensorType>(getRows().getType());
  if (rowsType.getRank() != 1 && rowsType.getRank() != 2)
    return emitOpError() << "expects 'rows' of rank 1 or 2, got " << rowsType;
  if (failed(check.rank("counts", getCounts(), 2)))
    return failure();
  auto counts = cast<RankedTensorType>(getCounts().getType());
  if (!counts.hasStaticShape())
    return emitOpError() << "expects static 'counts' dimensions [A, B], got "
                         << counts;
  if (getResult().getType() != getRows().getType())
    return emitOpError() << "expects the result to have the type of 'rows' ("
                         << getRows().getType() << "), got "
                         << getResult().getType();
  return check.shape("group_offsets", getGroupOffsets(),
                     {counts.getDimSize(1) + 1}, {"B + 1"});
}

//===----------------------------------------------------------------------===//
// GroupedMatmulOp
//===----------------------------------------------------------------------===//

LogicalResult GroupedMatmulOp::verify() {
  ShapeChecker check(*this);
  int64_t numExperts = dimOf(getWeights(), 0);
  int64_t cols = dimOf(getWeights(), 1);
  int64_t depth = dimOf(getWeights(), 2);
  if (isPacked()) {
    // [E, N / P, K, P]: N is the panels times their width.
    int64_t panel = dimOf(getWeights(), 3);
    if (ShapedType::isDynamic(panel) || panel < 1)
      return emitOpError() << "expects packed weights [E, N / P, K, P] with a "
                              "static panel width P, got "
                           << getWeights().getType();
    if (!ShapedType::isDynamic(cols))
      cols *= panel;
  }
  Value gather = getGather();
  if ((getScatter() || getScale()) && failed(verifyScatter(cols)))
    return failure();
  // The rows' layout: [R] or [E, C] and a row's width, as `out` has them
  // (or `scatter`, whose rows add into the tokens).
  Value rowsLike = getRowsLike();
  StringRef rowsName = getScatter() ? "scatter" : "out";
  int64_t outRank = getOut().getType().getRank();
  int64_t rank = getScatter()
                     ? cast<MemRefType>(getScatter().getType()).getRank() + 1
                     : outRank;
  int64_t lhsRank = getLhs().getType().getRank();
  if (!gather && lhsRank != 2 && lhsRank != 3)
    return emitOpError() << "expects 'lhs' as [R, K] sorted rows or a [E, C, "
                            "K] padded buffer, got "
                         << getLhs().getType();
  if (!gather && rank != lhsRank) {
    if (getScatter())
      return emitOpError() << "expects 'scatter' to have rank " << lhsRank - 1
                           << " (a row of 'lhs' each), got "
                           << rowsLike.getType();
    return emitOpError() << "expects 'out' to have the rank of 'lhs' ("
                         << lhsRank << "), got " << getOut().getType();
  }
  if (gather) {
    // The tokens [T, K], read through the gather: one entry per row of out.
    if (lhsRank != 2)
      return emitOpError() << "expects 'lhs' to be the tokens [T, K] with a "
                              "'gather', got "
                           << getLhs().getType();
    if (rank != 2 && rank != 3)
      return emitOpError() << "expects 'out' as [R, N] sorted rows or a [E, "
                              "C, N] padded buffer, got "
                           << getOut().getType();
    if (failed(check.rank("gather", gather, rank - 1)))
      return failure();
    for (int64_t i = 0; i + 1 < rank; ++i)
      if (failed(check.dim("gather", gather, i, dimOf(getOut(), i),
                           "the rows of 'out'")))
        return failure();
  }
  // What marks sorted rows: a rank-2 out, or a rank-1 scatter.
  StringRef sortedForm = getScatter() ? "a rank-1 'scatter'" : "a rank-2 'out'";
  if (rank == 2) {
    if (!getOffsets())
      return emitOpError() << "sorted rows (" << sortedForm
                           << ") require 'offsets'";
    if (getCounts())
      return emitOpError("'counts' are only valid with a padded [E, C, K] "
                         "buffer");
    if (!ShapedType::isDynamic(numExperts) &&
        failed(check.dim("offsets", getOffsets(), 0, numExperts + 1,
                         "E + 1 (the weights' number of experts, plus one)")))
      return failure();
  } else {
    if (getOffsets())
      return emitOpError() << "'offsets' are only valid with sorted rows ("
                           << sortedForm << "), got "
                           << (getScatter() ? "an [E, C] scatter"
                                            : "a rank-3 buffer");
    if ((!gather && failed(check.dim("lhs", getLhs(), 0, numExperts,
                                     "the weights' number of experts E"))) ||
        failed(check.dim(rowsName, rowsLike, 0, numExperts,
                         "the weights' number of experts E")) ||
        (!gather && failed(check.dim(rowsName, rowsLike, 1, dimOf(getLhs(), 1),
                                     "the rows of 'lhs'"))))
      return failure();
    if (Value counts = getCounts())
      if (failed(check.dim("counts", counts, 0, numExperts,
                           "number of experts E")))
        return failure();
  }
  if (failed(check.dim("lhs", getLhs(), lhsRank - 1, depth,
                       "the weights' inner size K")) ||
      failed(check.dim("out", getOut(), outRank - 1, cols,
                       "the weights' output size N")))
    return failure();
  // With a gather, lhs holds the tokens: any number of rows.
  if (rank == 2 && !gather &&
      failed(check.dim(rowsName, rowsLike, 0, dimOf(getLhs(), 0),
                       "the rows of 'lhs'")))
    return failure();
  if (Value bias = getBias())
    if (failed(check.shape("bias", bias, {numExperts, cols},
                           {"number of experts E", "output size N"})))
      return failure();
  return verifyEpilogue(numExperts, cols);
}

LogicalResult GroupedMatmulOp::verifyScatter(int64_t cols) {
  Value scatter = getScatter(), scale = getScale();
  if (!scatter)
    return emitOpError("'scale' requires 'scatter' (the token each weighted "
                       "row adds into)");
  if (scale && cast<MemRefType>(scale.getType()).getShape() !=
                   cast<MemRefType>(scatter.getType()).getShape())
    return emitOpError() << "expects 'scale' of the shape of 'scatter' ("
                         << scatter.getType() << "), got " << scale.getType();
  if (getGather())
    return emitOpError("'scatter' is not supported with 'gather'");
  if (hasEpilogue())
    return emitOpError("'scatter' is not supported with an epilogue "
                       "'activation'");
  if (getOut().getType().getRank() != 2)
    return emitOpError() << "expects 'out' as the tokens [T, N] with a "
                            "'scatter', got "
                         << getOut().getType();
  return success();
}

LogicalResult GroupedMatmulOp::verifyEpilogue(int64_t numExperts,
                                              int64_t cols) {
  if (Value up = getUp()) {
    if (up.getType() != getWeights().getType())
      return emitOpError() << "expects 'up' of the type of 'weights' ("
                           << getWeights().getType() << "), got "
                           << up.getType();
    if (!hasEpilogue())
      return emitOpError("'up' requires an epilogue 'activation'");
  }
  if (Value upBias = getUpBias()) {
    if (!getUp())
      return emitOpError("'up_bias' requires 'up'");
    if (failed(ShapeChecker(*this).shape(
            "up_bias", upBias, {numExperts, cols},
            {"number of experts E", "output size N"})))
      return failure();
  }
  if (!hasEpilogue()) {
    if (getSwigluAlpha() || getSwigluLimit())
      return emitOpError("'swiglu_alpha' and 'swiglu_limit' require an "
                         "epilogue 'activation'");
    return success();
  }
  return verifyActivation(*this, *getActivation(), static_cast<bool>(getUp()),
                          "'up'");
}

LogicalResult GroupedActivationOp::verify() {
  ShapeChecker check(*this);
  MemRefType gate = getGate().getType();
  if (gate.getRank() != 2 && gate.getRank() != 3)
    return emitOpError() << "expects 'gate' as [R, F] sorted rows or a [E, "
                            "C, F] padded buffer, got "
                         << gate;
  for (auto [name, value] :
       {std::pair<StringRef, Value>{"up", getUp()}, {"out", getOut()}})
    if (value &&
        cast<MemRefType>(value.getType()).getShape() != gate.getShape())
      return emitOpError() << "expects '" << name << "' of the shape of "
                           << "'gate' (" << gate << "), got "
                           << value.getType();
  if (gate.getRank() == 2) {
    if (!getOffsets())
      return emitOpError("sorted rows (a rank-2 'gate') require 'offsets'");
    if (getCounts())
      return emitOpError("'counts' are only valid with a padded [E, C, F] "
                         "buffer");
  } else {
    if (getOffsets())
      return emitOpError("'offsets' are only valid with sorted rows (a "
                         "rank-2 'gate'), got a rank-3 buffer");
    if (Value counts = getCounts())
      if (failed(check.dim("counts", counts, 0, gate.getDimSize(0),
                           "number of experts E")))
        return failure();
  }
  return verifyActivation(*this, getActivation(), static_cast<bool>(getUp()),
                          "'up'");
  return success();
}

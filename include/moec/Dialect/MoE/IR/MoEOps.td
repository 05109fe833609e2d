//===- MoEOps.td - moe dialect operations ------------------*- tablegen -*-===//
//
// Part of moec. The ops of an MoE layer: the whole block (`moe.layer`), its
// layout-free decomposition (route, dispatch, experts, combine), the two
// concrete dispatch layouts, and the expert-parallel exchange.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_DIALECT_MOE_IR_MOEOPS_TD
#define MOEC_DIALECT_MOE_IR_MOEOPS_TD

include "moec/Dialect/MoE/IR/MoEDialect.td"
include "moec/Dialect/MoE/IR/MoEAttrs.td"
include "moec/Dialect/MoE/IR/MoETypes.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"

def MoE_FloatTensor : RankedTensorOf<[AnyFloat]>;
def MoE_IndexTensor : RankedTensorOf<[AnySignlessInteger]>;
def MoE_GroupedOrTensor : AnyTypeOf<[MoE_GroupedType, MoE_FloatTensor]>;
def MoE_AnyTensor : RankedTensorOf<[AnyFloat, AnySignlessInteger]>;

// Router attributes shared by moe.layer and moe.route.
defvar MoE_RouterAttrs = (ins
    ConfinedAttr<I64Attr, [IntPositive]>:$top_k,
    DefaultValuedAttr<MoE_ScoringAttr, "::mlir::moe::Scoring::Softmax">:$scoring,
    DefaultValuedAttr<MoE_SelectionAttr, "::mlir::moe::Selection::Plain">:$selection,
    OptionalAttr<I64Attr>:$n_group,
    OptionalAttr<I64Attr>:$topk_group,
    DefaultValuedAttr<MoE_GroupMaskAttr,
                      "::mlir::moe::GroupMask::NegInf">:$group_mask,
    DefaultValuedAttr<BoolAttr, "false">:$normalize,
    DefaultValuedAttr<F64Attr, "1.0">:$routed_scaling_factor);

// Expert activation attributes shared by moe.layer and moe.experts.
defvar MoE_ActivationAttrs = (ins
    DefaultValuedAttr<MoE_ActivationAttr,
                      "::mlir::moe::Activation::SiLU">:$activation,
    OptionalAttr<F64Attr>:$swiglu_alpha,
    OptionalAttr<F64Attr>:$swiglu_limit);

// Accessors for MoE_ActivationAttrs.
defvar MoE_ActivationAccessors = [{
    /// α of clamped_swiglu (1.702 when not given, as in GPT-OSS).
    double getSwigluAlphaOrDefault() {
      auto alpha = getSwigluAlpha();
      return alpha ? alpha->convertToDouble() : 1.702;
    }
}];

// Capacity attributes shared by moe.layer and the dispatch ops.
defvar MoE_CapacityAttrs = (ins
    OptionalAttr<F64Attr>:$capacity_factor,
    OptionalAttr<I64Attr>:$expert_capacity,
    DefaultValuedAttr<I64Attr, "0">:$min_capacity);

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

def MoE_LayerOp : MoE_Op<"layer", [Pure, AttrSizedOperandSegments]> {
  let summary = "a whole Mixture-of-Experts block";
  let description = [{
    Routes each of the T tokens of `hidden` ([T, D], T static or dynamic) to
    `top_k` of E experts, runs the chosen expert FFNs and sums their outputs
    weighted by the router, plus an optional shared expert. Every variant of
    docs/semantics.md is an attribute or an optional operand:

    - Router: `logits = hidden · router_weightᵀ (+ router_bias)` in fp32;
      `scoring` softmax or sigmoid; `selection` plain top-k or group-limited
      (`group_sum_top2`: DeepSeek-V3, group score = sum of its top-2 scores
      after `score_bias`; `group_max`: DeepSeek-V2, max score), keeping
      `topk_group` of `n_group` groups (the experts of the other groups score
      −∞, or 0.0 with `group_mask = #moe.group_mask<zero>`, which lets them
      beat negative biased scores); `score_bias` ([E]) changes only the
      selection; `normalize` renormalizes the selected weights (sigmoid adds
      1e-20 to the denominator); weights are then scaled by
      `routed_scaling_factor`. Ties go to the lower expert index.
    - Experts: `experts(gate, up, down)` is gated (down · (act(gate·x) ⊙
      up·x)), `experts(in, out)` is not (out · act(in·x)); weights are stacked
      [E, F, D] and [E, D, F]; `activation` is silu, gelu (erf) or relu.
      Optional `expert_biases` ([E, F] per gate/up/in projection, [E, D] for
      down/out) are added to each projection's output.
      `clamped_swiglu` (GPT-OSS, gated only) replaces act(g) ⊙ u with
      min(g, L) · σ(α · min(g, L)) · (clamp(u, −L, L) + 1), where
      L = `swiglu_limit` (required) and α = `swiglu_alpha` (default 1.702).
    - Capacity: `capacity_factor` gives C = max(ceil(cf·T·k/E), min_capacity),
      `expert_capacity` a fixed C; absent both, the layer is dropless. First
      choices go before second choices, token order within; a dropped
      assignment contributes zero, or `w·x[t]` with
      `drop_policy = #moe.drop_policy<passthrough>` (Hugging Face Switch).
    - Shared expert: `shared(gate, up, down)` ([Fs, D], [Fs, D], [D, Fs]) is a
      dense gated FFN added to every token; a fourth operand [1, D] gates it
      with sigmoid(x · w_sgᵀ) (Qwen2-MoE).

    Example (GPT-OSS-shaped, router and expert biases, clamped SwiGLU):
    ```mlir
    %y = moe.layer %x, %wr router_bias(%br) experts(%wg, %wu, %wd)
           expert_biases(%bg, %bu, %bd)
           {top_k = 2 : i64, normalize = true,
            activation = #moe.activation<clamped_swiglu>,
            swiglu_limit = 7.0 : f64}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8xf32>,
            tensor<8x96x64xf32>, tensor<8x96x64xf32>, tensor<8x64x96xf32>,
            tensor<8x96xf32>, tensor<8x96xf32>, tensor<8x64xf32>)
         -> tensor<?x64xf32>
    ```

    Example (Mixtral-shaped):
    ```mlir
    %y = moe.layer %x, %wg experts(%w1, %w3, %w2)
           {top_k = 2 : i64, normalize = true}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x96x64xf32>,
            tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = !con((ins
      MoE_FloatTensor:$hidden,
      MoE_FloatTensor:$router_weight,
      Optional<MoE_FloatTensor>:$router_bias,
      Optional<MoE_FloatTensor>:$score_bias,
      Variadic<MoE_FloatTensor>:$expert_weights,
      Variadic<MoE_FloatTensor>:$expert_biases,
      Variadic<MoE_FloatTensor>:$shared_weights),
    MoE_RouterAttrs,
    MoE_ActivationAttrs,
    MoE_CapacityAttrs,
    (ins DefaultValuedAttr<MoE_DropPolicyAttr,
                           "::mlir::moe::DropPolicy::Zero">:$drop_policy));
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $hidden `,` $router_weight
    (`router_bias` `(` $router_bias^ `)`)?
    (`score_bias` `(` $score_bias^ `)`)?
    `experts` `(` $expert_weights `)`
    (`expert_biases` `(` $expert_biases^ `)`)?
    (`shared` `(` $shared_weights^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = !strconcat([{
    /// Whether the experts are gated (three expert weights).
    bool isGated() { return getExpertWeights().size() == 3; }
    int64_t getNumExperts() {
      return ::llvm::cast<::mlir::RankedTensorType>(
          getRouterWeight().getType()).getDimSize(0);
    }
    /// Whether a capacity limit applies (tokens may be dropped).
    bool hasCapacity() {
      return getCapacityFactor().has_value() || getExpertCapacity().has_value();
    }
  }], MoE_ActivationAccessors);
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

def MoE_RouteOp : MoE_Op<"route", [Pure, AttrSizedOperandSegments]> {
  let summary = "router: scores, expert selection and combine weights";
  let description = [{
    Computes the router of a `moe.layer` (same attributes, same semantics):
    for each token, the `top_k` chosen experts in descending score order
    (`indices`, [T, k], i32) and their combine weights (`weights`, [T, k]).

    ```mlir
    %idx, %w = moe.route %x, %wg {top_k = 2 : i64, normalize = true}
        : (tensor<?x64xf32>, tensor<8x64xf32>)
        -> (tensor<?x2xi32>, tensor<?x2xf32>)
    ```
  }];
  let arguments = !con((ins
      MoE_FloatTensor:$hidden,
      MoE_FloatTensor:$router_weight,
      Optional<MoE_FloatTensor>:$router_bias,
      Optional<MoE_FloatTensor>:$score_bias),
    MoE_RouterAttrs);
  let results = (outs MoE_IndexTensor:$indices, MoE_FloatTensor:$weights);
  let assemblyFormat = [{
    $hidden `,` $router_weight
    (`router_bias` `(` $router_bias^ `)`)?
    (`score_bias` `(` $score_bias^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    int64_t getNumExperts() {
      return ::llvm::cast<::mlir::RankedTensorType>(
          getRouterWeight().getType()).getDimSize(0);
    }
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Layout-free dispatch / experts / combine
//===----------------------------------------------------------------------===//

def MoE_DispatchOp : MoE_Op<"dispatch", [Pure]> {
  let summary = "group tokens by expert (layout chosen later)";
  let description = [{
    Groups the rows of `hidden` by the experts in `indices` ([T, k]). The
    capacity attributes say which assignments may be dropped (none when both
    `capacity_factor` and `expert_capacity` are absent). The result's layout
    is chosen by `moe-static-capacity` or `moe-dynamic-shapes`.

    ```mlir
    %g = moe.dispatch %x, %idx {capacity_factor = 1.25 : f64}
        : (tensor<?x64xf32>, tensor<?x2xi32>) -> !moe.grouped<8 x 64 x f32>
    ```
  }];
  let arguments = !con((ins MoE_FloatTensor:$hidden, MoE_IndexTensor:$indices),
                       MoE_CapacityAttrs);
  let results = (outs MoE_GroupedType:$result);
  let assemblyFormat = [{
    $hidden `,` $indices attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def MoE_ExpertsOp : MoE_Op<"experts", [Pure, AttrSizedOperandSegments]> {
  let summary = "the expert FFNs over tokens grouped by expert";
  let description = [{
    Applies expert e's FFN to the rows grouped for expert e. `weights` are the
    stacked expert weights: `(gate, up, down)` gated, `(in, out)` not (see
    `moe.layer`). The grouped tokens are in one of three forms:
    - `!moe.grouped<E x D x T>` (layout-free; result has the same type);
    - a padded buffer `[E, C, D]` (static capacity; result `[E, C, D]`),
      optionally with `counts` ([E], i32: assignments routed to each expert,
      as `moe.dispatch_capacity` returns them): slots at or past
      min(counts[e], C) are padding: not computed, unspecified in the result;
    - rows sorted by expert `[N, D]` with `offsets` ([E + 1], i32): rows
      `offsets[e] .. offsets[e+1]` belong to expert e (result `[N, D]`; rows at
      or past `offsets[E]` are unspecified);
    - either layout read in place from the tokens `[T, D]` themselves,
      through `gather`: `[N]` with `offsets` (row r is `tokens[gather[r]]`,
      result `[N, D]`), or `[E, C]` with optional `counts` (slot s of expert
      e is `tokens[gather[e, s]]`, result `[E, C, D]`). The sorted or padded
      copy of the tokens is never made (`moe-fuse-dispatch-gather` builds
      these forms from `moe.sort_assignments` and `moe.assign_slots`).
    Optional `biases` and the activation attributes are those of `moe.layer`.

    With `combine` (only with a `gather`: each row's token is known) the op
    also does the combine: the result is `[T, D]`, the tokens' shape, and
    `result[t] = Σ combine[r] · FFN_e(tokens[t])` over the rows r (sorted
    rows, or filled slots below `counts`) whose `gather[r]` is t, summed in
    ascending expert order (the order of `moe.combine_sorted` and
    `moe.combine_capacity`); a token no row reads gets zeros. `combine` has
    the gather's shape: the routing weight of each row
    (`moe.scatter_weights`). The experts' rows then never leave the second
    projection (`moe-fuse-expert-combine` builds this form).

    With `into` (the result's type) the sum starts from `into` instead of
    zeros: `result = into + Σ …` with a combine. Without a gather, `into`
    takes sorted rows that are the tokens themselves (a dense FFN such as the
    shared expert: one expert, offsets `[0, T]`), and each row adds into the
    same row: `result[r] = into[r] + combine[r] · FFN_e(tokens[r])`, or
    without `combine` `into[r] + FFN_e(tokens[r])`; rows outside every
    segment keep `into[r]`. The addition then happens as the second
    projection stores its rows (`moe-fuse-shared-expert` builds this form
    from the shared expert's output added to the routed one).

    ```mlir
    %h = moe.experts %buf counts(%counts) weights(%g, %u, %d)
        : (tensor<8x?x64xf32>, tensor<8xi32>, tensor<8x96x64xf32>,
           tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<8x?x64xf32>
    %r = moe.experts %rows offsets(%off) weights(%g, %u, %d)
        {activation = #moe.activation<silu>}
        : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x96x64xf32>,
           tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
    %s = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d)
        : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>,
           tensor<8x96x64xf32>, tensor<8x64x96xf32>) -> tensor<?x64xf32>
    %y = moe.experts %x gather(%src) offsets(%off) weights(%g, %u, %d)
        combine(%rw)
        : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x96x64xf32>,
           tensor<8x96x64xf32>, tensor<8x64x96xf32>, tensor<?xf32>)
        -> tensor<?x64xf32>
    %z = moe.experts %x offsets(%all) weights(%sg, %su, %sd)
        combine(%gate) into(%y)
        : (tensor<?x64xf32>, tensor<2xi32>, tensor<1x96x64xf32>,
           tensor<1x96x64xf32>, tensor<1x64x96xf32>, tensor<?xf32>,
           tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = !con((ins
      MoE_GroupedOrTensor:$tokens,
      Optional<MoE_IndexTensor>:$gather,
      Optional<MoE_IndexTensor>:$offsets,
      Optional<MoE_IndexTensor>:$counts,
      Variadic<MoE_FloatTensor>:$weights,
      Variadic<MoE_FloatTensor>:$biases,
      Optional<MoE_FloatTensor>:$combine,
      Optional<MoE_FloatTensor>:$into),
    MoE_ActivationAttrs);
  let results = (outs MoE_GroupedOrTensor:$result);
  let assemblyFormat = [{
    $tokens (`gather` `(` $gather^ `)`)? (`offsets` `(` $offsets^ `)`)?
    (`counts` `(` $counts^ `)`)?
    `weights` `(` $weights `)` (`biases` `(` $biases^ `)`)?
    (`combine` `(` $combine^ `)`)? (`into` `(` $into^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = !strconcat([{
    bool isGated() { return getWeights().size() == 3; }
    /// The tokens, offsets/counts and weights part of the verifier.
    ::mlir::LogicalResult verifyTokensAndWeights();
    /// The gather part: [T, D] tokens read in place as [N, D] sorted rows
    /// or an [E, C, D] padded buffer.
    ::mlir::LogicalResult verifyGather();
    /// The combine part: the routing weight of each gathered row, and a
    /// result of the tokens' shape.
    ::mlir::LogicalResult verifyCombine();
    /// The into part: the sum's start, and without a gather rows that are
    /// the tokens themselves.
    ::mlir::LogicalResult verifyInto();
  }], MoE_ActivationAccessors);
  let hasVerifier = 1;
}

def MoE_CombineOp : MoE_Op<"combine", [Pure]> {
  let summary = "weighted sum of the expert outputs back to token order";
  let description = [{
    `result[t] = Σ_j weights[t, j] · out(t, j)` where `out(t, j)` is expert
    `indices[t, j]`'s output for token t, or, for an assignment the dispatch
    dropped, zero (`drop_policy` zero) or `hidden[t]` (passthrough; `hidden`
    is then required).

    ```mlir
    %y = moe.combine %h, %idx, %w
        : (!moe.grouped<8 x 64 x f32>, tensor<?x2xi32>, tensor<?x2xf32>)
        -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
      MoE_GroupedType:$grouped, MoE_IndexTensor:$indices,
      MoE_FloatTensor:$weights, Optional<MoE_FloatTensor>:$hidden,
      DefaultValuedAttr<MoE_DropPolicyAttr,
                        "::mlir::moe::DropPolicy::Zero">:$drop_policy);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $grouped `,` $indices `,` $weights (`passthrough` `(` $hidden^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Static-capacity layout
//===----------------------------------------------------------------------===//

def MoE_DispatchCapacityOp : MoE_Op<"dispatch_capacity", [Pure]> {
  let summary = "dispatch into a padded [E, C, D] buffer, dropping overflow";
  let description = [{
    GShard-style dispatch. Assignments are visited in priority order (all
    first choices in token order, then all second choices, ...); assignment
    (t, j) takes the next free slot of expert `indices[t, j]` if fewer than
    `capacity` slots are taken, else it is dropped. Results: the buffer
    `[E, C, D]` (slots no assignment takes are unspecified: nothing reads
    them), `slots` ([T, k], i32: the slot of each
    assignment, -1 when dropped) and `counts` ([E], i32: assignments routed to
    each expert, dropped ones included).

    ```mlir
    %buf, %slots, %counts = moe.dispatch_capacity %x, %idx, %c
        : (tensor<?x64xf32>, tensor<?x2xi32>, index)
        -> (tensor<8x?x64xf32>, tensor<?x2xi32>, tensor<8xi32>)
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$hidden, MoE_IndexTensor:$indices,
                       Index:$capacity);
  let results = (outs MoE_FloatTensor:$buffer, MoE_IndexTensor:$slots,
                      MoE_IndexTensor:$counts);
  let assemblyFormat = [{
    $hidden `,` $indices `,` $capacity attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def MoE_AssignSlotsOp : MoE_Op<"assign_slots", [Pure]> {
  let summary = "the bookkeeping of moe.dispatch_capacity, without moving rows";
  let description = [{
    Assigns slots exactly as `moe.dispatch_capacity` does (same `slots` and
    `counts`, the same drops), but instead of copying each token's row into
    its slot it records where the slot's row comes from: `sources[e, s]` is
    the token in slot s of expert e (slots no assignment takes are
    unspecified). `moe.experts` then reads the tokens in place through
    `gather(sources)`; `moe-fuse-dispatch-gather` builds this form.

    ```mlir
    %src, %slots, %counts = moe.assign_slots %idx, %c
        : (tensor<?x2xi32>, index)
        -> (tensor<8x?xi32>, tensor<?x2xi32>, tensor<8xi32>)
    ```
  }];
  let arguments = (ins MoE_IndexTensor:$indices, Index:$capacity);
  let results = (outs MoE_IndexTensor:$sources, MoE_IndexTensor:$slots,
                      MoE_IndexTensor:$counts);
  let assemblyFormat = [{
    $indices `,` $capacity attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def MoE_CombineCapacityOp : MoE_Op<"combine_capacity", [Pure]> {
  let summary = "weighted gather from a padded [E, C, D] buffer";
  let description = [{
    `result[t] = Σ_j weights[t, j] · buffer[indices[t, j], slots[t, j]]`,
    skipping assignments with slot -1 (or adding `weights[t, j] · hidden[t]`
    for them with `drop_policy` passthrough).

    ```mlir
    %y = moe.combine_capacity %out, %slots, %idx, %w
        : (tensor<8x?x64xf32>, tensor<?x2xi32>, tensor<?x2xi32>,
           tensor<?x2xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
      MoE_FloatTensor:$buffer, MoE_IndexTensor:$slots,
      MoE_IndexTensor:$indices, MoE_FloatTensor:$weights,
      Optional<MoE_FloatTensor>:$hidden,
      DefaultValuedAttr<MoE_DropPolicyAttr,
                        "::mlir::moe::DropPolicy::Zero">:$drop_policy);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $buffer `,` $slots `,` $indices `,` $weights
    (`passthrough` `(` $hidden^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Dropless sorted-segment layout
//===----------------------------------------------------------------------===//

def MoE_DispatchSortedOp : MoE_Op<"dispatch_sorted", [Pure]> {
  let summary = "dispatch into rows sorted by expert (no padding)";
  let description = [{
    MegaBlocks-style dispatch: the T·k assignment rows are permuted so that
    expert e's rows are contiguous, `offsets[e] .. offsets[e+1]`, in priority
    order (first choices in token order, then second choices, ...). With the
    optional `capacity`, at most that many rows are kept per expert (the same
    assignments `moe.dispatch_capacity` keeps). Results: `rows` ([T·k, D];
    rows past `offsets[E]` are unspecified), `offsets` ([E + 1], i32), `positions`
    ([T, k], i32: the row of each assignment, -1 when dropped) and `counts`
    ([E], i32: assignments routed to each expert, dropped ones included).

    ```mlir
    %rows, %off, %pos, %counts = moe.dispatch_sorted %x, %idx
        : (tensor<?x64xf32>, tensor<?x2xi32>)
        -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$hidden, MoE_IndexTensor:$indices,
                       Optional<Index>:$capacity);
  let results = (outs MoE_FloatTensor:$rows, MoE_IndexTensor:$offsets,
                      MoE_IndexTensor:$positions, MoE_IndexTensor:$counts);
  let assemblyFormat = [{
    $hidden `,` $indices (`capacity` `(` $capacity^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def MoE_SortAssignmentsOp : MoE_Op<"sort_assignments", [Pure]> {
  let summary = "the bookkeeping of moe.dispatch_sorted, without moving rows";
  let description = [{
    Sorts the assignments of `indices` ([T, k]) by expert exactly as
    `moe.dispatch_sorted` does (same `offsets`, `positions` and `counts`,
    the same capacity drops), but instead of copying each token's row to
    its sorted place it records where the row comes from: `sources[r]` is
    the token of sorted row r (rows past `offsets[E]` are unspecified).
    `moe.experts` then reads the tokens in place through
    `gather(sources)`; `moe-fuse-dispatch-gather` builds this form.

    ```mlir
    %src, %off, %pos, %counts = moe.sort_assignments %idx
        : (tensor<?x2xi32>)
        -> (tensor<?xi32>, tensor<9xi32>, tensor<?x2xi32>, tensor<8xi32>)
    ```
  }];
  let arguments = (ins MoE_IndexTensor:$indices, Optional<Index>:$capacity);
  let results = (outs MoE_IndexTensor:$sources, MoE_IndexTensor:$offsets,
                      MoE_IndexTensor:$positions, MoE_IndexTensor:$counts);
  let assemblyFormat = [{
    $indices (`capacity` `(` $capacity^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def MoE_CombineSortedOp : MoE_Op<"combine_sorted", [Pure]> {
  let summary = "weighted un-permute of sorted expert rows";
  let description = [{
    `result[t] = Σ_j weights[t, j] · rows[positions[t, j]]`, skipping
    positions of -1 (or adding `weights[t, j] · hidden[t]` for them with
    `drop_policy` passthrough).

    ```mlir
    %y = moe.combine_sorted %out, %pos, %w
        : (tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32>)
        -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
      MoE_FloatTensor:$rows, MoE_IndexTensor:$positions,
      MoE_FloatTensor:$weights, Optional<MoE_FloatTensor>:$hidden,
      DefaultValuedAttr<MoE_DropPolicyAttr,
                        "::mlir::moe::DropPolicy::Zero">:$drop_policy);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $rows `,` $positions `,` $weights (`passthrough` `(` $hidden^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// The combine in the experts
//===----------------------------------------------------------------------===//

def MoE_ScatterWeightsOp : MoE_Op<"scatter_weights",
                                  [Pure, AttrSizedOperandSegments]> {
  let summary = "the routing weight of each row of a layout";
  let description = [{
    Moves the routing weights `[T, k]` to the rows of a layout:
    `result[row(t, j)] = weights[t, j]` for every kept assignment, where
    row(t, j) is `where[t, j]` of sorted rows (result `[T·k]`, `where` the
    positions) or slot `(indices[t, j], where[t, j])` of a padded layout
    (`experts(%indices, %capacity)`, result `[E, C]`, `where` the slots).
    Rows no kept assignment takes are zero. `moe.experts` takes it as its
    `combine`, to weight each row as it adds it into its token
    (`moe-fuse-expert-combine` builds it).

    ```mlir
    %rw = moe.scatter_weights %w, %pos
        : (tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?xf32>
    %sw = moe.scatter_weights %w, %slots experts(%idx, %c)
        : (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x2xi32>, index)
        -> tensor<8x?xf32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$weights, MoE_IndexTensor:$where,
                       Optional<MoE_IndexTensor>:$indices,
                       Optional<Index>:$capacity);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $weights `,` $where (`experts` `(` $indices^ `,` $capacity `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.all_to_all
//===----------------------------------------------------------------------===//

def MoE_AllToAllOp : MoE_Op<"all_to_all"> {
  let summary = "exchange per-destination chunks between ranks";
  let description = [{
    Each of `world_size` ranks sends consecutive chunks of the rows (dim 0) of
    `payload` to every rank, in rank order: `send_counts[r]` ([W], i32) rows
    to rank r (its own chunk stays local). Returns the rows received from
    every rank, in source rank order, and `recv_counts` ([W], i32). The
    counts are exchanged first, then the payload; when the receiver already
    knows them (`recv_counts(%known)`, e.g. on the way back), the count
    exchange is skipped. `stage` says which ranks take part: all of them
    (`flat`), the G = `ranks_per_node` ranks of this node (`intra_node`), or
    the W / G ranks with this rank's local index, one per node
    (`inter_node`): the two stages of a hierarchical exchange
    (moe-hierarchical-a2a). The counts have one entry per rank taking part
    (W, G or W / G), in the order of their world ranks. Lowered to runtime
    calls (docs/abi.md).

    ```mlir
    %recv, %rc = moe.all_to_all %rows, %sc
        {world_size = 4 : i64, stage = #moe.stage<flat>}
        : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>)
    %back, %rc2 = moe.all_to_all %out, %rc recv_counts(%sc)
        {world_size = 4 : i64}
        : (tensor<?x64xf32>, tensor<4xi32>, tensor<4xi32>)
        -> (tensor<?x64xf32>, tensor<4xi32>)
    ```
  }];
  let arguments = (ins
      MoE_AnyTensor:$payload, MoE_IndexTensor:$send_counts,
      Optional<MoE_IndexTensor>:$known_recv_counts,
      ConfinedAttr<I64Attr, [IntPositive]>:$world_size,
      DefaultValuedAttr<MoE_A2AStageAttr, "::mlir::moe::A2AStage::Flat">:$stage,
      OptionalAttr<I64Attr>:$ranks_per_node);
  let results = (outs MoE_AnyTensor:$received, MoE_IndexTensor:$recv_counts);
  let assemblyFormat = [{
    $payload `,` $send_counts (`recv_counts` `(` $known_recv_counts^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.transpose_segments
//===----------------------------------------------------------------------===//

def MoE_TransposeSegmentsOp : MoE_Op<"transpose_segments", [Pure]> {
  let summary = "reorder an A x B grid of row segments from (a, b) to (b, a)";
  let description = [{
    The rows of `rows` ([N, D] or [N]) form A · B consecutive segments in row-major
    (a, b) order, segment (a, b) holding `counts[a, b]` rows ([A, B], i32).
    The result holds the same segments in (b, a) order; `group_offsets`
    ([B + 1], i32) says where each group b starts (rows past the last offset
    are unspecified). Applying it again with the transposed counts restores
    the original order. Expert parallelism uses it to turn the rows received
    from each source rank (grouped by source, then local expert) into one
    segment per local expert, and back; a hierarchical exchange uses it to
    group rows by the next stage's destination.

    ```mlir
    %byExpert, %offsets = moe.transpose_segments %recv, %counts
        : (tensor<?x64xf32>, tensor<4x2xi32>) -> (tensor<?x64xf32>, tensor<3xi32>)
    ```
  }];
  let arguments = (ins MoE_AnyTensor:$rows, MoE_IndexTensor:$counts);
  let results = (outs MoE_AnyTensor:$result,
                      MoE_IndexTensor:$group_offsets);
  let assemblyFormat = [{
    $rows `,` $counts attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.grouped_matmul (buffers)
//===----------------------------------------------------------------------===//

def MoE_GroupedMatmulOp : MoE_Op<"grouped_matmul", [AttrSizedOperandSegments]> {
  let summary = "per-expert C = A · Bᵀ (+ bias) over segments of rows, on buffers";
  let description = [{
    The expert GEMM of the lowered layer, in one structured op that each
    target schedules: for every expert e and every row r of its segment,
    `out[r, n] = Σ_k lhs[r, k] · weights[e, n, k] (+ bias[e, n])`, summed in
    f32. Weights are stored `[E, N, K]` (`[out, in]`, as checkpoints store
    them), in f32 or bf16; bf16 weights are widened exactly to f32 where
    they are read. The CPU's packed form `[E, N / P, K, P]` holds the same
    weights in panels of P output columns (`weights[e, n / P, k, n % P]`,
    `linalg.pack` of each expert's matrix along N; see
    `moe-pack-expert-weights`), so a panel's P columns of one k are
    contiguous. Rows outside every segment are not written. The segments are
    those of `moe.experts`:
    - sorted rows (`lhs` [R, K], `out` [R, N]) with `offsets` ([E + 1]):
      expert e's rows are `offsets[e] .. offsets[e+1]`;
    - a padded buffer (`lhs` [E, C, K], `out` [E, C, N]): expert e's rows
      are slots `0 .. C` of `lhs[e]`, or its first `min(counts[e], C)` with
      `counts` ([E]).
    With `gather` (the shape of `out` without N: [R] or [E, C]) each row is
    read from `lhs[gather[...]]` instead, `lhs` then being the tokens
    [T, K] (any number of them): the gather is done by the operand loads,
    or by a copy to scratch where a schedule hands rows to a library
    matmul.

    With `scatter` and optionally `scale` (both the shape of `out` without
    N: [R] or [E, C]) the op combines as it stores: `out` is then `[T, N]`,
    and each row adds `scale[r] · (its product + bias)` (without `scale`,
    the product and bias alone) into `out[scatter[r]]`, experts in ascending
    order (so each element's sum has one order, whatever the threads).
    `out` must hold the sum's start (zeros, or what the rows add to). Rows
    of the same expert must scatter to distinct rows of `out` (an expert's
    rows are distinct tokens). Not with `gather` or an `activation`.

    With an `activation` the op also applies it in its epilogue: `out[r, n]
    = act(g) ⊙ u` with `g` the product above and `u` the same product with
    the `up` weights (and `up_bias`), or `act(g)` without `up`
    (`moe-fuse-gated-activation` builds this form from two grouped matmuls
    and a `moe.grouped_activation`; the projections' sums then never leave
    the kernel).

    `moe-expand-grouped-matmul` turns it into one `linalg.matmul` per expert
    (the CPU schedule); `moe-tile-grouped-matmul` into one parallel loop
    over a list of row tiles × column tiles, which the GPU runs as one kernel
    launch.

    ```mlir
    moe.grouped_matmul %rows, %w offsets(%off : memref<9xi32>)
        outs(%h : memref<?x96xf32>) : memref<?x64xf32>, memref<8x96x64xf32>
    moe.grouped_matmul %buf, %w counts(%counts : memref<8xi32>)
        bias(%b : memref<8x96xf32>) outs(%h3 : memref<8x?x96xf32>)
        : memref<8x?x64xf32>, memref<8x96x64xf32>
    moe.grouped_matmul %rows, %wg up(%wu : memref<8x96x64xf32>)
        offsets(%off : memref<9xi32>) outs(%h : memref<?x96xf32>)
        {activation = #moe.activation<silu>}
        : memref<?x64xf32>, memref<8x96x64xf32>
    moe.grouped_matmul %x, %w gather(%src : memref<?xi32>)
        offsets(%off : memref<9xi32>) outs(%h : memref<?x96xf32>)
        : memref<?x64xf32>, memref<8x96x64xf32>
    moe.grouped_matmul %h, %wd offsets(%off : memref<9xi32>)
        scatter(%src : memref<?xi32>) scale(%rw : memref<?xf32>)
        outs(%y : memref<?x64xf32>) : memref<?x96xf32>, memref<8x64x96xf32>
    ```
  }];
  let arguments = (ins
      Arg<MemRefOf<[F32]>, "rows of the experts", [MemRead]>:$lhs,
      Arg<MemRefRankOf<[F32, BF16], [3, 4]>,
          "[E, N, K] weights, or [E, N / P, K, P] packed in panels",
          [MemRead]>:$weights,
      Arg<Optional<MemRefRankOf<[F32, BF16], [3, 4]>>,
          "the up projection's weights, laid out as `weights`",
          [MemRead]>:$up,
      Arg<Optional<MemRefRankOf<[AnySignlessInteger], [1, 2]>>,
          "[R] or [E, C]: the row of `lhs` each row of `out` reads",
          [MemRead]>:$gather,
      Arg<Optional<MemRefRankOf<[AnySignlessInteger], [1]>>,
          "[E + 1] segment offsets", [MemRead]>:$offsets,
      Arg<Optional<MemRefRankOf<[AnySignlessInteger], [1]>>,
          "[E] rows routed to each expert", [MemRead]>:$counts,
      Arg<Optional<MemRefRankOf<[F32], [2]>>, "[E, N] bias",
          [MemRead]>:$bias,
      Arg<Optional<MemRefRankOf<[F32], [2]>>, "[E, N] bias of `up`",
          [MemRead]>:$up_bias,
      Arg<Optional<MemRefRankOf<[AnySignlessInteger], [1, 2]>>,
          "[R] or [E, C]: the row of `out` each row adds into",
          [MemRead]>:$scatter,
      Arg<Optional<MemRefRankOf<[F32], [1, 2]>>,
          "[R] or [E, C]: the weight of each row's sum", [MemRead]>:$scale,
      Arg<MemRefOf<[F32]>, "the products", [MemRead, MemWrite]>:$out,
      OptionalAttr<MoE_ActivationAttr>:$activation,
      OptionalAttr<F64Attr>:$swiglu_alpha,
      OptionalAttr<F64Attr>:$swiglu_limit);
  let assemblyFormat = [{
    $lhs `,` $weights (`up` `(` $up^ `:` type($up) `)`)?
    (`gather` `(` $gather^ `:` type($gather) `)`)?
    (`offsets` `(` $offsets^ `:` type($offsets) `)`)?
    (`counts` `(` $counts^ `:` type($counts) `)`)?
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`up_bias` `(` $up_bias^ `:` type($up_bias) `)`)?
    (`scatter` `(` $scatter^ `:` type($scatter) `)`)?
    (`scale` `(` $scale^ `:` type($scale) `)`)?
    `outs` `(` $out `:` type($out) `)` attr-dict `:` type($lhs) `,`
    type($weights)
  }];
  let extraClassDeclaration = !strconcat([{
    /// A buffer whose leading dimensions are the rows' layout ([R] or
    /// [E, C]): `out`, or `scatter` when the rows add into tokens.
    ::mlir::Value getRowsLike() {
      return getScatter() ? getScatter() : getOut();
    }
    /// True for the padded form ([E, C] rows: lhs [E, C, K] or the tokens
    /// with a gather; out [E, C, N] or the tokens with a scatter).
    bool isPadded() {
      return ::llvm::cast<::mlir::MemRefType>(getRowsLike().getType())
                 .getRank() == (getScatter() ? 2 : 3);
    }
    /// True for weights packed in panels, [E, N / P, K, P].
    bool isPacked() { return getWeights().getType().getRank() == 4; }
    /// True when an activation is applied in the epilogue.
    bool hasEpilogue() { return getActivation().has_value(); }
    /// The up/up_bias/activation part of the verifier.
    ::mlir::LogicalResult verifyEpilogue(int64_t numExperts, int64_t cols);
    /// The scatter/scale part: rows [R] or [E, C] adding into `out` [T, N].
    ::mlir::LogicalResult verifyScatter(int64_t cols);
  }], MoE_ActivationAccessors);
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.grouped_activation (buffers)
//===----------------------------------------------------------------------===//

def MoE_GroupedActivationOp : MoE_Op<"grouped_activation", [AttrSizedOperandSegments]> {
  let summary = "the experts' activation over segments of rows, on buffers";
  let description = [{
    The activation between the expert projections of the lowered layer:
    `out[r, f] = act(gate[r, f]) ⊙ up[r, f]` for a gated FFN (`up` given),
    `act(gate[r, f])` otherwise, on every row of the experts' segments
    (those of `moe.grouped_matmul`: rows below `offsets[E]` of sorted rows,
    slots below `counts[e]` of a padded buffer, or all of them). Other rows
    are not written. `out` may be `gate` itself. `clamped_swiglu` needs
    `up`.

    `moe-fuse-gated-activation` folds it, with the grouped matmuls that
    produce `gate` and `up`, into one grouped matmul with the activation in
    its epilogue; the grouped-matmul schedules lower what is left to a
    parallel loop over the rows.

    ```mlir
    moe.grouped_activation %g up(%u : memref<?x96xf32>)
        offsets(%off : memref<9xi32>) outs(%g : memref<?x96xf32>)
        {activation = #moe.activation<silu>} : memref<?x96xf32>
    ```
  }];
  let arguments = !con((ins
      Arg<MemRefOf<[F32]>, "the gate projection", [MemRead]>:$gate,
      Arg<Optional<MemRefOf<[F32]>>, "the up projection", [MemRead]>:$up,
      Arg<Optional<MemRefRankOf<[AnySignlessInteger], [1]>>,
          "[E + 1] segment offsets", [MemRead]>:$offsets,
      Arg<Optional<MemRefRankOf<[AnySignlessInteger], [1]>>,
          "[E] rows routed to each expert", [MemRead]>:$counts,
      Arg<MemRefOf<[F32]>, "the activations", [MemWrite]>:$out),
    MoE_ActivationAttrs);
  let assemblyFormat = [{
    $gate (`up` `(` $up^ `:` type($up) `)`)?
    (`offsets` `(` $offsets^ `:` type($offsets) `)`)?
    (`counts` `(` $counts^ `:` type($counts) `)`)?
    `outs` `(` $out `:` type($out) `)` attr-dict `:` type($gate)
  }];
  let extraClassDeclaration = MoE_ActivationAccessors;
  let hasVerifier = 1;
}

#endif // MOEC_DIALECT_MOE_IR_MOEOPS_TD

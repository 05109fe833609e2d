//===- ChooseDispatchLayout.cpp - each dispatch's layout by cost model ----===//
//
// Part of moec. Implements moe-choose-dispatch-layout (--lowering=auto): each
// dispatch -> experts -> combine chain takes the padded or the sorted layout,
// whichever reserves fewer rows of scratch, E·C against T·k. Where that
// depends on the run-time T, the chain is cloned into both branches of an
// scf.if on the comparison itself.
//
//===----------------------------------------------------------------------===//

#include "LayoutRewriter.h"

#include "moec/Dialect/MoE/Transforms/Capacity.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"

#include <limits>

namespace mlir::moe {
#define GEN_PASS_DEF_MOECHOOSEDISPATCHLAYOUT
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

enum class Layout { Padded, Sorted, ByTokenCount };

/// The cost model's answer for one dispatch, and the numbers behind it.
struct Choice {
  Layout layout;
  std::string why;
};

Choice choose(DispatchOp op) {
  int64_t numExperts = op.getResult().getType().getNumExperts();
  int64_t topK = op.getIndices().getType().getDimSize(1);
  int64_t numTokens = op.getHidden().getType().getDimSize(0);
  std::optional<uint64_t> fixed = op.getExpertCapacity();
  std::optional<APFloat> factor = op.getCapacityFactor();
  if (!fixed && !factor)
    return {Layout::Sorted,
            llvm::formatv("dropless: padded E·C = {0}·T rows against sorted "
                          "T·k = {1}·T",
                          numExperts, topK)};
  if (!ShapedType::isDynamic(numTokens)) {
    int64_t capacity = *getStaticCapacity(op);
    int64_t padded = numExperts * capacity, sorted = numTokens * topK;
    return {padded < sorted ? Layout::Padded : Layout::Sorted,
            llvm::formatv("T = {0}, C = {1}: padded E·C = {2} rows against "
                          "sorted T·k = {3}",
                          numTokens, capacity, padded, sorted)};
  }
  if (fixed) {
    // C = min(C0, T), and E ≥ k: E·C < T·k exactly when T > E·C0 / k.
    int64_t c0 = std::max<int64_t>(*fixed, op.getMinCapacity());
    if (c0 > std::numeric_limits<int64_t>::max() / numExperts)
      return {Layout::Sorted,
              llvm::formatv("capacity C = min({0}, T) = T at any T: padded E·T "
                            "rows against sorted T·k",
                            c0)};
    return {Layout::ByTokenCount,
            llvm::formatv("capacity C = min({0}, T): padded E·C rows against "
                          "sorted T·k, fewer padded when T > {1}",
                          c0, numExperts * c0 / topK)};
  }
  double cf = factor->convertToDouble();
  std::string cfText;
  llvm::raw_string_ostream(cfText) << llvm::format("%g", cf);
  if (cf >= 1.0)
    return {Layout::Sorted,
            llvm::formatv("capacity factor {0} ≥ 1: padded E·C ≥ T·k sorted "
                          "rows at every T",
                          cfText)};
  return {Layout::ByTokenCount,
          llvm::formatv("capacity factor {0} < 1: padded E·C rows, about "
                        "{0}·T·k, against sorted T·k; compared at run time "
                        "(min_capacity and the rounding of C decide small T)",
                        cfText)};
}

/// The chain from `dispatch` through its !moe.grouped values (in program
/// order when linear). `linear` says whether each value has one user and the
/// chain ends in one combine, in the dispatch's block.
struct Chain {
  SmallVector<Operation *> ops;
  bool linear = true;
};

Chain chainOf(DispatchOp dispatch) {
  Chain chain;
  SmallVector<Value> worklist{dispatch.getResult()};
  chain.ops.push_back(dispatch);
  unsigned combines = 0;
  while (!worklist.empty()) {
    Value grouped = worklist.pop_back_val();
    if (!grouped.hasOneUse())
      chain.linear = false;
    for (Operation *user : grouped.getUsers()) {
      if (llvm::is_contained(chain.ops, user))
        continue;
      chain.ops.push_back(user);
      if (user->getBlock() != dispatch->getBlock())
        chain.linear = false;
      if (isa<CombineOp>(user))
        ++combines;
      else if (auto experts = dyn_cast<ExpertsOp>(user))
        worklist.push_back(experts.getResult());
      else
        chain.linear = false; // rewriteGroupedChains reports it.
    }
  }
  chain.linear = chain.linear && combines == 1;
  // Program order matters only for cloning, which needs a linear chain.
  if (chain.linear)
    llvm::sort(chain.ops, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
  return chain;
}

/// Lowers each chain in the layout chosen for its dispatch and combine.
class ChosenLowering : public LayoutLowering {
public:
  explicit ChosenLowering(const llvm::DenseMap<Operation *, Layout> &chosen)
      : chosen(chosen) {}

  ConcreteGroups lowerDispatch(RewriterBase &rewriter, DispatchOp op) override {
    return of(op).lowerDispatch(rewriter, op);
  }
  Value lowerCombine(RewriterBase &rewriter, CombineOp op,
                     const ConcreteGroups &groups) override {
    return of(op).lowerCombine(rewriter, op, groups);
  }

private:
  LayoutLowering &of(Operation *op) {
    return chosen.lookup(op) == Layout::Padded ? *padded : *sorted;
  }
  const llvm::DenseMap<Operation *, Layout> &chosen;
  std::unique_ptr<LayoutLowering> padded = createCapacityLowering();
  std::unique_ptr<LayoutLowering> sorted = createSortedLowering();
};

struct MoEChooseDispatchLayoutPass
    : public moe::impl::MoEChooseDispatchLayoutBase<
          MoEChooseDispatchLayoutPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<DispatchOp> dispatches;
    getOperation()->walk([&](DispatchOp op) { dispatches.push_back(op); });
    llvm::DenseMap<Operation *, Layout> chosen;
    for (DispatchOp dispatch : dispatches) {
      Choice choice = choose(dispatch);
      Chain chain = chainOf(dispatch);
      if (choice.layout == Layout::ByTokenCount &&
          (!perTokenCount || !chain.linear)) {
        choice.layout = Layout::Padded;
        choice.why += perTokenCount
                          ? "; one layout for every T (the chain branches): "
                            "padded, the large-T choice"
                          : "; one layout for every T (per-token-count=false, "
                            "as with expert parallelism or the CUDA "
                            "target): padded, the large-T choice";
      }
      if (explain)
        dispatch.emitRemark()
            << "layout "
            << (choice.layout == Layout::Padded   ? "padded (static)"
                : choice.layout == Layout::Sorted ? "sorted (dynamic)"
                                                  : "chosen at run time")
            << ": " << choice.why;
      if (choice.layout != Layout::ByTokenCount) {
        for (Operation *op : chain.ops)
          chosen[op] = choice.layout;
        continue;
      }
      branchOnTokenCount(dispatch, chain, chosen);
    }
    ChosenLowering lowering(chosen);
    if (failed(rewriteGroupedChains(getOperation(), lowering)))
      signalPassFailure();
  }

  /// Replaces the chain by `scf.if (E·C < T·k)` with a padded copy of it
  /// in the then branch and a sorted copy in the else branch.
  void branchOnTokenCount(DispatchOp dispatch, const Chain &chain,
                          llvm::DenseMap<Operation *, Layout> &chosen) {
    Operation *combine = chain.ops.back();
    Location loc = dispatch.getLoc();
    OpBuilder b(combine);
    int64_t numExperts = dispatch.getResult().getType().getNumExperts();
    int64_t topK = dispatch.getIndices().getType().getDimSize(1);
    Value numTokens = tensor::DimOp::create(b, loc, dispatch.getHidden(), 0);
    Value capacity = buildCapacity(b, loc, dispatch);
    auto times = [&](Value v, int64_t n) -> Value {
      return arith::MulIOp::create(b, loc, v,
                                   arith::ConstantIndexOp::create(b, loc, n));
    };
    Value padded = times(capacity, numExperts);
    Value sorted = times(numTokens, topK);
    Value fewerPadded = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                              padded, sorted);
    auto cloneChain = [&](Layout layout) {
      return [&, layout](OpBuilder &nb, Location l) {
        IRMapping map;
        Operation *last = nullptr;
        for (Operation *op : chain.ops) {
          last = nb.clone(*op, map);
          chosen[last] = layout;
        }
        scf::YieldOp::create(nb, l, last->getResults());
      };
    };
    auto branch =
        scf::IfOp::create(b, loc, fewerPadded, cloneChain(Layout::Padded),
                          cloneChain(Layout::Sorted));
    combine->replaceAllUsesWith(branch.getResults());
    for (Operation *op : llvm::reverse(chain.ops))
      op->erase();
  }
};

} // namespace

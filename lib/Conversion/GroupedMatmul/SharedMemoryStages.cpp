//===- SharedMemoryStages.cpp - a tile's operands staged by cp.async ------===//
//
// Part of moec. See SharedMemoryStages.h.
//
//===----------------------------------------------------------------------===//

#include "SharedMemoryStages.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// A staged row's elements.
constexpr int64_t kStagedRow = kStageDepth + kStagePad;
/// Elements per 16-byte piece: of the f32 rows, of the bf16 weights.
constexpr int64_t kRowPiece = 4, kWeightPiece = 8;

bool hasIdentityLayout(Value buffer) {
  return !buffer || cast<MemRefType>(buffer.getType()).getLayout().isIdentity();
}

/// A private workgroup-memory global of `type`, named `base`_N for the
/// first N no symbol of the module has.
StringAttr createGlobal(RewriterBase &rewriter, ModuleOp module, StringRef base,
                        MemRefType type, Location loc) {
  std::string name;
  for (unsigned i = 0;; ++i) {
    name = (base + "_" + Twine(i)).str();
    if (!SymbolTable::lookupSymbolIn(module, name))
      break;
  }
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(module.getBody());
  StringAttr symbol = rewriter.getStringAttr(name);
  // 16-byte aligned for cp.async's 16-byte pieces.
  memref::GlobalOp::create(
      rewriter, loc, symbol, rewriter.getStringAttr("private"),
      TypeAttr::get(type), /*initial_value=*/Attribute(),
      /*constant=*/UnitAttr(), rewriter.getI64IntegerAttr(16));
  return symbol;
}

} // namespace

bool mlir::moe::lowering::canStageOperands(GroupedMatmulOp op) {
  auto lhs = cast<MemRefType>(op.getLhs().getType());
  return lhs.getElementType().isF32() && hasIdentityLayout(op.getLhs()) &&
         hasIdentityLayout(op.getWeights()) && hasIdentityLayout(op.getUp()) &&
         op.getWeights().getType().getDimSize(2) % kWeightPiece == 0;
}

int64_t mlir::moe::lowering::stagedBytes(int64_t stages, int64_t rows,
                                         int64_t cols, int64_t projections) {
  return stages * kStagedRow * (rows * 4 + projections * cols * 2);
}

StageGlobals mlir::moe::lowering::createStageGlobals(RewriterBase &rewriter,
                                                     GroupedMatmulOp op,
                                                     int64_t stages,
                                                     int64_t rows,
                                                     int64_t cols) {
  MLIRContext *ctx = op.getContext();
  auto module = op->getParentOfType<ModuleOp>();
  Attribute workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  int64_t projections = op.getUp() ? 2 : 1;
  StageGlobals g;
  g.aType = MemRefType::get({stages, rows, kStagedRow}, Float32Type::get(ctx),
                            MemRefLayoutAttrInterface(), workgroup);
  g.bType = MemRefType::get({stages, projections, cols, kStagedRow},
                            BFloat16Type::get(ctx), MemRefLayoutAttrInterface(),
                            workgroup);
  g.a =
      createGlobal(rewriter, module, "__moe_staged_rows", g.aType, op.getLoc());
  g.b = createGlobal(rewriter, module, "__moe_staged_weights", g.bType,
                     op.getLoc());
  return g;
}

OperandStages::OperandStages(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                             const StageGlobals &globals, const RowTile &rows,
                             Value col0, Value numCols, Value thread,
                             int64_t threads) {
  auto c = [&](int64_t v) { return constIndex(b, v); };
  aStage = memref::GetGlobalOp::create(b, globals.aType,
                                       FlatSymbolRefAttr::get(globals.a));
  bStage = memref::GetGlobalOp::create(b, globals.bType,
                                       FlatSymbolRefAttr::get(globals.b));
  lhs = op.getLhs();
  weights.push_back(op.getWeights());
  if (Value up = op.getUp())
    weights.push_back(up);
  depth = op.getWeights().getType().getDimSize(2);
  int64_t tileRows = globals.aType.getDimSize(1);
  int64_t tileCols = globals.bType.getDimSize(2);

  // Piece i of the thread is piece thread + i * threads of the stage, so
  // consecutive threads read consecutive 16 bytes of a row. The pass
  // checks that the tile divides into the threads' pieces evenly.
  auto pieceOf = [&](int64_t i, int64_t perRow, Value &row, Value &k,
                     int64_t elements) {
    Value piece = arith::AddIOp::create(b, thread, c(i * threads));
    row = arith::DivUIOp::create(b, piece, c(perRow));
    k = arith::MulIOp::create(b, arith::RemUIOp::create(b, piece, c(perRow)),
                              c(elements));
  };

  int64_t rowPieces = kStageDepth / kRowPiece;
  Value lastRow = arith::SubIOp::create(b, rows.end, c(1));
  for (int64_t i = 0; i < tileRows * rowPieces / threads; ++i) {
    Piece p;
    Value row;
    pieceOf(i, rowPieces, row, p.k, kRowPiece);
    Value read = arith::MinUIOp::create(
        b, arith::AddIOp::create(b, rows.begin, row), lastRow);
    if (Value gather = op.getGather()) {
      SmallVector<Value> at(rows.prefix);
      at.push_back(read);
      read = toIndex(b, memref::LoadOp::create(b, gather, at));
    } else {
      p.from = rows.prefix;
    }
    p.from.push_back(read);
    p.to = {row};
    aPieces.push_back(std::move(p));
  }

  int64_t weightPieces = kStageDepth / kWeightPiece;
  Value lastCol = arith::SubIOp::create(b, numCols, c(1));
  bPieces.resize(weights.size());
  for (size_t proj = 0; proj < weights.size(); ++proj)
    for (int64_t i = 0; i < tileCols * weightPieces / threads; ++i) {
      Piece p;
      Value col;
      pieceOf(i, weightPieces, col, p.k, kWeightPiece);
      Value read = arith::MinUIOp::create(
          b, arith::AddIOp::create(b, col0, col), lastCol);
      p.from = {rows.expert, read};
      p.to = {c(proj), col};
      bPieces[proj].push_back(std::move(p));
    }
}

Value OperandStages::copyPiece(ImplicitLocOpBuilder &b, const Piece &piece,
                               Value buffer, Value staged, Value stage,
                               Value k0, int64_t elements) const {
  Value k = arith::AddIOp::create(b, k0, piece.k);
  Value inside = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, k,
                                       constIndex(b, depth));
  // A piece past K reads nothing (source size 0: zeros are written), from
  // an address that is still inside the row.
  Value read = arith::SelectOp::create(b, inside, k, constIndex(b, 0));
  Value count = arith::SelectOp::create(b, inside, constIndex(b, elements),
                                        constIndex(b, 0));
  SmallVector<Value> to{stage};
  to.append(piece.to);
  to.push_back(piece.k);
  SmallVector<Value> from(piece.from);
  from.push_back(read);
  return nvgpu::DeviceAsyncCopyOp::create(
      b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), staged, to, buffer,
      from, b.getIndexAttr(elements), count,
      /*bypassL1=*/b.getUnitAttr());
}

Value OperandStages::copy(ImplicitLocOpBuilder &b, Value stage,
                          Value k0) const {
  SmallVector<Value> tokens;
  for (const Piece &p : aPieces)
    tokens.push_back(copyPiece(b, p, lhs, aStage, stage, k0, kRowPiece));
  for (size_t proj = 0; proj < weights.size(); ++proj)
    for (const Piece &p : bPieces[proj])
      tokens.push_back(
          copyPiece(b, p, weights[proj], bStage, stage, k0, kWeightPiece));
  return nvgpu::DeviceAsyncCreateGroupOp::create(
      b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
}

Value OperandStages::rowPair(ImplicitLocOpBuilder &b, Value stage, Value row,
                             Value k) const {
  return vector::LoadOp::create(b, VectorType::get({2}, b.getF32Type()), aStage,
                                ValueRange{stage, row, k},
                                /*nontemporal=*/false, llvm::MaybeAlign(8));
}

Value OperandStages::weightPair(ImplicitLocOpBuilder &b, Value stage,
                                int64_t projection, Value col, Value k) const {
  return vector::LoadOp::create(
      b, VectorType::get({2}, b.getBF16Type()), bStage,
      ValueRange{stage, constIndex(b, projection), col, k},
      /*nontemporal=*/false, llvm::MaybeAlign(4));
}

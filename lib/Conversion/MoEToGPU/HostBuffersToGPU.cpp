//===- HostBuffersToGPU.cpp - host buffers in device memory ---------------===//
//
// Part of moec. Implements moe-host-buffers-to-gpu: the host function's
// allocations, deallocations and copies become their gpu dialect forms, so
// every buffer of a CUDA model is device memory.
//
//===----------------------------------------------------------------------===//

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEHOSTBUFFERSTOGPU
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;

namespace {

/// memref.alloc and memref.alloca (host stack memory is no use to a kernel
/// either) -> gpu.alloc.
template <typename AllocLike>
struct AllocToGPU : OpConversionPattern<AllocLike> {
  using OpConversionPattern<AllocLike>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(AllocLike op, typename AllocLike::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<gpu::AllocOp>(
        op, op.getType(), /*asyncToken=*/Type(), ValueRange{},
        adaptor.getDynamicSizes(), adaptor.getSymbolOperands());
    return success();
  }
};

struct DeallocToGPU : OpConversionPattern<memref::DeallocOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(memref::DeallocOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<gpu::DeallocOp>(
        op, /*asyncToken=*/Type(), ValueRange{}, adaptor.getMemref());
    return success();
  }
};

struct CopyToGPU : OpConversionPattern<memref::CopyOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(memref::CopyOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // mgpuMemcpy moves one contiguous range.
    for (Value v : {op.getSource(), op.getTarget()})
      if (!cast<MemRefType>(v.getType()).getLayout().isIdentity())
        return rewriter.notifyMatchFailure(op, "strided copy");
    rewriter.replaceOpWithNewOp<gpu::MemcpyOp>(
        op, /*asyncToken=*/Type(), ValueRange{}, adaptor.getTarget(),
        adaptor.getSource());
    return success();
  }
};

struct HostBuffersToGPU : moe::impl::MoEHostBuffersToGPUBase<HostBuffersToGPU> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    // Kernels' own buffers (none today) would be GPU-local: leave them.
    auto inKernel = [](Operation *op) {
      return op->getParentOfType<gpu::LaunchOp>() != nullptr;
    };
    target.addDynamicallyLegalOp<memref::AllocOp, memref::AllocaOp,
                                 memref::DeallocOp, memref::CopyOp>(inKernel);
    target.addLegalDialect<gpu::GPUDialect>();
    RewritePatternSet patterns(ctx);
    patterns.add<AllocToGPU<memref::AllocOp>, AllocToGPU<memref::AllocaOp>,
                 DeallocToGPU, CopyToGPU>(ctx);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

//===- Pipelines.cpp - moec pass pipelines --------------------------------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "moec/Pipelines/Pipelines.h"

#include "moec/Conversion/Passes.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::buildMoETensorPipeline(OpPassManager &pm,
                                       const CPUPipelineOptions &options) {
  pm.addPass(createMoEDecompose());
  switch (options.lowering) {
  case Lowering::Static:
    pm.addPass(createMoEStaticCapacity());
    break;
  case Lowering::Dynamic:
    pm.addPass(createMoEDynamicShapes());
    break;
  case Lowering::Auto: {
    MoEChooseDispatchLayoutOptions choose;
    // The exchanges are rewritten per layout, outside any branch.
    choose.perTokenCount =
        options.layoutByTokenCount && options.expertParallel == 1;
    choose.explain = options.explain;
    pm.addPass(createMoEChooseDispatchLayout(choose));
    break;
  }
  }
  if (options.expertParallel != 1) {
    MoEExpertParallelOptions ep;
    ep.worldSize = options.expertParallel;
    pm.addPass(createMoEExpertParallel(ep));
    int64_t perNode = options.ranksPerNode;
    if (perNode > 0 && perNode < options.expertParallel &&
        options.a2a != A2AMode::Flat) {
      MoEHierarchicalA2AOptions hier;
      hier.ranksPerNode = perNode;
      hier.policy = options.a2a == A2AMode::Auto ? "cost-model" : "always";
      hier.explain = options.explain;
      pm.addPass(createMoEHierarchicalA2A(hier));
    }
  }
  if (options.exportStats)
    pm.addPass(createMoEExportStats());
  if (options.weightPanels > 0) {
    MoEPackExpertWeightsOptions pack;
    pack.panel = options.weightPanels;
    pm.addPass(createMoEPackExpertWeights(pack));
  }
  pm.addPass(createCanonicalizerPass());
}

/// moe ops -> loops and grouped matmuls on buffers, the outputs as
/// out-parameters: the stages both targets share.
static void buildLowerToBuffers(OpPassManager &pm, bool fuseDispatchGather,
                                bool fuseExpertCombine, bool fuseSharedExpert,
                                bool fuseGatedActivation, bool explain,
                                bool combinePerElement) {
  if (fuseDispatchGather) {
    MoEFuseDispatchGatherOptions gather;
    gather.explain = explain;
    pm.addNestedPass<func::FuncOp>(createMoEFuseDispatchGather(gather));
  }
  if (fuseExpertCombine) {
    MoEFuseExpertCombineOptions combine;
    combine.explain = explain;
    pm.addNestedPass<func::FuncOp>(createMoEFuseExpertCombine(combine));
  }
  if (fuseSharedExpert) {
    MoEFuseSharedExpertOptions shared;
    shared.explain = explain;
    pm.addNestedPass<func::FuncOp>(createMoEFuseSharedExpert(shared));
  }
  pm.addPass(createMoEEmitCInterface());
  // CSE runs on tensors only: after moe-lower-to-loops it would merge the
  // lowering's bufferization.to_buffer ops (pure) into the first one, whose
  // buffer one-shot bufferization may then reuse in place before a later
  // read through the merged memref (an exchange's counts, clobbered).
  pm.addPass(createCSEPass());
  MoELowerToLoopsOptions loops;
  loops.combinePerElement = combinePerElement;
  pm.addPass(createMoELowerToLoops(loops));
  pm.addPass(createCanonicalizerPass());
  if (fuseGatedActivation)
    pm.addNestedPass<func::FuncOp>(createMoEFuseGatedActivation());

  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  // The caller owns the outputs: results become out-parameters.
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);
  pm.addPass(createConvertBufferizationToMemRefPass());
}

/// The CPU lowering, from either pipeline's options (both declare the
/// lowering's through CPULoweringOptionsBase).
template <typename Derived>
static void buildCPULowering(OpPassManager &pm,
                             const CPULoweringOptionsBase<Derived> &options) {
  // The tile list runs experts at once: it cannot add their rows into the
  // tokens in expert order, and it adds no rows into a tensor at all.
  bool perExpert = options.groupedGemm == GroupedGemm::PerExpert;
  buildLowerToBuffers(pm, options.fuseDispatchGather,
                      options.fuseExpertCombine && perExpert,
                      options.fuseSharedExpert && perExpert,
                      options.fuseGatedActivation, options.explain,
                      /*combinePerElement=*/false);
  if (options.groupedGemm == GroupedGemm::TileList)
    pm.addPass(createMoETileGroupedMatmul());
  else
    pm.addPass(createMoEExpandGroupedMatmul());
  pm.addPass(createMoELowerMmt4dToVectors());
  pm.addPass(createMoELowerMatmulToRegisterBlocks());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  if (options.openmp) {
    pm.addPass(createConvertSCFToOpenMPPass());
    if (options.parallelMinWork > 0) {
      MoESerializeSmallParallelRegionsOptions small;
      small.minWork = options.parallelMinWork;
      pm.addPass(createMoESerializeSmallParallelRegions(small));
    }
  }
  // Allocations call _mlir_memref_to_llvm_alloc / _free, which moe-compile
  // routes to the runtime's workspace (docs/abi.md): a large batch's
  // scratch buffers then keep their pages from one forward to the next.
  FinalizeMemRefToLLVMConversionPassOptions memrefToLLVM;
  memrefToLLVM.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefToLLVM));
  pm.addPass(createSCFToControlFlowPass());
  if (options.approximateMath) {
    pm.addPass(createMoEApproximateMath());
    // The polynomials' vector fma and floor become single instructions;
    // convert-math-to-libm would call fmaf and floorf once per lane.
    pm.addPass(createConvertMathToLLVMPass());
  }
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::moe::buildMoECPULoweringPipeline(OpPassManager &pm,
                                            const CPULoweringOptions &options) {
  buildCPULowering(pm, options);
}

void mlir::moe::buildMoECUDALoweringPipeline(
    OpPassManager &pm, const CUDALoweringOptions &options) {
  // The tile list runs experts at once, so it neither adds their rows into
  // the tokens in expert order (the combine) nor rows into a tensor (the
  // shared expert): those two fusions stay the CPU per-expert schedule's.
  buildLowerToBuffers(pm, options.fuseDispatchGather,
                      /*fuseExpertCombine=*/false,
                      /*fuseSharedExpert=*/false, options.fuseGatedActivation,
                      options.explain,
                      // A thread per output element, not per token.
                      /*combinePerElement=*/true);
  // bf16-weight GEMMs on tensor cores; what is left (f32 weights) scalar.
  if (options.tensorCores) {
    MoETileGroupedMatmulOnTensorCoresOptions mma;
    mma.tileRows = options.mmaTileRows;
    mma.tileCols = options.mmaTileCols;
    mma.stages = options.mmaStages;
    pm.addPass(createMoETileGroupedMatmulOnTensorCores(mma));
  }
  MoETileGroupedMatmulOptions tiles;
  tiles.tileRows = options.tileRows;
  tiles.tileCols = options.tileCols;
  pm.addPass(createMoETileGroupedMatmul(tiles));
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addPass(createCanonicalizerPass());
  // Routing's logits: a warp per dot product rather than a thread.
  if (options.splitDotProducts)
    pm.addNestedPass<func::FuncOp>(createMoESplitDotProductsAcrossLanes());
  // A parallel loop with no parallel loop inside (routing, the dispatch
  // bookkeeping, the combine) would run one thread per block.
  if (options.threadsPerBlock != 1) {
    MoETileFlatParallelLoopsOptions flat;
    flat.threadsPerBlock = options.threadsPerBlock;
    pm.addNestedPass<func::FuncOp>(createMoETileFlatParallelLoops(flat));
  }
  // Every parallel loop becomes a kernel launch; what is left on the host
  // and touches a buffer runs as a one-thread launch.
  pm.addNestedPass<func::FuncOp>(createGpuMapParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  pm.addNestedPass<func::FuncOp>(createMoESerialHostCodeToGPU());
  pm.addNestedPass<func::FuncOp>(createMoEHostBuffersToGPU());
  // Constants (trip counts, tile sizes, strides) go into the kernels rather
  // than their parameters, so that ptxas sees them.
  pm.addNestedPass<func::FuncOp>(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  // The host's copies of the kernels' shared-memory globals.
  pm.addPass(createSymbolDCEPass());
  // One stream per forward: launches, allocations and copies chained by
  // tokens, one wait at the end.
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = options.gpuArch;
  nvvm.cubinFeatures = options.ptxFeatures;
  nvvm.cubinFormat = options.binaryFormat;
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
}

void mlir::moe::buildMoECPUPipeline(OpPassManager &pm,
                                    const CPUPipelineOptions &options) {
  buildMoETensorPipeline(pm, options);
  buildCPULowering(pm, options);
}

void mlir::moe::registerMoEPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "moe-tensor-pipeline",
      "moe.layer to layout-assigned moe ops (decompose, layout, statistics)",
      buildMoETensorPipeline);
  PassPipelineRegistration<CPULoweringOptions>(
      "moe-cpu-lowering-pipeline",
      "Layout-assigned moe ops to the LLVM dialect for the CPU",
      buildMoECPULoweringPipeline);
  PassPipelineRegistration<CUDALoweringOptions>(
      "moe-cuda-lowering-pipeline",
      "Layout-assigned moe ops to GPU kernels (embedded binaries) and host "
      "code in the LLVM dialect",
      buildMoECUDALoweringPipeline);
  PassPipelineRegistration<CPUPipelineOptions>(
      "moe-cpu-pipeline", "moe.layer to the LLVM dialect for the CPU",
      buildMoECPUPipeline);
}

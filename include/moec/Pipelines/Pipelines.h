//===- Pipelines.h - moec pass pipelines ------------------------*- C++ -*-===//
//
// Part of moec. The compilation pipelines, built in C++ and registered with
// moe-opt so that every stage of a moe-compile run can be reproduced.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_PIPELINES_PIPELINES_H
#define MOEC_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;
namespace moe {

/// How grouped tokens are laid out (moe-static-capacity,
/// moe-dynamic-shapes, or per dispatch by moe-choose-dispatch-layout).
enum class Lowering { Static, Dynamic, Auto };

/// The choices of a lowering option (pipelines and moe-compile).
inline llvm::cl::ValuesClass loweringValues() {
  return llvm::cl::values(
      clEnumValN(Lowering::Auto, "auto",
                 "per dispatch, whichever reserves fewer rows of scratch "
                 "(moe-choose-dispatch-layout; default)"),
      clEnumValN(Lowering::Static, "static",
                 "GShard-style [E, C, D] buffers (moe-static-capacity)"),
      clEnumValN(Lowering::Dynamic, "dynamic",
                 "MegaBlocks-style sorted rows (moe-dynamic-shapes)"));
}

/// How the expert GEMMs (moe.grouped_matmul) are scheduled.
enum class GroupedGemm { PerExpert, TileList };

/// The choices of a grouped-gemm option (pipelines and moe-compile).
inline llvm::cl::ValuesClass groupedGemmValues() {
  return llvm::cl::values(
      clEnumValN(GroupedGemm::PerExpert, "per-expert",
                 "one register-blocked matmul per expert "
                 "(moe-expand-grouped-matmul; the CPU's schedule, default)"),
      clEnumValN(GroupedGemm::TileList, "tile-list",
                 "one parallel loop over row x column tiles "
                 "(moe-tile-grouped-matmul; the GPU's schedule, run on the CPU "
                 "to check it)"));
}

/// How expert-parallel exchanges cross nodes (moe-hierarchical-a2a).
enum class A2AMode { Auto, Flat, Hierarchical };

/// The CPU lowering's options, declared once for the lowering pipeline
/// (CPULoweringOptions) and the whole CPU pipeline (CPUPipelineOptions).
template <typename Derived>
struct CPULoweringOptionsBase : public PassPipelineOptions<Derived> {
  mlir::detail::PassOptions::Option<GroupedGemm> groupedGemm{
      *this, "grouped-gemm", llvm::cl::desc("Schedule of the expert GEMMs"),
      llvm::cl::init(GroupedGemm::PerExpert), groupedGemmValues()};
  mlir::detail::PassOptions::Option<bool> openmp{
      *this, "openmp",
      llvm::cl::desc("Run parallel loops (the expert GEMMs' column blocks) "
                     "on OpenMP threads; the library then links libomp"),
      llvm::cl::init(true)};
  mlir::detail::PassOptions::Option<int64_t> parallelMinWork{
      *this, "parallel-min-work",
      llvm::cl::desc("Run OpenMP regions with less estimated work than this "
                     "on one thread (moe-serialize-small-parallel-regions; "
                     "0: every region on all threads)"),
      llvm::cl::init(32768)};
  mlir::detail::PassOptions::Option<bool> approximateMath{
      *this, "approximate-math",
      llvm::cl::desc("f32 exp and erf as polynomials (moe-approximate-math): "
                     "the activation in a GEMM epilogue stays in vector "
                     "registers instead of calling libm once per lane"),
      llvm::cl::init(true)};
  mlir::detail::PassOptions::Option<bool> fuseGatedActivation{
      *this, "fuse-gated-activation",
      llvm::cl::desc("Compute the gate and up projections and the "
                     "activation in one grouped matmul "
                     "(moe-fuse-gated-activation)"),
      llvm::cl::init(true)};
  mlir::detail::PassOptions::Option<bool> fuseDispatchGather{
      *this, "fuse-dispatch-gather",
      llvm::cl::desc("Read the experts' rows in place through a gather "
                     "instead of a sorted copy of the tokens "
                     "(moe-fuse-dispatch-gather)"),
      llvm::cl::init(true)};
  mlir::detail::PassOptions::Option<bool> fuseExpertCombine{
      *this, "fuse-expert-combine",
      llvm::cl::desc("Weight the experts' rows and add them into the tokens "
                     "in the second projection, instead of a combine pass "
                     "(moe-fuse-expert-combine; needs the gather fusion and "
                     "the per-expert grouped GEMM)"),
      llvm::cl::init(true)};
  mlir::detail::PassOptions::Option<bool> fuseSharedExpert{
      *this, "fuse-shared-expert",
      llvm::cl::desc("Add the shared expert's rows into the routed output in "
                     "its second projection, instead of an add pass "
                     "(moe-fuse-shared-expert; needs the per-expert grouped "
                     "GEMM)"),
      llvm::cl::init(true)};
  mlir::detail::PassOptions::Option<bool> explain{
      *this, "explain",
      llvm::cl::desc("Report the compiler's decisions (cost models, "
                     "fusions) as remarks"),
      llvm::cl::init(false)};
};

struct CPULoweringOptions : public CPULoweringOptionsBase<CPULoweringOptions> {
};

/// The whole CPU pipeline: the lowering's options (from the base) and the
/// tensor stage's.
struct CPUPipelineOptions : public CPULoweringOptionsBase<CPUPipelineOptions> {
  PassOptions::Option<Lowering> lowering{
      *this, "lowering",
      llvm::cl::desc("Dispatch layout: padded capacity buffers, sorted "
                     "segments, or chosen by a cost model"),
      llvm::cl::init(Lowering::Auto), loweringValues()};
  PassOptions::Option<bool> layoutByTokenCount{
      *this, "layout-by-token-count",
      llvm::cl::desc("With lowering=auto, branch on the run-time token count "
                     "where the layout's cost depends on it (off: one "
                     "layout, the large-T choice; always off with expert "
                     "parallelism)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> exportStats{
      *this, "export-stats",
      llvm::cl::desc("Return per-expert routing statistics"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> expertParallel{
      *this, "expert-parallel",
      llvm::cl::desc("Shard the experts over this many ranks "
                     "(moe-expert-parallel; 1: no sharding)"),
      llvm::cl::init(1)};
  PassOptions::Option<int64_t> ranksPerNode{
      *this, "ranks-per-node",
      llvm::cl::desc("Ranks per node of an expert-parallel run (0: all on "
                     "one node)"),
      llvm::cl::init(0)};
  PassOptions::Option<A2AMode> a2a{
      *this, "a2a",
      llvm::cl::desc("Exchanges across nodes: chosen by the cost model, "
                     "flat, or hierarchical"),
      llvm::cl::init(A2AMode::Auto),
      llvm::cl::values(
          clEnumValN(A2AMode::Auto, "auto",
                     "hierarchical where the alpha-beta model predicts it "
                     "faster"),
          clEnumValN(A2AMode::Flat, "flat", "one stage among all ranks"),
          clEnumValN(A2AMode::Hierarchical, "hierarchical",
                     "intra-node, then inter-node (moe-hierarchical-a2a)"))};
  PassOptions::Option<int64_t> weightPanels{
      *this, "weight-panels",
      llvm::cl::desc("Take expert weights packed in panels of this many "
                     "output columns (moe-pack-expert-weights; the CPU "
                     "per-expert schedule's layout; 0: as stored)"),
      llvm::cl::init(16)};
};

struct CUDALoweringOptions : public PassPipelineOptions<CUDALoweringOptions> {
  PassOptions::Option<std::string> gpuArch{
      *this, "gpu-arch",
      llvm::cl::desc("The GPU the kernels are compiled for (ptxas's -arch)"),
      llvm::cl::init("sm_90a")};
  PassOptions::Option<std::string> ptxFeatures{
      *this, "ptx-features",
      llvm::cl::desc("PTX ISA version of the kernels (+ptx80: CUDA 12.0 and "
                     "newer drivers)"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<std::string> binaryFormat{
      *this, "binary-format",
      llvm::cl::desc("How the kernels are embedded: fatbin (default; "
                     "cubin and PTX), bin (cubin) or isa (PTX, JIT-compiled "
                     "by the driver)"),
      llvm::cl::init("fatbin")};
  PassOptions::Option<int64_t> tileRows{
      *this, "tile-rows",
      llvm::cl::desc("Rows per tile of the scalar expert GEMMs (a block's "
                     "height)"),
      llvm::cl::init(16)};
  PassOptions::Option<int64_t> tileCols{
      *this, "tile-cols",
      llvm::cl::desc("Columns per tile of the scalar expert GEMMs (a block's "
                     "width)"),
      llvm::cl::init(16)};
  PassOptions::Option<bool> tensorCores{
      *this, "tensor-cores",
      llvm::cl::desc("Multiply bf16 expert weights on tensor cores "
                     "(mma.sync, sm_80 and newer)"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> mmaTileRows{
      *this, "mma-tile-rows",
      llvm::cl::desc("Rows per tile of the tensor-core expert GEMMs"),
      llvm::cl::init(64)};
  PassOptions::Option<int64_t> mmaTileCols{
      *this, "mma-tile-cols",
      llvm::cl::desc("Columns per tile of the tensor-core expert GEMMs"),
      llvm::cl::init(64)};
  PassOptions::Option<int64_t> mmaStages{
      *this, "mma-stages",
      llvm::cl::desc("Shared-memory stages of the tensor-core expert GEMMs' "
                     "operands (cp.async; 0: fragments straight from global "
                     "memory, the default until a GPU run has checked the "
                     "staged kernels)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> threadsPerBlock{
      *this, "threads-per-block",
      llvm::cl::desc("Threads per block of the kernels made of flat "
                     "parallel loops (routing, dispatch, combine): their "
                     "iterations in tiles of this many "
                     "(moe-tile-flat-parallel-loops); 1: one per block"),
      llvm::cl::init(128)};
  PassOptions::Option<bool> splitDotProducts{
      *this, "split-dot-products",
      llvm::cl::desc("Sum each of routing's logits with a warp, lanes "
                     "taking strided elements "
                     "(moe-split-dot-products-across-lanes)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> fuseGatedActivation{
      *this, "fuse-gated-activation",
      llvm::cl::desc("Compute the gate and up projections and the "
                     "activation in one tile-list kernel "
                     "(moe-fuse-gated-activation)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> fuseDispatchGather{
      *this, "fuse-dispatch-gather",
      llvm::cl::desc("Read the experts' rows from the tokens in the first "
                     "GEMM's loads instead of a sorted copy "
                     "(moe-fuse-dispatch-gather)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> explain{
      *this, "explain", llvm::cl::desc("Report the fusions as remarks"),
      llvm::cl::init(false)};
};

/// moe.layer -> layout-assigned moe ops (decompose, layout, statistics).
void buildMoETensorPipeline(OpPassManager &pm,
                            const CPUPipelineOptions &options);

/// Layout-assigned moe ops -> the LLVM dialect, for the CPU.
void buildMoECPULoweringPipeline(OpPassManager &pm,
                                 const CPULoweringOptions &options);

/// Layout-assigned moe ops -> the LLVM dialect for the host, with every
/// kernel compiled for the GPU and embedded (gpu.binary).
void buildMoECUDALoweringPipeline(OpPassManager &pm,
                                  const CUDALoweringOptions &options);

/// The whole CPU pipeline: the two above in sequence.
void buildMoECPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Registers moe-tensor-pipeline, moe-cpu-lowering-pipeline,
/// moe-cuda-lowering-pipeline and moe-cpu-pipeline.
void registerMoEPipelines();

} // namespace moe
} // namespace mlir

#endif // MOEC_PIPELINES_PIPELINES_H

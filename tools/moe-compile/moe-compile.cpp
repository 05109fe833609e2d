//===- moe-compile.cpp - compile a moe model to a shared library ----------===//
//
// Part of moec. model.mlir -> model.so in process: the moe tensor pipeline,
// metadata collection, the CPU lowering pipeline, LLVM IR, an optimized
// object for the chosen CPU, and a link into a shared library.
//
//===----------------------------------------------------------------------===//

#include "ArtifactWriter.h"
#include "ModelMetadata.h"

#include "moec/InitAll.h"
#include "moec/Pipelines/Pipelines.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::moe;

namespace cl = llvm::cl;

static cl::OptionCategory category("moe-compile options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.mlir>"),
                                      cl::init("-"), cl::cat(category));
static cl::opt<std::string> outputFile("o", cl::desc("Output file"),
                                       cl::value_desc("model.so"),
                                       cl::cat(category));
static cl::opt<Lowering> lowering("lowering", cl::desc("Dispatch layout"),
                                  cl::init(Lowering::Auto), loweringValues(),
                                  cl::cat(category));
enum class Target { CPU, CUDA };
static cl::opt<Target> target(
    "target", cl::desc("What the model runs on"), cl::init(Target::CPU),
    cl::values(clEnumValN(Target::CPU, "cpu",
                          "this machine's CPU (vectorized, OpenMP threads)"),
               clEnumValN(Target::CUDA, "cuda",
                          "an NVIDIA GPU: kernels compiled by ptxas and "
                          "embedded in the library (run with moe-run "
                          "--device=cuda)")),
    cl::cat(category));
static cl::opt<std::string>
    gpuArch("gpu-arch",
            cl::desc("GPU of --target=cuda (default sm_90a, the H100)"),
            cl::init("sm_90a"), cl::cat(category));
static cl::opt<std::string> cudaPath(
    "cuda-path",
    cl::desc("CUDA toolkit whose ptxas and libdevice --target=cuda uses "
             "(default: $CUDA_ROOT, $CUDA_HOME, $CUDA_PATH, else the toolkit "
             "moec was built with)"),
    cl::value_desc("dir"), cl::cat(category));
static cl::opt<bool> noTensorCores(
    "no-tensor-cores",
    cl::desc("--target=cuda: multiply bf16 expert weights with scalar FMAs "
             "instead of tensor cores (mma.sync; on by default from sm_80)"),
    cl::cat(category));
static cl::opt<int64_t> mmaStages(
    "mma-stages",
    cl::desc("--target=cuda: shared-memory stages (cp.async) the tensor-core "
             "GEMMs' operands go through (default 0: fragments straight "
             "from global memory; 2: double-buffered)"),
    cl::value_desc("S"), cl::init(0), cl::cat(category));
static cl::opt<bool> noStats("no-stats",
                             cl::desc("Do not return routing statistics"),
                             cl::cat(category));
static cl::opt<bool>
    openmp("openmp",
           cl::desc("Multithread the expert GEMMs with OpenMP (default on; the "
                    "library then needs libomp at run time)"),
           cl::init(true), cl::cat(category));
static cl::opt<std::string>
    cpu("mcpu",
        cl::desc("Target CPU (default x86-64-v3; 'native' for this "
                 "machine)"),
        cl::init("x86-64-v3"), cl::cat(category));
static cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level"),
                                  cl::init(3), cl::Prefix, cl::cat(category));
static cl::opt<std::string>
    emit("emit", cl::desc("What to write: so (default), obj, llvm, mlir"),
         cl::init("so"), cl::cat(category));
static cl::opt<std::string> linker("linker",
                                   cl::desc("C compiler driver used to link"),
                                   cl::cat(category));
static cl::opt<int64_t> expertParallel(
    "expert-parallel",
    cl::desc("Shard the experts over W ranks (run with mpirun -np W "
             "moe-run; default 1)"),
    cl::value_desc("W"), cl::init(1), cl::cat(category));
static cl::opt<int64_t> ranksPerNode(
    "ranks-per-node",
    cl::desc("Ranks per node of the --expert-parallel run (default: all on "
             "one node); the run's MOEC_RANKS_PER_NODE or launcher must "
             "agree when exchanges are hierarchical"),
    cl::value_desc("G"), cl::init(0), cl::cat(category));
static cl::opt<A2AMode> a2aMode(
    "a2a", cl::desc("All-to-all across nodes (with --ranks-per-node)"),
    cl::init(A2AMode::Auto),
    cl::values(clEnumValN(A2AMode::Auto, "auto",
                          "hierarchical where the alpha-beta cost model "
                          "predicts it faster (default)"),
               clEnumValN(A2AMode::Flat, "flat", "one stage among all ranks"),
               clEnumValN(A2AMode::Hierarchical, "hierarchical",
                          "intra-node, then inter-node")),
    cl::cat(category));
static cl::opt<GroupedGemm>
    groupedGemm("grouped-gemm", cl::desc("Schedule of the expert GEMMs"),
                cl::init(GroupedGemm::PerExpert), groupedGemmValues(),
                cl::cat(category));
static cl::opt<int64_t> weightPanels(
    "weight-panels",
    cl::desc("CPU: expert weights packed in panels of this many output "
             "columns, by the runtime at load time (default 16; 0: as "
             "stored)"),
    cl::value_desc("P"), cl::init(16), cl::cat(category));
static cl::opt<int64_t> parallelMinWork(
    "parallel-min-work",
    cl::desc("CPU: run OpenMP regions with less estimated work (operations) "
             "than this on the calling thread (default 32768; 0: every "
             "region on all threads)"),
    cl::value_desc("N"), cl::init(32768), cl::cat(category));
static cl::opt<bool> approximateMath(
    "approximate-math",
    cl::desc("CPU: f32 exp and erf as polynomials, so that the activation "
             "in the GEMM epilogue stays in vector registers (default true; "
             "false: libm, one call per lane)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> fuseGatedActivation(
    "fuse-gated-activation",
    cl::desc("Compute the gate and up projections and the activation in "
             "one grouped matmul (moe-fuse-gated-activation; default true)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> fuseDispatchGather(
    "fuse-dispatch-gather",
    cl::desc("Read the experts' rows in place through a gather instead of a "
             "sorted copy of the tokens (moe-fuse-dispatch-gather; default "
             "true)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> fuseExpertCombine(
    "fuse-expert-combine",
    cl::desc("CPU: weight the experts' rows and add them into the tokens in "
             "the second projection instead of a combine pass "
             "(moe-fuse-expert-combine; needs the gather fusion and "
             "--grouped-gemm=per-expert; default true)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> fuseSharedExpert(
    "fuse-shared-expert",
    cl::desc("CPU: add the shared expert's rows into the routed output in "
             "its second projection instead of an add pass "
             "(moe-fuse-shared-expert; needs --grouped-gemm=per-expert; "
             "default true)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> explain(
    "explain",
    cl::desc("Report the compiler's cost-model decisions (remarks on stderr)"),
    cl::cat(category));
static cl::opt<bool> printPipeline(
    "print-pipeline",
    cl::desc("Print the pass pipelines (moe-opt syntax) and exit"),
    cl::cat(category));

namespace {

std::string textualPipeline(OpPassManager &pm) {
  std::string text;
  llvm::raw_string_ostream os(text);
  pm.printAsTextualPipeline(os);
  return text;
}

int fail(const Twine &message) {
  llvm::errs() << "moe-compile: error: " << message << "\n";
  return 1;
}

/// The CUDA toolkit --target=cuda compiles with, checked for the two files
/// gpu-module-to-binary needs; empty after reporting an error.
std::string findCudaToolkit() {
  std::string root = cudaPath;
  for (const char *var : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
    if (root.empty() && std::getenv(var) && *std::getenv(var))
      root = std::getenv(var);
  if (root.empty())
    root = MOEC_DEFAULT_CUDA_ROOT;
  if (root.empty()) {
    fail("--target=cuda needs the CUDA toolkit (ptxas, libdevice): pass "
         "--cuda-path=<dir> or set CUDA_HOME");
    return "";
  }
  for (const char *file : {"bin/ptxas", "nvvm/libdevice/libdevice.10.bc"}) {
    SmallString<128> path(root);
    llvm::sys::path::append(path, file);
    if (!llvm::sys::fs::exists(path)) {
      fail("the CUDA toolkit at " + root + " has no " + file +
           " (pass --cuda-path=<dir> naming a CUDA 12 or newer toolkit)");
      return "";
    }
  }
  return root;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllMoECPasses();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "moe-compile: compile a moe model (MLIR) to a shared library for "
      "moe-run\n");

  DialectRegistry registry;
  registerAllMoECDialects(registry);
  registerAllToLLVMIRTranslations(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  CPUPipelineOptions pipelineOptions;
  pipelineOptions.lowering = lowering;
  pipelineOptions.exportStats = !noStats;
  if (expertParallel < 1)
    return fail("--expert-parallel=" + Twine(expertParallel.getValue()) +
                " must be at least 1 (the number of ranks)");
  pipelineOptions.expertParallel = expertParallel;
  if (ranksPerNode < 0 ||
      (ranksPerNode > 0 && expertParallel % ranksPerNode != 0))
    return fail(
        "--ranks-per-node=" + Twine(ranksPerNode.getValue()) +
        " must divide --expert-parallel=" + Twine(expertParallel.getValue()));
  pipelineOptions.ranksPerNode = ranksPerNode;
  pipelineOptions.a2a = a2aMode;
  pipelineOptions.explain = explain;
  bool cuda = target == Target::CUDA;
  if (cuda && groupedGemm.getNumOccurrences() &&
      groupedGemm != GroupedGemm::TileList)
    return fail("--grouped-gemm=per-expert is the CPU's schedule; "
                "--target=cuda always uses the tile list");
  // Packed weights are the per-expert CPU schedule's layout.
  bool perExpertCPU = !cuda && groupedGemm == GroupedGemm::PerExpert;
  if (weightPanels < 0 || (weightPanels > 0 && weightPanels % 8 != 0))
    return fail("--weight-panels=" + Twine(weightPanels.getValue()) +
                " must be 0 or a multiple of 8 (f32 lanes of an AVX2 "
                "vector)");
  if (weightPanels > 0 && weightPanels.getNumOccurrences() && !perExpertCPU)
    return fail("--weight-panels is the CPU per-expert schedule's weight "
                "layout; pass --weight-panels=0 with " +
                Twine(cuda ? "--target=cuda" : "--grouped-gemm=tile-list"));
  pipelineOptions.weightPanels = perExpertCPU ? weightPanels.getValue() : 0;
  if (parallelMinWork < 0)
    return fail("--parallel-min-work=" + Twine(parallelMinWork.getValue()) +
                " must not be negative");
  if (approximateMath.getNumOccurrences() && cuda)
    return fail("--approximate-math is a CPU option: the CUDA target's exp "
                "and erf are libdevice's");
  if (parallelMinWork.getNumOccurrences() && (cuda || !openmp))
    return fail("--parallel-min-work tunes the CPU's OpenMP regions; it has "
                "no effect with " +
                Twine(cuda ? "--target=cuda" : "--openmp=false"));
  // The CUDA target's tile list runs the experts at once: see
  // --grouped-gemm=tile-list below.
  if (fuseExpertCombine.getNumOccurrences() && fuseExpertCombine && cuda)
    return fail("--fuse-expert-combine is a CPU option: the CUDA target's "
                "tile list runs the experts at once, so it cannot add their "
                "rows into the tokens in expert order");
  if (fuseExpertCombine.getNumOccurrences() && fuseExpertCombine &&
      groupedGemm == GroupedGemm::TileList)
    return fail("--fuse-expert-combine needs --grouped-gemm=per-expert: the "
                "tile list runs the experts at once, so it cannot add their "
                "rows into the tokens in expert order");
  if (fuseSharedExpert.getNumOccurrences() && fuseSharedExpert && cuda)
    return fail("--fuse-shared-expert is a CPU option: the CUDA target's "
                "tile list does not add rows into a tensor");
  if (fuseSharedExpert.getNumOccurrences() && fuseSharedExpert &&
      groupedGemm == GroupedGemm::TileList)
    return fail("--fuse-shared-expert needs --grouped-gemm=per-expert: the "
                "tile list does not add rows into a tensor");
  // The CUDA host code runs no branch around kernels, and its workspace is
  // sized for the largest T: auto takes the large-T layout there.
  pipelineOptions.layoutByTokenCount = !cuda;
  PassManager tensorStage(&context);
  buildMoETensorPipeline(tensorStage, pipelineOptions);
  if (!cuda && gpuArch.getNumOccurrences())
    return fail("--gpu-arch needs --target=cuda");
  unsigned archNumber = 0;
  if (cuda && (!StringRef(gpuArch).starts_with("sm_") ||
               StringRef(gpuArch).drop_front(3).consumeInteger(10, archNumber)))
    return fail("--gpu-arch=" + gpuArch +
                ": expected an sm_ architecture such as sm_90a or sm_80");
  if (!cuda && noTensorCores)
    return fail("--no-tensor-cores needs --target=cuda");
  if (mmaStages.getNumOccurrences() && (!cuda || noTensorCores))
    return fail("--mma-stages needs --target=cuda and tensor cores");
  if (cuda && !printPipeline) {
    std::string toolkit = findCudaToolkit();
    if (toolkit.empty())
      return 1;
    // MLIR's NVVM serializer (gpu-module-to-binary) finds ptxas and
    // libdevice through CUDA_ROOT.
    ::setenv("CUDA_ROOT", toolkit.c_str(), /*overwrite=*/1);
  }
  PassManager lowerStage(&context);
  if (cuda) {
    CUDALoweringOptions loweringOptions;
    loweringOptions.gpuArch = gpuArch;
    // bf16 mma.sync exists from sm_80 (Ampere) on.
    loweringOptions.tensorCores = !noTensorCores && archNumber >= 80;
    loweringOptions.mmaStages = mmaStages;
    loweringOptions.fuseGatedActivation = fuseGatedActivation;
    loweringOptions.fuseDispatchGather = fuseDispatchGather;
    loweringOptions.explain = explain;
    buildMoECUDALoweringPipeline(lowerStage, loweringOptions);
  } else {
    CPULoweringOptions loweringOptions;
    loweringOptions.openmp = openmp;
    loweringOptions.groupedGemm = groupedGemm;
    loweringOptions.parallelMinWork = parallelMinWork;
    loweringOptions.approximateMath = approximateMath;
    loweringOptions.fuseGatedActivation = fuseGatedActivation;
    loweringOptions.fuseDispatchGather = fuseDispatchGather;
    loweringOptions.fuseExpertCombine = fuseExpertCombine;
    loweringOptions.fuseSharedExpert = fuseSharedExpert;
    loweringOptions.explain = explain;
    buildMoECPULoweringPipeline(lowerStage, loweringOptions);
  }
  if (printPipeline) {
    llvm::outs() << "# stage 1 (moe tensor level; metadata is read after it)\n"
                 << "moe-opt --pass-pipeline='" << textualPipeline(tensorStage)
                 << "'\n# stage 2 ("
                 << (cuda ? "CUDA lowering: kernels to embedded binaries, host "
                            "code to the LLVM dialect"
                          : "CPU lowering to the LLVM dialect")
                 << ")\n"
                 << "moe-opt --pass-pipeline='" << textualPipeline(lowerStage)
                 << "'\n";
    if (cuda)
      llvm::outs() << "# gpu-module-to-binary finds ptxas and libdevice "
                      "through CUDA_ROOT (see --cuda-path)\n";
    return 0;
  }
  if (outputFile.empty())
    return fail("no output file: pass -o model.so");
  if (optLevel > 3)
    return fail("-O" + Twine(optLevel) +
                " is not an optimization level (0, 1, 2 or 3)");
  bool binary = emit == "so" || emit == "obj";
  if (binary && outputFile == "-")
    return fail("-o -: a shared library or object cannot be written to "
                "standard output; give a file name (or --emit=mlir/llvm)");

  ArtifactOptions artifact;
  artifact.cpu = cpu;
  artifact.optLevel = optLevel;
  artifact.linker = linker;
  // The GPU model's host code has no parallel loops left.
  artifact.openmp = openmp && !cuda;
  if (emit == "so")
    artifact.emit = ArtifactOptions::Emit::SharedLibrary;
  else if (emit == "obj")
    artifact.emit = ArtifactOptions::Emit::Object;
  else if (emit == "llvm")
    artifact.emit = ArtifactOptions::Emit::LLVMIR;
  else if (emit != "mlir")
    return fail("unknown --emit=" + emit + " (so, obj, llvm, mlir)");

  if (emit != "mlir" && failed(checkTargetCPU(artifact, llvm::errs())))
    return 1;

  std::string errorMessage;
  auto file = openInputFile(inputFile, &errorMessage);
  if (!file)
    return fail(errorMessage);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1; // The parser reported the error.

  FailureOr<func::FuncOp> entry = findEntryFunction(*module);
  if (failed(entry))
    return 1;
  if (failed(tensorStage.run(*module)))
    return 1;
  entry = findEntryFunction(*module);
  FailureOr<ModelMetadata> meta =
      collectMetadata(*entry,
                      lowering == Lowering::Static    ? "static"
                      : lowering == Lowering::Dynamic ? "dynamic"
                                                      : "auto",
                      expertParallel);
  if (succeeded(meta))
    meta->target = cuda ? "cuda" : "cpu";
  if (failed(meta))
    return 1;
  stripNameAttributes(*entry);
  if (failed(lowerStage.run(*module)))
    return 1;

  if (emit == "mlir") {
    auto out = openOutputFile(outputFile, &errorMessage);
    if (!out)
      return fail(errorMessage);
    module->print(out->os());
    out->keep();
    return 0;
  }
  if (failed(writeArtifact(*module, *meta, artifact, outputFile, llvm::errs())))
    return 1;
  return 0;
}

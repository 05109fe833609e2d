//===- ArtifactWriter.cpp - LLVM dialect -> model.so ----------------------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "ArtifactWriter.h"

#include "moert/abi.h"

#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Adds moert_abi_version, moert_metadata_json and moert_forward, the last
/// unpacking `void **args` into the `_mlir_ciface_` wrapper's pointers.
LogicalResult addABIEntryPoints(llvm::Module &module, const ModelMetadata &meta,
                                llvm::raw_ostream &errs) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  auto *ptrTy = llvm::PointerType::getUnqual(ctx);

  auto *versionFn = llvm::Function::Create(
      llvm::FunctionType::get(b.getInt32Ty(), false),
      llvm::GlobalValue::ExternalLinkage, moert::abi::kVersionSymbol, module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", versionFn));
  b.CreateRet(b.getInt32(moert::abi::kVersion));

  auto *metaFn = llvm::Function::Create(llvm::FunctionType::get(ptrTy, false),
                                        llvm::GlobalValue::ExternalLinkage,
                                        moert::abi::kMetadataSymbol, module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", metaFn));
  llvm::Constant *text =
      b.CreateGlobalString(meta.toJSON(), "moert_metadata", 0, &module);
  b.CreateRet(text);

  std::string wrapperName = "_mlir_ciface_" + meta.function;
  llvm::Function *wrapper = module.getFunction(wrapperName);
  if (!wrapper) {
    errs << "moe-compile: error: the lowered module has no " << wrapperName
         << "\n";
    return failure();
  }
  if (wrapper->arg_size() != meta.args.size()) {
    errs << "moe-compile: error: " << wrapperName << " takes "
         << wrapper->arg_size() << " arguments, the metadata lists "
         << meta.args.size() << "\n";
    return failure();
  }
  auto *forwardFn = llvm::Function::Create(
      llvm::FunctionType::get(b.getVoidTy(), {ptrTy}, false),
      llvm::GlobalValue::ExternalLinkage, moert::abi::kForwardSymbol, module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", forwardFn));
  SmallVector<llvm::Value *> callArgs;
  for (unsigned i = 0; i < wrapper->arg_size(); ++i) {
    llvm::Value *slot = b.CreateConstGEP1_64(ptrTy, forwardFn->getArg(0), i);
    callArgs.push_back(b.CreateLoad(ptrTy, slot));
  }
  b.CreateCall(wrapper, callArgs);
  b.CreateRetVoid();
  return success();
}

/// Gives the allocation functions that finalize-memref-to-llvm's generic
/// mode declares a body: a call through the runtime's workspace hooks
/// (moert_workspace_hooks, exported) once it has set them, malloc and free
/// before that and under a runtime that never does.
void defineAllocationFunctions(llvm::Module &module) {
  llvm::Function *alloc = module.getFunction("_mlir_memref_to_llvm_alloc");
  llvm::Function *release = module.getFunction("_mlir_memref_to_llvm_free");
  if (!alloc && !release)
    return;
  llvm::LLVMContext &ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  auto *ptrTy = llvm::PointerType::getUnqual(ctx);
  // moert::abi::WorkspaceHooks: {context, allocate, release}.
  auto *hooksTy = llvm::StructType::get(ctx, {ptrTy, ptrTy, ptrTy});
  auto *hooks = new llvm::GlobalVariable(
      module, hooksTy, /*isConstant=*/false, llvm::GlobalValue::ExternalLinkage,
      llvm::ConstantAggregateZero::get(hooksTy),
      moert::abi::kWorkspaceHooksSymbol);
  // if (hooks.<slot>) return hooks.<slot>(hooks.context, arg); else libc(arg)
  auto define = [&](llvm::Function *fn, unsigned slot,
                    llvm::FunctionCallee libc) {
    if (!fn || !fn->isDeclaration())
      return;
    fn->setLinkage(llvm::GlobalValue::InternalLinkage);
    auto *entry = llvm::BasicBlock::Create(ctx, "entry", fn);
    auto *viaHook = llvm::BasicBlock::Create(ctx, "hook", fn);
    auto *viaLibc = llvm::BasicBlock::Create(ctx, "libc", fn);
    b.SetInsertPoint(entry);
    llvm::Value *hook =
        b.CreateLoad(ptrTy, b.CreateStructGEP(hooksTy, hooks, slot));
    b.CreateCondBr(b.CreateIsNull(hook), viaLibc, viaHook);
    llvm::Type *resultTy = fn->getReturnType();
    auto ret = [&](llvm::Value *v) {
      resultTy->isVoidTy() ? b.CreateRetVoid() : b.CreateRet(v);
    };
    b.SetInsertPoint(viaHook);
    llvm::Value *context =
        b.CreateLoad(ptrTy, b.CreateStructGEP(hooksTy, hooks, 0));
    auto *hookTy = llvm::FunctionType::get(
        resultTy, {ptrTy, fn->getArg(0)->getType()}, false);
    ret(b.CreateCall(hookTy, hook, {context, fn->getArg(0)}));
    b.SetInsertPoint(viaLibc);
    ret(b.CreateCall(libc, {fn->getArg(0)}));
  };
  auto *i64 = b.getInt64Ty();
  define(alloc, 1,
         module.getOrInsertFunction(
             "malloc", llvm::FunctionType::get(ptrTy, {i64}, false)));
  define(release, 2,
         module.getOrInsertFunction(
             "free", llvm::FunctionType::get(b.getVoidTy(), {ptrTy}, false)));
}

std::unique_ptr<llvm::TargetMachine>
createTargetMachine(const ArtifactOptions &options, llvm::raw_ostream &errs) {
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) {
    errs << "moe-compile: error: " << error << "\n";
    return nullptr;
  }
  std::string cpu =
      options.cpu == "native" ? llvm::sys::getHostCPUName().str() : options.cpu;
  llvm::TargetOptions targetOptions;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, cpu, /*Features=*/"", targetOptions, llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!tm) {
    errs << "moe-compile: error: cannot create a target machine for CPU '"
         << cpu << "'\n";
    return nullptr;
  }
  // LLVM only warns about an unknown CPU and later aborts: refuse it here.
  if (!tm->getMCSubtargetInfo()->isCPUStringValid(cpu)) {
    errs << "moe-compile: error: unknown --mcpu '" << cpu << "' for "
         << triple.str()
         << " (use a CPU name such as x86-64-v3 or znver4, or 'native')\n";
    return nullptr;
  }
  return tm;
}

void optimize(llvm::Module &module, llvm::TargetMachine &tm,
              unsigned optLevel) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = optLevel > 1;
  tuning.SLPVectorization = optLevel > 1;
  llvm::PassBuilder pb(&tm, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::OptimizationLevel level = optLevel == 0   ? llvm::OptimizationLevel::O0
                                  : optLevel == 1 ? llvm::OptimizationLevel::O1
                                  : optLevel == 2 ? llvm::OptimizationLevel::O2
                                                  : llvm::OptimizationLevel::O3;
  llvm::ModulePassManager mpm = optLevel == 0
                                    ? pb.buildO0DefaultPipeline(level)
                                    : pb.buildPerModuleDefaultPipeline(level);
  mpm.run(module, mam);
}

LogicalResult emitObject(llvm::Module &module, llvm::TargetMachine &tm,
                         StringRef path, llvm::raw_ostream &errs) {
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_None);
  if (ec) {
    errs << "moe-compile: error: cannot write " << path << ": " << ec.message()
         << "\n";
    return failure();
  }
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, out, nullptr,
                             llvm::CodeGenFileType::ObjectFile)) {
    errs << "moe-compile: error: the target cannot emit object files\n";
    return failure();
  }
  pm.run(module);
  return success();
}

LogicalResult link(StringRef object, StringRef output,
                   const ArtifactOptions &options, llvm::raw_ostream &errs) {
  std::string linker = options.linker;
  if (linker.empty()) {
    for (StringRef candidate : {"cc", "clang", "gcc"}) {
      if (auto path = llvm::sys::findProgramByName(candidate)) {
        linker = *path;
        break;
      }
    }
  }
  if (linker.empty()) {
    errs << "moe-compile: error: no C compiler driver (cc, clang or gcc) on "
            "PATH to link the shared library; pass --linker\n";
    return failure();
  }
  std::string outStr = output.str(), objStr = object.str();
  SmallVector<StringRef> args = {linker, "-shared", "-o",
                                 outStr, objStr,    "-lm"};
  // OpenMP-parallel loops call into LLVM's libomp (the runtime of the
  // OpenMPIRBuilder that generated them); the rpath finds it at dlopen time.
  std::string libDir = "-L" MOEC_OPENMP_LIB_DIR;
  std::string rpath = "-Wl,-rpath," MOEC_OPENMP_LIB_DIR;
  if (options.openmp) {
    args.push_back(libDir);
    args.push_back("-lomp");
    args.push_back(rpath);
  }
  std::string error;
  int rc =
      llvm::sys::ExecuteAndWait(linker, args, std::nullopt, {}, 0, 0, &error);
  if (rc != 0) {
    errs << "moe-compile: error: linking " << output << " with " << linker
         << " failed" << (error.empty() ? "" : ": " + error) << "\n";
    return failure();
  }
  return success();
}

} // namespace

LogicalResult mlir::moe::checkTargetCPU(const ArtifactOptions &options,
                                        llvm::raw_ostream &errs) {
  llvm::InitializeNativeTarget();
  return success(createTargetMachine(options, errs) != nullptr);
}

LogicalResult mlir::moe::writeArtifact(ModuleOp module,
                                       const ModelMetadata &meta,
                                       const ArtifactOptions &options,
                                       StringRef outputPath,
                                       llvm::raw_ostream &errs) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "moec_model");
  if (!llvmModule) {
    errs << "moe-compile: error: translation to LLVM IR failed\n";
    return failure();
  }
  std::unique_ptr<llvm::TargetMachine> tm = createTargetMachine(options, errs);
  if (!tm)
    return failure();
  llvmModule->setTargetTriple(tm->getTargetTriple());
  llvmModule->setDataLayout(tm->createDataLayout());
  if (failed(addABIEntryPoints(*llvmModule, meta, errs)))
    return failure();
  defineAllocationFunctions(*llvmModule);
  optimize(*llvmModule, *tm, options.optLevel);

  if (options.emit == ArtifactOptions::Emit::LLVMIR) {
    std::error_code ec;
    llvm::raw_fd_ostream out(outputPath, ec, llvm::sys::fs::OF_Text);
    if (ec) {
      errs << "moe-compile: error: cannot write " << outputPath << ": "
           << ec.message() << "\n";
      return failure();
    }
    llvmModule->print(out, nullptr);
    return success();
  }
  if (options.emit == ArtifactOptions::Emit::Object)
    return emitObject(*llvmModule, *tm, outputPath, errs);

  SmallString<128> object;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("moec-model", "o", object)) {
    errs << "moe-compile: error: cannot create a temporary object file: "
         << ec.message() << "\n";
    return failure();
  }
  LogicalResult result = emitObject(*llvmModule, *tm, object, errs);
  if (succeeded(result))
    result = link(object, outputPath, options, errs);
  llvm::sys::fs::remove(object);
  return result;
}

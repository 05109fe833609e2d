//===- invocation.cpp - One bound call of a model -------------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/invocation.h"
#include "moert/abi.h"
#include "moert/error.h"
#include "moert/weights.h"
#include "moert/workspace.h"

using namespace moert;

/// "a, b, c" for messages.
static std::string joinNames(const std::vector<const ArgInfo *> &Args) {
  std::string S;
  for (const ArgInfo *A : Args)
    S += (S.empty() ? "" : ", ") + A->Name;
  return S.empty() ? "none" : S;
}

/// \p Shape with T substituted (or "T" shown when unbound).
static std::string expectedShape(const std::vector<int64_t> &Shape,
                                 std::optional<int64_t> T) {
  std::string S = "[";
  for (size_t I = 0; I < Shape.size(); ++I) {
    if (I)
      S += ", ";
    S += Shape[I] != kDynamicDim ? std::to_string(Shape[I])
         : T                     ? "T=" + std::to_string(*T)
                                 : std::string("T");
  }
  return S + "]";
}

/// The error of \p T tokens on a workspace sized for \p Max; \p Option is
/// what raises the maximum.
static Error tooManyTokens(int64_t T, int64_t Max, const char *Option) {
  return Error("the inputs hold T=" + std::to_string(T) +
               " tokens, more than the " + std::to_string(Max) +
               " the model's workspace is sized for (raise " + Option + ")");
}

/// The shape of \p A with T = \p Tokens.
static std::vector<int64_t> shapeWith(const ArgInfo &A, int64_t Tokens) {
  std::vector<int64_t> Shape = A.Shape;
  for (int64_t &D : Shape)
    if (D == kDynamicDim)
      D = Tokens;
  return Shape;
}

/// Checks a caller's \p What (input or output) tensor of \p Type and
/// \p Shape against \p A, binding \p T from its first dynamic dimension.
static void checkTensor(const ArgInfo &A, DType Type,
                        const std::vector<int64_t> &Shape,
                        std::optional<int64_t> &T, const char *What) {
  if (Type != A.Type)
    throw Error(std::string(What) + " '" + A.Name + "': expected dtype " +
                dtypeName(A.Type) + ", got " + dtypeName(Type));
  bool Ok = Shape.size() == A.Shape.size();
  std::optional<int64_t> NewT = T;
  for (size_t I = 0; Ok && I < Shape.size(); ++I) {
    if (A.Shape[I] != kDynamicDim)
      Ok = Shape[I] == A.Shape[I];
    else if (!NewT)
      NewT = Shape[I];
    else
      Ok = Shape[I] == *NewT;
  }
  if (!Ok)
    throw Error(std::string(What) + " '" + A.Name + "': expected shape " +
                expectedShape(A.Shape, T) + ", got " + formatShape(Shape));
  T = NewT;
}

Invocation::Invocation(const Model &M, std::map<std::string, Tensor> Inputs,
                       const SafetensorsFile *Weights, int64_t Rank,
                       CudaDevice *Device, int64_t MaxTokens)
    : M(M), BoundInputs(true), Device(Device) {
  const Metadata &Meta = M.metadata();
  auto ModelInputs = Meta.argsWithRole(ArgRole::Input);
  for (auto &KV : Inputs) {
    const ArgInfo *A = Meta.find(KV.first);
    if (!A || A->Role != ArgRole::Input)
      throw Error("model has no input '" + KV.first +
                  "' (inputs: " + joinNames(ModelInputs) + ")");
  }

  // Bind T from the inputs, in metadata order, checking dtype and shape.
  for (const ArgInfo *A : ModelInputs) {
    auto It = Inputs.find(A->Name);
    if (It == Inputs.end())
      throw Error("missing input '" + A->Name + "'");
    checkTensor(*A, It->second.dtype(), It->second.shape(), T, "input");
  }
  bindArgs(&Inputs, Weights, Rank, MaxTokens);
}

Invocation::Invocation(const Model &M, const SafetensorsFile *Weights,
                       int64_t Rank, CudaDevice *Device, int64_t MaxTokens)
    : M(M), BoundInputs(false), Device(Device) {
  if (Device && MaxTokens <= 0)
    throw Error("a CUDA model bound before its inputs needs a positive "
                "maximum token count to size its workspace, got " +
                std::to_string(MaxTokens));
  bindArgs(nullptr, Weights, Rank, MaxTokens);
}

void Invocation::bindArgs(std::map<std::string, Tensor> *Inputs,
                          const SafetensorsFile *Weights, int64_t Rank,
                          int64_t MaxTokens) {
  const Metadata &Meta = M.metadata();
  bool NeedsWeights = !Meta.argsWithRole(ArgRole::Weight).empty();
  if (NeedsWeights && !Weights)
    throw Error("model has weights (" +
                joinNames(Meta.argsWithRole(ArgRole::Weight)) +
                ") but no weights file was given");

  for (const ArgInfo &A : Meta.Args) {
    switch (A.Role) {
    case ArgRole::Input:
      // Without inputs, each runWith() call brings them.
      Args.push_back(Inputs ? std::move(Inputs->at(A.Name)) : Tensor());
      break;
    case ArgRole::Weight:
      Args.push_back(loadWeight(*Weights, A, Rank));
      break;
    case ArgRole::Output:
      Args.push_back(Inputs ? Tensor(A.Type, shapeWith(A, *T)) : Tensor());
      break;
    case ArgRole::Stat:
      // parseMetadata guarantees an input binds T (0 until one does).
      Args.emplace_back(A.Type, shapeWith(A, T.value_or(0)));
      break;
    }
  }
  OnDevice.assign(Args.size(), false);
  if (Device)
    bindOnDevice(MaxTokens);
  Descriptors.resize(Args.size());
  DescriptorPtrs.resize(Args.size());
  for (size_t I = 0; I < Args.size(); ++I)
    describe(I, Device ? DeviceArgs[I] : Args[I].data(), Args[I].shape());
}

void Invocation::describe(size_t I, void *Data,
                          const std::vector<int64_t> &Shape) {
  Descriptors[I] = abi::makeDescriptor(Data, Shape);
  DescriptorPtrs[I] = Descriptors[I].data();
}

size_t Invocation::argBytes(size_t I, int64_t Tokens) const {
  const ArgInfo &A = M.metadata().Args[I];
  if (A.Role == ArgRole::Weight)
    return Args[I].byteSize();
  return checkedByteSize(shapeWith(A, Tokens), A.Type,
                         "argument '" + A.Name + "'");
}

void Invocation::bindOnDevice(int64_t MaxTokens) {
  if (MaxTokens < 0)
    throw Error("the maximum token count must not be negative, got " +
                std::to_string(MaxTokens));
  if (T && MaxTokens && *T > MaxTokens)
    throw tooManyTokens(*T, MaxTokens, "--max-tokens");
  SizedFor = MaxTokens ? MaxTokens : T.value_or(0);
  try {
    uploadAndSize();
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    for (void *P : DeviceArgs)
      Device->release(P);
    DeviceArgs.clear();
    throw;
  }
}

void Invocation::uploadAndSize() {
  const Metadata &Meta = M.metadata();
  for (size_t I = 0; I < Args.size(); ++I) {
    // Sized for SizedFor tokens, which runWith() calls may use.
    DeviceArgs.push_back(Device->allocate(argBytes(I, SizedFor)));
    ArgRole R = Meta.Args[I].Role;
    if ((R == ArgRole::Input || R == ArgRole::Weight) && Args[I].byteSize())
      Device->copyToDevice(DeviceArgs[I], Args[I].data(), Args[I].byteSize());
    // All-ones bytes are NaN in every float type: an output element the
    // kernels never write cannot pass for a result.
    if (R == ArgRole::Output)
      Device->fillBytes(DeviceArgs[I], argBytes(I, SizedFor), 0xFF);
  }
  Device->synchronize();

  // An expert-parallel model's receive buffers are as large as the routing
  // makes them: its scratch memory comes from the driver's stream-ordered
  // allocator each forward.
  if (Meta.WorldSize > 1)
    return;
  // The scratch bytes of a forward over SizedFor tokens. Scratch sizes
  // grow with T, so any T up to it fits.
  std::vector<std::vector<int64_t>> Sized;
  std::vector<void *> SizedPtrs;
  for (size_t I = 0; I < Args.size(); ++I)
    Sized.push_back(
        abi::makeDescriptor(DeviceArgs[I], shapeWith(Meta.Args[I], SizedFor)));
  for (auto &D : Sized)
    SizedPtrs.push_back(D.data());
  WorkspaceBytes = Device->measureScratch([&] { M.forward(SizedPtrs.data()); });
  Workspace = Device->allocate(WorkspaceBytes);
}

void Invocation::run() {
  if (!BoundInputs)
    throw Error("this model was bound without inputs: call runWith()");
  if (Graph) {
    Device->launchGraph(*Graph);
  } else {
    forward();
  }
  for (size_t I = 0; Device && I < Args.size(); ++I)
    OnDevice[I] = M.metadata().Args[I].Role == ArgRole::Output ||
                  M.metadata().Args[I].Role == ArgRole::Stat;
}

void Invocation::captureGraph() {
  if (!Device)
    throw Error("CUDA graphs need a CUDA model bound on a device");
  if (!BoundInputs)
    throw Error("CUDA graphs need a model bound with its inputs");
  Graph.reset();
  Graph = Device->capture([&] { forward(); });
}

void Invocation::runWith(const std::map<std::string, ExternalTensor> &Buffers,
                         void *CallerStream) {
  if (BoundInputs)
    throw Error("this model was bound with its inputs: call run()");
  const Metadata &Meta = M.metadata();
  auto Ins = Meta.argsWithRole(ArgRole::Input);
  auto Outs = Meta.argsWithRole(ArgRole::Output);
  for (auto &KV : Buffers) {
    const ArgInfo *A = Meta.find(KV.first);
    if (!A || (A->Role != ArgRole::Input && A->Role != ArgRole::Output))
      throw Error("model has no input or output '" + KV.first + "' (inputs: " +
                  joinNames(Ins) + "; outputs: " + joinNames(Outs) + ")");
    if (!Device && !KV.second.OnHost)
      throw Error("'" + KV.first +
                  "' is in GPU memory but the model runs on the CPU");
  }
  std::optional<int64_t> NewT;
  for (auto *Group : {&Ins, &Outs})
    for (const ArgInfo *A : *Group) {
      auto It = Buffers.find(A->Name);
      bool IsInput = A->Role == ArgRole::Input;
      if (It == Buffers.end())
        throw Error(std::string("missing ") + (IsInput ? "input" : "output") +
                    " '" + A->Name + "'");
      checkTensor(*A, It->second.Type, It->second.Shape, NewT,
                  IsInput ? "input" : "output");
    }
  if (Device && NewT && *NewT > SizedFor)
    throw tooManyTokens(*NewT, SizedFor, "max_tokens");
  T = NewT;

  bool UsesCallerMemory = false;
  for (size_t I = 0; I < Args.size(); ++I) {
    const ArgInfo &A = Meta.Args[I];
    std::vector<int64_t> Shape = shapeWith(A, T.value_or(0));
    void *Own = Device ? DeviceArgs[I] : Args[I].data();
    if (A.Role == ArgRole::Stat) {
      if (Args[I].shape() != Shape) // The device buffer holds SizedFor.
        Args[I] = Tensor(A.Type, Shape);
      describe(I, Device ? DeviceArgs[I] : Args[I].data(), Shape);
    } else if (A.Role != ArgRole::Weight) {
      const ExternalTensor &X = Buffers.at(A.Name);
      // A host buffer of a CUDA model goes through the model's own.
      bool Staged = Device && X.OnHost;
      UsesCallerMemory |= Device && !X.OnHost;
      describe(I, Staged ? Own : X.Data, Shape);
    }
  }

  if (UsesCallerMemory)
    Device->waitForStream(CallerStream);
  for (const ArgInfo *A : Ins) {
    const ExternalTensor &X = Buffers.at(A->Name);
    size_t I = A - Meta.Args.data();
    if (Device && X.OnHost)
      Device->copyToDevice(DeviceArgs[I], X.Data,
                           checkedByteSize(X.Shape, X.Type, A->Name));
  }
  forward();
  if (!Device)
    return;
  for (size_t I = 0; I < Args.size(); ++I)
    OnDevice[I] = Meta.Args[I].Role == ArgRole::Stat;
  if (UsesCallerMemory)
    Device->makeStreamWait(CallerStream);
  for (const ArgInfo *A : Outs) {
    const ExternalTensor &X = Buffers.at(A->Name);
    size_t I = A - Meta.Args.data();
    if (X.OnHost)
      Device->copyToHost(X.Data, DeviceArgs[I],
                         checkedByteSize(X.Shape, X.Type, A->Name));
  }
}

void Invocation::forward() {
  const Metadata &Meta = M.metadata();
  // Stats are counters; start every call from zero whether the model
  // overwrites or accumulates them.
  for (size_t I = 0; I < Args.size(); ++I)
    if (Meta.Args[I].Role == ArgRole::Stat)
      Device ? Device->fillBytes(DeviceArgs[I], Args[I].byteSize(), 0)
             : Args[I].fillZero();
  if (Device && Workspace)
    Device->useWorkspace(Workspace, WorkspaceBytes);
  M.forward(DescriptorPtrs.data());
  if (!Device) {
    // Keep the scratch blocks this forward took for the next one.
    Workspace::process().trim();
    return;
  }
  Device->useStreamAllocator();
  CudaDevice::checkErrors("the forward pass on CUDA device " +
                          std::to_string(Device->ordinal()));
}

Invocation::~Invocation() {
  if (!Device)
    return;
  Graph.reset();
  for (void *P : DeviceArgs)
    Device->release(P);
  Device->release(Workspace);
}

const Tensor &Invocation::arg(const std::string &Name) const {
  const std::vector<ArgInfo> &Infos = M.metadata().Args;
  for (size_t I = 0; I < Infos.size(); ++I)
    if (Infos[I].Name == Name) {
      if (OnDevice[I]) {
        Device->copyToHost(Args[I].data(), DeviceArgs[I], Args[I].byteSize());
        OnDevice[I] = false;
      }
      return Args[I];
    }
  throw Error("model has no argument '" + Name + "'");
}

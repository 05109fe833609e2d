//===- invocation.cpp - One bound call of a model -------------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/invocation.h"
#include "moert/abi.h"
#include "moert/error.h"
#include "moert/weights.h"

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

Invocation::Invocation(const Model &M, std::map<std::string, Tensor> Inputs,
                       const SafetensorsFile *Weights, int64_t Rank,
                       CudaDevice *Device, int64_t MaxTokens)
    : M(M), Device(Device) {
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
    const Tensor &X = It->second;
    if (X.dtype() != A->Type)
      throw Error("input '" + A->Name + "': expected dtype " +
                  dtypeName(A->Type) + ", got " + dtypeName(X.dtype()));
    bool Ok = X.rank() == A->Shape.size();
    std::optional<int64_t> NewT = T;
    for (size_t I = 0; Ok && I < X.rank(); ++I) {
      if (A->Shape[I] != kDynamicDim)
        Ok = X.shape()[I] == A->Shape[I];
      else if (!NewT)
        NewT = X.shape()[I];
      else
        Ok = X.shape()[I] == *NewT;
    }
    if (!Ok)
      throw Error("input '" + A->Name + "': expected shape " +
                  expectedShape(A->Shape, T) + ", got " +
                  formatShape(X.shape()));
    T = NewT;
  }

  bool NeedsWeights = !Meta.argsWithRole(ArgRole::Weight).empty();
  if (NeedsWeights && !Weights)
    throw Error("model has weights (" +
                joinNames(Meta.argsWithRole(ArgRole::Weight)) +
                ") but no weights file was given");

  for (const ArgInfo &A : Meta.Args) {
    switch (A.Role) {
    case ArgRole::Input:
      Args.push_back(std::move(Inputs.at(A.Name)));
      break;
    case ArgRole::Weight:
      Args.push_back(loadWeight(*Weights, A, Rank));
      break;
    case ArgRole::Output:
    case ArgRole::Stat: {
      std::vector<int64_t> Shape = A.Shape;
      for (int64_t &D : Shape)
        if (D == kDynamicDim)
          D = *T; // parseMetadata guarantees an input binds T.
      Args.emplace_back(A.Type, Shape);
      break;
    }
    }
  }
  OnDevice.assign(Args.size(), false);
  if (Device)
    bindOnDevice(MaxTokens);
  for (size_t I = 0; I < Args.size(); ++I)
    Descriptors.push_back(abi::makeDescriptor(
        Device ? DeviceArgs[I] : Args[I].data(), Args[I].shape()));
  for (auto &D : Descriptors)
    DescriptorPtrs.push_back(D.data());
}

void Invocation::bindOnDevice(int64_t MaxTokens) {
  if (MaxTokens < 0)
    throw Error("the maximum token count must not be negative, got " +
                std::to_string(MaxTokens));
  if (T && MaxTokens && *T > MaxTokens)
    throw Error("the inputs hold T=" + std::to_string(*T) +
                " tokens, more than the " + std::to_string(MaxTokens) +
                " the model's workspace is sized for (raise --max-tokens)");
  int64_t SizedFor = MaxTokens ? MaxTokens : T.value_or(0);
  try {
    uploadAndSize(SizedFor);
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    for (void *P : DeviceArgs)
      Device->release(P);
    DeviceArgs.clear();
    throw;
  }
}

void Invocation::uploadAndSize(int64_t SizedFor) {
  const Metadata &Meta = M.metadata();
  for (size_t I = 0; I < Args.size(); ++I) {
    DeviceArgs.push_back(Device->allocate(Args[I].byteSize()));
    ArgRole R = Meta.Args[I].Role;
    if (R == ArgRole::Input || R == ArgRole::Weight)
      Device->copyToDevice(DeviceArgs[I], Args[I].data(), Args[I].byteSize());
    // All-ones bytes are NaN in every float type: an output element the
    // kernels never write cannot pass for a result.
    if (R == ArgRole::Output)
      Device->fillBytes(DeviceArgs[I], Args[I].byteSize(), 0xFF);
  }
  Device->synchronize();

  // The scratch bytes of a forward over SizedFor tokens. Scratch sizes
  // grow with T, so any T up to it fits.
  std::vector<std::vector<int64_t>> Sized;
  std::vector<void *> SizedPtrs;
  for (size_t I = 0; I < Args.size(); ++I) {
    std::vector<int64_t> Shape = Meta.Args[I].Shape;
    for (int64_t &D : Shape)
      if (D == kDynamicDim)
        D = SizedFor;
    Sized.push_back(abi::makeDescriptor(DeviceArgs[I], Shape));
  }
  for (auto &D : Sized)
    SizedPtrs.push_back(D.data());
  WorkspaceBytes =
      Device->measureScratch([&] { M.forward(SizedPtrs.data()); });
  Workspace = Device->allocate(WorkspaceBytes);
}

void Invocation::run() {
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
  Graph.reset();
  Graph = Device->capture([&] { forward(); });
}

void Invocation::forward() {
  const Metadata &Meta = M.metadata();
  // Stats are counters; start every call from zero whether the model
  // overwrites or accumulates them.
  for (size_t I = 0; I < Args.size(); ++I)
    if (Meta.Args[I].Role == ArgRole::Stat)
      Device ? Device->fillBytes(DeviceArgs[I], Args[I].byteSize(), 0)
             : Args[I].fillZero();
  if (Device)
    Device->useWorkspace(Workspace, WorkspaceBytes);
  M.forward(DescriptorPtrs.data());
  if (!Device)
    return;
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

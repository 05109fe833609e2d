//===- invocation.h - One bound call of a model -----------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// An Invocation owns every argument buffer of one `moert_forward` call and
/// their memref descriptors: caller inputs (checked against the metadata,
/// which binds T), weights loaded from a checkpoint, and outputs and stats
/// allocated with T. It can be run any number of times.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_INVOCATION_H
#define MOERT_INVOCATION_H

#include "moert/cuda_device.h"
#include "moert/model.h"
#include "moert/safetensors.h"
#include "moert/tensor.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moert {

/// A caller-owned argument buffer for Invocation::runWith().
struct ExternalTensor {
  void *Data = nullptr;
  DType Type = DType::F32;
  std::vector<int64_t> Shape;
  /// In host memory. On the CPU every buffer is; a CUDA model copies a host
  /// buffer through a device buffer of its own, and uses a device buffer
  /// (memory of the model's GPU) in place.
  bool OnHost = true;
};

/// Binds a model's arguments and calls it.
class Invocation {
public:
  /// Checks \p Inputs (by name) against \p M's metadata, binds T, loads the
  /// weights from \p Weights (may be null if the model has none) and
  /// allocates outputs and stats. Throws Error on a missing or unknown input,
  /// a dtype or shape mismatch, inputs that disagree on T, or a weight error.
  /// \p Rank picks the experts of weights sharded over ranks.
  /// With \p Device (a CUDA model), every argument lives in its memory:
  /// inputs and weights are uploaded here, once, and outputs and stats are
  /// copied back when arg() asks for them. The forward's scratch workspace
  /// is sized and allocated here too, for \p MaxTokens tokens (0: the
  /// inputs' T); inputs with more tokens are an Error.
  Invocation(const Model &M, std::map<std::string, Tensor> Inputs,
             const SafetensorsFile *Weights, int64_t Rank = 0,
             CudaDevice *Device = nullptr, int64_t MaxTokens = 0);
  /// Binds the weights only: inputs and outputs come with each runWith()
  /// call. With \p Device, the forward's workspace and the buffers that
  /// carry host inputs and outputs are sized for \p MaxTokens tokens, which
  /// must then be positive.
  Invocation(const Model &M, const SafetensorsFile *Weights, int64_t Rank,
             CudaDevice *Device, int64_t MaxTokens);
  ~Invocation();
  Invocation(const Invocation &) = delete;
  Invocation &operator=(const Invocation &) = delete;

  /// The bound token count, or std::nullopt if no argument has a T dim.
  std::optional<int64_t> tokenCount() const { return T; }

  /// Zeroes the stats and calls the model once. On a device, throws Error
  /// when a kernel or driver call of the forward failed. After
  /// captureGraph() it enqueues a replay of the graph instead and does not
  /// wait: a kernel that faults there is reported by the next call that
  /// waits for the stream (arg(), CudaDevice::timeMs).
  void run();

  /// On a device: records one forward (stats zeroing included) into a CUDA
  /// graph, which run() replays from then on. Throws Error without a device.
  void captureGraph();

  /// Calls the model once on \p Buffers: every input and output, by name,
  /// checked against the metadata (dtype, shape, one T) as the constructor
  /// checks inputs; stats stay here (arg()). On a device the forward waits
  /// for the work already queued on \p CallerStream (a CUstream; null: the
  /// legacy default stream) and work queued there later waits for it; host
  /// outputs are copied back before this returns, device outputs are ready
  /// when \p CallerStream reaches them. Throws Error on a mismatch, on
  /// T above the device workspace's maximum, and on a failed forward.
  void runWith(const std::map<std::string, ExternalTensor> &Buffers,
               void *CallerStream = nullptr);

  /// Bytes of the device workspace (0 on the CPU, and for an
  /// expert-parallel model, whose scratch memory the driver's stream-ordered
  /// allocator hands out).
  size_t workspaceBytes() const { return WorkspaceBytes; }

  /// The buffer of argument \p Name (on the host); throws Error if there is
  /// none.
  const Tensor &arg(const std::string &Name) const;

private:
  /// Uploads the arguments, sizes the workspace for \p MaxTokens tokens
  /// and allocates it.
  void bindOnDevice(int64_t MaxTokens);
  void uploadAndSize();
  /// Loads the weights and allocates the other arguments: \p Inputs (T
  /// already bound from them) or, when null, placeholders for runWith().
  void bindArgs(std::map<std::string, Tensor> *Inputs,
                const SafetensorsFile *Weights, int64_t Rank,
                int64_t MaxTokens);
  /// The bytes of argument \p I with T = \p Tokens.
  size_t argBytes(size_t I, int64_t Tokens) const;
  /// Points descriptor \p I at \p Data of \p Shape.
  void describe(size_t I, void *Data, const std::vector<int64_t> &Shape);
  /// One call of the model (what run() does without a graph).
  void forward();

  const Model &M;
  bool BoundInputs; // Constructed with inputs (run()), or for runWith().
  std::optional<int64_t> T;
  int64_t SizedFor = 0; // The T the device buffers hold (on a device).
  mutable std::vector<Tensor> Args; // Outputs refreshed from the device.
  CudaDevice *Device = nullptr;
  std::vector<void *> DeviceArgs;     // One buffer per argument.
  mutable std::vector<bool> OnDevice; // Newer on the device than in Args.
  std::vector<std::vector<int64_t>> Descriptors;
  std::vector<void *> DescriptorPtrs;
  void *Workspace = nullptr;
  size_t WorkspaceBytes = 0;
  std::unique_ptr<CudaDevice::Graph> Graph;
};

} // namespace moert

#endif // MOERT_INVOCATION_H

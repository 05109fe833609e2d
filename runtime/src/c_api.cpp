//===- c_api.cpp - The runtime's C interface ------------------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// A session is a Model with an Invocation bound without inputs; each
// moert_session_run is one Invocation::runWith. Exceptions stop here and
// become moert_last_error()'s message.
//
//===----------------------------------------------------------------------===//

#include "moert/c_api.h"
#include "moert/cuda_device.h"
#include "moert/error.h"
#include "moert/invocation.h"
#include "moert/model.h"
#include "moert/safetensors.h"

#include <cstring>
#include <new>

using namespace moert;

struct moert_session {
  std::unique_ptr<Model> M;
  std::unique_ptr<Invocation> Inv;
  CudaDevice *Device = nullptr;
};

namespace {
thread_local std::string LastError;

/// Runs \p Body; returns \p Failed with LastError set if it throws.
template <typename R, typename Fn> R guarded(R Failed, Fn &&Body) {
  try {
    LastError.clear();
    return Body();
  } catch (const std::bad_alloc &) {
    LastError = "out of host memory";
  } catch (const std::exception &E) {
    LastError = E.what();
  }
  return Failed;
}

/// The device a model of \p Meta runs on for \p Ordinal (-1: the CPU).
CudaDevice *selectDevice(const Model &M, int Ordinal) {
  bool CudaModel = M.metadata().Target == ModelTarget::CUDA;
  if (CudaModel && Ordinal < 0)
    throw Error(M.path() + " holds CUDA kernels (moe-compile --target=cuda): "
                           "load it with device='cuda'");
  if (!CudaModel && Ordinal >= 0)
    throw Error(M.path() + " holds CPU code: load it with device='cpu', or "
                           "compile it with moe-compile --target=cuda");
  if (!CudaModel)
    return nullptr;
  try {
    return &CudaDevice::select(Ordinal);
  } catch (const Error &E) {
    throw Error("device 'cuda:" + std::to_string(Ordinal) + "': " + E.what());
  }
}
} // namespace

extern "C" {

const char *moert_last_error(void) { return LastError.c_str(); }

moert_session *moert_session_open(const char *ModelPath,
                                  const char *WeightsPath, int DeviceOrdinal,
                                  int64_t MaxTokens) {
  return guarded<moert_session *>(nullptr, [&] {
    if (!ModelPath)
      throw Error("no model path given");
    auto S = std::make_unique<moert_session>();
    S->M = Model::load(ModelPath);
    const Metadata &Meta = S->M->metadata();
    if (Meta.WorldSize != 1)
      throw Error(std::string(ModelPath) + " was compiled for " +
                  std::to_string(Meta.WorldSize) +
                  " ranks (moe-compile --expert-parallel): run it with "
                  "mpirun -np " +
                  std::to_string(Meta.WorldSize) +
                  " moe-run; this interface runs single-rank models");
    S->Device = selectDevice(*S->M, DeviceOrdinal);
    std::unique_ptr<SafetensorsFile> Weights;
    if (WeightsPath)
      Weights =
          std::make_unique<SafetensorsFile>(SafetensorsFile::open(WeightsPath));
    // The weights are copied out of the file (and onto the device) here.
    S->Inv = std::make_unique<Invocation>(*S->M, Weights.get(), /*Rank=*/0,
                                          S->Device, MaxTokens);
    return S.release();
  });
}

void moert_session_close(moert_session *Session) {
  guarded<int>(0, [&] {
    std::unique_ptr<moert_session> Owned(Session);
    if (Owned && Owned->Device)
      Owned->Device->makeCurrent(); // Its frees need the context.
    return 0;
  });
}

const char *moert_session_metadata_json(const moert_session *Session) {
  return Session->M->metadataJson().c_str();
}

uint64_t moert_session_workspace_bytes(const moert_session *Session) {
  return Session->Inv->workspaceBytes();
}

int moert_session_run(moert_session *Session, const moert_buffer *Buffers,
                      size_t Count, void *Stream) {
  return guarded<int>(-1, [&] {
    std::map<std::string, ExternalTensor> Named;
    for (size_t I = 0; I < Count; ++I) {
      const moert_buffer &B = Buffers[I];
      if (!B.name || !B.dtype || B.rank < 0 || (B.rank && !B.shape))
        throw Error("buffer " + std::to_string(I) +
                    " lacks a name, a dtype or its shape");
      std::optional<DType> Type = parseDType(B.dtype);
      if (!Type)
        throw Error(std::string("'") + B.name + "': unknown dtype '" + B.dtype +
                    "'");
      ExternalTensor X;
      X.Data = B.data;
      X.Type = *Type;
      X.Shape.assign(B.shape, B.shape + B.rank);
      X.OnHost = B.on_host != 0;
      if (!X.Data && checkedByteSize(X.Shape, X.Type, B.name))
        throw Error(std::string("'") + B.name + "' has no data");
      if (!Named.emplace(B.name, std::move(X)).second)
        throw Error(std::string("'") + B.name + "' is given twice");
    }
    if (Session->Device)
      Session->Device->makeCurrent(); // Callers may come from any thread.
    Session->Inv->runWith(Named, Stream);
    return 0;
  });
}

int moert_session_read_stat(moert_session *Session, const char *Name, void *Dst,
                            size_t Bytes) {
  return guarded<int>(-1, [&] {
    const ArgInfo *A = Session->M->metadata().find(Name ? Name : "");
    if (!A || A->Role != ArgRole::Stat)
      throw Error(std::string("model has no stat '") + (Name ? Name : "") +
                  "'");
    if (Session->Device)
      Session->Device->makeCurrent();
    const Tensor &T = Session->Inv->arg(Name);
    if (Bytes != T.byteSize())
      throw Error(std::string("stat '") + Name + "' holds " +
                  std::to_string(T.byteSize()) + " bytes, not " +
                  std::to_string(Bytes));
    std::memcpy(Dst, T.data(), Bytes);
    return 0;
  });
}

} // extern "C"

//===- moe-run.cpp - Run a compiled MoE model on .npy inputs --------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// [mpirun -np W] moe-run MODEL.so --weights W.safetensors --input [NAME=]X.npy
//         --output [NAME=]Y.npy [--iters N] [--warmup M] [--stats]
//         [--device cpu|cuda[:N] [--max-tokens N] [--graph]]
//         [--comm auto|mpi|nccl] [--nccl-library PATH]
//
// Loads a model built by moe-compile, binds its inputs and weights, runs it
// (warmup, then timed iterations), saves the requested outputs and reports
// the median time, the throughput and optionally the expert-load stats.
// An expert-parallel model runs on W processes: rank r takes its share of
// the tokens and its own experts; rank 0 gathers the outputs and reports.
// A CUDA model (--device=cuda) gets its inputs and weights uploaded once, a
// scratch workspace sized for --max-tokens, and its forward timed with CUDA
// events; --graph captures one forward as a CUDA graph and times replays.
// An expert-parallel CUDA model moves its rows with NCCL (--comm), or
// through host memory over MPI.
// Every failure is one line "moe-run: error: ..." on stderr.
//
//===----------------------------------------------------------------------===//

#include "moert/comm.h"
#include "moert/cuda_device.h"
#include "moert/error.h"
#include "moert/invocation.h"
#include "moert/model.h"
#include "moert/npy.h"
#include "moert/safetensors.h"
#include "moert/stats.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

using namespace moert;

namespace {

/// A `[NAME=]PATH` command-line value resolved to an argument name.
struct NamedPath {
  std::string Name;
  std::string Path;
};

/// "a, b" for messages.
std::string joinNames(const std::vector<const ArgInfo *> &Args) {
  std::string S;
  for (const ArgInfo *A : Args)
    S += (S.empty() ? "" : ", ") + A->Name;
  return S.empty() ? "none" : S;
}

/// Splits `[NAME=]PATH` values and resolves omitted names. \p Flag and
/// \p Kind ("input"/"output") only serve messages. A '=' after a '/' belongs
/// to the path, so "dir/a=b.npy" is a path.
std::vector<NamedPath> resolve(const std::vector<std::string> &Values,
                               const std::vector<const ArgInfo *> &Args,
                               const char *Flag, const char *Kind) {
  std::vector<NamedPath> Out;
  for (const std::string &V : Values) {
    size_t Eq = V.find('=');
    NamedPath P;
    if (Eq != std::string::npos && V.find('/') > Eq) {
      P.Name = V.substr(0, Eq);
      P.Path = V.substr(Eq + 1);
    } else if (Args.size() == 1) {
      P.Name = Args[0]->Name;
      P.Path = V;
    } else {
      throw Error(std::string(Flag) + " '" + V +
                  "' needs NAME= (the model has " +
                  std::to_string(Args.size()) + " " + Kind +
                  "s: " + joinNames(Args) + ")");
    }
    bool Known = std::any_of(Args.begin(), Args.end(), [&](const ArgInfo *A) {
      return A->Name == P.Name;
    });
    if (!Known)
      throw Error(std::string(Flag) + " '" + V + "': model has no " + Kind +
                  " '" + P.Name + "' (" + Kind + "s: " + joinNames(Args) + ")");
    for (const NamedPath &Q : Out)
      if (Q.Name == P.Name)
        throw Error(std::string(Flag) + ": " + Kind + " '" + P.Name +
                    "' given twice");
    if (P.Path.empty())
      throw Error(std::string(Flag) + " '" + V + "': empty path");
    Out.push_back(P);
  }
  return Out;
}

/// \p T as f32 if it is bf16 (which .npy cannot hold), else a copy.
Tensor forNpy(const Tensor &T) {
  Tensor Out(T.dtype() == DType::BF16 ? DType::F32 : T.dtype(), T.shape());
  if (T.dtype() != DType::BF16) {
    std::copy_n(static_cast<const std::byte *>(T.data()), T.byteSize(),
                static_cast<std::byte *>(Out.data()));
    return Out;
  }
  const uint16_t *Src = T.dataAs<uint16_t>();
  float *Dst = Out.dataAs<float>();
  for (int64_t I = 0; I < T.numElements(); ++I) {
    uint32_t Bits = static_cast<uint32_t>(Src[I]) << 16;
    std::memcpy(&Dst[I], &Bits, sizeof(float));
  }
  return Out;
}

/// Every stat, summed over the ranks (on rank 0; each rank counted its own
/// tokens' assignments).
std::map<std::string, std::vector<int64_t>>
collectStats(const Model &M, const Invocation &Inv, Communicator &Comm) {
  std::map<std::string, std::vector<int64_t>> Stats;
  for (const ArgInfo *A : M.metadata().argsWithRole(ArgRole::Stat)) {
    std::vector<int64_t> Local = integerValues(Inv.arg(A->Name), A->Name);
    std::vector<int64_t> All = Comm.gather(Local);
    std::vector<int64_t> Sum(Local.size(), 0);
    for (size_t I = 0; I < All.size(); ++I)
      Sum[I % Local.size()] += All[I];
    Stats[A->Name] = std::move(Sum);
  }
  return Stats;
}

void printStats(const Model &M,
                const std::map<std::string, std::vector<int64_t>> &Stats) {
  if (Stats.empty()) {
    std::printf("stats: the model has no stat arguments\n");
    return;
  }
  auto Counts = Stats.find(kExpertCountsStat);
  if (Counts != Stats.end()) {
    ExpertStats ES;
    ES.Counts = Counts->second;
    if (auto Kept = Stats.find(kExpertKeptStat); Kept != Stats.end())
      ES.Kept = Kept->second;
    std::fputs(formatExpertStats(ES).c_str(), stdout);
  } else {
    std::printf("stats: the model has no '%s' stat\n", kExpertCountsStat);
  }
  // Stats beyond the two the ABI defines are listed raw.
  for (const ArgInfo *A : M.metadata().argsWithRole(ArgRole::Stat)) {
    if (A->Name == kExpertCountsStat || A->Name == kExpertKeptStat)
      continue;
    std::printf("stat %s:", A->Name.c_str());
    for (int64_t V : Stats.at(A->Name))
      std::printf(" %lld", static_cast<long long>(V));
    std::printf("\n");
  }
}

/// Each rank's tokens and exchange traffic, gathered on rank 0: per rank,
/// the token count then six values per stage.
std::vector<int64_t> gatherTraffic(Communicator &Comm, int64_t Tokens) {
  std::vector<int64_t> Local = {Tokens};
  for (const StageStats &S : Comm.stats())
    Local.insert(Local.end(), {S.Calls, S.MessagesSent, S.MessagesReceived,
                               S.BytesSent, S.BytesReceived, S.Nanoseconds});
  return Comm.gather(Local);
}

constexpr size_t kTrafficWords = 1 + 6 * kNumStages;

nlohmann::json trafficJson(const std::vector<int64_t> &All) {
  nlohmann::json Ranks = nlohmann::json::array();
  for (size_t R = 0; R * kTrafficWords < All.size(); ++R) {
    const int64_t *V = All.data() + R * kTrafficWords;
    nlohmann::json Stages = nlohmann::json::object();
    for (size_t S = 0; S < kNumStages; ++S) {
      const int64_t *W = V + 1 + 6 * S;
      if (W[0] == 0)
        continue; // The model has no exchange of this stage.
      Stages[stageName(static_cast<CommStage>(S))] = {
          {"calls", W[0]},
          {"messages_sent", W[1]},
          {"messages_received", W[2]},
          {"bytes_sent", W[3]},
          {"bytes_received", W[4]},
          {"seconds", W[5] * 1e-9}};
    }
    Ranks.push_back({{"rank", R}, {"tokens", V[0]}, {"stages", Stages}});
  }
  return Ranks;
}

void printTraffic(const std::vector<int64_t> &All) {
  for (size_t R = 0; R * kTrafficWords < All.size(); ++R) {
    const int64_t *V = All.data() + R * kTrafficWords;
    for (size_t S = 0; S < kNumStages; ++S) {
      const int64_t *W = V + 1 + 6 * S;
      if (W[0] == 0)
        continue;
      std::printf("rank %zu %-10s: %lld tokens, sent %lld msgs / %lld B, "
                  "received %lld msgs / %lld B, %.3f ms\n",
                  R, stageName(static_cast<CommStage>(S)),
                  static_cast<long long>(V[0]), static_cast<long long>(W[1]),
                  static_cast<long long>(W[3]), static_cast<long long>(W[2]),
                  static_cast<long long>(W[4]), W[5] * 1e-6);
    }
  }
}

/// Writes every stat as {"name": [values...]} (and, for an expert-parallel
/// model, "ranks": each rank's traffic), for scripts and tests.
void writeStatsJson(const std::map<std::string, std::vector<int64_t>> &Stats,
                    const std::vector<int64_t> *Traffic,
                    const std::string &Path) {
  nlohmann::json Doc = nlohmann::json::object();
  for (const auto &KV : Stats)
    Doc[KV.first] = KV.second;
  if (Traffic)
    Doc["ranks"] = trafficJson(*Traffic);
  std::ofstream Out(Path);
  Out << Doc.dump() << "\n";
  if (!Out)
    throw Error("cannot write stats to '" + Path + "'");
}

/// Rank r's share of T tokens: [first, first + count), the remainder going
/// to the first T mod W ranks.
std::pair<int64_t, int64_t> tokenShare(int64_t T, int Rank, int Size) {
  int64_t Base = T / Size, Rem = T % Size;
  return {Rank * Base + std::min<int64_t>(Rank, Rem), Base + (Rank < Rem)};
}

/// Rows [First, First + Count) of \p X.
Tensor sliceRows(const Tensor &X, int64_t First, int64_t Count) {
  std::vector<int64_t> Shape = X.shape();
  size_t RowBytes = Shape[0] ? X.byteSize() / Shape[0] : 0;
  Shape[0] = Count;
  Tensor Out(X.dtype(), Shape);
  if (Count)
    std::memcpy(Out.data(),
                static_cast<const std::byte *>(X.data()) + First * RowBytes,
                Count * RowBytes);
  return Out;
}

struct Options {
  std::string ModelPath;
  std::string WeightsPath;
  std::vector<std::string> Inputs;
  std::vector<std::string> Outputs;
  unsigned Iters = 1;
  unsigned Warmup = 0;
  bool Stats = false;
  std::string StatsJson;
  double CommTimeout = 300;
  std::string Device = "cpu"; ///< cpu, cuda or cuda:N
  int64_t MaxTokens = 0;      ///< CUDA workspace size in tokens; 0: T.
  bool Graph = false;         ///< Replay a CUDA graph of the forward.
  std::string Comm = "auto";  ///< auto, mpi or nccl: how GPU rows move.
  std::string NcclLibrary;    ///< "": $MOEC_NCCL_LIBRARY, else libnccl.so.2.
};

/// The CUDA device a --device value names for the rank of node-local index
/// \p LocalRank (cuda is its own GPU, cuda:LocalRank, on a node with that
/// many; else they share them in turn); none for cpu. \p Device passed the
/// option's check.
std::optional<int> cudaOrdinal(const std::string &Device, int LocalRank) {
  if (Device == "cpu")
    return std::nullopt;
  if (Device != "cuda")
    return std::stoi(Device.substr(5));
  if (LocalRank == 0)
    return 0;
  int Count = CudaDriver::get().deviceCount();
  return Count > 0 ? LocalRank % Count : 0;
}

/// --device's check: "" when \p Value is cpu, cuda or cuda:N.
std::string checkDevice(const std::string &Value) {
  if (Value == "cpu" || Value == "cuda")
    return "";
  const char *Digits = "0123456789";
  if (Value.rfind("cuda:", 0) == 0 && Value.size() > 5 && Value.size() <= 9 &&
      Value.find_first_not_of(Digits, 5) == std::string::npos)
    return "";
  return "expected cpu, cuda or cuda:N, got '" + Value + "'";
}

/// The device the model runs on: null for the CPU. Refuses a model whose
/// code is for the other kind of device, before any weight is read.
CudaDevice *selectDevice(const Options &Opts, const Metadata &Meta,
                         int LocalRank) {
  bool CudaModel = Meta.Target == ModelTarget::CUDA;
  if (CudaModel && Opts.Device == "cpu")
    throw Error(Opts.ModelPath +
                " holds CUDA kernels (moe-compile --target=cuda): run it "
                "with --device=cuda");
  if (Opts.Device == "cpu")
    return nullptr;
  try {
    std::optional<int> Ordinal = cudaOrdinal(Opts.Device, LocalRank);
    if (!CudaModel) {
      const CudaDriver &Driver = CudaDriver::get();
      CudaDeviceInfo Info = Driver.device(*Ordinal);
      throw Error("found " + Info.describe() + " with CUDA driver " +
                  Driver.version() + ", but " + Opts.ModelPath +
                  " holds CPU code (compile it with moe-compile "
                  "--target=cuda)");
    }
    return &CudaDevice::select(*Ordinal);
  } catch (const Error &E) {
    throw Error("--device=" + Opts.Device + ": " + E.what());
  }
}

/// Splits the inputs' tokens over the ranks; returns each rank's count.
std::vector<int64_t> shareTokens(const Metadata &Meta,
                                 std::map<std::string, Tensor> &Tensors,
                                 Communicator &Comm) {
  std::optional<int64_t> T;
  for (auto &KV : Tensors) {
    const ArgInfo *A = Meta.find(KV.first);
    if (A->Shape.empty() || A->Shape[0] != kDynamicDim ||
        KV.second.shape().empty())
      throw Error("input '" + KV.first +
                  "' has no token dimension (dim 0) to split over the ranks");
    if (T && *T != KV.second.shape()[0])
      throw Error("inputs disagree on the token count (" + std::to_string(*T) +
                  " and " + std::to_string(KV.second.shape()[0]) + ")");
    T = KV.second.shape()[0];
  }
  std::vector<int64_t> Rows;
  for (int R = 0; R < Comm.size(); ++R)
    Rows.push_back(tokenShare(T.value_or(0), R, Comm.size()).second);
  auto [First, Count] = tokenShare(T.value_or(0), Comm.rank(), Comm.size());
  for (auto &KV : Tensors)
    KV.second = sliceRows(KV.second, First, Count);
  return Rows;
}

/// Output \p A of every rank, gathered on rank 0 (only rank 0's for an
/// output without a token dimension).
Tensor gatherOutput(const ArgInfo &A, const Tensor &Local,
                    const std::vector<int64_t> &Rows, Communicator &Comm) {
  if (Comm.size() == 1 || A.Shape.empty() || A.Shape[0] != kDynamicDim)
    return forNpy(Local);
  std::vector<int64_t> Shape = Local.shape();
  size_t RowBytes = 1;
  for (size_t I = 1; I < Shape.size(); ++I)
    RowBytes *= Shape[I];
  RowBytes *= dtypeSize(Local.dtype());
  int64_t Total = 0;
  for (int64_t R : Rows)
    Total += R;
  Shape[0] = Comm.rank() == 0 ? Total : 0;
  Tensor All(Local.dtype(), Shape);
  Comm.gatherRows(Local.data(), Rows, RowBytes, All.data());
  return forNpy(All);
}

/// The NCCL library --nccl-library, $MOEC_NCCL_LIBRARY or the default names.
std::string ncclLibrary(const Options &Opts) {
  if (!Opts.NcclLibrary.empty())
    return Opts.NcclLibrary;
  const char *Env = std::getenv("MOEC_NCCL_LIBRARY");
  return Env && *Env ? Env : "libnccl.so.2";
}

/// The communicator a CUDA model's rows move with: NCCL unless --comm=mpi
/// (or --comm=auto and some rank cannot load it: then through host memory
/// over \p Host, said once on rank 0). Null: use \p Host.
std::unique_ptr<Communicator>
deviceCommunicator(Communicator &Host, CudaDevice &Dev, const Options &Opts) {
  if (Opts.Comm == "mpi")
    return nullptr;
  try {
    return makeNcclCommunicator(Host, Dev, ncclLibrary(Opts), Opts.CommTimeout);
  } catch (const Error &E) {
    if (Opts.Comm == "nccl")
      throw Error(std::string("--comm=nccl: ") + E.what());
    if (Host.rank() == 0)
      std::fprintf(stderr,
                   "moe-run: note: %s; exchanging rows through host memory "
                   "over MPI (--comm=mpi says so without trying NCCL)\n",
                   E.what());
    return nullptr;
  }
}

/// Runs on the ranks of \p Host; an expert-parallel CUDA model's NCCL
/// communicator, if it gets one, goes to \p Nccl (owned by the caller, so
/// that a failure can still abort through it).
void runOn(Communicator &Host, std::unique_ptr<Communicator> &Nccl,
           const LaunchInfo &Launch, const Options &Opts) {
  std::unique_ptr<Model> M = Model::load(Opts.ModelPath);
  const Metadata &Meta = M->metadata();
  CudaDevice *Dev = selectDevice(Opts, Meta, Launch.MachineRank);
  if (!Dev && (Opts.MaxTokens || Opts.Graph))
    throw Error(std::string(Opts.Graph ? "--graph" : "--max-tokens") +
                " applies to CUDA models: add --device=cuda");
  if (!Dev && Opts.Comm == "nccl")
    throw Error("--comm=nccl moves GPU buffers: it applies to CUDA models "
                "run with --device=cuda");
  if (Meta.WorldSize != Host.size())
    throw Error("the model was compiled for " + std::to_string(Meta.WorldSize) +
                " rank(s) (moe-compile --expert-parallel=" +
                std::to_string(Meta.WorldSize) + ") but runs on " +
                std::to_string(Host.size()) + " process(es): launch it with " +
                (Meta.WorldSize == 1
                     ? std::string("plain moe-run")
                     : "mpirun -np " + std::to_string(Meta.WorldSize)));
  if (Meta.RanksPerNode != 0 && Meta.RanksPerNode != Host.ranksPerNode())
    throw Error("the model's all-to-all is hierarchical over nodes of " +
                std::to_string(Meta.RanksPerNode) +
                " ranks (moe-compile --ranks-per-node=" +
                std::to_string(Meta.RanksPerNode) + ") but this run has " +
                std::to_string(Host.ranksPerNode()) +
                " ranks per node: set MOEC_RANKS_PER_NODE=" +
                std::to_string(Meta.RanksPerNode) +
                " or recompile with the run's topology");
  if (Opts.Graph && Meta.WorldSize > 1)
    throw Error("--graph: an expert-parallel model's exchanges wait for the "
                "host (their sizes depend on the routing), so its forward "
                "cannot be captured as a CUDA graph");
  if (Dev && Meta.WorldSize > 1) {
    Host.setDevice(Dev);
    Nccl = deviceCommunicator(Host, *Dev, Opts);
    if (Nccl)
      setActiveCommunicator(Nccl.get());
  }
  Communicator &Comm = Nccl ? *Nccl : Host;
  auto Inputs = resolve(Opts.Inputs, Meta.argsWithRole(ArgRole::Input),
                        "--input", "input");
  auto Outputs = resolve(Opts.Outputs, Meta.argsWithRole(ArgRole::Output),
                         "--output", "output");

  std::map<std::string, Tensor> Tensors;
  for (const NamedPath &P : Inputs)
    Tensors.emplace(P.Name, readNpy(P.Path));
  std::vector<int64_t> Rows;
  if (Comm.size() > 1)
    Rows = shareTokens(Meta, Tensors, Comm);
  std::unique_ptr<SafetensorsFile> Weights;
  if (!Opts.WeightsPath.empty())
    Weights = std::make_unique<SafetensorsFile>(
        SafetensorsFile::open(Opts.WeightsPath));
  auto LoadStart = std::chrono::steady_clock::now();
  Invocation Inv(*M, std::move(Tensors), Weights.get(), Comm.rank(), Dev,
                 Opts.MaxTokens);
  double LoadMs = std::chrono::duration<double, std::milli>(
                      std::chrono::steady_clock::now() - LoadStart)
                      .count();
  if (Opts.Graph)
    Inv.captureGraph();

  for (unsigned I = 0; I < Opts.Warmup; ++I)
    Inv.run();
  std::vector<double> Ms;
  for (unsigned I = 0; I < Opts.Iters; ++I) {
    Comm.resetStats(); // Report the last run's traffic.
    if (Dev) {         // GPU time between CUDA events on the model's stream.
      Ms.push_back(Dev->timeMs([&] { Inv.run(); }));
      continue;
    }
    auto Start = std::chrono::steady_clock::now();
    Inv.run();
    auto End = std::chrono::steady_clock::now();
    Ms.push_back(
        std::chrono::duration<double, std::milli>(End - Start).count());
  }
  std::sort(Ms.begin(), Ms.end());
  size_t N = Ms.size();
  double Median = N % 2 ? Ms[N / 2] : (Ms[N / 2 - 1] + Ms[N / 2]) / 2;

  std::vector<Tensor> Saved;
  for (const NamedPath &P : Outputs)
    Saved.push_back(
        gatherOutput(*Meta.find(P.Name), Inv.arg(P.Name), Rows, Comm));
  auto Stats = collectStats(*M, Inv, Comm);
  // Without a T dimension, the leading dim of the first input counts tokens.
  int64_t Tokens = 0;
  if (auto T = Inv.tokenCount())
    Tokens = *T;
  else if (auto In = Meta.argsWithRole(ArgRole::Input);
           !In.empty() && !Inv.arg(In[0]->Name).shape().empty())
    Tokens = Inv.arg(In[0]->Name).shape()[0];
  std::vector<int64_t> Traffic;
  if (Meta.WorldSize > 1)
    Traffic = gatherTraffic(Comm, Tokens);
  if (Comm.rank() != 0)
    return;

  for (size_t I = 0; I < Outputs.size(); ++I)
    writeNpy(Outputs[I].Path, Saved[I]);
  if (!Rows.empty())
    Tokens = std::accumulate(Rows.begin(), Rows.end(), int64_t(0));
  double TokensPerSec = Median > 0 ? Tokens / (Median / 1000.0) : 0.0;
  std::printf("T=%lld tokens, %u iters (%u warmup): median %.4f ms/iter, "
              "%.1f tokens/s",
              static_cast<long long>(Tokens), Opts.Iters, Opts.Warmup, Median,
              TokensPerSec);
  if (Comm.size() > 1)
    std::printf(" (rank 0 of %d, rows over %s)", Comm.size(),
                Comm.movesDeviceBuffers() || !Dev ? Comm.name()
                                                  : "MPI through host memory");
  if (Dev)
    std::printf(" on %s (%s, CUDA events; weights read and uploaded in "
                "%.1f ms; workspace %.2f MiB for T <= %lld)",
                Dev->info().describe().c_str(),
                Opts.Graph ? "graph replays" : "forwards", LoadMs,
                Inv.workspaceBytes() / 1048576.0,
                static_cast<long long>(Opts.MaxTokens ? Opts.MaxTokens
                                                      : Tokens));
  std::printf("\n");
  if (Opts.Stats) {
    printStats(*M, Stats);
    printTraffic(Traffic);
  }
  if (!Opts.StatsJson.empty())
    writeStatsJson(Stats, Meta.WorldSize > 1 ? &Traffic : nullptr,
                   Opts.StatsJson);
}

void run(const Options &Opts) {
  LaunchInfo Launch = detectLaunch();
  std::unique_ptr<Communicator> Comm;
  if (Launch.By == LaunchInfo::Launcher::Mpirun)
    Comm = makeMpiCommunicator(Launch, Opts.CommTimeout);
  else if (Launch.By == LaunchInfo::Launcher::Torchrun && Launch.Size > 1)
    throw Error("launched as rank " + std::to_string(Launch.Rank) + " of " +
                std::to_string(Launch.Size) +
                " by torchrun (WORLD_SIZE): on CPUs the ranks talk over "
                "MPI, so launch with mpirun -np " +
                std::to_string(Launch.Size));
  else
    Comm = makeSingleRankCommunicator();
  setActiveCommunicator(Comm.get());
  std::unique_ptr<Communicator> Nccl; // Goes before Comm, which it uses.
  try {
    runOn(*Comm, Nccl, Launch, Opts);
  } catch (const std::exception &E) {
    // Peers may be waiting in an exchange: end them all.
    if (Comm->size() > 1)
      (Nccl ? *Nccl : *Comm)
          .abort(dynamic_cast<const std::bad_alloc *>(&E) ? "out of memory"
                                                          : E.what());
    setActiveCommunicator(nullptr);
    throw;
  }
  setActiveCommunicator(nullptr);
}

} // namespace

int main(int Argc, char **Argv) {
  Options Opts;
  CLI::App App{"Run a moec-compiled Mixture-of-Experts model.", "moe-run"};
  App.add_option("model", Opts.ModelPath, "Model shared library (MODEL.so)")
      ->required();
  App.add_option("--weights,-w", Opts.WeightsPath,
                 "Weights checkpoint (.safetensors)");
  App.add_option("--input,-i", Opts.Inputs,
                 "Input [NAME=]X.npy (NAME may be omitted for a single-input "
                 "model); repeatable")
      ->allow_extra_args(false);
  App.add_option("--output,-o", Opts.Outputs,
                 "Save output [NAME=]Y.npy (NAME may be omitted for a "
                 "single-output model); repeatable")
      ->allow_extra_args(false);
  App.add_option("--iters,-n", Opts.Iters, "Timed iterations (default 1)")
      ->check(CLI::Range(1u, 1000000000u));
  App.add_option("--warmup", Opts.Warmup,
                 "Untimed iterations before the timed ones (default 0)");
  App.add_flag("--stats", Opts.Stats,
               "Print tokens per expert and dropped assignments");
  App.add_option("--stats-json", Opts.StatsJson,
                 "Write every stat of the last run to a JSON file (with "
                 "each rank's exchange traffic for an expert-parallel "
                 "model)");
  App.add_option("--comm-timeout", Opts.CommTimeout,
                 "Seconds a rank waits for its peers (start-up, each "
                 "exchange) before ending the job with an error naming "
                 "them (default 300)")
      ->check(CLI::Range(0.001, 1e6));
  App.add_option("--device", Opts.Device,
                 "Where the model runs: cpu (default), or cuda[:N], the "
                 "N-th GPU (default 0), through the CUDA driver, for a "
                 "model built with moe-compile --target=cuda")
      ->check(CLI::Validator([](std::string &V) { return checkDevice(V); },
                             "cpu|cuda[:N]"));
  App.add_option("--max-tokens", Opts.MaxTokens,
                 "CUDA: the most tokens a forward may take; the scratch "
                 "workspace is sized for it when the model is loaded "
                 "(default: the input's T)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  App.add_option("--comm", Opts.Comm,
                 "How an expert-parallel CUDA model's rows move: nccl "
                 "(GPU to GPU), mpi (through host memory), or auto "
                 "(default: NCCL if every rank can load it, else MPI)")
      ->check(CLI::IsMember({"auto", "mpi", "nccl"}));
  App.add_option("--nccl-library", Opts.NcclLibrary,
                 "The NCCL library to load (default: $MOEC_NCCL_LIBRARY, "
                 "else libnccl.so.2)");
  App.add_flag("--graph", Opts.Graph,
               "CUDA: capture one forward as a CUDA graph and time its "
               "replays");
  try {
    App.parse(Argc, Argv);
  } catch (const CLI::CallForHelp &E) {
    return App.exit(E);
  } catch (const CLI::ParseError &E) {
    std::fprintf(stderr, "moe-run: error: %s (see --help)\n", E.what());
    return 2;
  }
  try {
    run(Opts);
  } catch (const Error &E) {
    std::fprintf(stderr, "moe-run: error: %s\n", E.what());
    return 1;
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "moe-run: error: out of memory\n");
    return 1;
  } catch (const std::exception &E) {
    std::fprintf(stderr, "moe-run: error: %s\n", E.what());
    return 1;
  }
  return 0;
}

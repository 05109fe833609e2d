//===- nccl_comm.cpp - The NCCL communicator (device buffers) -------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
// Rows move between GPUs with grouped ncclSend/ncclRecv on the model's
// stream; everything small (counts, gathers, the unique id, aborts) goes
// over the host communicator the job started with (MPI). libnccl.so.2 is
// loaded with dlopen, like the driver, so moe-run starts on machines
// without it. A wait is a poll of the stream against a deadline, so a peer
// that dies ends the job with a message instead of a hang.
//
//===----------------------------------------------------------------------===//

#include "moert/comm.h"
#include "moert/cuda_device.h"
#include "moert/error.h"
#include "watchdog.h"

#ifdef MOERT_HAVE_NCCL
#include <nccl.h>

#include <dlfcn.h>
#endif

#include <chrono>
#include <cstdio>
#include <thread>

using namespace moert;

#ifndef MOERT_HAVE_NCCL

std::unique_ptr<Communicator> moert::makeNcclCommunicator(Communicator &,
                                                          CudaDevice &,
                                                          const std::string &,
                                                          double) {
  throw Error("this moe-run was built without NCCL's header (nccl.h), so it "
              "cannot use NCCL: use --comm=mpi");
}

#else

namespace {

using Clock = std::chrono::steady_clock;

/// The NCCL functions the communicator calls, from the loaded library.
struct NcclApi {
  void *Handle = nullptr;
  std::string Library;
  decltype(&::ncclGetVersion) GetVersion = nullptr;
  decltype(&::ncclGetUniqueId) GetUniqueId = nullptr;
  decltype(&::ncclCommInitRank) CommInitRank = nullptr;
  decltype(&::ncclCommDestroy) CommDestroy = nullptr;
  decltype(&::ncclCommAbort) CommAbort = nullptr;
  decltype(&::ncclCommGetAsyncError) CommGetAsyncError = nullptr;
  decltype(&::ncclGetErrorString) GetErrorString = nullptr;
  decltype(&::ncclGroupStart) GroupStart = nullptr;
  decltype(&::ncclGroupEnd) GroupEnd = nullptr;
  decltype(&::ncclSend) Send = nullptr;
  decltype(&::ncclRecv) Recv = nullptr;

  explicit NcclApi(const std::string &Lib) : Library(Lib) {
    Handle = dlopen(Lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!Handle) {
      const char *Why = dlerror();
      throw Error("cannot load NCCL (" + Lib + "): " + (Why ? Why : "") +
                  "; install NCCL, point --nccl-library at it, or use "
                  "--comm=mpi");
    }
    resolve(GetVersion, "ncclGetVersion");
    resolve(GetUniqueId, "ncclGetUniqueId");
    resolve(CommInitRank, "ncclCommInitRank");
    resolve(CommDestroy, "ncclCommDestroy");
    resolve(CommAbort, "ncclCommAbort");
    resolve(CommGetAsyncError, "ncclCommGetAsyncError");
    resolve(GetErrorString, "ncclGetErrorString");
    resolve(GroupStart, "ncclGroupStart");
    resolve(GroupEnd, "ncclGroupEnd");
    resolve(Send, "ncclSend");
    resolve(Recv, "ncclRecv");
  }
  ~NcclApi() { dlclose(Handle); }
  NcclApi(const NcclApi &) = delete;
  NcclApi &operator=(const NcclApi &) = delete;

  template <typename Fn> void resolve(Fn &Out, const char *Symbol) {
    Out = reinterpret_cast<Fn>(dlsym(Handle, Symbol));
    if (!Out)
      throw Error(Library + " has no '" + Symbol +
                  "': not an NCCL library, or one older than 2.7");
  }

  std::string describe(ncclResult_t R) const {
    const char *S = GetErrorString(R);
    return S ? S : "unknown NCCL error " + std::to_string(R);
  }
};

std::string seconds(double S) {
  char Buf[32];
  std::snprintf(Buf, sizeof(Buf), "%g s", S);
  return Buf;
}

class NcclCommunicator : public Communicator {
public:
  NcclCommunicator(Communicator &Host, CudaDevice &Dev,
                   const std::string &Library, double Timeout)
      : Communicator(Host.rank(), Host.size(), Host.ranksPerNode()), Host(Host),
        Dev(Dev), Timeout(Timeout) {
    setDevice(&Dev);
    // Loaded (or not) on every rank before the first collective: a rank
    // without NCCL must not leave the others waiting for its id.
    std::string Failure;
    try {
      Api = std::make_unique<NcclApi>(Library);
    } catch (const Error &E) {
      Failure = E.what();
    }
    std::vector<int64_t> Ok = Host.gather({Failure.empty() ? 1 : 0});
    int64_t Missing = 0;
    for (int64_t V : Ok)
      Missing += V == 0;
    char Flag = Missing ? 1 : 0;
    Host.broadcast(&Flag, 1);
    if (!Failure.empty())
      throw Error(Failure);
    if (Flag)
      throw Error("NCCL could not be loaded on every rank (see their errors)");

    ncclUniqueId Id{};
    if (rank() == 0)
      check(Api->GetUniqueId(&Id), "ncclGetUniqueId");
    Host.broadcast(&Id, sizeof(Id));
    // ncclCommInitRank waits for every rank and has no timeout of its own.
    Watchdog Guard(Timeout, "rank " + std::to_string(rank()) +
                                ": NCCL's communicator did not form within " +
                                seconds(Timeout) +
                                " (a peer died or never started; see "
                                "--comm-timeout)");
    check(Api->CommInitRank(&Comm, size(), Id, rank()), "ncclCommInitRank");
  }

  ~NcclCommunicator() override {
    if (Comm)
      Api->CommDestroy(Comm);
  }

  void exchangeCounts(CommStage Stage, const int32_t *Send,
                      int32_t *Recv) override {
    // Over the host communicator; its traffic counts as this one's.
    auto Index = static_cast<size_t>(Stage);
    StageStats Before = Host.stats()[Index];
    Host.exchangeCounts(Stage, Send, Recv);
    const StageStats &After = Host.stats()[Index];
    StageStats &S = statsOf(Stage);
    S.Calls += After.Calls - Before.Calls;
    S.MessagesSent += After.MessagesSent - Before.MessagesSent;
    S.MessagesReceived += After.MessagesReceived - Before.MessagesReceived;
    S.BytesSent += After.BytesSent - Before.BytesSent;
    S.BytesReceived += After.BytesReceived - Before.BytesReceived;
    S.Nanoseconds += After.Nanoseconds - Before.Nanoseconds;
  }

  void exchange(CommStage Stage, const void *Send, const int32_t *SendCounts,
                void *Recv, const int32_t *RecvCounts,
                size_t RowBytes) override {
    auto Start = Clock::now();
    StageStats &S = statsOf(Stage);
    ++S.Calls;
    auto Stream = static_cast<cudaStream_t>(Dev.stream());
    const auto *From = static_cast<const std::byte *>(Send);
    auto *To = static_cast<std::byte *>(Recv);
    check(Api->GroupStart(), "ncclGroupStart");
    for (int P = 0, N = stageSize(Stage); P < N; ++P) {
      int Peer = worldRankOf(Stage, P);
      size_t SendBytes = SendCounts[P] * RowBytes;
      size_t RecvBytes = RecvCounts[P] * RowBytes;
      if (Peer == rank() && SendBytes != RecvBytes)
        abort("all-to-all (" + std::string(stageName(Stage)) +
              "): sends itself " + std::to_string(SendCounts[P]) +
              " rows but expects " + std::to_string(RecvCounts[P]));
      // A rank's own rows go through NCCL too (a device-local copy); only
      // other ranks' count as traffic, as with MPI.
      if (RecvBytes) {
        check(Api->Recv(To, RecvBytes, ncclUint8, Peer, Comm, Stream),
              "ncclRecv");
        if (Peer != rank()) {
          ++S.MessagesReceived;
          S.BytesReceived += RecvBytes;
        }
      }
      if (SendBytes) {
        check(Api->Send(From, SendBytes, ncclUint8, Peer, Comm, Stream),
              "ncclSend");
        if (Peer != rank()) {
          ++S.MessagesSent;
          S.BytesSent += SendBytes;
        }
      }
      From += SendBytes;
      To += RecvBytes;
    }
    check(Api->GroupEnd(), "ncclGroupEnd");
    wait(Stage, Start);
    S.Nanoseconds += std::chrono::duration_cast<std::chrono::nanoseconds>(
                         Clock::now() - Start)
                         .count();
  }

  std::vector<int64_t> gather(const std::vector<int64_t> &Local) override {
    return Host.gather(Local);
  }
  void gatherRows(const void *Local, const std::vector<int64_t> &Rows,
                  size_t RowBytes, void *All) override {
    Host.gatherRows(Local, Rows, RowBytes, All);
  }
  void broadcast(void *Data, size_t Bytes) override {
    Host.broadcast(Data, Bytes);
  }
  bool movesDeviceBuffers() const override { return true; }
  const char *name() const override { return "NCCL"; }

  [[noreturn]] void abort(const std::string &Message) override {
    // Unblocks this rank's pending NCCL work; the host communicator then
    // ends every process.
    if (Comm)
      Api->CommAbort(Comm);
    Comm = nullptr;
    Host.abort(Message);
  }

private:
  /// Polls the stream until the exchange is done, NCCL reports an error,
  /// or the deadline passes.
  void wait(CommStage Stage, Clock::time_point Start) {
    auto Deadline = Start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(Timeout));
    auto Pause = std::chrono::microseconds(1);
    while (true) {
      bool Idle = false;
      try {
        Idle = Dev.streamIdle();
      } catch (const Error &E) {
        abort(std::string(stageName(Stage)) + " exchange: " + E.what());
      }
      if (Idle)
        return;
      ncclResult_t Async = ncclSuccess;
      check(Api->CommGetAsyncError(Comm, &Async), "ncclCommGetAsyncError");
      if (Async != ncclSuccess && Async != ncclInProgress)
        abort(std::string(stageName(Stage)) +
              " exchange failed in NCCL: " + Api->describe(Async));
      if (Clock::now() > Deadline)
        abort(std::string(stageName(Stage)) +
              " exchange (NCCL) timed out after " + seconds(Timeout) +
              " (a peer died or stopped; see --comm-timeout)");
      std::this_thread::sleep_for(Pause);
      Pause = std::min(Pause * 2, std::chrono::microseconds(1000));
    }
  }

  void check(ncclResult_t R, const char *What) {
    if (R != ncclSuccess)
      abort(std::string(What) + " failed: " + Api->describe(R));
  }

  Communicator &Host;
  CudaDevice &Dev;
  double Timeout;
  std::unique_ptr<NcclApi> Api;
  ncclComm_t Comm = nullptr;
};

} // namespace

std::unique_ptr<Communicator>
moert::makeNcclCommunicator(Communicator &Host, CudaDevice &Device,
                            const std::string &Library, double TimeoutSeconds) {
  return std::make_unique<NcclCommunicator>(Host, Device, Library,
                                            TimeoutSeconds);
}

#endif // MOERT_HAVE_NCCL

//===- comm.h - Communicators of expert-parallel models ---------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// The ranks of an expert-parallel run and how they exchange rows: a
/// single-rank communicator (local copies only), an MPI one (host buffers)
/// and an NCCL one (device buffers). A compiled model reaches the active
/// communicator through the `moert_comm_*` entry points (docs/abi.md), which
/// abort the whole job with a message on any failure: a model's frames
/// cannot carry an exception. A CUDA model's buffers are device memory: the
/// entry points read its counts back to the host and, unless the
/// communicator moves device buffers itself, stage its rows through host
/// memory.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_COMM_H
#define MOERT_COMM_H

#include "moert/abi.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moert {

class CudaDevice;
using abi::CommStage;
inline constexpr size_t kNumStages = 3;
const char *stageName(CommStage Stage);

/// Traffic of one stage on one rank (messages to or from other ranks only;
/// a rank's own rows are copied locally).
struct StageStats {
  int64_t Calls = 0;
  int64_t MessagesSent = 0;
  int64_t MessagesReceived = 0;
  int64_t BytesSent = 0;
  int64_t BytesReceived = 0;
  int64_t Nanoseconds = 0;
};

/// Where this process sits in the job, from the launcher's environment.
struct LaunchInfo {
  enum class Launcher { None, Mpirun, Torchrun } By = Launcher::None;
  int Rank = 0;
  int Size = 1;
  /// The index within the (possibly simulated) node.
  int LocalRank = 0;
  /// The launcher's index of this process on its machine (which GPU is its
  /// own), whatever MOEC_RANKS_PER_NODE simulates.
  int MachineRank = 0;
  /// Ranks per (possibly simulated) node: MOEC_RANKS_PER_NODE, else the
  /// launcher's local size, else Size.
  int RanksPerNode = 1;
};

/// Reads OMPI_COMM_WORLD_* (mpirun) or RANK/WORLD_SIZE/LOCAL_* (torchrun)
/// and MOEC_RANKS_PER_NODE. Throws Error on malformed or inconsistent values.
LaunchInfo detectLaunch();

class Communicator {
public:
  virtual ~Communicator();

  int rank() const { return Rank; }
  int size() const { return Size; }
  int ranksPerNode() const { return RanksPerNode; }
  /// The number of ranks one exchange of \p Stage spans.
  int stageSize(CommStage Stage) const;
  /// The world rank of rank \p Peer of this rank's \p Stage group (its node
  /// for the intra-node stage, the ranks of its local index across nodes for
  /// the inter-node one).
  int worldRankOf(CommStage Stage, int Peer) const;

  /// Recv[r] = what rank r of the stage sends this rank (its Send[me]).
  virtual void exchangeCounts(CommStage Stage, const int32_t *Send,
                              int32_t *Recv) = 0;
  /// Sends SendCounts[r] consecutive rows of \p RowBytes to each rank r of
  /// the stage and receives RecvCounts[r] rows from each, in rank order.
  /// The rows are host memory, or device memory of device() when
  /// movesDeviceBuffers(); the counts are host memory.
  virtual void exchange(CommStage Stage, const void *Send,
                        const int32_t *SendCounts, void *Recv,
                        const int32_t *RecvCounts, size_t RowBytes) = 0;

  /// On rank 0: every rank's \p Local (the same length everywhere), in rank
  /// order; elsewhere: empty.
  virtual std::vector<int64_t> gather(const std::vector<int64_t> &Local) = 0;
  /// On rank 0: \p Rows[r] rows of \p RowBytes from each rank r into \p All.
  virtual void gatherRows(const void *Local, const std::vector<int64_t> &Rows,
                          size_t RowBytes, void *All) = 0;
  /// Every rank's \p Bytes at \p Data become rank 0's.
  virtual void broadcast(void *Data, size_t Bytes) = 0;
  /// Ends every process of the job after printing \p Message.
  [[noreturn]] virtual void abort(const std::string &Message) = 0;

  /// The device whose memory the running model's buffers are (null: host
  /// memory, a CPU model).
  CudaDevice *device() const { return Device; }
  void setDevice(CudaDevice *Dev) { Device = Dev; }
  /// Whether exchange() takes device memory (else the entry points stage a
  /// CUDA model's rows through the host).
  virtual bool movesDeviceBuffers() const { return false; }
  /// "single-rank", "MPI", "NCCL": for messages and moe-run's report.
  virtual const char *name() const = 0;

  /// Traffic per stage since the last resetStats().
  const std::array<StageStats, kNumStages> &stats() const { return Stats; }
  void resetStats() { Stats = {}; }

protected:
  Communicator(int Rank, int Size, int RanksPerNode)
      : Rank(Rank), Size(Size), RanksPerNode(RanksPerNode) {}
  StageStats &statsOf(CommStage Stage) {
    return Stats[static_cast<size_t>(Stage)];
  }

private:
  int Rank, Size, RanksPerNode;
  CudaDevice *Device = nullptr;
  std::array<StageStats, kNumStages> Stats{};
};

/// The communicator of a one-process run.
std::unique_ptr<Communicator> makeSingleRankCommunicator();

/// Whether this runtime was built with MPI.
bool haveMpi();

/// Initializes MPI (within \p TimeoutSeconds, or the process exits naming
/// the problem) and returns the world communicator; node-local groups follow
/// \p Launch.RanksPerNode. Exchanges that do not complete within the timeout
/// abort the job naming the ranks that did not deliver. Throws Error if the
/// runtime was built without MPI.
std::unique_ptr<Communicator> makeMpiCommunicator(const LaunchInfo &Launch,
                                                  double TimeoutSeconds);

/// An NCCL communicator over \p Host's ranks, moving the rows of \p Device
/// on its stream: loads \p Library (libnccl.so.2 by default) on every rank,
/// creates the communicator from a unique id that rank 0 broadcasts over
/// \p Host, and uses \p Host (which must outlive it) for counts, gathers and
/// aborts. Exchanges that do not complete within \p TimeoutSeconds abort
/// the job. Throws Error on every rank if some rank cannot load NCCL.
std::unique_ptr<Communicator> makeNcclCommunicator(Communicator &Host,
                                                   CudaDevice &Device,
                                                   const std::string &Library,
                                                   double TimeoutSeconds);

/// The communicator the `moert_comm_*` entry points use (not owned; null:
/// none, and a model that exchanges rows aborts).
void setActiveCommunicator(Communicator *Comm);
Communicator *activeCommunicator();

namespace detail {
/// Defined beside the `moert_comm_*` entry points: calling it links them
/// into every program that sets a communicator (a static library's object
/// is linked only when something refers to it).
void commEntryPointsAnchor();
} // namespace detail

} // namespace moert

#endif // MOERT_COMM_H

//===- mpi_comm.cpp - The MPI communicator (CPU buffers) ------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
// Exchanges are paired non-blocking sends and receives, one per peer with
// rows to move, polled against a deadline: a peer that dies or never
// arrives is named, and the job aborted, instead of hanging in a collective.
//
//===----------------------------------------------------------------------===//

#include "moert/comm.h"
#include "moert/error.h"
#include "watchdog.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#ifdef MOERT_HAVE_MPI
#include <mpi.h>
#include <unistd.h>
#endif

using namespace moert;

#ifndef MOERT_HAVE_MPI

bool moert::haveMpi() { return false; }

std::unique_ptr<Communicator> moert::makeMpiCommunicator(const LaunchInfo &,
                                                         double) {
  throw Error("this moe-run was built without MPI, so it cannot run on "
              "several ranks (install libopenmpi-dev and rebuild)");
}

#else

bool moert::haveMpi() { return true; }

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kCountsTag = 17;
constexpr int kRowsTag = 18;

class MpiCommunicator : public Communicator {
public:
  MpiCommunicator(const LaunchInfo &L, double Timeout)
      : Communicator(L.Rank, L.Size, L.RanksPerNode), Timeout(Timeout) {
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int Node = rank() / ranksPerNode(), Local = rank() % ranksPerNode();
    check(MPI_Comm_split(MPI_COMM_WORLD, Node, rank(), &Intra),
          "creating the node communicators");
    check(MPI_Comm_split(MPI_COMM_WORLD, Local, rank(), &Inter),
          "creating the inter-node communicators");
  }

  ~MpiCommunicator() override {
    for (auto &KV : RowTypes)
      MPI_Type_free(&KV.second);
    MPI_Comm_free(&Intra);
    MPI_Comm_free(&Inter);
    MPI_Finalize();
  }

  void exchangeCounts(CommStage Stage, const int32_t *Send,
                      int32_t *Recv) override {
    Exchange X(*this, Stage);
    for (int P = 0; P < X.N; ++P) {
      if (P == X.Me) {
        Recv[P] = Send[P];
        continue;
      }
      X.recv(P, &Recv[P], 1, MPI_INT32_T, sizeof(int32_t), kCountsTag);
      X.send(P, &Send[P], 1, MPI_INT32_T, sizeof(int32_t), kCountsTag);
    }
    X.wait("counts");
  }

  void exchange(CommStage Stage, const void *Send, const int32_t *SendCounts,
                void *Recv, const int32_t *RecvCounts,
                size_t RowBytes) override {
    Exchange X(*this, Stage);
    MPI_Datatype Row = rowType(RowBytes);
    const auto *From = static_cast<const std::byte *>(Send);
    auto *To = static_cast<std::byte *>(Recv);
    for (int P = 0; P < X.N; ++P) {
      if (P == X.Me) {
        if (SendCounts[P] != RecvCounts[P])
          abort("all-to-all (" + std::string(stageName(Stage)) +
                "): sends itself " + std::to_string(SendCounts[P]) +
                " rows but expects " + std::to_string(RecvCounts[P]));
        if (SendCounts[P])
          std::memcpy(To, From, SendCounts[P] * RowBytes);
      } else {
        if (RecvCounts[P])
          X.recv(P, To, RecvCounts[P], Row, RowBytes, kRowsTag);
        if (SendCounts[P])
          X.send(P, From, SendCounts[P], Row, RowBytes, kRowsTag);
      }
      From += SendCounts[P] * RowBytes;
      To += RecvCounts[P] * RowBytes;
    }
    X.wait("rows");
  }

  std::vector<int64_t> gather(const std::vector<int64_t> &Local) override {
    std::vector<int64_t> All(rank() == 0 ? Local.size() * size() : 0);
    Exchange X(*this, CommStage::Flat, /*Count=*/false);
    if (rank() == 0) {
      std::copy(Local.begin(), Local.end(), All.begin());
      for (int P = 1; P < size(); ++P)
        X.recv(P, All.data() + P * Local.size(), Local.size(), MPI_INT64_T, 8,
               kCountsTag);
    } else {
      X.send(0, Local.data(), Local.size(), MPI_INT64_T, 8, kCountsTag);
    }
    X.wait("gather");
    return All;
  }

  void gatherRows(const void *Local, const std::vector<int64_t> &Rows,
                  size_t RowBytes, void *All) override {
    Exchange X(*this, CommStage::Flat, /*Count=*/false);
    if (rank() == 0) {
      auto *To = static_cast<std::byte *>(All);
      if (Rows[0])
        std::memcpy(To, Local, Rows[0] * RowBytes);
      To += Rows[0] * RowBytes;
      for (int P = 1; P < size(); ++P) {
        if (Rows[P])
          X.recv(P, To, Rows[P], rowType(RowBytes), RowBytes, kRowsTag);
        To += Rows[P] * RowBytes;
      }
    } else if (Rows[rank()]) {
      X.send(0, Local, Rows[rank()], rowType(RowBytes), RowBytes, kRowsTag);
    }
    X.wait("output gather");
  }

  void broadcast(void *Data, size_t Bytes) override {
    Exchange X(*this, CommStage::Flat, /*Count=*/false);
    if (rank() == 0) {
      for (int P = 1; P < size(); ++P)
        X.send(P, Data, static_cast<int64_t>(Bytes), MPI_BYTE, 1, kCountsTag);
    } else {
      X.recv(0, Data, static_cast<int64_t>(Bytes), MPI_BYTE, 1, kCountsTag);
    }
    X.wait("broadcast");
  }

  const char *name() const override { return "MPI"; }

  [[noreturn]] void abort(const std::string &Message) override {
    std::fprintf(stderr, "moe-run: error: rank %d: %s\n", rank(),
                 Message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    _exit(1);
  }

private:
  /// The requests of one exchange, waited for together.
  struct Exchange {
    Exchange(MpiCommunicator &C, CommStage Stage, bool Count = true)
        : C(C), Stage(Stage), Count(Count), Comm(C.commOf(Stage)),
          Start(Clock::now()) {
      MPI_Comm_size(Comm, &N);
      MPI_Comm_rank(Comm, &Me);
      if (Count)
        ++C.statsOf(Stage).Calls;
    }

    void recv(int Peer, void *Buf, int64_t N, MPI_Datatype T, size_t Bytes,
              int Tag) {
      Requests.emplace_back();
      C.check(MPI_Irecv(Buf, static_cast<int>(N), T, Peer, Tag, Comm,
                        &Requests.back()),
              "posting a receive");
      Peers.push_back({Peer, true});
      if (Count) {
        ++C.statsOf(Stage).MessagesReceived;
        C.statsOf(Stage).BytesReceived += N * Bytes;
      }
    }
    void send(int Peer, const void *Buf, int64_t N, MPI_Datatype T,
              size_t Bytes, int Tag) {
      Requests.emplace_back();
      C.check(MPI_Isend(Buf, static_cast<int>(N), T, Peer, Tag, Comm,
                        &Requests.back()),
              "posting a send");
      Peers.push_back({Peer, false});
      if (Count) {
        ++C.statsOf(Stage).MessagesSent;
        C.statsOf(Stage).BytesSent += N * Bytes;
      }
    }

    /// Polls until every request completes or the deadline passes.
    void wait(const char *What) {
      auto Deadline = Start + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(C.Timeout));
      int Pending = static_cast<int>(Requests.size());
      std::vector<int> Done(Requests.size());
      auto Pause = std::chrono::microseconds(1);
      while (Pending > 0) {
        int Completed = 0;
        C.check(MPI_Testsome(static_cast<int>(Requests.size()),
                             Requests.data(), &Completed, Done.data(),
                             MPI_STATUSES_IGNORE),
                "waiting for an exchange");
        if (Completed == MPI_UNDEFINED)
          break;
        Pending -= Completed;
        if (Pending == 0)
          break;
        if (Clock::now() > Deadline)
          timeout(What);
        // Back off so oversubscribed ranks leave the cores to their peers.
        if (Completed == 0) {
          std::this_thread::sleep_for(Pause);
          Pause = std::min(Pause * 2, std::chrono::microseconds(1000));
        } else {
          Pause = std::chrono::microseconds(1);
        }
      }
      if (Count)
        C.statsOf(Stage).Nanoseconds +=
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() -
                                                                 Start)
                .count();
    }

    [[noreturn]] void timeout(const char *What) {
      std::string From, To;
      for (size_t I = 0; I < Requests.size(); ++I) {
        if (Requests[I] == MPI_REQUEST_NULL)
          continue;
        std::string &List = Peers[I].second ? From : To;
        List += (List.empty() ? "" : ", ") +
                std::to_string(C.worldRankOf(Stage, Peers[I].first));
      }
      std::string Msg = std::string(stageName(Stage)) + " exchange (" + What +
                        ") timed out after " + formatSeconds(C.Timeout);
      if (!From.empty())
        Msg += ": nothing arrived from rank(s) " + From;
      if (!To.empty())
        Msg += std::string(From.empty() ? ": " : "; ") +
               "rank(s) " + To + " did not take what this rank sent";
      C.abort(Msg + " (a peer died or stopped; see --comm-timeout)");
    }

    MpiCommunicator &C;
    CommStage Stage;
    bool Count;
    MPI_Comm Comm;
    Clock::time_point Start;
    int N = 0, Me = 0;
    std::vector<MPI_Request> Requests;
    std::vector<std::pair<int, bool>> Peers; // (peer, is a receive)
  };

public:
  static std::string formatSeconds(double S) {
    char Buf[32];
    std::snprintf(Buf, sizeof(Buf), "%g s", S);
    return Buf;
  }

private:
  MPI_Comm commOf(CommStage Stage) const {
    switch (Stage) {
    case CommStage::IntraNode:
      return Intra;
    case CommStage::InterNode:
      return Inter;
    case CommStage::Flat:
      break;
    }
    return MPI_COMM_WORLD;
  }

  MPI_Datatype rowType(size_t RowBytes) {
    auto It = RowTypes.find(RowBytes);
    if (It != RowTypes.end())
      return It->second;
    MPI_Datatype T;
    check(MPI_Type_contiguous(static_cast<int>(RowBytes), MPI_BYTE, &T),
          "creating a row type");
    check(MPI_Type_commit(&T), "creating a row type");
    RowTypes.emplace(RowBytes, T);
    return T;
  }

  void check(int Code, const char *What) {
    if (Code == MPI_SUCCESS)
      return;
    char Text[MPI_MAX_ERROR_STRING];
    int Len = 0;
    MPI_Error_string(Code, Text, &Len);
    abort(std::string("MPI failed ") + What + ": " + std::string(Text, Len));
  }

  double Timeout;
  MPI_Comm Intra = MPI_COMM_NULL, Inter = MPI_COMM_NULL;
  std::map<size_t, MPI_Datatype> RowTypes;
};

} // namespace

std::unique_ptr<Communicator> moert::makeMpiCommunicator(const LaunchInfo &L,
                                                         double Timeout) {
  {
    Watchdog Guard(Timeout, "rank " + std::to_string(L.Rank) +
                                ": MPI start-up did not complete within " +
                                MpiCommunicator::formatSeconds(Timeout) +
                                " (a peer never started?)");
    MPI_Init(nullptr, nullptr);
  }
  int Rank = 0, Size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &Rank);
  MPI_Comm_size(MPI_COMM_WORLD, &Size);
  LaunchInfo Actual = L;
  Actual.Rank = Rank;
  Actual.Size = Size;
  if (Actual.RanksPerNode < 1 || Size % Actual.RanksPerNode != 0)
    Actual.RanksPerNode = Size;
  return std::make_unique<MpiCommunicator>(Actual, Timeout);
}

#endif // MOERT_HAVE_MPI

/*===- fake_nccl.c - A stand-in for libnccl.so.2 in tests -----------------===*
 *
 * Part of moec, the Mixture-of-Experts compiler.
 *
 *===----------------------------------------------------------------------===*
 *
 * The NCCL entry points the runtime resolves, defined against nccl.h's own
 * declarations (so a wrong signature does not compile). It carries the
 * bytes of each grouped ncclSend/ncclRecv with MPI over MPI_COMM_WORLD:
 * under the stand-in CUDA driver, "device" memory is host memory, so a
 * CPU-only machine runs the runtime's NCCL communicator with real processes.
 * Every rank of the communicator must be the MPI rank of the same number
 * (as under mpirun). FAKE_NCCL_TRACE=1 prints one line per call on stderr
 * ("fake-nccl: rank 0: ncclSend 256 bytes to 1").
 *
 *===----------------------------------------------------------------------===*/

#include <mpi.h>
#include <nccl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* Its own tag: the runtime's MPI communicator uses the same MPI_COMM_WORLD. */
enum { kTag = 4242, kMaxOps = 4096 };

struct ncclComm {
  int Rank, Size;
};

struct Op {
  int IsSend, Peer;
  void *Buf;
  size_t Bytes;
};

static struct Op Ops[kMaxOps];
static int NumOps, GroupDepth;

static int worldRank(void) {
  int R = -1, Init = 0;
  MPI_Initialized(&Init);
  if (Init)
    MPI_Comm_rank(MPI_COMM_WORLD, &R);
  return R;
}

static void trace(const char *Fmt, ...) {
  const char *T = getenv("FAKE_NCCL_TRACE");
  if (!T || strcmp(T, "1") != 0)
    return;
  va_list Args;
  va_start(Args, Fmt);
  fprintf(stderr, "fake-nccl: rank %d: ", worldRank());
  vfprintf(stderr, Fmt, Args);
  fputc('\n', stderr);
  va_end(Args);
}

EXPORT ncclResult_t ncclGetVersion(int *Version) {
  *Version = NCCL_VERSION_CODE;
  return ncclSuccess;
}

EXPORT const char *ncclGetErrorString(ncclResult_t Result) {
  switch (Result) {
  case ncclSuccess:
    return "no error";
  case ncclInvalidArgument:
    return "invalid argument (fake NCCL)";
  case ncclInvalidUsage:
    return "invalid usage (fake NCCL)";
  case ncclSystemError:
    return "system error (fake NCCL: MPI failed)";
  default:
    return "unknown result (fake NCCL)";
  }
}

EXPORT ncclResult_t ncclGetUniqueId(ncclUniqueId *Id) {
  memset(Id, 0, sizeof(*Id));
  snprintf(Id->internal, sizeof(Id->internal), "fake-nccl-%d", (int)getpid());
  trace("ncclGetUniqueId");
  return ncclSuccess;
}

EXPORT ncclResult_t ncclCommInitRank(ncclComm_t *Comm, int NRanks,
                                     ncclUniqueId Id, int Rank) {
  int Init = 0, Size = 0;
  MPI_Initialized(&Init);
  if (!Init || strncmp(Id.internal, "fake-nccl-", 10) != 0)
    return ncclInvalidUsage;
  MPI_Comm_size(MPI_COMM_WORLD, &Size);
  if (NRanks != Size || Rank != worldRank())
    return ncclInvalidArgument;
  *Comm = malloc(sizeof(struct ncclComm));
  (*Comm)->Rank = Rank;
  (*Comm)->Size = NRanks;
  trace("ncclCommInitRank %d of %d (id %s)", Rank, NRanks, Id.internal);
  return ncclSuccess;
}

EXPORT ncclResult_t ncclCommDestroy(ncclComm_t Comm) {
  trace("ncclCommDestroy");
  free(Comm);
  return ncclSuccess;
}

EXPORT ncclResult_t ncclCommAbort(ncclComm_t Comm) {
  trace("ncclCommAbort");
  free(Comm);
  return ncclSuccess;
}

EXPORT ncclResult_t ncclCommGetAsyncError(ncclComm_t Comm,
                                          ncclResult_t *AsyncError) {
  (void)Comm;
  *AsyncError = ncclSuccess;
  return ncclSuccess;
}

/* Moves the queued sends and receives: all posted, then all awaited. */
static ncclResult_t flush(void) {
  MPI_Request Requests[kMaxOps];
  for (int I = 0; I < NumOps; ++I) {
    struct Op *O = &Ops[I];
    int Rc = O->IsSend ? MPI_Isend(O->Buf, (int)O->Bytes, MPI_BYTE, O->Peer,
                                   kTag, MPI_COMM_WORLD, &Requests[I])
                       : MPI_Irecv(O->Buf, (int)O->Bytes, MPI_BYTE, O->Peer,
                                   kTag, MPI_COMM_WORLD, &Requests[I]);
    if (Rc != MPI_SUCCESS)
      return ncclSystemError;
  }
  int Rc = MPI_Waitall(NumOps, Requests, MPI_STATUSES_IGNORE);
  NumOps = 0;
  return Rc == MPI_SUCCESS ? ncclSuccess : ncclSystemError;
}

static ncclResult_t enqueue(int IsSend, void *Buf, size_t Count,
                            ncclDataType_t Type, int Peer, ncclComm_t Comm) {
  if (Type != ncclUint8 && Type != ncclInt8)
    return ncclInvalidArgument; /* The runtime moves bytes. */
  if (!Comm || Peer < 0 || Peer >= Comm->Size || NumOps == kMaxOps)
    return ncclInvalidArgument;
  trace("%s %zu bytes %s %d", IsSend ? "ncclSend" : "ncclRecv", Count,
        IsSend ? "to" : "from", Peer);
  Ops[NumOps++] = (struct Op){IsSend, Peer, Buf, Count};
  return GroupDepth ? ncclSuccess : flush();
}

EXPORT ncclResult_t ncclSend(const void *Buf, size_t Count, ncclDataType_t Type,
                             int Peer, ncclComm_t Comm, cudaStream_t Stream) {
  (void)Stream;
  /* MPI_Isend takes a const buffer; the queue holds both directions. */
  return enqueue(1, (void *)(uintptr_t)Buf, Count, Type, Peer, Comm);
}

EXPORT ncclResult_t ncclRecv(void *Buf, size_t Count, ncclDataType_t Type,
                             int Peer, ncclComm_t Comm, cudaStream_t Stream) {
  (void)Stream;
  return enqueue(0, Buf, Count, Type, Peer, Comm);
}

EXPORT ncclResult_t ncclGroupStart(void) {
  ++GroupDepth;
  return ncclSuccess;
}

EXPORT ncclResult_t ncclGroupEnd(void) {
  if (GroupDepth == 0)
    return ncclInvalidUsage;
  if (--GroupDepth)
    return ncclSuccess;
  trace("ncclGroupEnd (%d operations)", NumOps);
  return flush();
}

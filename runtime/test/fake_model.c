/*===- fake_model.c - A hand-written model implementing the ABI -----------===*\
|*                                                                            *|
|* Part of moec, the Mixture-of-Experts compiler.                             *|
|*                                                                            *|
|*===----------------------------------------------------------------------===*|
|*                                                                            *|
|* Stands in for a moe-compile artifact so the runtime and moe-run are tested *|
|* without the compiler. Arguments (docs/abi.md order):                       *|
|*   x [-1,4] f32 input, w.{e} [2,4] f32 weight, b [4] f32 weight,            *|
|*   y [-1,4] f32 output, expert_counts [2] i32, expert_kept [2] i32 stats.   *|
|* y = x * (w0 + w1) + b. Token t goes to expert t % 2; each expert keeps at  *|
|* most 2 tokens, so T = 5 gives counts {3, 2}, kept {2, 2}, 1 dropped.       *|
|* If a descriptor is not the contiguous row-major one the runtime promises,  *|
|* y is filled with NaN so tests notice. Each forward also takes a 2 MiB      *|
|* scratch buffer through moert_workspace_hooks, as compiled models do.       *|
|*                                                                            *|
|* Variants, selected with -D: FAKE_ABI_VERSION=N, FAKE_NO_FORWARD,           *|
|* FAKE_NO_STATS, FAKE_BAD_METADATA.                                          *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define EXPORT __attribute__((visibility("default")))
#define MOERT_XSTR(X) #X
#define MOERT_STR(X) MOERT_XSTR(X)

#ifndef FAKE_ABI_VERSION
#define FAKE_ABI_VERSION 3 /* moert::abi::kVersion */
#endif

typedef struct {
  void *Allocated;
  void *Aligned;
  int64_t Offset;
  int64_t Sizes[2];
  int64_t Strides[2];
} Desc2;

typedef struct {
  void *Allocated;
  void *Aligned;
  int64_t Offset;
  int64_t Sizes[1];
  int64_t Strides[1];
} Desc1;

/* moert::abi::WorkspaceHooks, set by the runtime at load. */
typedef struct {
  void *Context;
  void *(*Allocate)(void *Context, uint64_t Bytes);
  void (*Release)(void *Context, void *P);
} WorkspaceHooks;
EXPORT WorkspaceHooks moert_workspace_hooks;
#define FAKE_SCRATCH_BYTES (UINT64_C(2) << 20)

EXPORT uint32_t moert_abi_version(void) { return FAKE_ABI_VERSION; }

EXPORT const char *moert_metadata_json(void) {
#ifdef FAKE_BAD_METADATA
  return "{\"abi_version\": 1, \"args\": [";
#else
  return "{\"abi_version\": " MOERT_STR(
      FAKE_ABI_VERSION) ","
                        " \"function\": \"forward\", \"args\": ["
                        "{\"role\": \"input\", \"name\": \"x\", \"dtype\": "
                        "\"f32\","
                        " \"shape\": [-1, 4]},"
                        "{\"role\": \"weight\", \"name\": \"w.{e}\", "
                        "\"dtype\": \"f32\","
                        " \"shape\": [2, 4]},"
                        "{\"role\": \"weight\", \"name\": \"b\", \"dtype\": "
                        "\"f32\","
                        " \"shape\": [4]},"
                        "{\"role\": \"output\", \"name\": \"y\", \"dtype\": "
                        "\"f32\","
                        " \"shape\": [-1, 4], \"future_key\": true}"
#ifndef FAKE_NO_STATS
                        ",{\"role\": \"stat\", \"name\": \"expert_counts\", "
                        "\"dtype\": \"i32\","
                        " \"shape\": [2]},"
                        "{\"role\": \"stat\", \"name\": \"expert_kept\", "
                        "\"dtype\": \"i32\","
                        " \"shape\": [2]}"
#endif
                        "], \"moe\": {\"num_experts\": 2, \"top_k\": 1}, "
                        "\"extra\": 0}";
#endif
}

#ifndef FAKE_NO_FORWARD
static int rowMajor2(const Desc2 *D, int64_t Rows, int64_t Cols) {
  return D->Allocated == D->Aligned && D->Offset == 0 && D->Sizes[0] == Rows &&
         D->Sizes[1] == Cols && D->Strides[0] == Cols && D->Strides[1] == 1;
}

static int rowMajor1(const Desc1 *D, int64_t N) {
  return D->Allocated == D->Aligned && D->Offset == 0 && D->Sizes[0] == N &&
         D->Strides[0] == 1;
}

EXPORT void moert_forward(void **Args) {
  const Desc2 *X = (const Desc2 *)Args[0];
  const Desc2 *W = (const Desc2 *)Args[1];
  const Desc1 *B = (const Desc1 *)Args[2];
  const Desc2 *Y = (const Desc2 *)Args[3];
  int64_t T = X->Sizes[0];
  const float *Xp = (const float *)X->Aligned;
  const float *Wp = (const float *)W->Aligned;
  const float *Bp = (const float *)B->Aligned;
  float *Yp = (float *)Y->Aligned;
  int Ok = rowMajor2(X, T, 4) && rowMajor2(W, 2, 4) && rowMajor1(B, 4) &&
           rowMajor2(Y, T, 4);
#ifndef FAKE_NO_STATS
  const Desc1 *Counts = (const Desc1 *)Args[4];
  const Desc1 *Kept = (const Desc1 *)Args[5];
  Ok = Ok && rowMajor1(Counts, 2) && rowMajor1(Kept, 2);
  int32_t *Cp = (int32_t *)Counts->Aligned;
  int32_t *Kp = (int32_t *)Kept->Aligned;
  /* Accumulate: the runtime must zero stats before every call. */
  for (int64_t I = 0; I < T; ++I) {
    int E = (int)(I % 2);
    if (Cp[E]++ < 2)
      ++Kp[E];
  }
#endif
  const WorkspaceHooks *H = &moert_workspace_hooks;
  float *Scratch = H->Allocate ? H->Allocate(H->Context, FAKE_SCRATCH_BYTES)
                               : malloc(FAKE_SCRATCH_BYTES);
  Ok = Ok && Scratch;
  for (int64_t I = 0; I < T; ++I)
    for (int J = 0; J < 4; ++J)
      Yp[I * 4 + J] = Ok ? Xp[I * 4 + J] * (Wp[J] + Wp[4 + J]) + Bp[J] : NAN;
  if (H->Allocate)
    H->Release(H->Context, Scratch);
  else
    free(Scratch);
}
#endif

/*===- c_api.h - The runtime's C interface --------------------*- C -*-===*\
|*                                                                          *|
|* Part of moec, the Mixture-of-Experts compiler.                           *|
|*                                                                          *|
\*===----------------------------------------------------------------------===*/
/*
 * What the Python package (moec.runtime, through ctypes) and other languages
 * call: load a compiled model with its weights once, then run it on
 * caller-owned buffers, host memory or (a CUDA model) memory of its GPU,
 * without files. libmoert.so exports these functions beside the mgpu* and
 * moert_comm_* functions compiled models call, so it must be loaded with
 * RTLD_GLOBAL before a model. Every call reports failure through its return
 * value and moert_last_error(); none throws or exits.
 */

#ifndef MOERT_C_API_H
#define MOERT_C_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A loaded model with its weights bound (in GPU memory for a CUDA model). */
typedef struct moert_session moert_session;

/* The message of this thread's last failed call; "" after none. */
const char *moert_last_error(void);

/* Loads the model at model_path and its weights from the safetensors file
 * weights_path (NULL for a model without weights) on device_ordinal (-1:
 * the CPU; a CPU model needs -1, a CUDA model a GPU). A CUDA model's
 * workspace and host-staging buffers are sized for max_tokens tokens (> 0);
 * a CPU model ignores it. Only single-rank models load here. NULL on
 * failure. */
moert_session *moert_session_open(const char *model_path,
                                  const char *weights_path,
                                  int device_ordinal, int64_t max_tokens);

/* Frees the session and its device memory; NULL is allowed. */
void moert_session_close(moert_session *session);

/* The model's metadata JSON (docs/abi.md), valid until the session closes. */
const char *moert_session_metadata_json(const moert_session *session);

/* Bytes of the device workspace (0 on the CPU). */
uint64_t moert_session_workspace_bytes(const moert_session *session);

/* One caller-owned, contiguous, row-major argument buffer. */
typedef struct moert_buffer {
  const char *name;     /* The metadata's argument name. */
  void *data;           /* Host pointer, or device pointer of the GPU. */
  const char *dtype;    /* "f32", "f16", "bf16", "i32" or "i64". */
  int32_t rank;         /* Number of entries of shape. */
  const int64_t *shape;
  int32_t on_host;      /* 1: host memory; 0: memory of the session's GPU. */
} moert_buffer;

/* Runs the model once on count buffers: every input and every output, each
 * once. A CUDA model copies host buffers through its own device buffers
 * and returns when host outputs hold the result; device buffers are used in
 * place, ordered after the work already queued on stream (a CUstream of the
 * primary context; NULL: the legacy default stream), and work queued there
 * afterwards sees the outputs. Returns 0, or -1 (moert_last_error()). */
int moert_session_run(moert_session *session, const moert_buffer *buffers,
                      size_t count, void *stream);

/* Copies stat `name` of the last run (its metadata shape with the run's T)
 * into the host buffer dst of exactly its size in bytes. Returns 0 or -1. */
int moert_session_read_stat(moert_session *session, const char *name,
                            void *dst, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* MOERT_C_API_H */

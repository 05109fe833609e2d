//===- weights.h - Binding checkpoint tensors to weight args ----*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// The rules that turn safetensors entries into a model's weight arguments:
/// lookup by name, `{e}` stacking of per-expert tensors, exact shape checks
/// and widening dtype conversion to the argument's dtype.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_WEIGHTS_H
#define MOERT_WEIGHTS_H

#include "moert/metadata.h"
#include "moert/safetensors.h"
#include "moert/tensor.h"

namespace moert {

/// Loads the weight argument \p Arg from \p File. A name containing `{e}` is
/// stacked from `{e}` = 0 .. shape[0]-1, each of shape shape[1:]; any other
/// name is read whole. Throws Error naming the file and the tensor if one is
/// missing, has the wrong shape, or has a dtype that does not widen to the
/// argument's. A weight sharded over W ranks (ExpertShards = W) holds
/// experts [Rank·n, (Rank+1)·n) of the checkpoint's W·n: only those are
/// read. A weight with Panels > 0 comes back packed, [E, N / P, K, P].
Tensor loadWeight(const SafetensorsFile &File, const ArgInfo &Arg,
                  int64_t Rank = 0);

/// loadWeight's [E, N, K] tensor before any packing in panels.
Tensor loadWeightAsStored(const SafetensorsFile &File, const ArgInfo &Arg,
                          int64_t Rank = 0);

} // namespace moert

#endif // MOERT_WEIGHTS_H

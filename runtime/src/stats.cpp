//===- stats.cpp - Expert-load statistics reports -------------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/stats.h"
#include "moert/error.h"

#include <algorithm>

using namespace moert;

std::optional<int64_t> ExpertStats::dropped() const {
  if (!Kept)
    return std::nullopt;
  int64_t D = 0;
  for (size_t I = 0; I < Counts.size(); ++I)
    D += Counts[I] - (*Kept)[I];
  return D;
}

std::vector<int64_t> moert::integerValues(const Tensor &T,
                                          const std::string &What) {
  std::vector<int64_t> V;
  int64_t N = T.numElements();
  if (T.dtype() == DType::I32)
    V.assign(T.dataAs<int32_t>(), T.dataAs<int32_t>() + N);
  else if (T.dtype() == DType::I64)
    V.assign(T.dataAs<int64_t>(), T.dataAs<int64_t>() + N);
  else
    throw Error("stat '" + What + "' has dtype " + dtypeName(T.dtype()) +
                ", expected i32 or i64");
  return V;
}

ExpertStats moert::makeExpertStats(const Tensor &Counts, const Tensor *Kept) {
  ExpertStats S;
  if (Counts.rank() != 1)
    throw Error(std::string("stat '") + kExpertCountsStat +
                "' is not a vector");
  S.Counts = integerValues(Counts, kExpertCountsStat);
  if (Kept) {
    S.Kept = integerValues(*Kept, kExpertKeptStat);
    if (S.Kept->size() != S.Counts.size())
      throw Error(std::string("stats '") + kExpertCountsStat + "' and '" +
                  kExpertKeptStat + "' have different lengths");
  }
  return S;
}

std::string moert::formatExpertStats(const ExpertStats &Stats,
                                     unsigned BarWidth) {
  int64_t Max = 0, Total = 0;
  for (int64_t C : Stats.Counts) {
    Max = std::max(Max, C);
    Total += C;
  }
  std::string Out =
      "tokens per expert (" + std::to_string(Total) + " assignments):\n";
  size_t IdWidth = std::to_string(Stats.Counts.size()).size();
  for (size_t E = 0; E < Stats.Counts.size(); ++E) {
    int64_t C = Stats.Counts[E];
    // Round to nearest, but never hide a non-zero count behind an empty bar.
    // Counts come from the model, so stay sane even for negative ones.
    size_t Len = 0;
    if (C > 0 && Max > 0)
      Len = std::clamp<size_t>(
          static_cast<size_t>(static_cast<double>(C) * BarWidth / Max + 0.5), 1,
          BarWidth);
    std::string Id = std::to_string(E);
    Out += "  expert " + std::string(IdWidth - Id.size(), ' ') + Id + " |" +
           std::string(Len, '#') + std::string(BarWidth - Len, ' ') + " " +
           std::to_string(C) + "\n";
  }
  if (auto D = Stats.dropped())
    Out += "dropped assignments: " + std::to_string(*D) + "\n";
  else
    Out += std::string("dropped assignments: unknown (model has no '") +
           kExpertKeptStat + "' stat)\n";
  return Out;
}

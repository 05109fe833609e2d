//===- weights.cpp - Binding checkpoint tensors to weight args ------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/weights.h"
#include "moert/error.h"

using namespace moert;

/// \p Pattern with every `{e}` replaced by \p Expert.
static std::string expertName(const std::string &Pattern, int64_t Expert) {
  std::string Out;
  std::string E = std::to_string(Expert);
  for (size_t I = 0; I < Pattern.size();) {
    if (Pattern.compare(I, 3, "{e}") == 0) {
      Out += E;
      I += 3;
    } else {
      Out += Pattern[I++];
    }
  }
  return Out;
}

/// Finds \p Name in \p File and checks its shape against \p Shape.
static const SafetensorsEntry &findChecked(const SafetensorsFile &File,
                                           const std::string &Name,
                                           const std::vector<int64_t> &Shape,
                                           const ArgInfo &Arg) {
  const SafetensorsEntry *E = File.find(Name);
  std::string For =
      Arg.isStacked() ? " (expert slice of '" + Arg.Name + "')" : "";
  if (!E)
    throw Error(File.name() + ": missing weight '" + Name + "'" + For);
  if (E->Shape != Shape)
    throw Error(File.name() + ": weight '" + Name + "'" + For + " has shape " +
                formatShape(E->Shape) + ", expected " + formatShape(Shape));
  return *E;
}

Tensor moert::loadWeight(const SafetensorsFile &File, const ArgInfo &Arg) {
  Tensor T(Arg.Type, Arg.Shape);
  if (!Arg.isStacked()) {
    File.readInto(findChecked(File, Arg.Name, Arg.Shape, Arg), Arg.Type,
                  T.data());
    return T;
  }
  std::vector<int64_t> Slice(Arg.Shape.begin() + 1, Arg.Shape.end());
  size_t SliceBytes = checkedByteSize(Slice, Arg.Type, Arg.Name);
  auto *Dst = static_cast<std::byte *>(T.data());
  for (int64_t E = 0; E < Arg.Shape[0]; ++E)
    File.readInto(findChecked(File, expertName(Arg.Name, E), Slice, Arg),
                  Arg.Type, Dst + E * SliceBytes);
  return T;
}

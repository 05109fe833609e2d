//===- weights.cpp - Binding checkpoint tensors to weight args ------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/weights.h"
#include "moert/error.h"

#include <algorithm>
#include <cstring>

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

/// The on-disk shape of \p Src for an argument of shape \p Arg: axis 1
/// multiplied by the number of parts, then the last two axes swapped.
static std::vector<int64_t> diskShape(const WeightSource &Src,
                                      std::vector<int64_t> Shape) {
  if (Src.Parts > 1)
    Shape[1] *= Src.Parts;
  if (Src.Transpose)
    std::swap(Shape[Shape.size() - 1], Shape[Shape.size() - 2]);
  return Shape;
}

/// " (expert slice of 'w.{e}')" or "" for messages.
static std::string sliceNote(const WeightSource &Src) {
  return Src.isPerExpert() ? " (expert slice of '" + Src.Name + "')" : "";
}

/// Finds \p Name in \p File and checks its shape against \p Shape.
static const SafetensorsEntry &findChecked(const SafetensorsFile &File,
                                           const std::string &Name,
                                           const std::vector<int64_t> &Shape,
                                           const WeightSource &Src) {
  const SafetensorsEntry *E = File.find(Name);
  if (!E)
    throw Error(File.name() + ": missing weight '" + Name + "'" +
                sliceNote(Src));
  if (E->Shape != Shape)
    throw Error(File.name() + ": weight '" + Name + "'" + sliceNote(Src) +
                " has shape " + formatShape(E->Shape) + ", expected " +
                formatShape(Shape));
  return *E;
}

/// The experts one rank loads: [First, First + Shape[0]) of Total.
struct ExpertBlock {
  int64_t First = 0;
  int64_t Total = 0;
};

/// Reads \p Src in its on-disk shape \p Shape (dim 0: the block's experts),
/// converted to \p Type.
static Tensor readSource(const SafetensorsFile &File, const WeightSource &Src,
                         DType Type, const std::vector<int64_t> &Shape,
                         const ExpertBlock &Block) {
  Tensor T(Type, Shape);
  if (!Src.isPerExpert() && Shape.empty()) {
    File.readInto(findChecked(File, Src.Name, Shape, Src), Type, T.data());
    return T;
  }
  if (!Src.isPerExpert()) {
    std::vector<int64_t> Whole = Shape;
    Whole[0] = Block.Total;
    File.readRowsInto(findChecked(File, Src.Name, Whole, Src), Type, T.data(),
                      Block.First, Shape[0]);
    return T;
  }
  std::vector<int64_t> Slice(Shape.begin() + 1, Shape.end());
  size_t SliceBytes = checkedByteSize(Slice, Type, Src.Name);
  auto *Dst = static_cast<std::byte *>(T.data());
  for (int64_t E = 0; E < Shape[0]; ++E)
    File.readInto(
        findChecked(File, expertName(Src.Name, Block.First + E), Slice, Src),
        Type, Dst + E * SliceBytes);
  return T;
}

/// Copies the argument out of \p Disk (shape diskShape(Src, Arg.Shape)):
/// arg[e, i, ..., j, k] = disk[e, row(i), ..., k, j] (transposed) or
/// disk[e, row(i), ..., j, k], with row(i) = i·parts + part (interleaved)
/// or part·n + i (blocks).
static void extract(const Tensor &Disk, const WeightSource &Src, Tensor &Out) {
  const std::vector<int64_t> &Shape = Out.shape();
  const std::vector<int64_t> &DShape = Disk.shape();
  size_t Rank = Shape.size(); // >= 2: the metadata parser checks it.
  size_t Elem = dtypeSize(Out.dtype());
  std::vector<int64_t> DStride(Rank, 1);
  for (size_t I = Rank - 1; I-- > 0;)
    DStride[I] = DStride[I + 1] * DShape[I + 1];
  // The disk stride of each argument axis (the transpose swaps the last two).
  std::vector<int64_t> Stride = DStride;
  if (Src.Transpose)
    std::swap(Stride[Rank - 1], Stride[Rank - 2]);
  int64_t RowStep = Src.Interleave ? Src.Parts : 1;
  int64_t RowBase = Src.Interleave ? Src.Part : Src.Part * Shape[1];
  // The on-disk index along argument axis A of argument index I.
  auto Mapped = [&](size_t A, int64_t I) {
    return A == 1 ? RowBase + I * RowStep : I;
  };
  auto *Dst = static_cast<std::byte *>(Out.data());
  const auto *From = static_cast<const std::byte *>(Disk.data());
  size_t Last = Rank - 1;
  std::vector<int64_t> Index(Last, 0);
  int64_t Outer = Out.numElements() / std::max<int64_t>(Shape[Last], 1);
  for (int64_t O = 0; O < Outer; ++O) {
    int64_t Base = 0;
    for (size_t A = 0; A < Last; ++A)
      Base += Mapped(A, Index[A]) * Stride[A];
    for (int64_t K = 0; K < Shape[Last]; ++K) {
      std::memcpy(Dst, From + (Base + Mapped(Last, K) * Stride[Last]) * Elem,
                  Elem);
      Dst += Elem;
    }
    for (size_t A = Last; A-- > 0;) {
      if (++Index[A] < Shape[A])
        break;
      Index[A] = 0;
    }
  }
}

/// Whether \p Src's tensor (the block's first expert's for a `{e}` name) is
/// in \p File.
static bool present(const SafetensorsFile &File, const WeightSource &Src,
                    const ExpertBlock &Block) {
  return File.find(Src.isPerExpert() ? expertName(Src.Name, Block.First)
                                     : Src.Name);
}

/// \p W [E, N, K] laid out in panels of \p P columns, [E, N / P, K, P]:
/// out[e, n / P, k, n % P] = w[e, n, k] (the model's abi::kPanelsKey form).
template <typename Word>
static void packPanels(const Word *W, Word *Out, int64_t E, int64_t N,
                       int64_t K, int64_t P) {
  for (int64_t Ex = 0; Ex < E; ++Ex)
    for (int64_t Row = 0; Row < N; ++Row) {
      const Word *From = W + (Ex * N + Row) * K;
      Word *To = Out + (Ex * N + (Row / P) * P) * K + Row % P;
      for (int64_t Kx = 0; Kx < K; ++Kx)
        To[Kx * P] = From[Kx];
    }
}

static Tensor packedInPanels(const Tensor &W, int64_t P) {
  const std::vector<int64_t> &S = W.shape(); // [E, N, K], N % P == 0.
  Tensor Out(W.dtype(), {S[0], S[1] / P, S[2], P});
  switch (dtypeSize(W.dtype())) {
  case 2:
    packPanels(static_cast<const uint16_t *>(W.data()),
               static_cast<uint16_t *>(Out.data()), S[0], S[1], S[2], P);
    break;
  case 4:
    packPanels(static_cast<const uint32_t *>(W.data()),
               static_cast<uint32_t *>(Out.data()), S[0], S[1], S[2], P);
    break;
  default:
    packPanels(static_cast<const uint64_t *>(W.data()),
               static_cast<uint64_t *>(Out.data()), S[0], S[1], S[2], P);
    break;
  }
  return Out;
}

Tensor moert::loadWeight(const SafetensorsFile &File, const ArgInfo &Arg,
                         int64_t Rank) {
  Tensor W = loadWeightAsStored(File, Arg, Rank);
  if (Arg.Panels > 0)
    return packedInPanels(W, Arg.Panels);
  return W;
}

Tensor moert::loadWeightAsStored(const SafetensorsFile &File,
                                 const ArgInfo &Arg, int64_t Rank) {
  ExpertBlock Block;
  if (!Arg.Shape.empty()) {
    Block.First = Arg.ExpertShards > 1 ? Rank * Arg.Shape[0] : 0;
    Block.Total = Arg.Shape[0] * Arg.ExpertShards;
  }
  std::vector<WeightSource> Sources = Arg.Sources;
  if (Sources.empty())
    Sources.push_back(WeightSource{Arg.Name});
  const WeightSource *Chosen = nullptr;
  for (const WeightSource &Src : Sources)
    if (present(File, Src, Block)) {
      Chosen = &Src;
      break;
    }
  if (!Chosen) {
    // GPT-OSS releases store experts as MXFP4 `<name>_blocks`/`_scales`.
    for (const WeightSource &Src : Sources)
      if (!Src.isPerExpert() && File.find(Src.Name + "_blocks"))
        throw Error(File.name() + ": weight '" + Arg.Name +
                    "': the file has '" + Src.Name +
                    "_blocks' (an MXFP4-quantized checkpoint), which moec "
                    "does not load; dequantize it to bf16 or f32 first");
    if (Sources.size() == 1) // Reports the exact tensor that is missing.
      return readSource(File, Sources[0], Arg.Type, Arg.Shape, Block);
    std::string Names;
    for (const WeightSource &Src : Sources)
      Names += (Names.empty() ? "'" : ", '") + Src.Name + "'";
    throw Error(File.name() + ": missing weight '" + Arg.Name + "': none of " +
                Names + " is in the file");
  }
  if (Chosen->isPlain())
    return readSource(File, *Chosen, Arg.Type, Arg.Shape, Block);
  // Allocating the argument first bounds its dimensions, so the on-disk
  // shape (axis 1 times at most 2^20 parts) cannot overflow.
  Tensor Out(Arg.Type, Arg.Shape);
  Tensor Disk =
      readSource(File, *Chosen, Arg.Type, diskShape(*Chosen, Arg.Shape),
                 Block);
  extract(Disk, *Chosen, Out);
  return Out;
}

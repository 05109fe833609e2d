//===- npy.cpp - NumPy .npy files -----------------------------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// The .npy header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// so it is read with a tiny parser for exactly that literal subset (strings,
// True/False, tuples of integers); it is not JSON.
//
//===----------------------------------------------------------------------===//

#include "moert/npy.h"
#include "file_util.h"
#include "moert/error.h"

#include <cstring>
#include <limits>
#include <optional>

using namespace moert;

static const char kMagic[] = "\x93NUMPY";
static constexpr size_t kMagicLen = 6;

namespace {

/// The fields of a .npy header dict.
struct NpyHeader {
  std::optional<std::string> Descr;
  std::optional<bool> FortranOrder;
  std::optional<std::vector<int64_t>> Shape;
};

/// Parses the Python dict literal of a .npy header.
class HeaderParser {
public:
  HeaderParser(std::string_view Text, const std::string &File)
      : Text(Text), File(File) {}

  NpyHeader parse() {
    NpyHeader H;
    expect('{');
    while (!consume('}')) {
      std::string Key = parseString();
      expect(':');
      skipSpace();
      if (Key == "descr") {
        if (peek() == '[')
          fail("structured dtypes are not supported");
        H.Descr = parseString();
      } else if (Key == "fortran_order") {
        H.FortranOrder = parseBool();
      } else if (Key == "shape") {
        H.Shape = parseTuple();
      } else {
        skipValue();
      }
      if (!consume(',')) {
        expect('}');
        break;
      }
    }
    // Whatever follows the dict is padding (spaces and a newline).
    for (; Pos < Text.size(); ++Pos)
      if (Text[Pos] != ' ' && Text[Pos] != '\n' && Text[Pos] != '\0')
        fail("unexpected text after the header dict");
    return H;
  }

private:
  [[noreturn]] void fail(const std::string &What) {
    throw Error(File + ": bad .npy header: " + What);
  }
  void skipSpace() {
    while (Pos < Text.size() && (Text[Pos] == ' ' || Text[Pos] == '\t' ||
                                 Text[Pos] == '\n' || Text[Pos] == '\r'))
      ++Pos;
  }
  char peek() {
    skipSpace();
    return Pos < Text.size() ? Text[Pos] : '\0';
  }
  bool consume(char C) {
    if (peek() != C)
      return false;
    ++Pos;
    return true;
  }
  void expect(char C) {
    if (!consume(C))
      fail(std::string("expected '") + C + "'");
  }
  std::string parseString() {
    char Quote = peek();
    if (Quote != '\'' && Quote != '"')
      fail("expected a string");
    size_t End = Text.find(Quote, ++Pos);
    if (End == std::string_view::npos)
      fail("unterminated string");
    std::string S(Text.substr(Pos, End - Pos));
    Pos = End + 1;
    return S;
  }
  bool parseBool() {
    skipSpace();
    for (bool Value : {true, false}) {
      std::string_view Word = Value ? "True" : "False";
      if (Text.substr(Pos, Word.size()) == Word) {
        Pos += Word.size();
        return Value;
      }
    }
    fail("fortran_order is not True or False");
  }
  int64_t parseInt() {
    skipSpace();
    size_t Start = Pos;
    int64_t V = 0;
    while (Pos < Text.size() && Text[Pos] >= '0' && Text[Pos] <= '9') {
      int Digit = Text[Pos++] - '0';
      if (V > (std::numeric_limits<int64_t>::max() - Digit) / 10)
        fail("dimension too large");
      V = V * 10 + Digit;
    }
    if (Pos == Start)
      fail("expected a non-negative integer in shape");
    if (Pos < Text.size() && Text[Pos] == 'L') // Python 2 long suffix.
      ++Pos;
    return V;
  }
  std::vector<int64_t> parseTuple() {
    std::vector<int64_t> Dims;
    expect('(');
    while (!consume(')')) {
      Dims.push_back(parseInt());
      if (!consume(',')) {
        expect(')');
        break;
      }
    }
    return Dims;
  }
  void skipValue() {
    char C = peek();
    if (C == '\'' || C == '"') {
      parseString();
      return;
    }
    // Skip a bare word or a bracketed value up to the next top-level comma.
    int Depth = 0;
    for (; Pos < Text.size(); ++Pos) {
      char D = Text[Pos];
      if (D == '(' || D == '[' || D == '{')
        ++Depth;
      else if ((D == ')' || D == ']' || D == '}') && Depth-- == 0)
        return;
      else if (D == ',' && Depth == 0)
        return;
    }
  }

  std::string_view Text;
  const std::string &File;
  size_t Pos = 0;
};

} // namespace

static DType parseDescr(const std::string &Descr, const std::string &File) {
  if (Descr.size() >= 2 && Descr[0] == '>' && Descr != ">i1" && Descr != ">u1")
    throw Error(File + ": big-endian data ('" + Descr +
                "') is not supported; save with a little-endian dtype");
  if (Descr == "<f4")
    return DType::F32;
  if (Descr == "<f2")
    return DType::F16;
  if (Descr == "<i4")
    return DType::I32;
  if (Descr == "<i8")
    return DType::I64;
  throw Error(File + ": unsupported dtype '" + Descr +
              "' (supported: <f4, <f2, <i4, <i8)");
}

static uint32_t readLE(const uint8_t *P, size_t N) {
  uint32_t V = 0;
  for (size_t I = 0; I < N; ++I)
    V |= static_cast<uint32_t>(P[I]) << (8 * I);
  return V;
}

Tensor moert::parseNpy(const uint8_t *Data, size_t Size,
                       const std::string &Name) {
  if (Size < kMagicLen + 2 || std::memcmp(Data, kMagic, kMagicLen) != 0)
    throw Error(Name + ": not a .npy file (bad magic)");
  unsigned Major = Data[6], Minor = Data[7];
  size_t LenBytes;
  if (Major == 1)
    LenBytes = 2;
  else if (Major == 2 || Major == 3)
    LenBytes = 4;
  else
    throw Error(Name + ": unsupported .npy version " + std::to_string(Major) +
                "." + std::to_string(Minor));
  size_t Prefix = kMagicLen + 2 + LenBytes;
  if (Size < Prefix)
    throw Error(Name + ": truncated .npy header");
  size_t HeaderLen = readLE(Data + 8, LenBytes);
  if (HeaderLen > Size - Prefix)
    throw Error(Name + ": truncated .npy header (" + std::to_string(HeaderLen) +
                " header bytes declared, " + std::to_string(Size - Prefix) +
                " present)");
  std::string_view Text(reinterpret_cast<const char *>(Data + Prefix),
                        HeaderLen);
  NpyHeader H = HeaderParser(Text, Name).parse();
  if (!H.Descr || !H.FortranOrder || !H.Shape)
    throw Error(Name + ": bad .npy header: missing 'descr', 'fortran_order' "
                       "or 'shape'");
  DType Type = parseDescr(*H.Descr, Name);
  // The runtime passes row-major buffers; transposing here would hide a
  // layout mistake in the caller, so column-major data is refused.
  if (*H.FortranOrder)
    throw Error(Name + ": fortran_order arrays are not supported; save "
                       "np.ascontiguousarray(a) instead");
  size_t Need = checkedByteSize(*H.Shape, Type, Name);
  size_t Have = Size - Prefix - HeaderLen;
  if (Have < Need)
    throw Error(Name + ": truncated data: shape " + formatShape(*H.Shape) +
                " " + dtypeName(Type) + " needs " + std::to_string(Need) +
                " bytes, file has " + std::to_string(Have));
  if (Have > Need)
    throw Error(Name + ": " + std::to_string(Have - Need) +
                " unexpected bytes after the array data");
  Tensor T(Type, *H.Shape);
  if (Need)
    std::memcpy(T.data(), Data + Prefix + HeaderLen, Need);
  return T;
}

Tensor moert::readNpy(const std::string &Path) {
  std::vector<uint8_t> Bytes = detail::readFile(Path);
  return parseNpy(Bytes.data(), Bytes.size(), Path);
}

static const char *npyDescr(DType Type) {
  switch (Type) {
  case DType::F32:
    return "<f4";
  case DType::F16:
    return "<f2";
  case DType::I32:
    return "<i4";
  case DType::I64:
    return "<i8";
  case DType::BF16:
    break;
  }
  throw Error("bf16 tensors cannot be stored in .npy files");
}

std::vector<uint8_t> moert::encodeNpy(const Tensor &T) {
  std::string Dict = std::string("{'descr': '") + npyDescr(T.dtype()) +
                     "', 'fortran_order': False, 'shape': (";
  for (size_t I = 0; I < T.rank(); ++I) {
    Dict += std::to_string(T.shape()[I]);
    if (I + 1 < T.rank())
      Dict += ", ";
  }
  // A one-element tuple needs its trailing comma in Python.
  if (T.rank() == 1)
    Dict += ",";
  Dict += "), }";
  // Pad with spaces so the data starts 64-byte aligned, ending in '\n'.
  bool V1 = Dict.size() + 1 + 10 <= 65535;
  size_t Prefix = V1 ? 10 : 12;
  size_t Total = (Prefix + Dict.size() + 1 + 63) / 64 * 64;
  Dict.append(Total - Prefix - Dict.size() - 1, ' ');
  Dict += '\n';

  std::vector<uint8_t> Out(kMagic, kMagic + kMagicLen);
  Out.push_back(V1 ? 1 : 2);
  Out.push_back(0);
  for (size_t I = 0; I < Prefix - 8; ++I)
    Out.push_back(static_cast<uint8_t>(Dict.size() >> (8 * I)));
  Out.insert(Out.end(), Dict.begin(), Dict.end());
  const uint8_t *P = static_cast<const uint8_t *>(T.data());
  Out.insert(Out.end(), P, P + T.byteSize());
  return Out;
}

void moert::writeNpy(const std::string &Path, const Tensor &T) {
  detail::writeFile(Path, encodeNpy(T));
}

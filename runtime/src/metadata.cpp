//===- metadata.cpp - A compiled model's argument metadata ----------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/metadata.h"
#include "moert/abi.h"
#include "moert/error.h"

#include <nlohmann/json.hpp>

#include <set>

using namespace moert;
using json = nlohmann::json;

const char *moert::argRoleName(ArgRole Role) {
  switch (Role) {
  case ArgRole::Input:
    return abi::kRoleInput;
  case ArgRole::Weight:
    return abi::kRoleWeight;
  case ArgRole::Output:
    return abi::kRoleOutput;
  case ArgRole::Stat:
    return abi::kRoleStat;
  }
  return "?";
}

bool ArgInfo::isDynamic() const {
  for (int64_t D : Shape)
    if (D == kDynamicDim)
      return true;
  return false;
}

bool ArgInfo::isStacked() const {
  return Name.find(abi::kExpertPlaceholder) != std::string::npos;
}

bool WeightSource::isPerExpert() const {
  return Name.find(abi::kExpertPlaceholder) != std::string::npos;
}

const ArgInfo *Metadata::find(std::string_view Name) const {
  for (const ArgInfo &A : Args)
    if (A.Name == Name)
      return &A;
  return nullptr;
}

std::vector<const ArgInfo *> Metadata::argsWithRole(ArgRole Role) const {
  std::vector<const ArgInfo *> Out;
  for (const ArgInfo &A : Args)
    if (A.Role == Role)
      Out.push_back(&A);
  return Out;
}

[[noreturn]] static void fail(const std::string &What) {
  throw Error("metadata: " + What);
}

/// One entry of a weight's "sources": {name, transpose, parts, part,
/// interleave}, the last four optional.
static WeightSource parseSource(const json &J, const ArgInfo &A,
                                const std::string &Where) {
  if (!J.is_object())
    fail(Where + " is not an object");
  WeightSource S;
  auto Name = J.find(abi::kSourceName);
  if (Name == J.end() || !Name->is_string() || Name->get<std::string>().empty())
    fail(Where + ": missing or empty 'name'");
  S.Name = Name->get<std::string>();
  auto Flag = [&](const char *Key, bool &Out) {
    auto It = J.find(Key);
    if (It == J.end())
      return;
    if (!It->is_boolean())
      fail(Where + ": '" + Key + "' must be true or false");
    Out = It->get<bool>();
  };
  auto Count = [&](const char *Key, int64_t &Out) {
    auto It = J.find(Key);
    if (It == J.end())
      return;
    if (!It->is_number_integer() ||
        (It->is_number_unsigned() &&
         It->get<uint64_t>() > uint64_t(abi::kMaxSourceParts)))
      fail(Where + ": '" + Key + "' must be a small integer");
    Out = It->get<int64_t>();
  };
  Flag(abi::kSourceTranspose, S.Transpose);
  Flag(abi::kSourceInterleave, S.Interleave);
  Count(abi::kSourceParts, S.Parts);
  Count(abi::kSourcePart, S.Part);
  if (S.Parts < 1 || S.Part < 0 || S.Part >= S.Parts)
    fail(Where + ": expects parts >= 1 and 0 <= part < parts");
  size_t Rank = A.Shape.size();
  if (S.Parts > 1 && Rank < 2)
    fail(Where + ": splitting needs a weight of rank >= 2");
  if (S.Transpose && Rank < (S.isPerExpert() ? 3u : 2u))
    fail(Where + ": a transpose needs two dimensions (besides the expert "
                 "dimension of a '{e}' name)");
  if (S.isPerExpert() && Rank < 1)
    fail(Where + ": a '{e}' name needs a leading expert dimension");
  return S;
}

static ArgInfo parseArg(const json &J, size_t Index) {
  std::string Where = "args[" + std::to_string(Index) + "]";
  if (!J.is_object())
    fail(Where + " is not an object");
  auto Str = [&](const char *Key) {
    auto It = J.find(Key);
    if (It == J.end() || !It->is_string())
      fail(Where + ": missing or non-string '" + Key + "'");
    return It->get<std::string>();
  };
  ArgInfo A;
  A.Name = Str("name");
  if (A.Name.empty())
    fail(Where + ": empty name");
  Where += " ('" + A.Name + "')";
  std::string Role = Str("role");
  bool Known = false;
  for (ArgRole R :
       {ArgRole::Input, ArgRole::Weight, ArgRole::Output, ArgRole::Stat})
    if (Role == argRoleName(R)) {
      A.Role = R;
      Known = true;
    }
  if (!Known)
    fail(Where + ": unknown role '" + Role +
         "' (expected input, weight, output or stat)");
  std::string DT = Str("dtype");
  std::optional<DType> Type = parseDType(DT);
  if (!Type)
    fail(Where + ": unknown dtype '" + DT +
         "' (expected f32, f16, bf16, "
         "i32 or i64)");
  A.Type = *Type;
  auto Shape = J.find("shape");
  if (Shape == J.end() || !Shape->is_array())
    fail(Where + ": missing or non-array 'shape'");
  for (const json &D : *Shape) {
    if (!D.is_number_integer() ||
        (D.is_number_unsigned() &&
         D.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) ||
        D.get<int64_t>() < kDynamicDim)
      fail(Where + ": shape entries must be integers >= -1");
    A.Shape.push_back(D.get<int64_t>());
  }
  if (A.Role == ArgRole::Weight && A.isDynamic())
    fail(Where + ": a weight cannot have a dynamic (-1) dimension");
  if (A.Role == ArgRole::Weight && A.isStacked() && A.Shape.empty())
    fail(Where + ": a stacked '{e}' weight needs a leading expert dimension");
  if (auto Shards = J.find(abi::kExpertShardsKey); Shards != J.end()) {
    if (!Shards->is_number_unsigned() || Shards->get<uint64_t>() < 1 ||
        Shards->get<uint64_t>() > (1u << 20))
      fail(Where + ": '" + abi::kExpertShardsKey +
           "' must be an integer in [1, 2^20]");
    if (A.Role != ArgRole::Weight || A.Shape.empty())
      fail(Where + ": only weights with an expert dimension are sharded");
    A.ExpertShards = Shards->get<int64_t>();
  }
  if (auto Panels = J.find(abi::kPanelsKey); Panels != J.end()) {
    if (!Panels->is_number_unsigned() || Panels->get<uint64_t>() < 1 ||
        Panels->get<uint64_t>() > (1u << 20))
      fail(Where + ": '" + abi::kPanelsKey +
           "' must be an integer in [1, 2^20]");
    A.Panels = Panels->get<int64_t>();
    if (A.Role != ArgRole::Weight || A.Shape.size() != 3 ||
        A.Shape[1] % A.Panels != 0)
      fail(Where + ": '" + abi::kPanelsKey +
           "' needs an [E, N, K] weight with N a multiple of it");
  }
  auto Sources = J.find("sources");
  if (Sources == J.end()) {
    if (A.Role == ArgRole::Weight)
      A.Sources.push_back(WeightSource{A.Name});
    return A;
  }
  if (A.Role != ArgRole::Weight)
    fail(Where + ": only weights have 'sources'");
  if (!Sources->is_array() || Sources->empty())
    fail(Where + ": 'sources' must be a non-empty array");
  for (size_t I = 0; I < Sources->size(); ++I)
    A.Sources.push_back(parseSource(
        (*Sources)[I], A, Where + ".sources[" + std::to_string(I) + "]"));
  return A;
}

Metadata moert::parseMetadata(std::string_view Text) {
  json J;
  try {
    J = json::parse(Text.begin(), Text.end());
  } catch (const json::parse_error &E) {
    fail("not valid JSON (error at byte " + std::to_string(E.byte) + ")");
  } catch (const json::exception &) {
    // nlohmann reports numbers too large for any JSON number type this way.
    fail("not valid JSON (number out of range)");
  }
  if (!J.is_object())
    fail("not a JSON object");
  Metadata M;
  auto Version = J.find("abi_version");
  if (Version == J.end() || !Version->is_number_unsigned() ||
      Version->get<uint64_t>() > UINT32_MAX)
    fail("missing or non-integer 'abi_version'");
  M.AbiVersion = Version->get<uint32_t>();
  auto Function = J.find("function");
  if (Function != J.end()) {
    if (!Function->is_string())
      fail("'function' is not a string");
    M.Function = Function->get<std::string>();
  }
  auto Args = J.find("args");
  if (Args == J.end() || !Args->is_array())
    fail("missing or non-array 'args'");
  std::set<std::string> Seen;
  for (size_t I = 0; I < Args->size(); ++I) {
    ArgInfo A = parseArg((*Args)[I], I);
    if (!Seen.insert(A.Name).second)
      fail("duplicate argument name '" + A.Name + "'");
    M.Args.push_back(std::move(A));
  }
  // T is bound from the inputs, so a dynamic output or stat needs a dynamic
  // input to size it.
  bool InputBindsT = false;
  for (const ArgInfo &A : M.Args)
    InputBindsT |= A.Role == ArgRole::Input && A.isDynamic();
  for (const ArgInfo &A : M.Args)
    if (A.isDynamic() && !InputBindsT)
      fail("'" + A.Name +
           "' has a dynamic (-1) dimension but no input binds T");
  if (auto W = J.find(abi::kWorldSizeKey); W != J.end()) {
    if (!W->is_number_unsigned() || W->get<uint64_t>() < 1 ||
        W->get<uint64_t>() > (1u << 20))
      fail(std::string("'") + abi::kWorldSizeKey +
           "' must be an integer in [1, 2^20]");
    M.WorldSize = W->get<int64_t>();
  }
  if (auto G = J.find(abi::kRanksPerNodeKey); G != J.end()) {
    if (!G->is_number_unsigned() || G->get<uint64_t>() < 1 ||
        G->get<uint64_t>() > static_cast<uint64_t>(M.WorldSize) ||
        M.WorldSize % G->get<int64_t>() != 0)
      fail(std::string("'") + abi::kRanksPerNodeKey +
           "' must be an integer that divides the world size (" +
           std::to_string(M.WorldSize) + ")");
    M.RanksPerNode = G->get<int64_t>();
  }
  for (const ArgInfo &A : M.Args)
    if (A.ExpertShards != 1 && A.ExpertShards != M.WorldSize)
      fail("'" + A.Name + "' is sharded " + std::to_string(A.ExpertShards) +
           " ways but the model runs on " + std::to_string(M.WorldSize) +
           " ranks");
  if (auto Tg = J.find(abi::kTargetKey); Tg != J.end()) {
    if (!Tg->is_string() || (Tg->get<std::string>() != abi::kTargetCPU &&
                             Tg->get<std::string>() != abi::kTargetCUDA))
      fail(std::string("'") + abi::kTargetKey + "' must be \"" +
           abi::kTargetCPU + "\" or \"" + abi::kTargetCUDA + "\"");
    if (Tg->get<std::string>() == abi::kTargetCUDA)
      M.Target = ModelTarget::CUDA;
  }
  auto Moe = J.find("moe");
  if (Moe != J.end()) {
    if (!Moe->is_object())
      fail("'moe' is not an object");
    M.MoeJson = Moe->dump();
  }
  return M;
}

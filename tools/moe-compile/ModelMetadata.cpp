//===- ModelMetadata.cpp - the artifact's argument table ------------------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "ModelMetadata.h"

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moert/abi.h"

#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

FailureOr<std::string> dtypeName(Type type) {
  namespace abi = moert::abi;
  if (type.isF32())
    return std::string(abi::kDTypeF32);
  if (type.isF16())
    return std::string(abi::kDTypeF16);
  if (type.isBF16())
    return std::string(abi::kDTypeBF16);
  if (type.isInteger(32))
    return std::string(abi::kDTypeI32);
  if (type.isInteger(64))
    return std::string(abi::kDTypeI64);
  return failure();
}

/// The (role, name) of an argument or result from its attribute dictionary.
std::optional<std::pair<std::string, std::string>>
roleOf(DictionaryAttr attrs, ArrayRef<StringRef> roles) {
  if (!attrs)
    return std::nullopt;
  for (StringRef role : roles)
    if (auto name = attrs.getAs<StringAttr>(("moe." + role).str()))
      return std::make_pair(role.str(), name.str());
  return std::nullopt;
}

/// Parses `moe.weight_sources` of a weight with shape `shape`: a non-empty
/// array of dictionaries {name, transpose?, parts?, part?, interleave?}
/// (the keys of moert/abi.h).
FailureOr<std::vector<WeightSource>> parseSources(func::FuncOp entry,
                                                  Attribute attr,
                                                  StringRef argName,
                                                  ArrayRef<int64_t> shape) {
  namespace abi = moert::abi;
  auto fail = [&](const Twine &why) -> FailureOr<std::vector<WeightSource>> {
    entry.emitError() << "moe.weight_sources of weight '" << argName
                      << "': " << why;
    return failure();
  };
  auto array = dyn_cast<ArrayAttr>(attr);
  if (!array || array.empty())
    return fail("expects a non-empty array of dictionaries");
  std::vector<WeightSource> sources;
  for (auto [i, element] : llvm::enumerate(array)) {
    std::string where = "entry " + std::to_string(i);
    auto dict = dyn_cast<DictionaryAttr>(element);
    if (!dict)
      return fail(where + " is not a dictionary");
    WeightSource src;
    for (NamedAttribute field : dict) {
      StringRef key = field.getName().getValue();
      Attribute value = field.getValue();
      if (key == abi::kSourceName) {
        auto text = dyn_cast<StringAttr>(value);
        if (!text || text.getValue().empty())
          return fail(where + ": 'name' must be a non-empty string");
        src.name = text.str();
      } else if (key == abi::kSourceTranspose ||
                 key == abi::kSourceInterleave) {
        auto flag = dyn_cast<BoolAttr>(value);
        if (!flag)
          return fail(where + ": '" + key + "' must be a bool");
        (key == abi::kSourceTranspose ? src.transpose : src.interleave) =
            flag.getValue();
      } else if (key == abi::kSourceParts || key == abi::kSourcePart) {
        auto number = dyn_cast<IntegerAttr>(value);
        if (!number || !number.getType().isInteger())
          return fail(where + ": '" + key + "' must be an integer");
        (key == abi::kSourceParts ? src.parts : src.part) = number.getInt();
      } else {
        return fail(where + ": unknown key '" + key +
                    "' (name, transpose, parts, part, interleave)");
      }
    }
    if (src.name.empty())
      return fail(where + " has no 'name'");
    if (src.parts < 1 || src.part < 0 || src.part >= src.parts)
      return fail(where +
                  ": expects parts >= 1 and 0 <= part < parts, got "
                  "parts = " +
                  Twine(src.parts) + ", part = " + Twine(src.part));
    if (src.parts > abi::kMaxSourceParts)
      return fail(where + ": expects parts <= " + Twine(abi::kMaxSourceParts) +
                  ", got " + Twine(src.parts));
    bool perExpert = StringRef(src.name).contains(abi::kExpertPlaceholder);
    // Axis 1 of the stacked argument is split; a transpose swaps the last
    // two axes; both need the axes to exist (in a per-expert slice too).
    size_t rankNeeded =
        std::max<size_t>({src.parts > 1 ? 2u : 0u, perExpert ? 1u : 0u,
                          src.transpose ? (perExpert ? 3u : 2u) : 0u});
    if (shape.size() < rankNeeded)
      return fail(where + ": a weight of rank " + Twine(shape.size()) +
                  " cannot be " +
                  (src.transpose   ? "transposed"
                   : src.parts > 1 ? "split"
                                   : "stacked from '{e}' tensors"));
    sources.push_back(std::move(src));
  }
  return sources;
}

} // namespace

std::string ModelMetadata::toJSON() const {
  llvm::json::Array argArray;
  for (const ArgumentInfo &arg : args) {
    llvm::json::Array shape;
    for (int64_t d : arg.shape)
      shape.push_back(d);
    llvm::json::Object entry{{"role", arg.role},
                             {"name", arg.name},
                             {"dtype", arg.dtype},
                             {"shape", std::move(shape)}};
    if (!arg.sources.empty()) {
      namespace abi = moert::abi;
      llvm::json::Array sources;
      for (const WeightSource &src : arg.sources)
        sources.push_back(
            llvm::json::Object{{abi::kSourceName, src.name},
                               {abi::kSourceTranspose, src.transpose},
                               {abi::kSourceParts, src.parts},
                               {abi::kSourcePart, src.part},
                               {abi::kSourceInterleave, src.interleave}});
      entry["sources"] = std::move(sources);
    }
    if (arg.expertShards > 1)
      entry[moert::abi::kExpertShardsKey] = arg.expertShards;
    if (arg.panels > 0)
      entry[moert::abi::kPanelsKey] = arg.panels;
    argArray.push_back(std::move(entry));
  }
  llvm::json::Object doc{{"abi_version", moert::abi::kVersion},
                         {"function", function},
                         {"args", std::move(argArray)},
                         {moert::abi::kWorldSizeKey, worldSize},
                         {moert::abi::kTargetKey, target},
                         {"moe", llvm::json::Object{{"num_experts", numExperts},
                                                    {"top_k", topK},
                                                    {"lowering", lowering}}}};
  if (ranksPerNode > 0)
    doc[moert::abi::kRanksPerNodeKey] = ranksPerNode;
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(doc));
  return text;
}

FailureOr<func::FuncOp> mlir::moe::findEntryFunction(ModuleOp module) {
  func::FuncOp entry;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func.isPublic() || func.isExternal())
      continue;
    if (entry)
      return module.emitError()
             << "expects exactly one public function "
                "with a body, found @"
             << entry.getName() << " and @" << func.getName();
    entry = func;
  }
  if (!entry)
    return module.emitError("expects a public function with a body (the "
                            "model's entry point)");
  return entry;
}

FailureOr<ModelMetadata> mlir::moe::collectMetadata(func::FuncOp entry,
                                                    StringRef lowering,
                                                    int64_t worldSize) {
  ModelMetadata meta;
  meta.function = entry.getName().str();
  meta.lowering = lowering.str();
  meta.worldSize = worldSize;
  if (auto perNode = entry->getAttrOfType<IntegerAttr>("moe.ranks_per_node"))
    meta.ranksPerNode = perNode.getInt();
  entry.walk([&](RouteOp route) {
    meta.numExperts = route.getNumExperts();
    meta.topK = route.getTopK();
  });

  auto add = [&](Type type, DictionaryAttr attrs, ArrayRef<StringRef> roles,
                 StringRef what, unsigned index) -> LogicalResult {
    auto role = roleOf(attrs, roles);
    if (!role)
      return entry.emitError() << what << " #" << index << " of @"
                               << entry.getName() << " needs a name: one of "
                               << (what == "argument" ? "moe.input, moe.weight"
                                                      : "moe.output, moe.stat")
                               << " = \"...\"";
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor)
      return entry.emitError() << what << " #" << index
                               << " must be a ranked tensor, got " << type;
    FailureOr<std::string> dtype = dtypeName(tensor.getElementType());
    if (failed(dtype))
      return entry.emitError()
             << what << " #" << index << " has unsupported element type "
             << tensor.getElementType() << " (f32, f16, bf16, i32, i64)";
    ArgumentInfo info{role->first, role->second, *dtype, {}, {}, 1};
    for (auto [i, d] : llvm::enumerate(tensor.getShape())) {
      if (ShapedType::isDynamic(d) && (i != 0 || info.role == "weight"))
        return entry.emitError()
               << what << " #" << index << " ('" << info.name
               << "'): only dimension 0 of inputs and outputs may be "
                  "dynamic (the token count T), got "
               << tensor;
      info.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    }
    if (auto panels = attrs.getAs<IntegerAttr>("moe.weight_panels")) {
      // moe-pack-expert-weights' [E, N / P, K, P]; the checkpoint and the
      // metadata's shape are [E, N, K].
      info.panels = panels.getInt();
      if (info.shape.size() != 4 || info.shape[3] != info.panels)
        return entry.emitError()
               << what << " #" << index << " ('" << info.name
               << "'): moe.weight_panels = " << info.panels
               << " needs a [E, N / P, K, P] weight with P = " << info.panels
               << ", got " << tensor;
      info.shape = {info.shape[0], info.shape[1] * info.panels, info.shape[2]};
    }
    if (info.name.empty())
      return entry.emitError() << what << " #" << index << " of @"
                               << entry.getName() << " has an empty "
                               << "moe." << info.role << " name";
    for (const ArgumentInfo &other : meta.args) {
      if (other.name != info.name)
        continue;
      if (info.role == moert::abi::kRoleStat)
        return entry.emitError()
               << "the " << other.role << " '" << info.name
               << "' has the name of a routing statistics result that "
                  "moe-compile adds: rename the "
               << other.role << " (or compile with --no-stats)";
      return entry.emitError() << what << " #" << index << " of @"
                               << entry.getName() << ": the name '" << info.name
                               << "' is already used by another " << other.role;
    }
    if (Attribute sources = attrs.get("moe.weight_sources")) {
      if (info.role != moert::abi::kRoleWeight)
        return entry.emitError() << what << " #" << index
                                 << ": moe.weight_sources is only valid on "
                                    "a moe.weight argument";
      FailureOr<std::vector<WeightSource>> parsed =
          parseSources(entry, sources, info.name, info.shape);
      if (failed(parsed))
        return failure();
      info.sources = std::move(*parsed);
    }
    if (auto shards = attrs.getAs<IntegerAttr>("moe.expert_shards"))
      info.expertShards = shards.getInt();
    meta.args.push_back(std::move(info));
    return success();
  };

  for (unsigned i = 0; i < entry.getNumArguments(); ++i)
    if (failed(add(entry.getArgument(i).getType(), entry.getArgAttrDict(i),
                   {"input", "weight"}, "argument", i)))
      return failure();
  for (unsigned i = 0; i < entry.getNumResults(); ++i)
    if (failed(add(entry.getResultTypes()[i], entry.getResultAttrDict(i),
                   {"output", "stat"}, "result", i)))
      return failure();
  return meta;
}

void mlir::moe::stripNameAttributes(func::FuncOp entry) {
  for (StringRef name : {"moe.input", "moe.weight", "moe.weight_sources",
                         "moe.expert_shards", "moe.weight_panels"})
    for (unsigned i = 0; i < entry.getNumArguments(); ++i)
      entry.removeArgAttr(i, name);
  for (StringRef name : {"moe.output", "moe.stat"})
    for (unsigned i = 0; i < entry.getNumResults(); ++i)
      entry.removeResultAttr(i, StringAttr::get(entry.getContext(), name));
  entry->removeAttr("moe.ranks_per_node");
}

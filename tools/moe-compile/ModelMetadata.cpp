//===- ModelMetadata.cpp - the artifact's argument table ------------------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "ModelMetadata.h"

#include "moec/Dialect/MoE/IR/MoE.h"

#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

FailureOr<std::string> dtypeName(Type type) {
  if (type.isF32())
    return std::string("f32");
  if (type.isF16())
    return std::string("f16");
  if (type.isBF16())
    return std::string("bf16");
  if (type.isInteger(32))
    return std::string("i32");
  if (type.isInteger(64))
    return std::string("i64");
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

} // namespace

std::string ModelMetadata::toJSON() const {
  llvm::json::Array argArray;
  for (const ArgumentInfo &arg : args) {
    llvm::json::Array shape;
    for (int64_t d : arg.shape)
      shape.push_back(d);
    argArray.push_back(llvm::json::Object{{"role", arg.role},
                                          {"name", arg.name},
                                          {"dtype", arg.dtype},
                                          {"shape", std::move(shape)}});
  }
  llvm::json::Object doc{{"abi_version", 1},
                         {"function", function},
                         {"args", std::move(argArray)},
                         {"moe", llvm::json::Object{{"num_experts", numExperts},
                                                    {"top_k", topK},
                                                    {"lowering", lowering}}}};
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
                                                    StringRef lowering) {
  ModelMetadata meta;
  meta.function = entry.getName().str();
  meta.lowering = lowering.str();
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
    ArgumentInfo info{role->first, role->second, *dtype, {}};
    for (auto [i, d] : llvm::enumerate(tensor.getShape())) {
      if (ShapedType::isDynamic(d) && (i != 0 || info.role == "weight"))
        return entry.emitError()
               << what << " #" << index << " ('" << info.name
               << "'): only dimension 0 of inputs and outputs may be "
                  "dynamic (the token count T), got "
               << tensor;
      info.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    }
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
  for (StringRef name : {"moe.input", "moe.weight"})
    for (unsigned i = 0; i < entry.getNumArguments(); ++i)
      entry.removeArgAttr(i, name);
  for (StringRef name : {"moe.output", "moe.stat"})
    for (unsigned i = 0; i < entry.getNumResults(); ++i)
      entry.removeResultAttr(i, StringAttr::get(entry.getContext(), name));
}

//===- model.cpp - Loading a compiled model artifact ----------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/model.h"
#include "elf_check.h"
#include "file_util.h"
#include "moert/error.h"
#include "moert/workspace.h"

#include <cerrno>
#include <dlfcn.h>
#include <sys/stat.h>

using namespace moert;

/// Resolves \p Symbol in \p Handle or throws naming the model.
static void *lookup(void *Handle, const char *Symbol, const std::string &Path) {
  ::dlerror();
  void *P = ::dlsym(Handle, Symbol);
  if (!P || ::dlerror())
    throw Error(Path + ": missing symbol '" + Symbol + "' (not a moec model?)");
  return P;
}

std::unique_ptr<Model> Model::load(const std::string &Path) {
  // stat first so a missing file gets the system's reason, not dlerror's.
  struct stat St;
  if (::stat(Path.c_str(), &St) != 0)
    throw Error(detail::cannotOpen(Path, errno));
  if (!S_ISREG(St.st_mode))
    throw Error("cannot open '" + Path + "': not a regular file");
  detail::checkElfComplete(Path);
  // dlopen searches the library path for names without a slash.
  std::string DlPath = Path.find('/') == std::string::npos ? "./" + Path : Path;
  void *Handle = ::dlopen(DlPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!Handle) {
    const char *Why = ::dlerror();
    throw Error("cannot load model '" + Path +
                "': " + (Why ? Why : "not a shared library"));
  }
  std::unique_ptr<Model> M(new Model());
  M->Path = Path;
  M->Handle = Handle;
  auto Version = reinterpret_cast<abi::VersionFn>(
      lookup(Handle, abi::kVersionSymbol, Path));
  auto MetadataJson = reinterpret_cast<abi::MetadataFn>(
      lookup(Handle, abi::kMetadataSymbol, Path));
  M->Forward = reinterpret_cast<abi::ForwardFn>(
      lookup(Handle, abi::kForwardSymbol, Path));
  uint32_t V = Version();
  if (V != abi::kVersion)
    throw Error(Path + ": model was built for ABI version " +
                std::to_string(V) + ", this runtime implements version " +
                std::to_string(abi::kVersion));
  const char *Text = MetadataJson();
  if (!Text)
    throw Error(Path + ": moert_metadata_json returned null");
  M->MetaJson = Text;
  try {
    M->Meta = parseMetadata(Text);
  } catch (const Error &E) {
    throw Error(Path + ": " + E.what());
  }
  if (M->Meta.AbiVersion != V)
    throw Error(Path + ": metadata says ABI version " +
                std::to_string(M->Meta.AbiVersion) + " but " +
                abi::kVersionSymbol + " returns " + std::to_string(V));
  // Optional: a model without it allocates with malloc.
  if (void *Hooks = ::dlsym(Handle, abi::kWorkspaceHooksSymbol))
    Workspace::process().install(*static_cast<abi::WorkspaceHooks *>(Hooks));
  return M;
}

Model::~Model() {
  if (Handle)
    ::dlclose(Handle);
}

//===- replay_main.cpp - Run a fuzz target over files without libFuzzer ---===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// Built with any compiler so CI replays the seed corpus (and any crash
// reproducers added to it) through each fuzz entry point. Arguments are
// files or directories of files.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size);

namespace fs = std::filesystem;

static void runFile(const fs::path &Path) {
  std::ifstream In(Path, std::ios::binary);
  std::vector<uint8_t> Bytes((std::istreambuf_iterator<char>(In)),
                             std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(Bytes.data(), Bytes.size());
}

int main(int Argc, char **Argv) {
  size_t Count = 0;
  for (int I = 1; I < Argc; ++I) {
    fs::path Arg(Argv[I]);
    std::error_code EC;
    if (fs::is_directory(Arg, EC)) {
      for (const fs::directory_entry &E : fs::directory_iterator(Arg))
        if (E.is_regular_file()) {
          runFile(E.path());
          ++Count;
        }
    } else if (fs::is_regular_file(Arg, EC)) {
      runFile(Arg);
      ++Count;
    } else {
      std::fprintf(stderr, "replay: error: no such file or directory '%s'\n",
                   Argv[I]);
      return 1;
    }
  }
  // An empty corpus would make the test vacuous.
  if (Count == 0) {
    std::fprintf(stderr, "replay: error: no inputs\n");
    return 1;
  }
  std::printf("replay: ran %zu inputs\n", Count);
  return 0;
}

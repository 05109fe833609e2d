//===- moe-run.cpp - Run a compiled MoE model on .npy inputs --------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// moe-run MODEL.so --weights W.safetensors --input [NAME=]X.npy
//         --output [NAME=]Y.npy [--iters N] [--warmup M] [--stats]
//
// Loads a model built by moe-compile, binds its inputs and weights, runs it
// (warmup, then timed iterations), saves the requested outputs and reports
// the median time, the throughput and optionally the expert-load stats.
// Every failure is one line "moe-run: error: ..." on stderr.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/invocation.h"
#include "moert/model.h"
#include "moert/npy.h"
#include "moert/safetensors.h"
#include "moert/stats.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

using namespace moert;

namespace {

/// A `[NAME=]PATH` command-line value resolved to an argument name.
struct NamedPath {
  std::string Name;
  std::string Path;
};

/// "a, b" for messages.
std::string joinNames(const std::vector<const ArgInfo *> &Args) {
  std::string S;
  for (const ArgInfo *A : Args)
    S += (S.empty() ? "" : ", ") + A->Name;
  return S.empty() ? "none" : S;
}

/// Splits `[NAME=]PATH` values and resolves omitted names. \p Flag and
/// \p Kind ("input"/"output") only serve messages. A '=' after a '/' belongs
/// to the path, so "dir/a=b.npy" is a path.
std::vector<NamedPath> resolve(const std::vector<std::string> &Values,
                               const std::vector<const ArgInfo *> &Args,
                               const char *Flag, const char *Kind) {
  std::vector<NamedPath> Out;
  for (const std::string &V : Values) {
    size_t Eq = V.find('=');
    NamedPath P;
    if (Eq != std::string::npos && V.find('/') > Eq) {
      P.Name = V.substr(0, Eq);
      P.Path = V.substr(Eq + 1);
    } else if (Args.size() == 1) {
      P.Name = Args[0]->Name;
      P.Path = V;
    } else {
      throw Error(std::string(Flag) + " '" + V +
                  "' needs NAME= (the model has " +
                  std::to_string(Args.size()) + " " + Kind +
                  "s: " + joinNames(Args) + ")");
    }
    bool Known = std::any_of(Args.begin(), Args.end(), [&](const ArgInfo *A) {
      return A->Name == P.Name;
    });
    if (!Known)
      throw Error(std::string(Flag) + " '" + V + "': model has no " + Kind +
                  " '" + P.Name + "' (" + Kind + "s: " + joinNames(Args) + ")");
    for (const NamedPath &Q : Out)
      if (Q.Name == P.Name)
        throw Error(std::string(Flag) + ": " + Kind + " '" + P.Name +
                    "' given twice");
    if (P.Path.empty())
      throw Error(std::string(Flag) + " '" + V + "': empty path");
    Out.push_back(P);
  }
  return Out;
}

/// \p T as f32 if it is bf16 (which .npy cannot hold), else a copy.
Tensor forNpy(const Tensor &T) {
  Tensor Out(T.dtype() == DType::BF16 ? DType::F32 : T.dtype(), T.shape());
  if (T.dtype() != DType::BF16) {
    std::copy_n(static_cast<const std::byte *>(T.data()), T.byteSize(),
                static_cast<std::byte *>(Out.data()));
    return Out;
  }
  const uint16_t *Src = T.dataAs<uint16_t>();
  float *Dst = Out.dataAs<float>();
  for (int64_t I = 0; I < T.numElements(); ++I) {
    uint32_t Bits = static_cast<uint32_t>(Src[I]) << 16;
    std::memcpy(&Dst[I], &Bits, sizeof(float));
  }
  return Out;
}

void printStats(const Model &M, const Invocation &Inv) {
  const Metadata &Meta = M.metadata();
  auto Stats = Meta.argsWithRole(ArgRole::Stat);
  if (Stats.empty()) {
    std::printf("stats: the model has no stat arguments\n");
    return;
  }
  const ArgInfo *Counts = Meta.find(kExpertCountsStat);
  if (Counts && Counts->Role == ArgRole::Stat) {
    const ArgInfo *Kept = Meta.find(kExpertKeptStat);
    const Tensor *KeptT =
        Kept && Kept->Role == ArgRole::Stat ? &Inv.arg(Kept->Name) : nullptr;
    std::fputs(formatExpertStats(makeExpertStats(Inv.arg(Counts->Name), KeptT))
                   .c_str(),
               stdout);
  } else {
    std::printf("stats: the model has no '%s' stat\n", kExpertCountsStat);
  }
  // Stats beyond the two the ABI defines are listed raw.
  for (const ArgInfo *A : Stats) {
    if (A->Name == kExpertCountsStat || A->Name == kExpertKeptStat)
      continue;
    std::printf("stat %s:", A->Name.c_str());
    for (int64_t V : integerValues(Inv.arg(A->Name), A->Name))
      std::printf(" %lld", static_cast<long long>(V));
    std::printf("\n");
  }
}

/// Writes every stat as {"name": [values...]}, for scripts and tests.
void writeStatsJson(const Model &M, const Invocation &Inv,
                    const std::string &Path) {
  nlohmann::json Doc = nlohmann::json::object();
  for (const ArgInfo *A : M.metadata().argsWithRole(ArgRole::Stat))
    Doc[A->Name] = integerValues(Inv.arg(A->Name), A->Name);
  std::ofstream Out(Path);
  Out << Doc.dump() << "\n";
  if (!Out)
    throw Error("cannot write stats to '" + Path + "'");
}

struct Options {
  std::string ModelPath;
  std::string WeightsPath;
  std::vector<std::string> Inputs;
  std::vector<std::string> Outputs;
  unsigned Iters = 1;
  unsigned Warmup = 0;
  bool Stats = false;
  std::string StatsJson;
};

void run(const Options &Opts) {
  std::unique_ptr<Model> M = Model::load(Opts.ModelPath);
  const Metadata &Meta = M->metadata();
  auto Inputs = resolve(Opts.Inputs, Meta.argsWithRole(ArgRole::Input),
                        "--input", "input");
  auto Outputs = resolve(Opts.Outputs, Meta.argsWithRole(ArgRole::Output),
                         "--output", "output");

  std::map<std::string, Tensor> Tensors;
  for (const NamedPath &P : Inputs)
    Tensors.emplace(P.Name, readNpy(P.Path));
  std::unique_ptr<SafetensorsFile> Weights;
  if (!Opts.WeightsPath.empty())
    Weights = std::make_unique<SafetensorsFile>(
        SafetensorsFile::open(Opts.WeightsPath));
  Invocation Inv(*M, std::move(Tensors), Weights.get());

  for (unsigned I = 0; I < Opts.Warmup; ++I)
    Inv.run();
  std::vector<double> Ms;
  for (unsigned I = 0; I < Opts.Iters; ++I) {
    auto Start = std::chrono::steady_clock::now();
    Inv.run();
    auto End = std::chrono::steady_clock::now();
    Ms.push_back(
        std::chrono::duration<double, std::milli>(End - Start).count());
  }
  std::sort(Ms.begin(), Ms.end());
  size_t N = Ms.size();
  double Median = N % 2 ? Ms[N / 2] : (Ms[N / 2 - 1] + Ms[N / 2]) / 2;

  for (const NamedPath &P : Outputs)
    writeNpy(P.Path, forNpy(Inv.arg(P.Name)));

  // Without a T dimension, the leading dim of the first input counts tokens.
  int64_t Tokens = 0;
  if (auto T = Inv.tokenCount())
    Tokens = *T;
  else if (auto In = Meta.argsWithRole(ArgRole::Input);
           !In.empty() && !Inv.arg(In[0]->Name).shape().empty())
    Tokens = Inv.arg(In[0]->Name).shape()[0];
  double TokensPerSec = Median > 0 ? Tokens / (Median / 1000.0) : 0.0;
  std::printf("T=%lld tokens, %u iters (%u warmup): median %.4f ms/iter, "
              "%.1f tokens/s\n",
              static_cast<long long>(Tokens), Opts.Iters, Opts.Warmup, Median,
              TokensPerSec);
  if (Opts.Stats)
    printStats(*M, Inv);
  if (!Opts.StatsJson.empty())
    writeStatsJson(*M, Inv, Opts.StatsJson);
}

} // namespace

int main(int Argc, char **Argv) {
  Options Opts;
  CLI::App App{"Run a moec-compiled Mixture-of-Experts model.", "moe-run"};
  App.add_option("model", Opts.ModelPath, "Model shared library (MODEL.so)")
      ->required();
  App.add_option("--weights,-w", Opts.WeightsPath,
                 "Weights checkpoint (.safetensors)");
  App.add_option("--input,-i", Opts.Inputs,
                 "Input [NAME=]X.npy (NAME may be omitted for a single-input "
                 "model); repeatable")
      ->allow_extra_args(false);
  App.add_option("--output,-o", Opts.Outputs,
                 "Save output [NAME=]Y.npy (NAME may be omitted for a "
                 "single-output model); repeatable")
      ->allow_extra_args(false);
  App.add_option("--iters,-n", Opts.Iters, "Timed iterations (default 1)")
      ->check(CLI::Range(1u, 1000000000u));
  App.add_option("--warmup", Opts.Warmup,
                 "Untimed iterations before the timed ones (default 0)");
  App.add_flag("--stats", Opts.Stats,
               "Print tokens per expert and dropped assignments");
  App.add_option("--stats-json", Opts.StatsJson,
                 "Write every stat of the last run to a JSON file");
  try {
    App.parse(Argc, Argv);
  } catch (const CLI::CallForHelp &E) {
    return App.exit(E);
  } catch (const CLI::ParseError &E) {
    std::fprintf(stderr, "moe-run: error: %s (see --help)\n", E.what());
    return 2;
  }
  try {
    run(Opts);
  } catch (const Error &E) {
    std::fprintf(stderr, "moe-run: error: %s\n", E.what());
    return 1;
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "moe-run: error: out of memory\n");
    return 1;
  } catch (const std::exception &E) {
    std::fprintf(stderr, "moe-run: error: %s\n", E.what());
    return 1;
  }
  return 0;
}

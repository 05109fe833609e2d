//===- watchdog.h - Ending a process that waits too long --------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_SRC_WATCHDOG_H
#define MOERT_SRC_WATCHDOG_H

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include <unistd.h>

namespace moert {

/// Exits the process (naming \p What) unless disarmed within the timeout:
/// guards start-ups (MPI's, NCCL's) that have no timeout of their own.
class Watchdog {
public:
  Watchdog(double Seconds, std::string What) : What(std::move(What)) {
    Thread = std::thread([this, Seconds] {
      std::unique_lock<std::mutex> Lock(M);
      if (!CV.wait_for(Lock, std::chrono::duration<double>(Seconds),
                       [this] { return Done; })) {
        std::fprintf(stderr, "moe-run: error: %s\n", this->What.c_str());
        std::fflush(stderr);
        _exit(1);
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> Lock(M);
      Done = true;
    }
    CV.notify_all();
    Thread.join();
  }

private:
  std::string What;
  std::mutex M;
  std::condition_variable CV;
  bool Done = false;
  std::thread Thread;
};

} // namespace moert

#endif // MOERT_SRC_WATCHDOG_H

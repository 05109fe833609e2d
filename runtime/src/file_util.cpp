//===- file_util.cpp - Whole-file reads and writes ------------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "file_util.h"
#include "moert/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sys/stat.h>

using namespace moert;

std::string detail::cannotOpen(const std::string &Path, int Errno) {
  return "cannot open '" + Path + "': " + std::strerror(Errno);
}

std::vector<uint8_t> detail::readFile(const std::string &Path) {
  struct stat St;
  if (::stat(Path.c_str(), &St) != 0)
    throw Error(cannotOpen(Path, errno));
  // Reading a directory "succeeds" with fopen on Linux; refuse it clearly.
  if (!S_ISREG(St.st_mode))
    throw Error("cannot open '" + Path + "': not a regular file");
  std::unique_ptr<FILE, int (*)(FILE *)> F(std::fopen(Path.c_str(), "rb"),
                                           &std::fclose);
  if (!F)
    throw Error(cannotOpen(Path, errno));
  std::vector<uint8_t> Bytes;
  uint8_t Buf[1 << 16];
  size_t N;
  while ((N = std::fread(Buf, 1, sizeof(Buf), F.get())) > 0)
    Bytes.insert(Bytes.end(), Buf, Buf + N);
  if (std::ferror(F.get()))
    throw Error("cannot read '" + Path + "': " + std::strerror(errno));
  return Bytes;
}

void detail::writeFile(const std::string &Path,
                       const std::vector<uint8_t> &Bytes) {
  std::unique_ptr<FILE, int (*)(FILE *)> F(std::fopen(Path.c_str(), "wb"),
                                           &std::fclose);
  if (!F)
    throw Error("cannot write '" + Path + "': " + std::strerror(errno));
  if (std::fwrite(Bytes.data(), 1, Bytes.size(), F.get()) != Bytes.size() ||
      std::fclose(F.release()) != 0)
    throw Error("cannot write '" + Path + "': " + std::strerror(errno));
}

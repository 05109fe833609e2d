//===- file_util.h - Whole-file reads and writes ----------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Reading and writing whole files with errors reported as moert::Error
/// naming the path and the system's reason.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_SRC_FILE_UTIL_H
#define MOERT_SRC_FILE_UTIL_H

#include <cstdint>
#include <string>
#include <vector>

namespace moert::detail {

/// The contents of the regular file at \p Path.
std::vector<uint8_t> readFile(const std::string &Path);

/// Replaces the file at \p Path with \p Bytes.
void writeFile(const std::string &Path, const std::vector<uint8_t> &Bytes);

/// "cannot open 'Path': <strerror(Errno)>".
std::string cannotOpen(const std::string &Path, int Errno);

} // namespace moert::detail

#endif // MOERT_SRC_FILE_UTIL_H

//===- elf_check.h - Refusing truncated shared libraries --------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// glibc's dlopen maps a truncated shared library and then dies with SIGBUS
/// touching the missing pages; checking the ELF headers against the file size
/// first turns that into an error message.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_SRC_ELF_CHECK_H
#define MOERT_SRC_ELF_CHECK_H

#include <string>

namespace moert::detail {

/// Throws Error if \p Path is a 64-bit little-endian ELF file whose program
/// headers, loadable segments or section headers extend past its end. Other
/// files are left for dlopen to judge.
void checkElfComplete(const std::string &Path);

} // namespace moert::detail

#endif // MOERT_SRC_ELF_CHECK_H

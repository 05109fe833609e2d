//===- error.h - The runtime's error type -----------------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Every runtime failure is reported as a moert::Error whose message is one
/// line naming the file, tensor or argument at fault. Tools print it prefixed
/// with their name and exit non-zero; nothing in the runtime aborts.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_ERROR_H
#define MOERT_ERROR_H

#include <stdexcept>
#include <string>

namespace moert {

/// A runtime failure with a one-line, user-facing message.
class Error : public std::runtime_error {
public:
  explicit Error(const std::string &Message) : std::runtime_error(Message) {}
};

} // namespace moert

#endif // MOERT_ERROR_H

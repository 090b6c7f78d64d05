// Shared pieces of catimg's subcommands: the exit codes and the one-line error printer.
#pragma once

#include <string>

namespace cat::catimg {

// catimg's exit codes: 0 = done, 1 = the image (or input) is bad, 2 = usage error.
constexpr int kExitOk = 0;
constexpr int kExitBadImage = 1;
constexpr int kExitUsage = 2;

// Writes "catimg: MESSAGE" as one line to stderr.
void PrintError(const std::string& message);

}  // namespace cat::catimg

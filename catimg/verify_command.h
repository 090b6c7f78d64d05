// `catimg verify FN.cfi`: checks every checksum in a func-image and names each bad part.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace cat::catimg {

struct VerifyOutcome {
  int exit_code;            // kExitOk or kExitBadImage
  std::string stdout_text;  // "FN.cfi: ok (...)" or one "FN.cfi: PART: PROBLEM" line per bad part
  std::string error;        // set when the image does not even open (printed as "catimg: ...")
};
// Opens (header, manifest, bounds) and verifies (every stored segment, arena, relocations).
VerifyOutcome VerifyImage(const std::string& path);

// Registers the subcommand; the returned function runs it after parsing and gives the exit code.
std::function<int()> AddVerifyCommand(CLI::App& app);

}  // namespace cat::catimg

// `catload exec`: run a static executable from scratch inside the sandbox.
#pragma once

#include <CLI/CLI.hpp>

namespace cat::cli {

// Registers the subcommand. The returned function runs it after parsing, with the guest's
// EXE [ARGS...] (split off before parsing), and gives the exit code.
std::function<int(std::vector<std::string>)> AddExecCommand(CLI::App& app);

}  // namespace cat::cli

// Shared pieces of catload's subcommands: option parsing helpers and the logger that
// prefixes the sandbox kernel's lines with "catload: ".
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loader/kernel/sandbox_kernel.h"

namespace cat::cli {

// Parses "4096", "64K", "256M", "2G" (also "MiB"/"GiB" forms) into bytes.
std::optional<uint64_t> ParseSize(const std::string& text);
// A CLI11 check that an option's value is something ParseSize accepts.
CLI::Validator SizeValidator();

// Splits a subcommand's arguments at the guest command: options (and their values) of `sub`
// before it, then EXE [ARGS...] taken verbatim — from the first word that is not an option
// or an option's value, or from after `--`. CLI11 alone would parse the guest's own options.
struct SplitArgs {
  std::vector<std::string> options;  // to hand to CLI11 (program name and subcommand first)
  std::vector<std::string> command;  // EXE [ARGS...]
};
// With only_after_dashes, the command starts only after `--` (the subcommand has positional
// arguments of its own, as `catimg build CORE`).
SplitArgs SplitAtGuestCommand(int argc, char** argv, int first, const CLI::App& sub,
                              bool only_after_dashes = false);

// SplitAtGuestCommand for the subcommands in `with_command` (argv[1]), a plain copy otherwise.
SplitArgs SplitCommandLine(int argc, char** argv, const CLI::App& app,
                           const std::vector<std::string>& with_command, bool only_after_dashes);
// Parses the options part with CLI11 (throws CLI::ParseError like CLI::App::parse).
void ParseOptions(CLI::App& app, const SplitArgs& split);

// Writes "catload: LINE" to stderr ("catload: [ID] LINE" with an invocation id).
Logger StderrLogger(std::string invocation_id = "");
void PrintError(const std::string& message);

// catload's own exit codes (the guest's come through unchanged): 125 = catload failed
// (usage, setup), 126 = the executable cannot be run, 127 = the executable was not found.
constexpr int kExitCatloadError = 125;
constexpr int kExitCannotExecute = 126;
constexpr int kExitNotFound = 127;

}  // namespace cat::cli

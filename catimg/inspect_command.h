// `catimg inspect FN.cfi [--json]`: what is in a func-image, as tables for people or as one
// JSON object for scripts. The renderers are plain functions so tests can call them.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "format/image/func_image.h"

namespace cat::catimg {

// Human-readable tables: header, function, provenance, registers, segments, arena, objects.
std::string InspectText(const FuncImage& image);
// The same data as one JSON object (one line, newline-terminated). 64-bit hashes and the
// fingerprint are "0x..." strings, because JSON numbers above 2^53 lose precision in most
// readers; sizes, offsets and addresses are numbers.
std::string InspectJson(const FuncImage& image);

// "r-x" for PROT_READ|PROT_EXEC.
std::string ProtString(uint32_t prot);

// Registers the subcommand; the returned function runs it after parsing and gives the exit code.
std::function<int()> AddInspectCommand(CLI::App& app);

}  // namespace cat::catimg

// The subcommands of the dynamically linked catload-serve binary (spec/serve.md, "Binaries"):
// `catload serve` and `catload invoke`, which the static catload hands over to it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace cat::cli {

std::function<int()> AddServeCommand(CLI::App& app);
std::function<int()> AddInvokeCommand(CLI::App& app);

}  // namespace cat::cli

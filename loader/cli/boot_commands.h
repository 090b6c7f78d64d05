// `catload capture`, `catload restore` and `catload run`: snapshot a function at its
// func-entry point, and boot it again from the checkpoint (conventional restore) or from a
// func-image (cold boot).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace cat::cli {

std::function<int(std::vector<std::string>)> AddCaptureCommand(CLI::App& app);
std::function<int()> AddRestoreCommand(CLI::App& app);
std::function<int()> AddRunCommand(CLI::App& app);

}  // namespace cat::cli

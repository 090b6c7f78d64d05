// `catimg build`: compile a checkpoint (or capture an executable first) into a func-image.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace cat::catimg {

std::function<int(std::vector<std::string>)> AddBuildCommand(CLI::App& app);

}  // namespace cat::catimg

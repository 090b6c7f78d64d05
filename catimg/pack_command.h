// `catimg pack FN.cfi -o oci:DIR[:TAG]` and `catimg unpack oci:DIR[:TAG] -o DIR`.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace cat::catimg {

std::function<int()> AddPackCommand(CLI::App& app);
std::function<int()> AddUnpackCommand(CLI::App& app);

}  // namespace cat::catimg

// The boot paths an instance can take, named as they appear in CLI flags, URLs, headers, logs
// and metrics: cold (cold_boot.h), warm (warm_boot.h) and fork (fork_boot.h).
#pragma once

#include <optional>
#include <string_view>

namespace cat {

enum class BootMode { kCold, kWarm, kFork };

std::string_view BootModeName(BootMode mode);
std::optional<BootMode> ParseBootMode(std::string_view name);

}  // namespace cat

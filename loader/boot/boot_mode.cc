// Names of the boot modes (see boot_mode.h).
#include "loader/boot/boot_mode.h"

namespace cat {

std::string_view BootModeName(BootMode mode) {
  switch (mode) {
    case BootMode::kCold:
      return "cold";
    case BootMode::kWarm:
      return "warm";
    case BootMode::kFork:
      return "fork";
  }
  return "?";
}

std::optional<BootMode> ParseBootMode(std::string_view name) {
  for (BootMode m : {BootMode::kCold, BootMode::kWarm, BootMode::kFork})
    if (BootModeName(m) == name) return m;
  return std::nullopt;
}

}  // namespace cat

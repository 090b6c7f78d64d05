// Names of x86-64 Linux syscalls, for diagnostics.
#pragma once

#include <cstdint>
#include <string_view>

namespace cat {
std::string_view SyscallName(uint64_t nr);
}

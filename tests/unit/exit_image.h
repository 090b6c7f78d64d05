// A tiny func-image for tests that run a real guest: one code page that writes "ok\n" to fd 1
// and exits 3 (an explicit func-entry image, resumed at its first instruction), with the
// minimal kernel state of state_fixture.h.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "format/image/func_image.h"
#include "format/state/layout_fingerprint.h"
#include "tests/unit/state_fixture.h"

namespace cat::testing {

// write(1, "ok\n", 3); exit_group(3)
inline constexpr unsigned char kWriteOkThenExit3[] = {
    0xb8, 0x01, 0x00, 0x00, 0x00,              // mov eax, 1 (write)
    0xbf, 0x01, 0x00, 0x00, 0x00,              // mov edi, 1
    0x48, 0x8d, 0x35, 0x13, 0x00, 0x00, 0x00,  // lea rsi, [rip + 19] (the message)
    0xba, 0x03, 0x00, 0x00, 0x00,              // mov edx, 3
    0x0f, 0x05,                                // syscall
    0xb8, 0xe7, 0x00, 0x00, 0x00,              // mov eax, 231 (exit_group)
    0xbf, 0x03, 0x00, 0x00, 0x00,              // mov edi, 3
    0x0f, 0x05,                                // syscall
    'o',  'k',  '\n'};

inline Status WriteExit3Image(const std::string& path) {
  std::vector<uint8_t> code(4096, 0);
  std::copy(std::begin(kWriteOkThenExit3), std::end(kWriteOkThenExit3), code.begin());
  FuncImageSpec spec;
  spec.function = {"exit3", "/bin/exit3", {"exit3"}, {}, "explicit", "", {}};
  spec.layout_fingerprint = state::StateLayoutFingerprint();
  spec.regs.rip = 0x400000;
  spec.regs.cs = 0x33;  // user code and data selectors: the host refuses others
  spec.regs.ss = 0x2b;
  spec.regs.eflags = 0x202;
  spec.segments = {{0x400000, 4096, PROT_READ | PROT_EXEC, 0, code.data()}};
  const state::ArenaImage arena = MinimalArena();
  spec.arena = arena.bytes;
  spec.relocations = arena.relocations;
  return WriteFuncImage(path, spec);
}

}  // namespace cat::testing

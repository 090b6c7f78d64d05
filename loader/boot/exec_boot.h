// The exec boot path: load a static executable into a fresh sandbox the way Linux's execve
// does (segments, brk, an initial stack with argv, envp and auxv) and point the vCPU at its
// entry. This is the from-scratch baseline every other boot path is measured against.
#pragma once

#include <string>
#include <vector>

#include "format/base/error.h"
#include "loader/boot/elf_image.h"
#include "loader/boot/sandbox.h"
#include "loader/kernel/program_loader.h"  // kPieBase, kStackTop, kStackSize

namespace cat {

Status LoadExecutable(Sandbox& sandbox, const ElfImage& image, const std::vector<std::string>& argv,
                      const std::vector<std::string>& envp);

}  // namespace cat

// core_strip: rewrites a checkpoint (ELF core) with every PT_LOAD's bytes left out (p_filesz 0,
// as for an unreadable VMA), keeping the notes: metadata, registers, VMAs and the kernel state
// stream. The result is kilobytes instead of the guest's memory, a seed for the checkpoint fuzz
// target whose mutations then land in what the reader parses. Usage: core_strip IN OUT.
#include <cerrno>
#include <cstdio>

#include "format/checkpoint/checkpoint.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr,
                 "usage: core_strip IN.core OUT.core: copy a checkpoint without its memory bytes\n");
    return 2;
  }
  auto cp = cat::ReadCheckpoint(argv[1]);
  if (!cp) {
    std::fprintf(stderr, "core_strip: %s\n", cp.error().message().c_str());
    return 1;
  }
  // Every read fails as for PROT_NONE pages: the writer then stores no bytes for the VMA.
  auto unreadable = [](uint64_t, void*, size_t) -> cat::Status {
    return cat::Fail(EFAULT, "left out by core_strip");
  };
  if (auto st = cat::WriteCheckpoint(argv[2], cp->contents, unreadable); !st) {
    std::fprintf(stderr, "core_strip: %s\n", st.error().message().c_str());
    return 1;
  }
  return 0;
}

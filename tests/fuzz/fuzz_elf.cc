// Fuzz target: an executable as `catload exec` and `catload capture` meet it (ReadElfImage:
// ELF header, program headers, every segment bounds-checked against the file).
#include <cstddef>
#include <cstdint>

#include "loader/boot/elf_image.h"
#include "tests/fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cat::fuzz::InputFile file(data, size);
  if (!file.ok()) return 0;
  (void)cat::ReadElfImage(file.path());
  return 0;
}

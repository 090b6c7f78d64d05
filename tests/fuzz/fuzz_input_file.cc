// InputFile: see fuzz_input_file.h.
#include "tests/fuzz/fuzz_input_file.h"

#include <sys/mman.h>
#include <unistd.h>

namespace cat::fuzz {

InputFile::InputFile(const uint8_t* data, size_t size) {
  UniqueFd fd(memfd_create("fuzz-input", MFD_CLOEXEC));
  if (!fd.valid()) return;
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd.get(), data + done, size - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
  path_ = "/proc/self/fd/" + std::to_string(fd.get());
  fd_ = std::move(fd);
}

}  // namespace cat::fuzz

// Fuzz target: a func-image as catimg and catload meet it. The input is opened as a .cfi
// (FuncImage::Open: header, manifest, bounds), then what `catimg verify` runs (VerifyImage:
// checksums, relocation entries, the arena's structural checks) and what `catimg inspect`
// renders, text and --json (which decodes the state arena). Each input runs twice: as it is
// (the checksum paths) and with every checksum resealed (tests/tools/cfi_edit), so mutations
// reach the structural checks behind the checksums instead of stopping at the first XXH3.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "catimg/inspect_command.h"
#include "catimg/verify_command.h"
#include "format/image/func_image.h"
#include "tests/fuzz/fuzz_input_file.h"
#include "tests/tools/cfi_edit.h"

namespace {

void RunImage(const uint8_t* data, size_t size) {
  cat::fuzz::InputFile file(data, size);
  if (!file.ok()) return;
  (void)cat::catimg::VerifyImage(file.path());
  auto image = cat::FuncImage::Open(file.path());
  if (!image) return;
  (void)cat::catimg::InspectText(*image);
  (void)cat::catimg::InspectJson(*image);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  RunImage(data, size);
  auto img = cat::testing::LoadImage(std::vector<uint8_t>(data, data + size), "fuzz input");
  if (img) {
    const std::vector<uint8_t> sealed = cat::testing::ResealImage(*img);
    RunImage(sealed.data(), sealed.size());
  }
  return 0;
}

// `catimg verify`: Open() checks the header and manifest checksums and every bound; Verify()
// hashes the bulk parts that cold boot deliberately does not hash. Together they cover every
// byte the image stores.
#include "catimg/verify_command.h"

#include <cstdio>
#include <memory>

#include "catimg/cli_common.h"
#include "format/image/func_image.h"

namespace cat::catimg {

VerifyOutcome VerifyImage(const std::string& path) {
  auto image = FuncImage::Open(path);
  if (!image) return {kExitBadImage, "", image.error().message()};
  auto bad = image->Verify();
  if (!bad) return {kExitBadImage, "", bad.error().Context("func-image " + path).message()};
  if (bad->empty()) {
    const size_t n = image->segments().size();
    return {kExitOk,
            path + ": ok (" + std::to_string(n) + (n == 1 ? " segment" : " segments") + ", arena " +
                std::to_string(image->arena_size()) + " bytes, " +
                std::to_string(image->relocation_count()) + " relocations)\n",
            ""};
  }
  std::string out;
  for (const std::string& line : *bad) out += path + ": " + line + "\n";
  return {kExitBadImage, out, ""};
}

std::function<int()> AddVerifyCommand(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "verify",
      "Check every checksum of a func-image (header, manifest, each stored segment, the arena, "
      "the relocation table), every bound, and the state arena with the structural verifier cold "
      "boot runs (naming the first bad object). Prints \"FN.cfi: ok (...)\" and exits 0, or "
      "prints one line per bad part and exits 1.");
  sub->add_option("image", *path, "the func-image (.cfi)")->required();
  sub->footer(
      "Example:\n"
      "  catimg verify fn.cfi && catload run fn.cfi < request.json");
  return [path]() {
    const VerifyOutcome r = VerifyImage(*path);
    if (!r.error.empty()) PrintError(r.error);
    std::fwrite(r.stdout_text.data(), 1, r.stdout_text.size(), stdout);
    std::fflush(stdout);
    return r.exit_code;
  };
}

}  // namespace cat::catimg

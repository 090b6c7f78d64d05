// Fuzz target: an OCI bundle's config.json as catload-oci's `create` meets it
// (oci::ParseBundleConfig: nlohmann-json without exceptions, every field's type checked, a
// wrong type an error and never an exception out of the parser), then what create does next
// with the parsed strings: process.args[0] found through PATH and the rootfs, the cwd and every
// bind mount's destination resolved inside the rootfs (oci::FindProgram, ResolveInRootfs:
// symlinks followed inside it, '..' stopped at its root). The input is the config's text. The
// rootfs is a small fixed tree made once in a temporary directory, with the symlinks an image
// may hold (absolute, relative, escaping with '..', a loop), always used in place of the
// config's root.path so that no input can point the resolver at a host directory. Every
// resolved path must stay inside that rootfs: anything else is a finding (abort).
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "loader/oci/bundle_config.h"
#include "loader/oci/rootfs_path.h"

namespace {

// The bundle directory (BUNDLE/rootfs), made on the first input and removed at exit. Never
// destroyed: the atexit handler runs after static destructors registered later (the first
// libFuzzer run found that use after free).
const std::string& Bundle() {
  static const std::string& dir = *new std::string([] {
    char tmpl[] = "/tmp/catalyzer-fuzz-bundle.XXXXXX";
    if (!mkdtemp(tmpl)) abort();
    const std::string b = tmpl, r = b + "/rootfs";
    std::error_code ec;
    std::filesystem::create_directories(r + "/usr/bin", ec);
    std::filesystem::create_directories(r + "/fn/data", ec);
    if (FILE* f = std::fopen((r + "/usr/bin/busybox").c_str(), "w")) std::fclose(f);
    std::filesystem::permissions(r + "/usr/bin/busybox", std::filesystem::perms(0755), ec);
    std::filesystem::create_directory_symlink("usr/bin", r + "/bin", ec);
    std::filesystem::create_symlink("/usr/bin/busybox", r + "/usr/bin/sh", ec);
    std::filesystem::create_symlink("../../../../etc", r + "/fn/escape", ec);
    std::filesystem::create_symlink("loop", r + "/fn/loop", ec);
    std::filesystem::create_symlink("/", r + "/fn/root", ec);
    std::atexit([] {
      std::error_code e;
      std::filesystem::remove_all(Bundle(), e);
    });
    return b;
  }());
  return dir;
}

// A resolved host path must be the rootfs or below it.
void MustBeInside(const std::string& rootfs, const std::string& host) {
  if (host == rootfs ||
      (host.size() > rootfs.size() && host.starts_with(rootfs) && host[rootfs.size()] == '/'))
    return;
  std::fprintf(stderr, "fuzz_oci_bundle: '%s' resolved outside the rootfs %s\n", host.c_str(),
               rootfs.c_str());
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& bundle = Bundle();
  const std::string rootfs = bundle + "/rootfs";
  auto config =
      cat::oci::ParseBundleConfig(bundle, std::string(reinterpret_cast<const char*>(data), size));
  if (!config) return 0;
  if (!config->args.empty())
    if (auto exe = cat::oci::FindProgram(rootfs, config->args[0], config->env, config->cwd))
      MustBeInside(rootfs, *exe);
  if (auto cwd = cat::oci::ResolveInRootfs(rootfs, config->cwd)) MustBeInside(rootfs, *cwd);
  for (const cat::MountSpec& m : config->binds)
    if (auto dest = cat::oci::ResolveInRootfs(rootfs, m.guest, config->cwd))
      MustBeInside(rootfs, *dest);
  return 0;
}

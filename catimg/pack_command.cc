// `catimg pack`: the CLI around oci::Pack (catimg/oci/pack.h): options, progress on a
// terminal, and the summary of what was written.
#include "catimg/pack_command.h"

#include <unistd.h>

#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>

#include "catimg/cli_common.h"
#include "catimg/oci/pack.h"
#include "catimg/oci/unpack.h"
#include "format/base/temp_file.h"
#include "loader/cli/cli_common.h"

namespace cat::catimg {
namespace {

// Sizes as people read them: bytes, KiB or MiB with one decimal.
std::string Mib(uint64_t bytes) {
  char buf[32];
  if (bytes < 10 * 1024)
    std::snprintf(buf, sizeof buf, "%" PRIu64 " B", bytes);
  else if (bytes < 10 << 20)
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024);
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// A word for the shell: quoted when it holds anything but safe characters.
std::string ShellWord(const std::string& s) {
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._-:=+,@", c))) {
      std::string q = "'";
      for (char d : s) q += d == '\'' ? std::string("'\\''") : std::string(1, d);
      return q + "'";
    }
  return s;
}

struct PackArgs {
  std::string image;
  std::string out;
  std::string compression = "zstd";
  std::string rootfs;
  std::vector<std::string> mounts;
  bool quiet = false;
};

int RunPack(const PackArgs& a) {
  auto ref = oci::ParseImageRef(a.out);
  if (!ref) {
    PrintError("pack: " + ref.error().message());
    return kExitUsage;
  }
  if (ref->tag.empty()) ref->tag = "latest";
  oci::PackOptions o;
  o.image = a.image;
  o.out = *ref;
  o.compression = a.compression == "gzip" ? oci::Compression::kGzip : oci::Compression::kZstd;
  o.rootfs = a.rootfs;
  for (const std::string& m : a.mounts) {
    auto spec = ParseMountSpec(m);
    if (!spec) {
      PrintError("pack: --mount " + m + ": " + spec.error().message());
      return kExitUsage;
    }
    o.mounts.push_back(*spec);
  }
  // Progress only where someone watches: a terminal on stderr, one line rewritten in place.
  const bool tty = !a.quiet && isatty(2);
  if (tty)
    o.progress = [](const std::string& layer, uint64_t bytes) {
      std::fprintf(stderr, "\rcatimg pack: layer %s: %s   ", layer.c_str(), Mib(bytes).c_str());
    };
  InstallTempFileCleanup();
  auto r = oci::Pack(o);
  if (tty) std::fputs("\r\033[K", stderr);
  if (!r) {
    PrintError("pack: " + r.error().message());
    return kExitBadImage;
  }
  if (a.quiet) return kExitOk;
  std::string out = "oci:" + ref->dir + ":" + ref->tag + "\n";
  out += "  manifest  " + r->manifest.digest + "  " + std::to_string(r->manifest.size) + " bytes\n";
  out += "  config    " + r->config.digest + "  " + std::to_string(r->config.size) + " bytes\n";
  for (size_t i = 0; i < r->layers.size(); ++i) {
    const oci::PackedLayer& l = r->layers[i];
    const double ratio =
        l.layer.blob.size ? static_cast<double>(l.layer.tar_size) / l.layer.blob.size : 0.0;
    char line[512];
    std::snprintf(line, sizeof line,
                  "  layer %zu   %-10s %-24s %" PRIu64 " files, %" PRIu64 " dirs, %" PRIu64
                  " symlinks; tar %s -> %s (%.1fx)\n            %s  from %s\n",
                  i + 1, l.kind.c_str(), l.guest.c_str(), l.layer.files, l.layer.dirs,
                  l.layer.symlinks, Mib(l.layer.tar_size).c_str(), Mib(l.layer.blob.size).c_str(),
                  ratio, l.layer.blob.digest.c_str(), l.host.c_str());
    out += line;
    for (const std::string& s : l.layer.skipped)
      out += "            skipped (not a file, directory or symlink): " + s + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? kExitOk : kExitBadImage;
}

struct UnpackArgs {
  std::string in;
  std::string out;
  std::string max_size;
  uint64_t max_entries = oci::UnpackLimits::kDefaultEntries;
  bool quiet = false;
};

int RunUnpack(const UnpackArgs& a) {
  auto ref = oci::ParseImageRef(a.in);
  if (!ref) {
    PrintError("unpack: " + ref.error().message());
    return kExitUsage;
  }
  const bool tty = !a.quiet && isatty(2);
  std::function<void(size_t, size_t, uint64_t)> progress;
  if (tty)
    progress = [](size_t layer, size_t of, uint64_t bytes) {
      std::fprintf(stderr, "\rcatimg unpack: layer %zu of %zu: %s   ", layer, of,
                   Mib(bytes).c_str());
    };
  oci::UnpackLimits limits;
  limits.max_entries = a.max_entries;
  if (!a.max_size.empty()) limits.max_bytes = *cli::ParseSize(a.max_size);  // checked by CLI11
  auto r = oci::Unpack(*ref, a.out, progress, limits);
  if (tty) std::fputs("\r\033[K", stderr);
  if (!r) {
    PrintError("unpack: " + a.in + ": " + r.error().message());
    return kExitBadImage;
  }
  if (a.quiet) return kExitOk;
  std::string out = a.in + " -> " + a.out + "\n";
  out += "  manifest  " + r->manifest.digest + " (every digest verified)\n";
  for (size_t i = 0; i < r->layers.size(); ++i) {
    const oci::UnpackedLayer& l = r->layers[i];
    char line[512];
    std::snprintf(line, sizeof line,
                  "  layer %zu   %-10s %-24s %" PRIu64 " files, %" PRIu64 " dirs, %" PRIu64
                  " symlinks; %s -> tar %s\n",
                  i + 1, l.kind.empty() ? "-" : l.kind.c_str(),
                  l.guest.empty() ? "-" : l.guest.c_str(), l.stats.files, l.stats.dirs,
                  l.stats.symlinks, Mib(l.blob.size).c_str(), Mib(l.stats.tar_bytes).c_str());
    out += line;
  }
  if (!r->func_image.empty()) {
    // The command line that boots it from here: the unpacked tree is the guest's root, and
    // each mount is its own directory inside it (spec/oci.md, "Unpacking").
    std::string cmd = "catload run";
    if (r->root == "rootfs") cmd += " --rootfs " + ShellWord(a.out);
    for (const std::string& m : r->mounts) {
      const size_t colon = m.rfind(':');
      const std::string guest = m.substr(0, colon);
      const std::string mode = colon == std::string::npos ? "ro" : m.substr(colon + 1);
      cmd += " --mount " + ShellWord(a.out + guest + ":" + guest + ":" + mode);
    }
    cmd += " " + ShellWord(r->func_image);
    out += "  func-image " + r->func_image + "\n  boot it with: " + cmd + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? kExitOk : kExitBadImage;
}

}  // namespace

std::function<int()> AddUnpackCommand(CLI::App& app) {
  auto a = std::make_shared<UnpackArgs>();
  CLI::App* sub = app.add_subcommand(
      "unpack",
      "Unpack an OCI image (one `catimg pack` wrote, or any image of files, directories and "
      "symlinks) into a new directory: the union of its layers, as a container engine would "
      "make it, with the func-image at DIR/.catalyzer/function.cfi. Every digest is verified "
      "first (manifest, config, each layer blob; each layer's diff_id while it is unpacked) and "
      "a mismatch is refused in one line; so is a layer entry with an absolute path, '..', a "
      "path through a symlink, a hard link out of the image, or a device, and an image whose "
      "layers unpack to more than --max-unpacked-size or --max-entries (a decompression bomb). "
      "Nothing is left behind on failure.");
  sub->add_option("image", a->in, "oci:DIR[:TAG] (TAG may be left out when DIR holds one image)")
      ->required();
  sub->add_option("-o,--output", a->out, "the directory to create (must not exist)")->required();
  sub->add_option("--max-unpacked-size", a->max_size,
                  "refuse an image whose layers, uncompressed, hold more than SIZE bytes in all "
                  "(K/M/G/T suffixes; default " +
                      oci::SizeText(oci::UnpackLimits::kDefaultBytes) + ")")
      ->check(cli::SizeValidator());
  sub->add_option("--max-entries", a->max_entries,
                  "refuse an image whose layers hold more than N entries in all (default " +
                      std::to_string(oci::UnpackLimits::kDefaultEntries) + ")")
      ->check(CLI::PositiveNumber);
  sub->add_flag("-q,--quiet", a->quiet, "print nothing but errors");
  sub->footer(
      "Prints what it unpacked and the `catload run` command line that boots the function from "
      "the directory.\nExample:\n"
      "  catimg unpack oci:/srv/images:fn -o /srv/fn && catload run --rootfs /srv/fn "
      "/srv/fn/.catalyzer/function.cfi < req");
  return [a] { return RunUnpack(*a); };
}

std::function<int()> AddPackCommand(CLI::App& app) {
  auto a = std::make_shared<PackArgs>();
  CLI::App* sub = app.add_subcommand(
      "pack",
      "Pack a func-image and the host directories it was captured with (its rootfs and mounts) "
      "into an OCI image layout that skopeo, containerd and podman accept (spec/oci.md): one "
      "layer per directory (the rootfs at /, each mount at its guest path), the func-image's "
      "layer last at /.catalyzer/function.cfi, the function's metadata as labels and "
      "annotations (dev.catalyzer.*). Reproducible: the same inputs give the same digests.");
  sub->add_option("image", a->image, "the func-image (.cfi)")->required();
  sub->add_option("-o,--output", a->out,
                  "oci:DIR[:TAG], the image layout to write or add to (TAG defaults to latest; "
                  "another tag in DIR is kept, the same tag replaced)")
      ->required();
  sub->add_option("--compression", a->compression,
                  "layer compression: zstd (the default, media type "
                  "application/vnd.oci.image.layer.v1.tar+zstd) or gzip (tar+gzip, for older "
                  "clients)")
      ->check(CLI::IsMember({"zstd", "gzip"}));
  sub->add_option("--rootfs", a->rootfs,
                  "pack this directory as the rootfs instead of the path recorded at capture");
  sub->add_option("--mount", a->mounts,
                  "HOST:GUEST: pack HOST as the mount at GUEST instead of the recorded path "
                  "(repeatable)");
  sub->add_flag("-q,--quiet", a->quiet, "print nothing but errors");
  sub->footer(
      "Progress is shown on stderr when it is a terminal; the summary (digests, sizes) goes "
      "to stdout.\nExamples:\n"
      "  catimg pack fn.cfi -o oci:/srv/images:fn\n"
      "  skopeo copy oci:/srv/images:fn docker://registry:5000/fn:1\n"
      "  catimg unpack oci:/srv/images:fn -o /srv/fn");
  return [a] { return RunPack(*a); };
}

}  // namespace cat::catimg

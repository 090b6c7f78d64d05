// Pack: layers first (each streamed into its blob), then the config that lists their diff_ids,
// the manifest that lists the blobs, and the index entry for the tag (pack.h).
#include "catimg/oci/pack.h"

#include <algorithm>
#include <cinttypes>
#include <climits>
#include <cstdlib>

#include "format/base/cpu_features.h"
#include "format/image/func_image.h"

namespace cat::oci {
namespace {

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
  return buf;
}

// The labels of the config and the annotations of the manifest: the same map.
nlohmann::json Annotations(const FuncImage& img) {
  const FunctionInfo& f = img.function();
  nlohmann::json mounts = nlohmann::json::array();
  for (const std::string& r : f.mounts)
    if (auto m = ParseMountRecord(r)) mounts.push_back(m->guest + (m->read_write ? ":rw" : ":ro"));
  nlohmann::json out = {
      {std::string(kAnnFuncImage), std::string(kFuncImagePath)},
      {std::string(kAnnName), f.name},
      {std::string(kAnnEntry), f.entry_kind},
      {std::string(kAnnArgv), nlohmann::json(f.argv).dump()},
      {std::string(kAnnEnv), nlohmann::json(f.env).dump()},
      {std::string(kAnnRoot), f.rootfs.empty() ? "empty" : "rootfs"},
      {std::string(kAnnMounts), mounts.dump()},
      {std::string(kAnnFormat), std::to_string(img.major()) + "." + std::to_string(img.minor())},
      {std::string(kAnnFingerprint), Hex(img.layout_fingerprint())},
      {std::string(kAnnCheckpoint), Hex(img.provenance().checkpoint_hash)},
      {std::string(kAnnCatimg), img.provenance().catimg_version},
      {std::string(kAnnPackedBy), "catimg 0.1.0"},
      {std::string(kTitle), f.name},
  };
  if (img.cpu().recorded()) {
    std::string names;
    for (const std::string& n : CpuFeatureNames(img.cpu())) names += (names.empty() ? "" : " ") + n;
    out[std::string(kAnnCpuFeatures)] = names;
    out[std::string(kAnnCpuVendor)] = img.cpu().vendor;
  }
  return out;
}

Result<std::string> RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (!realpath(path.c_str(), buf)) return FailErrno("resolve " + path);
  return std::string(buf);
}

}  // namespace

Result<PackResult> Pack(const PackOptions& o) {
  TRY(FuncImage img, FuncImage::Open(o.image));
  // A damaged image is refused here rather than distributed: every checksum is checked.
  TRY(std::vector<std::string> bad, img.Verify());
  if (!bad.empty()) return Fail(EBADMSG, "func-image " + o.image + ": " + bad.front());
  const FunctionInfo& f = img.function();

  // What to pack, in layer order: the rootfs, the mounts by guest path (a parent before what
  // is mounted inside it, so that its opaque whiteout hides only the rootfs), the image.
  struct Planned {
    std::string kind, guest, host;
    bool read_write = false;
  };
  std::vector<Planned> plan;
  if (!f.rootfs.empty()) plan.push_back({"rootfs", "/", o.rootfs.empty() ? f.rootfs : o.rootfs});
  std::vector<MountSpec> mounts;
  for (const std::string& r : f.mounts) {
    TRY(MountSpec m, ParseMountRecord(r));
    mounts.push_back(m);
  }
  std::sort(mounts.begin(), mounts.end(),
            [](const MountSpec& a, const MountSpec& b) { return a.guest < b.guest; });
  for (const MountSpec& given : o.mounts)
    if (std::none_of(mounts.begin(), mounts.end(),
                     [&](const MountSpec& m) { return m.guest == given.guest; }))
      return Fail(EINVAL, "--mount " + MountRecord(given) + ": the function has no mount at " +
                              given.guest);
  if (!o.rootfs.empty() && f.rootfs.empty())
    return Fail(EINVAL, "--rootfs " + o.rootfs +
                            ": the function was captured with an empty root; drop --rootfs");
  for (const MountSpec& m : mounts) {
    std::string host = m.host;
    for (const MountSpec& given : o.mounts)
      if (given.guest == m.guest) host = given.host;
    plan.push_back({"mount", m.guest, host, m.read_write});
  }
  TRY(std::string image_path, RealPath(o.image));
  plan.push_back({"func-image", std::string(kFuncImagePath), image_path});

  TRY_STATUS(InitLayout(o.out.dir));
  PackResult result;
  nlohmann::json diff_ids = nlohmann::json::array();
  nlohmann::json history = nlohmann::json::array();
  nlohmann::json layers = nlohmann::json::array();
  for (const Planned& p : plan) {
    const std::string label = p.kind == "mount" ? "mount " + p.guest : p.kind;
    LayerSource src;
    src.kind = p.kind == "func-image" ? LayerSource::Kind::kFile : LayerSource::Kind::kTree;
    src.host_path = p.host;
    src.guest_path = p.guest;
    src.opaque = p.kind == "mount";
    Progress progress;
    if (o.progress) progress = [&](uint64_t bytes) { o.progress(label, bytes); };
    auto written = WriteLayer(o.out.dir, src, o.compression, progress);
    if (!written) {
      std::string hint;
      if (written.error().code() == ENOENT && p.kind == "rootfs")
        hint = " (the path the image was captured with; pass --rootfs DIR)";
      if (written.error().code() == ENOENT && p.kind == "mount")
        hint = " (the path the image was captured with; pass --mount HOST:" + p.guest + ")";
      return Fail(written.error().code(),
                  "layer " + label + ": " + written.error().message() + hint);
    }
    if (o.progress) o.progress(label, written->tar_size);
    diff_ids.push_back(written->diff_id);
    history.push_back({{"created_by", "catimg pack: " + label + " from " + p.host}});
    nlohmann::json d = written->blob.ToJson();
    d["annotations"] = {{std::string(kAnnLayerKind), p.kind},
                        {std::string(kAnnLayerGuest), p.guest}};
    if (p.kind != "func-image")
      d["annotations"][std::string(kAnnLayerMode)] =
          p.kind == "rootfs" || !p.read_write ? "ro" : "rw";
    layers.push_back(d);
    result.layers.push_back({p.kind, p.guest, p.host, std::move(*written)});
  }

  const nlohmann::json annotations = Annotations(img);
  nlohmann::json env = nlohmann::json::array();
  for (const std::string& e : f.env) env.push_back(e);
  // No "created" time anywhere: same input, same digests.
  const nlohmann::json config = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"config", {{"Cmd", f.argv}, {"Env", env}, {"WorkingDir", "/"}, {"Labels", annotations}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}},
      {"history", history},
  };
  TRY(result.config, WriteBlob(o.out.dir, config.dump(), std::string(kMediaConfig)));
  const nlohmann::json manifest = {
      {"schemaVersion", 2},
      {"mediaType", std::string(kMediaManifest)},
      {"config", result.config.ToJson()},
      {"layers", layers},
      {"annotations", annotations},
  };
  TRY(result.manifest, WriteBlob(o.out.dir, manifest.dump(), std::string(kMediaManifest)));
  TRY_STATUS(PutIndexEntry(o.out.dir, o.out.tag, result.manifest,
                           {{"architecture", "amd64"}, {"os", "linux"}}));
  return result;
}

}  // namespace cat::oci

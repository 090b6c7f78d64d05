// Unpack (unpack.h): verify everything, then unpack into a staging directory, then rename.
#include "catimg/oci/unpack.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

#include "catimg/oci/image_layout.h"

namespace cat::oci {
namespace {

constexpr uint64_t kDocumentLimit = 4 << 20;

Result<nlohmann::json> ParseDocument(const std::string& text, const std::string& what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Fail(EBADMSG, what + " is not a JSON object");
  return j;
}

std::string StringAt(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return "";
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// Removes the staging directory unless the unpack succeeded.
struct Staging {
  std::string path;
  bool keep = false;
  ~Staging() {
    if (path.empty() || keep) return;
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

Result<UnpackResult> Unpack(
    const ImageRef& in, const std::string& out_dir,
    const std::function<void(size_t layer, size_t of, uint64_t bytes)>& progress,
    const UnpackLimits& limits) {
  UnpackResult r;
  TRY(r.manifest, FindManifest(in.dir, in.tag));
  TRY(std::string manifest_text,
      WithContext(ReadBlob(in.dir, r.manifest, kDocumentLimit), "manifest"));
  TRY(nlohmann::json manifest, ParseDocument(manifest_text, "the manifest"));
  if (StringAt(manifest, "mediaType") != kMediaManifest && manifest.contains("mediaType"))
    return Fail(ENOTSUP, "the manifest's media type is not " + std::string(kMediaManifest));
  if (!manifest.contains("config") || !manifest.contains("layers") ||
      !manifest["layers"].is_array())
    return Fail(EBADMSG, "the manifest has no config or no layers array");
  TRY(Descriptor config_d, ParseDescriptor(manifest["config"], "manifest config"));
  if (config_d.media_type != kMediaConfig)
    return Fail(ENOTSUP, "the config's media type is " + config_d.media_type + ", not " +
                             std::string(kMediaConfig));
  TRY(std::string config_text, WithContext(ReadBlob(in.dir, config_d, kDocumentLimit), "config"));
  TRY(nlohmann::json config, ParseDocument(config_text, "the config"));
  const nlohmann::json& layers = manifest["layers"];
  const auto rootfs = config.find("rootfs");
  if (rootfs == config.end() || !rootfs->is_object() || !rootfs->contains("diff_ids") ||
      !(*rootfs)["diff_ids"].is_array())
    return Fail(EBADMSG, "the config has no rootfs.diff_ids");
  const nlohmann::json& diff_ids = (*rootfs)["diff_ids"];
  if (diff_ids.size() != layers.size())
    return Fail(EBADMSG, "the config lists " + std::to_string(diff_ids.size()) +
                             " diff_ids for the manifest's " + std::to_string(layers.size()) +
                             " layers");
  std::vector<Descriptor> blobs;
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string what = "layer " + std::to_string(i + 1);
    TRY(Descriptor d, ParseDescriptor(layers[i], what));
    if (!diff_ids[i].is_string() || !IsSha256Digest(diff_ids[i].get<std::string>()))
      return Fail(EBADMSG, what + ": its diff_id is not a sha256 digest");
    // Every blob is checked before the first byte is unpacked.
    TRY_STATUS(WithContext(VerifyBlob(in.dir, d), what));
    blobs.push_back(d);
    const nlohmann::json ann =
        layers[i].contains("annotations") ? layers[i]["annotations"] : nlohmann::json::object();
    r.layers.push_back({StringAt(ann, kAnnLayerKind),
                        StringAt(ann, kAnnLayerGuest),
                        StringAt(ann, kAnnLayerMode),
                        d,
                        {}});
  }
  const nlohmann::json ann =
      manifest.contains("annotations") ? manifest["annotations"] : nlohmann::json::object();
  r.root = StringAt(ann, kAnnRoot);
  const nlohmann::json mounts = nlohmann::json::parse(StringAt(ann, kAnnMounts), nullptr, false);
  if (mounts.is_array())
    for (const nlohmann::json& m : mounts)
      if (m.is_string()) r.mounts.push_back(m.get<std::string>());

  // A fresh directory next to the output, so the rename is atomic and a failure leaves
  // nothing behind.
  if (access(out_dir.c_str(), F_OK) == 0)
    return Fail(EEXIST, out_dir + " exists: unpack writes a new directory");
  const std::filesystem::path out_path = std::filesystem::absolute(out_dir);
  std::string tmpl =
      (out_path.parent_path() / ("." + out_path.filename().string() + ".unpack-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) return FailErrno("create a directory next to " + out_dir);
  Staging staging{tmpl};
  char real[PATH_MAX];
  // Without symlinks in its own path: libarchive's SECURE_SYMLINKS checks every component.
  if (!realpath(staging.path.c_str(), real)) return FailErrno("resolve " + staging.path);
  chmod(real, 0755);
  UnpackState state;
  state.limits = limits;
  for (size_t i = 0; i < blobs.size(); ++i) {
    if (progress) {
      progress(i + 1, blobs.size(), 0);
      state.progress = [&progress, i, n = blobs.size()](uint64_t bytes) {
        progress(i + 1, n, bytes);
      };
    }
    TRY(r.layers[i].stats, ExtractLayer(in.dir, blobs[i], diff_ids[i].get<std::string>(), real,
                                        state, "layer " + std::to_string(i + 1)));
  }
  if (rename(staging.path.c_str(), out_dir.c_str()) != 0)
    return FailErrno("rename " + staging.path + " to " + out_dir);
  staging.keep = true;
  const std::string cfi = out_dir + std::string(kFuncImagePath);
  if (state.files.count(std::string(kFuncImagePath.substr(1)))) r.func_image = cfi;
  return r;
}

}  // namespace cat::oci

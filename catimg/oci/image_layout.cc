// OCI image-layout directory operations (image_layout.h).
#include "catimg/oci/image_layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "catimg/oci/oci_spec.h"
#include "format/base/unique_fd.h"

namespace cat::oci {
namespace {

// JSON documents larger than this are refused before they are read (a manifest of a few
// hundred layers is a few hundred KiB; the limit keeps a hostile index from costing memory).
constexpr uint64_t kIndexLimit = 4 << 20;

Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return {};
  return FailErrno("mkdir " + path);
}

Status WriteWhole(int fd, std::string_view bytes, const std::string& what) {
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("write " + what);
    done += static_cast<size_t>(n);
  }
  return {};
}

Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  TRY(TempFile tmp, TempFile::Create(path, 0644));
  TRY_STATUS(WriteWhole(tmp.fd(), bytes, path));
  return tmp.Commit(path);
}

Result<std::string> ReadFileLimited(const std::string& path, uint64_t limit) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return FailErrno("open " + path);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return FailErrno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Fail(EINVAL, path + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > limit)
    return Fail(EFBIG, path + " has " + std::to_string(st.st_size) + " bytes, more than the " +
                           std::to_string(limit) + " a JSON document of a layout may have");
  std::string out(static_cast<size_t>(st.st_size), '\0');
  for (size_t done = 0; done < out.size();) {
    const ssize_t n = read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read " + path);
    if (n == 0) return Fail(EIO, path + " shrank while read");
    done += static_cast<size_t>(n);
  }
  return out;
}

Result<nlohmann::json> ParseJson(const std::string& text, const std::string& what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(EBADMSG, what + " is not valid JSON");
  if (!j.is_object()) return Fail(EBADMSG, what + " is not a JSON object");
  return j;
}

}  // namespace

nlohmann::json Descriptor::ToJson() const {
  return {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

Result<BlobWriter> BlobWriter::Create(const std::string& layout_dir) {
  // The temporary's name is derived from a fixed placeholder: the digest is known at the end.
  TRY(TempFile f, TempFile::Create(layout_dir + "/blobs/sha256/incoming", 0644));
  return BlobWriter(layout_dir, std::move(f));
}

Status BlobWriter::Write(const void* data, size_t size) {
  hash_.Update(data, size);
  size_ += size;
  return WriteWhole(file_.fd(), std::string_view(static_cast<const char*>(data), size),
                    "blob " + file_.path());
}

Result<Descriptor> BlobWriter::Commit(std::string media_type) {
  Descriptor d{std::move(media_type), hash_.Digest(), size_};
  TRY(std::string path, BlobPath(dir_, d.digest));
  TRY_STATUS(file_.Commit(path));
  return d;
}

Status InitLayout(const std::string& dir) {
  TRY_STATUS(MakeDir(dir));
  TRY_STATUS(MakeDir(dir + "/blobs"));
  TRY_STATUS(MakeDir(dir + "/blobs/sha256"));
  const std::string layout = dir + "/oci-layout";
  if (access(layout.c_str(), F_OK) == 0) return {};
  return WriteFileAtomically(
      layout, nlohmann::json{{"imageLayoutVersion", std::string(kLayoutVersion)}}.dump());
}

Result<Descriptor> WriteBlob(const std::string& layout_dir, std::string_view bytes,
                             std::string media_type) {
  TRY(BlobWriter w, BlobWriter::Create(layout_dir));
  TRY_STATUS(w.Write(bytes.data(), bytes.size()));
  return w.Commit(std::move(media_type));
}

Result<std::string> BlobPath(const std::string& layout_dir, const std::string& digest) {
  if (!IsSha256Digest(digest))
    return Fail(EBADMSG, "digest '" + digest.substr(0, 80) +
                             "' is not sha256: followed by 64 lowercase hex digits");
  return layout_dir + "/blobs/sha256/" + digest.substr(7);
}

Result<std::string> ReadBlob(const std::string& layout_dir, const Descriptor& d, uint64_t limit) {
  TRY(std::string path, BlobPath(layout_dir, d.digest));
  if (d.size > limit)
    return Fail(EFBIG, "blob " + d.digest + " claims " + std::to_string(d.size) +
                           " bytes, more than the " + std::to_string(limit) + " allowed");
  TRY(std::string bytes, ReadFileLimited(path, limit));
  if (bytes.size() != d.size)
    return Fail(EBADMSG, "blob " + d.digest + " has " + std::to_string(bytes.size()) +
                             " bytes, its descriptor says " + std::to_string(d.size));
  if (Sha256Digest(bytes) != d.digest)
    return Fail(EBADMSG, "blob " + d.digest + " does not match its digest (tampered or corrupt)");
  return bytes;
}

Status VerifyBlob(const std::string& layout_dir, const Descriptor& d) {
  TRY(std::string path, BlobPath(layout_dir, d.digest));
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return FailErrno("open blob " + d.digest);
  Sha256 h;
  uint64_t total = 0;
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read blob " + d.digest);
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  if (total != d.size)
    return Fail(EBADMSG, "blob " + d.digest + " has " + std::to_string(total) +
                             " bytes, its descriptor says " + std::to_string(d.size));
  if (h.Digest() != d.digest)
    return Fail(EBADMSG, "blob " + d.digest + " does not match its digest (tampered or corrupt)");
  return {};
}

Result<Descriptor> ParseDescriptor(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object() || !j.contains("mediaType") || !j["mediaType"].is_string() ||
      !j.contains("digest") || !j["digest"].is_string() || !j.contains("size") ||
      !j["size"].is_number_unsigned())
    return Fail(EBADMSG, what + ": not a descriptor (mediaType, digest, size)");
  Descriptor d{j["mediaType"].get<std::string>(), j["digest"].get<std::string>(),
               j["size"].get<uint64_t>()};
  if (!IsSha256Digest(d.digest))
    return Fail(EBADMSG, what + ": digest is not sha256: followed by 64 lowercase hex digits");
  return d;
}

Status PutIndexEntry(const std::string& layout_dir, const std::string& tag, const Descriptor& m,
                     const nlohmann::json& platform) {
  const std::string path = layout_dir + "/index.json";
  nlohmann::json manifests = nlohmann::json::array();
  if (access(path.c_str(), F_OK) == 0) {
    TRY(std::string text, ReadFileLimited(path, kIndexLimit));
    TRY(nlohmann::json old, ParseJson(text, path));
    if (old.contains("manifests") && old["manifests"].is_array())
      for (const nlohmann::json& e : old["manifests"]) {
        const auto ann = e.find("annotations");
        const bool same_tag = ann != e.end() && ann->is_object() && ann->contains(kRefName) &&
                              (*ann)[std::string(kRefName)] == tag;
        if (!same_tag) manifests.push_back(e);
      }
  }
  nlohmann::json entry = m.ToJson();
  entry["platform"] = platform;
  entry["annotations"] = {{std::string(kRefName), tag}};
  manifests.push_back(entry);
  auto tag_of = [](const nlohmann::json& e) {
    const auto ann = e.find("annotations");
    if (ann == e.end() || !ann->is_object()) return std::string();
    const auto t = ann->find(kRefName);
    return t != ann->end() && t->is_string() ? t->get<std::string>() : std::string();
  };
  std::stable_sort(
      manifests.begin(), manifests.end(),
      [&](const nlohmann::json& a, const nlohmann::json& b) { return tag_of(a) < tag_of(b); });
  nlohmann::json index = {
      {"schemaVersion", 2}, {"mediaType", std::string(kMediaIndex)}, {"manifests", manifests}};
  return WriteFileAtomically(path, index.dump(2) + "\n");
}

Result<Descriptor> FindManifest(const std::string& layout_dir, const std::string& tag) {
  const std::string path = layout_dir + "/index.json";
  TRY(std::string text, ReadFileLimited(path, kIndexLimit));
  TRY(nlohmann::json index, ParseJson(text, path));
  if (!index.contains("manifests") || !index["manifests"].is_array())
    return Fail(EBADMSG, path + ": no manifests array");
  const nlohmann::json& list = index["manifests"];
  std::vector<const nlohmann::json*> found;
  for (const nlohmann::json& e : list) {
    if (tag.empty()) {
      found.push_back(&e);
      continue;
    }
    if (!e.is_object()) continue;
    const auto ann = e.find("annotations");
    if (ann != e.end() && ann->is_object() && ann->contains(kRefName) &&
        (*ann)[std::string(kRefName)] == tag)
      found.push_back(&e);
  }
  if (found.empty())
    return Fail(ENOENT, path + ": no manifest" + (tag.empty() ? "" : " tagged '" + tag + "'"));
  if (found.size() > 1)
    return Fail(EINVAL, path + (tag.empty() ? ": several manifests: name one with oci:DIR:TAG"
                                            : ": several manifests tagged '" + tag + "'"));
  TRY(Descriptor d, ParseDescriptor(*found[0], path + ": manifest entry"));
  if (d.media_type != kMediaManifest)
    return Fail(ENOTSUP, path + ": the entry is a " + d.media_type + ", not an image manifest");
  return d;
}

}  // namespace cat::oci

// Layer extraction with every entry checked first (layer_reader.h). Decompression and the
// diff_id hash sit under libarchive's read callback; libarchive's disk writer does the writing,
// with its own SECURE_SYMLINKS/NODOTDOT checks as a second line behind ours.
#include "catimg/oci/layer_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "catimg/oci/compression.h"
#include "catimg/oci/sha256.h"
#include "format/base/unique_fd.h"

namespace cat::oci {
namespace {

constexpr std::string_view kWhiteout = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};

}  // namespace

std::string SizeText(uint64_t bytes) {
  for (const auto& [shift, unit] : {std::pair{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}})
    if (bytes >= (uint64_t{1} << shift) && bytes % (uint64_t{1} << shift) == 0)
      return std::to_string(bytes >> shift) + " " + unit;
  return std::to_string(bytes) + " bytes";
}

namespace {

// The decompressed stream under libarchive: hashed as libarchive pulls it.
struct Source {
  std::unique_ptr<Decompressor> in;
  Sha256 diff;
  UnpackState* state = nullptr;  // its tar_bytes counts the whole image's, against its limit
  uint64_t bytes = 0;
  std::vector<uint8_t> buf = std::vector<uint8_t>(1 << 17);
  Status error;
};

la_ssize_t ReadCallback(archive*, void* client, const void** out) {
  auto* s = static_cast<Source*>(client);
  auto n = s->in->Read(s->buf.data(), s->buf.size());
  if (!n) {
    s->error = std::unexpected(n.error());
    return -1;
  }
  if (*n > s->state->limits.max_bytes - s->state->tar_bytes) {
    s->error = Fail(EFBIG, "the image's layers unpack to more than " +
                               SizeText(s->state->limits.max_bytes) +
                               " (a decompression bomb? catimg unpack --max-unpacked-size)");
    return -1;
  }
  s->state->tar_bytes += *n;
  s->diff.Update(s->buf.data(), *n);
  constexpr uint64_t kProgressEvery = 4 << 20;
  if (s->state->progress && (s->bytes + *n) / kProgressEvery != s->bytes / kProgressEvery)
    s->state->progress(s->bytes + *n);
  s->bytes += *n;
  *out = s->buf.data();
  return static_cast<la_ssize_t>(*n);
}

// libarchive's message for its last error; it may have none (NULL), e.g. when our read
// callback failed and the real reason is in Source::error.
std::string ArchiveError(archive* a) {
  const char* m = archive_error_string(a);
  return m ? m : "unknown error";
}

bool Under(const std::string& path, const std::string& dir) {
  return path == dir ||
         (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

void Forget(UnpackState& st, const std::string& rel) {
  for (auto* set : {&st.symlinks, &st.files})
    for (auto it = set->lower_bound(rel); it != set->end() && Under(*it, rel);) it = set->erase(it);
}

std::string Parent(const std::string& rel) {
  const size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

const char* TypeName(mode_t type) {
  switch (type) {
    case AE_IFCHR:
      return "a character device";
    case AE_IFBLK:
      return "a block device";
    case AE_IFIFO:
      return "a fifo";
    case AE_IFSOCK:
      return "a socket";
    default:
      return "an unknown kind of entry";
  }
}

}  // namespace

Result<std::string> SafeEntryName(std::string_view name) {
  if (name.starts_with('/'))
    return Fail(EPERM, "absolute path (a layer's paths are relative to its root)");
  std::string out;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t slash = name.find('/', pos);
    if (slash == std::string_view::npos) slash = name.size();
    const std::string_view part = name.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return Fail(EPERM, "'..' in the path (it would leave the directory)");
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;  // "" is the layer's root itself
}

Result<LayerStats> ExtractLayer(const std::string& layout_dir, const Descriptor& layer,
                                const std::string& diff_id, const std::string& dest,
                                UnpackState& state, const std::string& what) {
  TRY(std::string path, BlobPath(layout_dir, layer.digest));
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return FailErrno(what + ": open blob");
  Source src;
  src.state = &state;
  const int raw = fd.get();
  TRY(src.in, WithContext(Decompressor::Create(layer.media_type,
                                               [raw](uint8_t* b, size_t n) -> Result<size_t> {
                                                 for (;;) {
                                                   const ssize_t r = read(raw, b, n);
                                                   if (r < 0 && errno == EINTR) continue;
                                                   if (r < 0) return FailErrno("read blob");
                                                   return static_cast<size_t>(r);
                                                 }
                                               }),
                          what));
  std::unique_ptr<archive, ReadFree> in(archive_read_new());
  archive_read_support_format_tar(in.get());
  if (archive_read_open(in.get(), &src, nullptr, ReadCallback, nullptr) != ARCHIVE_OK) {
    if (!src.error) return std::unexpected(std::move(src.error.error()).Context(what));
    return Fail(EBADMSG, what + ": not a tar: " + ArchiveError(in.get()));
  }
  std::unique_ptr<archive, WriteFree> out(archive_write_disk_new());
  // No owner (the unpacking user owns everything), permissions without set-id bits (cleared
  // below), mtimes restored (reconnection compares them), never through a symlink.
  archive_write_disk_set_options(
      out.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_UNLINK |
                     ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  LayerStats stats;
  std::set<std::string> mine;  // written by this layer: an opaque whiteout keeps them
  for (;;) {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(in.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK) {
      if (!src.error) return std::unexpected(std::move(src.error.error()).Context(what));
      return Fail(EBADMSG, what + ": bad tar: " + ArchiveError(in.get()));
    }
    const char* raw_name = archive_entry_pathname(e);
    const std::string shown = raw_name ? raw_name : "";
    auto refuse = [&](const std::string& why) {
      return Fail(EPERM, what + ": entry '" + shown.substr(0, 200) + "': " + why);
    };
    if (++state.entries > state.limits.max_entries)
      return Fail(EFBIG, what + ": the image has more than " +
                             std::to_string(state.limits.max_entries) +
                             " entries (catimg unpack --max-entries)");
    if (shown.size() > UnpackLimits::kMaxName)
      return refuse("a name longer than " + std::to_string(UnpackLimits::kMaxName) + " bytes");
    for (const char* target : {archive_entry_symlink(e), archive_entry_hardlink(e)})
      if (target && std::strlen(target) > UnpackLimits::kMaxName)
        return refuse("a link target longer than " + std::to_string(UnpackLimits::kMaxName) +
                      " bytes");
    auto name = SafeEntryName(shown);
    if (!name) return refuse(name.error().message());
    if (name->empty()) continue;  // the root directory itself
    for (std::string p = Parent(*name); !p.empty(); p = Parent(p))
      if (state.symlinks.count(p)) return refuse("goes through the symlink '" + p + "'");
    const std::string base =
        name->substr(name->rfind('/') == std::string::npos ? 0 : name->rfind('/') + 1);
    const std::string full = dest + "/" + *name;
    if (base.starts_with(kWhiteout)) {
      ++stats.whiteouts;
      const std::string parent = Parent(*name);
      if (base == kOpaque) {
        // Everything lower layers put in the directory goes; this layer's entries stay.
        const std::string dir = parent.empty() ? dest : dest + "/" + parent;
        std::error_code ec;
        for (const auto& child : std::filesystem::directory_iterator(dir, ec)) {
          const std::string rel =
              (parent.empty() ? "" : parent + "/") + child.path().filename().string();
          if (mine.count(rel)) continue;
          std::filesystem::remove_all(child.path(), ec);
          Forget(state, rel);
        }
        continue;
      }
      const std::string hidden = base.substr(kWhiteout.size());
      if (hidden.empty() || hidden == "." || hidden == "..")
        return refuse("a whiteout that names no entry");
      const std::string victim = (parent.empty() ? "" : parent + "/") + hidden;
      std::error_code ec;
      std::filesystem::remove_all(dest + "/" + victim, ec);  // a symlink goes, not its target
      Forget(state, victim);
      continue;
    }
    const mode_t type = archive_entry_filetype(e);
    const char* link = archive_entry_hardlink(e);
    if (link) {
      auto target = SafeEntryName(link);
      if (!target) return refuse("hard link: " + target.error().message());
      if (!state.files.count(*target))
        return refuse("hard link to '" + *target +
                      "', which is not a file this unpack wrote (links may not leave the image)");
      archive_entry_set_hardlink(e, (dest + "/" + *target).c_str());
    } else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
      return refuse(std::string(TypeName(type)) +
                    " (catimg unpacks files, directories and symlinks only)");
    }
    if (type == AE_IFREG && !link) {
      // What the file will hold, which for a sparse entry is more than its bytes in the tar.
      const uint64_t size = static_cast<uint64_t>(std::max<la_int64_t>(0, archive_entry_size(e)));
      if (size > state.limits.max_bytes - state.declared_bytes)
        return refuse("the image's files would hold more than " + SizeText(state.limits.max_bytes) +
                      " (a decompression bomb? catimg unpack --max-unpacked-size)");
      state.declared_bytes += size;
    }
    archive_entry_set_pathname(e, full.c_str());
    archive_entry_set_perm(e, archive_entry_perm(e) & 01777);
    Forget(state, *name);  // whatever was there is replaced
    if (archive_write_header(out.get(), e) != ARCHIVE_OK)
      return refuse(std::string("cannot write it: ") + ArchiveError(out.get()));
    if (type == AE_IFREG && !link) {
      const void* buf = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      for (;;) {
        const int r = archive_read_data_block(in.get(), &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK) {
          if (!src.error) return std::unexpected(std::move(src.error.error()).Context(what));
          return refuse(std::string("bad data: ") + ArchiveError(in.get()));
        }
        if (archive_write_data_block(out.get(), buf, size, offset) != ARCHIVE_OK)
          return refuse(std::string("cannot write it: ") + ArchiveError(out.get()));
      }
    }
    if (archive_write_finish_entry(out.get()) != ARCHIVE_OK)
      return refuse(std::string("cannot write it: ") + ArchiveError(out.get()));
    mine.insert(*name);
    if (type == AE_IFLNK) {
      state.symlinks.insert(*name);
      ++stats.symlinks;
    } else if (type == AE_IFDIR) {
      ++stats.dirs;
    } else {
      state.files.insert(*name);
      ++stats.files;
    }
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK)
    return Fail(EIO, what + ": " + ArchiveError(out.get()));
  // The diff_id covers the whole stream, padding after the end-of-archive blocks included.
  for (;;) {
    const void* ignored = nullptr;
    const la_ssize_t n = ReadCallback(nullptr, &src, &ignored);
    if (n < 0) return std::unexpected(std::move(src.error.error()).Context(what));
    if (n == 0) break;
  }
  stats.tar_bytes = src.bytes;
  if (src.diff.Digest() != diff_id)
    return Fail(EBADMSG, what + ": uncompressed digest does not match the config's diff_id " +
                             diff_id + " (tampered or corrupt)");
  return stats;
}

}  // namespace cat::oci

// Layer tars written with libarchive (pax, which carries nanosecond mtimes and any path or size)
// into a Compressor into a BlobWriter (layer_writer.h).
#include "catimg/oci/layer_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "catimg/oci/compression.h"
#include "catimg/oci/sha256.h"
#include "format/base/unique_fd.h"

namespace cat::oci {
namespace {

constexpr uint64_t kProgressEvery = 8 << 20;

struct ArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// The uncompressed tar stream: hashed (diff_id), counted, compressed into the blob.
struct TarSink {
  Sha256 diff;
  uint64_t bytes = 0;
  uint64_t next_progress = kProgressEvery;
  std::unique_ptr<Compressor> compressor;
  const Progress* progress = nullptr;
  Status error;
};

la_ssize_t WriteCallback(archive*, void* client, const void* buf, size_t len) {
  auto* sink = static_cast<TarSink*>(client);
  sink->diff.Update(buf, len);
  sink->bytes += len;
  if (auto s = sink->compressor->Write(static_cast<const uint8_t*>(buf), len); !s) {
    sink->error = std::move(s);
    return -1;
  }
  if (*sink->progress && sink->bytes >= sink->next_progress) {
    (*sink->progress)(sink->bytes);
    sink->next_progress = sink->bytes + kProgressEvery;
  }
  return static_cast<la_ssize_t>(len);
}

class TarWriter {
 public:
  TarWriter(archive* a, TarSink& sink, LayerResult& result) : a_(a), sink_(sink), r_(result) {}

  // A directory entry made up by the layer (parents of a guest path): 0755, mtime 0.
  Status Dir(const std::string& name, mode_t mode = 0755) {
    ++r_.dirs;
    return Header(name, AE_IFDIR, mode, 0, 0, 0, nullptr);
  }
  Status EmptyFile(const std::string& name) { return Header(name, AE_IFREG, 0, 0, 0, 0, nullptr); }
  // A host file, directory or symlink (by lstat), recursing into directories in name order.
  Status Host(const std::string& host, const std::string& name) {
    struct stat st {};
    if (lstat(host.c_str(), &st) != 0) return FailErrno("pack " + host);
    if (S_ISDIR(st.st_mode)) {
      if (!name.empty()) {
        ++r_.dirs;
        TRY_STATUS(Header(name, AE_IFDIR, st.st_mode, 0, 0, 0, nullptr));
      }
      return Children(host, name);
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      const ssize_t n = readlink(host.c_str(), target.data(), target.size());
      if (n < 0) return FailErrno("readlink " + host);
      if (static_cast<size_t>(n) >= target.size())
        return Fail(EAGAIN, host + ": symlink changed while packed");
      target.resize(static_cast<size_t>(n));
      ++r_.symlinks;
      return Header(name, AE_IFLNK, 0777, 0, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, target.c_str());
    }
    if (S_ISREG(st.st_mode)) return File(host, name, st);
    r_.skipped.push_back(host);
    return {};
  }
  // The last block of the archive; the tar is complete after this.
  Status Close() {
    if (archive_write_close(a_) != ARCHIVE_OK) return Failed("finish the tar");
    return {};
  }

  Status Children(const std::string& host, const std::string& name) {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(host.c_str()), closedir);
    if (!dir) return FailErrno("opendir " + host);
    std::vector<std::string> names;
    while (dirent* d = readdir(dir.get())) {
      const std::string_view n = d->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    std::sort(names.begin(), names.end());  // byte order, whatever the locale
    for (const std::string& n : names)
      TRY_STATUS(Host(host + "/" + n, name.empty() ? n : name + "/" + n));
    return {};
  }

  Status File(const std::string& host, const std::string& name, const struct stat& st) {
    UniqueFd fd(open(host.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) return FailErrno("open " + host);
    ++r_.files;
    TRY_STATUS(Header(name, AE_IFREG, st.st_mode, static_cast<uint64_t>(st.st_size),
                      st.st_mtim.tv_sec, st.st_mtim.tv_nsec, nullptr));
    std::vector<char> buf(1 << 20);
    uint64_t left = static_cast<uint64_t>(st.st_size);
    while (left) {
      const ssize_t n = read(fd.get(), buf.data(), std::min<uint64_t>(buf.size(), left));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return FailErrno("read " + host);
      if (n == 0) return Fail(EAGAIN, host + ": file shrank while packed; pack again");
      if (archive_write_data(a_, buf.data(), static_cast<size_t>(n)) != n)
        return Failed("write " + host);
      left -= static_cast<uint64_t>(n);
    }
    return {};
  }

 private:
  Status Header(const std::string& name, unsigned type, mode_t mode, uint64_t size, time_t sec,
                long nsec, const char* symlink) {
    std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    // Permission bits and sticky only: set-id bits mean nothing in the sandbox and are a risk
    // in the directory of whoever unpacks the layer.
    archive_entry_set_perm(e.get(), mode & 01777);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_mtime(e.get(), sec, nsec);
    if (symlink) archive_entry_set_symlink(e.get(), symlink);
    if (archive_write_header(a_, e.get()) != ARCHIVE_OK) return Failed("tar entry " + name);
    return {};
  }

  Status Failed(const std::string& what) {
    if (!sink_.error) return std::unexpected(sink_.error.error());
    return Fail(EIO, what + ": " + (archive_error_string(a_) ? archive_error_string(a_) : "?"));
  }

  archive* a_;
  TarSink& sink_;
  LayerResult& r_;
};

// "/a/b" -> "a/b"; "/" -> "".
std::string Relative(const std::string& guest) {
  return guest == "/" ? std::string() : guest.substr(1);
}

}  // namespace

Result<LayerResult> WriteLayer(const std::string& layout_dir, const LayerSource& source,
                               Compression compression, const Progress& progress) {
  TRY(BlobWriter blob, BlobWriter::Create(layout_dir));
  LayerResult result;
  TarSink sink;
  sink.progress = &progress;
  TRY(sink.compressor, Compressor::Create(compression, [&blob](const uint8_t* d, size_t n) {
        return blob.Write(d, n);
      }));
  std::unique_ptr<archive, ArchiveFree> a(archive_write_new());
  if (!a) return Fail(ENOMEM, "libarchive: archive_write_new failed");
  // pax: nanosecond mtimes, long names and large files in a format every OCI tool reads.
  // The default 10240-byte blocking pads the end, as tar(1) does: deterministic too.
  if (archive_write_set_format_pax(a.get()) != ARCHIVE_OK ||
      archive_write_open2(a.get(), &sink, nullptr, WriteCallback, nullptr, nullptr) != ARCHIVE_OK)
    return Fail(EIO, std::string("libarchive: ") +
                         (archive_error_string(a.get()) ? archive_error_string(a.get()) : "?"));
  TarWriter tar(a.get(), sink, result);
  // The parents of the guest path, made up (0755, mtime 0) so any unpacker can create them.
  const std::string rel = Relative(source.guest_path);
  for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1))
    TRY_STATUS(tar.Dir(rel.substr(0, slash)));
  if (source.kind == LayerSource::Kind::kFile) {
    struct stat st {};
    if (stat(source.host_path.c_str(), &st) != 0) return FailErrno("pack " + source.host_path);
    if (!S_ISREG(st.st_mode)) return Fail(EINVAL, source.host_path + " is not a regular file");
    // A single file (the func-image) is 0644 at mtime 0: rebuilding the same image, whose
    // bytes are reproducible, gives the same layer.
    st.st_mode = S_IFREG | 0644;
    st.st_mtim = {};
    TRY_STATUS(tar.File(source.host_path, rel, st));
  } else {
    struct stat st {};
    if (stat(source.host_path.c_str(), &st) != 0) return FailErrno("pack " + source.host_path);
    if (!S_ISDIR(st.st_mode)) return Fail(ENOTDIR, source.host_path + " is not a directory");
    if (source.opaque && !rel.empty()) {
      TRY_STATUS(tar.Dir(rel, st.st_mode));
      TRY_STATUS(tar.EmptyFile(rel + "/.wh..wh..opq"));
      TRY_STATUS(tar.Children(source.host_path, rel));
    } else {
      TRY_STATUS(tar.Host(source.host_path, rel));
    }
  }
  TRY_STATUS(tar.Close());
  if (!sink.error) return std::unexpected(sink.error.error());
  TRY_STATUS(sink.compressor->Finish());
  result.tar_size = sink.bytes;
  result.diff_id = sink.diff.Digest();
  TRY(result.blob, blob.Commit(std::string(LayerMediaType(compression))));
  return result;
}

}  // namespace cat::oci

// The func-image cache: key, rootfs digest, and the capture through `catimg build`
// (snapshot_cache.h). catimg is run as a program, next to catload, rather than linked in:
// the compiler stays out of the static catload that every request starts.
#include "loader/oci/snapshot_cache.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "format/base/unique_fd.h"
#include "format/image/func_image.h"

namespace cat::oci {
namespace {

namespace fs = std::filesystem;

class Hasher {
 public:
  Hasher() : state_(XXH3_createState()) { XXH3_128bits_reset(state_); }
  ~Hasher() { XXH3_freeState(state_); }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  // Each field with its length first, so that ("ab","c") and ("a","bc") differ.
  void Field(std::string_view bytes) {
    const uint64_t n = bytes.size();
    XXH3_128bits_update(state_, &n, sizeof n);
    XXH3_128bits_update(state_, bytes.data(), bytes.size());
  }
  void Raw(const void* data, size_t n) { XXH3_128bits_update(state_, data, n); }
  std::string Hex() {
    const XXH128_hash_t h = XXH3_128bits_digest(state_);
    char out[33];
    std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                  static_cast<unsigned long long>(h.low64));
    return out;
  }

 private:
  XXH3_state_t* state_;
};

Status HashFile(Hasher& h, const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return FailErrno("open " + path);
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read " + path);
    if (n == 0) return {};
    h.Raw(buf, static_cast<size_t>(n));
  }
}

// Where catimg is: next to this binary (an installation, the build's bin/).
std::string CatimgPath() {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  const std::string exe = n > 0 ? std::string(self, static_cast<size_t>(n)) : "";
  return exe.substr(0, exe.rfind('/') + 1) + "catimg";
}

// The last non-empty line of a file: what catimg said on failure.
std::string LastLine(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

Status RunCatimgBuild(const BundleConfig& c, const std::string& exe_host, const std::string& out,
                      const std::string& log) {
  std::vector<std::string> argv = {CatimgPath(), "build",  "-q",    "-o", out,
                                   "--rootfs",   c.rootfs, "--cwd", c.cwd};
  for (const MountSpec& m : c.binds) argv.push_back("--mount=" + MountRecord(m));
  for (const std::string& e : c.env) argv.push_back("--env=" + e);
  if (c.memory_limit >= (16ull << 20))
    argv.push_back("--memory-limit=" + std::to_string(c.memory_limit));
  argv.push_back("--");
  argv.push_back(exe_host);
  argv.insert(argv.end(), c.args.begin() + 1, c.args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return FailErrno("fork catimg");
  if (pid == 0) {
    // The capture must not take the container's request: its stdin is /dev/null, and the
    // func-entry point is the first read of fd 0, which never returns data here.
    const int in = open("/dev/null", O_RDONLY);
    const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || err < 0 || dup2(in, 0) < 0 || dup2(err, 1) < 0 || dup2(err, 2) < 0) _exit(125);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return FailErrno("wait for catimg");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    return Fail(ENOENT, "cannot run " + CatimgPath() + ": it is installed next to catload");
  return Fail(EIO, "capture for the snapshot cache failed: " + LastLine(log));
}

}  // namespace

Result<std::string> RootfsDigest(const std::string& rootfs) {
  std::error_code ec;
  std::vector<std::string> paths;
  for (auto it = fs::recursive_directory_iterator(rootfs, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    paths.push_back(it->path().string().substr(rootfs.size()));
  if (ec) return Fail(ec.value(), "digest of the rootfs " + rootfs + ": " + ec.message());
  std::sort(paths.begin(), paths.end());
  Hasher h;
  for (const std::string& p : paths) {
    const std::string host = rootfs + p;
    struct stat st {};
    if (lstat(host.c_str(), &st) != 0) return FailErrno("lstat " + host);
    h.Field(p);
    const uint64_t meta[2] = {st.st_mode, static_cast<uint64_t>(st.st_size)};
    h.Raw(meta, sizeof meta);
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      const ssize_t n = readlink(host.c_str(), target, sizeof target);
      if (n < 0) return FailErrno("readlink " + host);
      h.Field(std::string_view(target, static_cast<size_t>(n)));
    } else if (S_ISREG(st.st_mode)) {
      TRY_STATUS(HashFile(h, host));
    }
  }
  return h.Hex();
}

std::string SnapshotKey(const BundleConfig& c, const std::string& rootfs_digest) {
  Hasher h;
  h.Field("catload-oci snapshot key 1");
  h.Field(rootfs_digest);
  for (const std::string& a : c.args) h.Field("arg=" + a);
  for (const std::string& e : c.env) h.Field("env=" + e);
  h.Field("cwd=" + c.cwd);
  for (const MountSpec& m : c.binds) h.Field("mount=" + MountRecord(m));
  return h.Hex();
}

Result<std::string> CachedSnapshot(const std::string& root, const BundleConfig& c,
                                   const std::string& exe_host, bool& built) {
  built = false;
  std::string digest;
  if (auto a = c.annotations.find(kRootfsDigestAnnotation); a != c.annotations.end()) {
    digest = a->second;
  } else {
    TRY(digest, RootfsDigest(c.rootfs));
  }
  const std::string dir = root + "/snapshots";
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return FailErrno("mkdir " + dir);
  const std::string image = dir + "/" + SnapshotKey(c, digest) + ".cfi";
  // A cached image that does not open (damaged, or from a catload with another layout) is
  // built again rather than trusted.
  if (access(image.c_str(), F_OK) == 0 && FuncImage::Open(image)) return image;
  const std::string tmp = image + ".build-" + std::to_string(getpid());
  const Status b = RunCatimgBuild(c, exe_host, tmp, tmp + ".log");
  unlink((tmp + ".log").c_str());
  if (!b) {
    unlink(tmp.c_str());
    return std::unexpected(b.error());
  }
  if (rename(tmp.c_str(), image.c_str()) != 0) return FailErrno("rename " + tmp);
  built = true;
  return image;
}

}  // namespace cat::oci

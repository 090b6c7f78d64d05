// Temporary files, their stale-file rule and their cleanup on signals (see temp_file.h).
#include "format/base/temp_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <utility>

namespace cat {
namespace {

// The signal-cleanup registry: fixed slots, so that the handler touches no allocator. A slot
// is claimed (0 -> 1), filled, then published (1 -> 2); the handler unlinks published ones.
constexpr int kSlots = 32;
struct Slot {
  std::atomic<int> state{0};
  char path[PATH_MAX];
};
Slot g_slots[kSlots];

int Register(const std::string& path) {
  if (path.size() >= PATH_MAX) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int free = 0;
    if (!g_slots[i].state.compare_exchange_strong(free, 1)) continue;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(2);
    return i;
  }
  return -1;  // full: the file is still removed on failure and by the next write
}
void Unregister(int slot) {
  if (slot >= 0) g_slots[slot].state.store(0);
}

void CleanupHandler(int sig) {
  for (Slot& s : g_slots)
    if (s.state.load() == 2) ::unlink(s.path);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Six characters of [A-Za-z0-9], as mkstemp's (IsMkstempSuffix below knows them), from the
// kernel's generator: the name must be chosen before the file exists (Create says why).
std::string RandomSuffix() {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[6] = {};
  if (::getrandom(bytes, sizeof bytes, 0) != sizeof bytes) {
    // No getrandom (never on the kernels we run on): time and pid still make clashes rare,
    // and O_EXCL turns a clash into another try, never into sharing a file.
    uint64_t x = static_cast<uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ull ^
                 static_cast<uint64_t>(::clock());
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(x >>= 8);
  }
  std::string s(6, 'x');
  for (int i = 0; i < 6; ++i) s[i] = kChars[bytes[i] % (sizeof kChars - 1)];
  return s;
}

bool IsMkstempSuffix(std::string_view s) {
  if (s.size() != 6) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

// `.BASE.tmp-XXXXXX`, or `..BASE.tmp-XXXXXX.tmp-YYYYYY` (a temporary's temporary).
bool IsTempOf(std::string_view name, std::string_view base) {
  int dots = 0;
  while (dots < 2 && !name.empty() && name[0] == '.') name.remove_prefix(1), ++dots;
  if (dots == 0 || !name.starts_with(base)) return false;
  name.remove_prefix(base.size());
  for (int i = 0; i < dots; ++i) {
    if (!name.starts_with(".tmp-") || !IsMkstempSuffix(name.substr(5, 6))) return false;
    name.remove_prefix(std::min<size_t>(name.size(), 11));
  }
  return name.empty();
}

std::pair<std::string, std::string> SplitDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"./", path};
  return {path.substr(0, slash + 1), path.substr(slash + 1)};
}

}  // namespace

int RemoveStaleTempFiles(const std::string& final_path) {
  const auto [dir, base] = SplitDir(final_path);
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd.valid()) return 0;
  DIR* d = ::fdopendir(::dup(dfd.get()));
  if (!d) return 0;
  int removed = 0;
  while (dirent* de = ::readdir(d)) {
    const std::string name = de->d_name;
    if (!IsTempOf(name, base)) continue;
    UniqueFd fd(::openat(dfd.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != ::geteuid())
      continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // its writer is alive
    // Still the same file under that name (not replaced since we opened it)?
    struct stat now {};
    if (::fstatat(dfd.get(), name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 ||
        now.st_dev != st.st_dev || now.st_ino != st.st_ino)
      continue;
    if (::unlinkat(dfd.get(), name.c_str(), 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

Result<TempFile> TempFile::Create(const std::string& final_path, mode_t mode) {
  const auto [dir, base] = SplitDir(final_path);
  RemoveStaleTempFiles(final_path);
  // Same directory as the target: rename() is atomic only within one filesystem.
  const std::string prefix =
      (final_path.find('/') == std::string::npos ? "" : dir) + "." + base + ".tmp-";
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string tmpl = prefix + RandomSuffix();
    // Published for the signal handler before the file exists, not after: a SIGTERM that
    // arrives as the creating syscall returns (where a pending signal is delivered) would
    // otherwise find the file there but not in the registry, and leave it behind. Unlinking a
    // name not yet created is harmless; one that O_EXCL finds taken is withdrawn at once.
    const int slot = Register(tmpl);
    const int raw = ::open(tmpl.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (raw < 0) {
      const int err = errno;
      Unregister(slot);
      if (err == EEXIST) continue;
      errno = err;
      return FailErrno("create a temporary file in " + dir);
    }
    UniqueFd fd(raw);
    // Locked before anything else; a cleaner that took the file between open and flock
    // has unlinked it: then the name no longer leads to our file, and we start again.
    if (::flock(fd.get(), LOCK_EX) != 0) {
      Unregister(slot);
      ::unlink(tmpl.c_str());
      return FailErrno("lock " + tmpl);
    }
    struct stat mine {
    }, named{};
    if (::fstat(fd.get(), &mine) != 0 || ::stat(tmpl.c_str(), &named) != 0 ||
        mine.st_ino != named.st_ino || mine.st_dev != named.st_dev) {
      Unregister(slot);
      continue;
    }
    if (::fchmod(fd.get(), mode) != 0) {
      Unregister(slot);
      ::unlink(tmpl.c_str());
      return FailErrno("fchmod " + tmpl);
    }
    return TempFile(std::move(tmpl), dir, std::move(fd), slot);
  }
  return Fail(EAGAIN, "create a temporary file in " + dir + ": removed under us repeatedly");
}

TempFile::TempFile(std::string path, std::string dir, UniqueFd fd, int slot)
    : path_(std::move(path)), dir_(std::move(dir)), fd_(std::move(fd)), slot_(slot) {}

TempFile::TempFile(TempFile&& o) noexcept
    : path_(std::exchange(o.path_, {})),
      dir_(std::move(o.dir_)),
      fd_(std::move(o.fd_)),
      slot_(std::exchange(o.slot_, -1)) {}

TempFile::~TempFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
  Unregister(slot_);
}

Status TempFile::Commit(const std::string& final_path) {
  // fsync before rename: otherwise a crash can leave the new name pointing at missing data.
  if (::fsync(fd_.get()) != 0) return FailErrno("fsync " + path_);
  if (::rename(path_.c_str(), final_path.c_str()) != 0)
    return FailErrno("rename " + path_ + " to " + final_path);
  path_.clear();
  Unregister(std::exchange(slot_, -1));
  fd_.Reset();  // and with it the lock
  // And the directory, so that the rename itself is durable.
  UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return FailErrno("open directory " + dir_);
  if (::fsync(dir.get()) != 0) return FailErrno("fsync directory " + dir_);
  return {};
}

void InstallTempFileCleanup() {
  struct sigaction sa {};
  sa.sa_handler = CleanupHandler;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    struct sigaction old {};
    // An inherited SIG_IGN (nohup) stays: the process was asked not to die of it.
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    ::sigaction(sig, &sa, nullptr);
  }
}

CleanupOnSignal::CleanupOnSignal(const std::string& path) : slot_(Register(path)) {}
CleanupOnSignal::~CleanupOnSignal() {
  Unregister(slot_);
}

}  // namespace cat

// Function registry with rename pickup (see registry.h).
#include "loader/serve/registry.h"

#include <dirent.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>

namespace cat::serve {
namespace {

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

int64_t MtimeNs(const struct stat& st) {
  return int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
}

bool Same(const ServedImage& img, const struct stat& st) {
  return img.dev == st.st_dev && img.ino == st.st_ino && img.mtime_ns == MtimeNs(st) &&
         img.size == static_cast<uint64_t>(st.st_size);
}

Result<std::shared_ptr<ServedImage>> OpenServed(const std::string& path, const std::string& name,
                                                uint64_t generation) {
  TRY(FuncImage image, FuncImage::Open(path));
  struct stat st;
  if (fstat(image.fd(), &st) != 0) return FailErrno("stat " + path);
  auto served = std::make_shared<ServedImage>(
      ServedImage{name, path, std::move(image), st.st_dev, st.st_ino, MtimeNs(st),
                  static_cast<uint64_t>(st.st_size), generation});
  return served;
}

}  // namespace

std::string ServedName(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);  // npos + 1 == 0
  if (EndsWith(base, ".cfi")) base.resize(base.size() - 4);
  return base;
}

Result<std::unique_ptr<Registry>> Registry::Create(const std::vector<std::string>& sources,
                                                   Logger log) {
  std::vector<std::string> files, dirs;
  for (const std::string& s : sources) {
    struct stat st;
    if (stat(s.c_str(), &st) != 0) return FailErrno(s);
    (S_ISDIR(st.st_mode) ? dirs : files).push_back(s);
  }
  std::unique_ptr<Registry> r(new Registry(std::move(files), std::move(dirs), std::move(log)));
  std::set<std::string> names;
  for (const auto& [path, name] : r->Wanted()) {
    if (!names.insert(name).second)
      return Fail(EINVAL, "two images are served as \"" + name + "\" (" + path +
                              " and another): names come from file names and must be unique");
  }
  // Named files must be images now; a bad file in a served directory is only logged.
  for (const std::string& f : r->files_)
    if (auto opened = OpenServed(f, ServedName(f), 1); !opened)
      return std::unexpected(opened.error());
  r->Rescan();
  return r;
}

Registry::~Registry() {
  if (watcher_.joinable()) {
    const uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof one);
    watcher_.join();
  }
}

std::vector<std::pair<std::string, std::string>> Registry::Wanted() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& f : files_) out.emplace_back(f, ServedName(f));
  for (const std::string& d : dirs_) {
    DIR* dir = opendir(d.c_str());
    if (!dir) continue;
    std::vector<std::string> found;
    while (const dirent* e = readdir(dir)) {
      const std::string n = e->d_name;
      // catimg writes ".OUT.tmp-XXXXXX" and renames: hidden files are never images yet.
      if (n.empty() || n[0] == '.' || !EndsWith(n, ".cfi")) continue;
      found.push_back(n);
    }
    closedir(dir);
    std::sort(found.begin(), found.end());
    for (const std::string& n : found) out.emplace_back(d + "/" + n, ServedName(n));
  }
  return out;
}

void Registry::Rescan() {
  std::lock_guard rescan(rescan_mu_);
  std::map<std::string, std::shared_ptr<const ServedImage>> next;
  {
    std::lock_guard lock(mu_);
    next = images_;
  }
  std::set<std::string> seen;
  for (const auto& [path, name] : Wanted()) {
    if (!seen.insert(name).second) {
      log_("images: " + path + " is not served: the name \"" + name + "\" is taken");
      continue;
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0) continue;  // gone: dropped below
    auto it = next.find(name);
    if (it != next.end() && it->second->path == path && Same(*it->second, st)) continue;
    const uint64_t generation = it == next.end() ? 1 : it->second->generation + 1;
    auto opened = OpenServed(path, name, generation);
    if (!opened) {
      log_("images: " + name + ": " + opened.error().message() +
           (it == next.end() ? " (not served)" : " (still serving the previous image)"));
      if (it != next.end()) seen.insert(name);
      continue;
    }
    log_("images: " + name + (it == next.end() ? ": serving " : ": replaced by ") + path +
         " (generation " + std::to_string(generation) + ")");
    next[name] = std::move(*opened);
  }
  for (auto it = next.begin(); it != next.end();) {
    struct stat st;
    const bool present = seen.count(it->first) && stat(it->second->path.c_str(), &st) == 0;
    if (present) {
      ++it;
      continue;
    }
    log_("images: " + it->first + ": " + it->second->path + " is gone; no longer served");
    it = next.erase(it);
  }
  {
    std::lock_guard lock(mu_);
    images_ = std::move(next);
  }
  if (on_change_) on_change_();
}

void Registry::OnChange(std::function<void()> listener) {
  std::lock_guard rescan(rescan_mu_);
  on_change_ = std::move(listener);
}

std::shared_ptr<const ServedImage> Registry::Lookup(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = images_.find(name);
  return it == images_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const ServedImage>> Registry::List() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const ServedImage>> out;
  for (const auto& [name, img] : images_) out.push_back(img);
  return out;
}

Status Registry::Watch() {
  inotify_.Reset(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotify_.valid()) return FailErrno("inotify_init1");
  wake_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.valid()) return FailErrno("eventfd");
  std::set<std::string> dirs(dirs_.begin(), dirs_.end());
  for (const std::string& f : files_) dirs.insert(DirOf(f));
  for (const std::string& d : dirs) {
    if (inotify_add_watch(inotify_.get(), d.c_str(),
                          IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_DELETE | IN_CREATE) < 0)
      return FailErrno("watch " + d);
  }
  watcher_ = std::thread([this] { WatchLoop(); });
  return {};
}

void Registry::WatchLoop() {
  alignas(inotify_event) char buf[8192];
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    bool any = false;
    while (read(inotify_.get(), buf, sizeof buf) > 0) any = true;
    // Events come in bursts (a build writes, then renames): one rescan covers them all.
    if (any) Rescan();
  }
}

}  // namespace cat::serve

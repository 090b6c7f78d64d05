// Confined path resolution in a container's rootfs (rootfs_path.h).
#include "loader/oci/rootfs_path.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>

namespace cat::oci {
namespace {

constexpr int kMaxSymlinks = 40;  // what Linux allows in one lookup (ELOOP beyond)

std::deque<std::string> Components(const std::string& path) {
  std::deque<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    const size_t j = path.find('/', i);
    const std::string c = path.substr(i, j == std::string::npos ? std::string::npos : j - i);
    if (!c.empty() && c != ".") out.push_back(c);
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return out;
}

}  // namespace

Result<std::string> ResolveInRootfs(const std::string& rootfs, const std::string& path,
                                    const std::string& cwd) {
  std::deque<std::string> todo = Components(path.starts_with("/") ? path : cwd + "/" + path);
  std::vector<std::string> done;  // resolved guest components, no symlink among them
  int links = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    std::string host = rootfs;
    for (const std::string& d : done) host += "/" + d;
    host += "/" + c;
    struct stat st {};
    if (lstat(host.c_str(), &st) != 0) return FailErrno(path + " in the container's rootfs");
    if (!S_ISLNK(st.st_mode)) {
      done.push_back(std::move(c));
      continue;
    }
    if (++links > kMaxSymlinks) return Fail(ELOOP, path + ": too many symbolic links");
    char target[PATH_MAX];
    const ssize_t n = readlink(host.c_str(), target, sizeof target - 1);
    if (n < 0) return FailErrno("readlink " + host);
    const std::string t(target, static_cast<size_t>(n));
    std::deque<std::string> more = Components(t);
    if (t.starts_with("/")) done.clear();
    todo.insert(todo.begin(), more.begin(), more.end());
  }
  std::string host = rootfs;
  for (const std::string& d : done) host += "/" + d;
  return host;
}

Result<std::string> FindProgram(const std::string& rootfs, const std::string& name,
                                const std::vector<std::string>& env, const std::string& cwd) {
  if (name.find('/') != std::string::npos) return ResolveInRootfs(rootfs, name, cwd);
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const std::string& e : env)
    if (e.starts_with("PATH=")) path = e.substr(5);
  size_t i = 0;
  while (i <= path.size()) {
    const size_t j = std::min(path.find(':', i), path.size());
    const std::string dir = path.substr(i, j - i);
    i = j + 1;
    auto host = ResolveInRootfs(rootfs, (dir.empty() ? "." : dir) + "/" + name, cwd);
    struct stat st {};
    if (host && stat(host->c_str(), &st) == 0 && S_ISREG(st.st_mode)) return host;
  }
  return Fail(ENOENT, "'" + name + "' not found in the PATH of the container (" + path + ")");
}

}  // namespace cat::oci

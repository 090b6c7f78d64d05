// config.json into a BundleConfig (bundle_config.h). nlohmann-json is used without exceptions
// for parsing; a field of the wrong type throws json::type_error, which is caught here and
// turned into an error naming the config, so that no exception leaves this file.
#include "loader/oci/bundle_config.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace cat::oci {
namespace {

using nlohmann::json;

constexpr double kMaxTimeoutSeconds = 1e9;

// Filesystems the sandbox provides itself (a synthetic /proc, its own /dev and tmpfs-like
// overlay): a mount of one of these types is a logged no-op.
const std::set<std::string> kProvidedTypes = {"proc",   "sysfs",  "tmpfs",   "devpts",
                                              "mqueue", "cgroup", "cgroup2", "shm"};

bool HasOption(const json& mount, const std::string& name) {
  if (!mount.contains("options")) return false;
  for (const json& o : mount["options"])
    if (o.is_string() && o.get<std::string>() == name) return true;
  return false;
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

Status ParseMounts(const json& config, BundleConfig& c) {
  if (!config.contains("mounts")) return {};
  std::vector<std::string> provided;
  for (const json& m : config["mounts"]) {
    const std::string dest = m.value("destination", "");
    const std::string type = m.value("type", "");
    const std::string source = m.value("source", "");
    const bool bind = type == "bind" || HasOption(m, "bind") || HasOption(m, "rbind");
    if (!bind && kProvidedTypes.count(type)) {
      provided.push_back(type + " at " + dest);
      continue;
    }
    if (!bind)
      return Fail(EINVAL, "mount of type '" + type + "' at " + dest +
                              " is not supported: catload-oci binds host directories only "
                              "(type bind); remove it from the container's mounts");
    if (!IsCanonicalAbsolutePath(dest) || dest == "/")
      return Fail(EINVAL, "bind mount destination '" + dest +
                              "' must be an absolute path without '.', '..' or a trailing '/'");
    struct stat st {};
    if (stat(source.c_str(), &st) != 0)
      return FailErrno("bind mount source " + source + " (for " + dest + ")");
    if (!S_ISDIR(st.st_mode)) {
      // podman binds /etc/hosts, /etc/resolv.conf, /etc/hostname, /run/.containerenv.
      c.ignored.push_back("bind mount of the file " + source + " at " + dest +
                          " ignored: the sandbox binds directories only");
      continue;
    }
    MountSpec spec;
    spec.host = source;
    spec.guest = dest;
    spec.read_write = !HasOption(m, "ro");
    c.binds.push_back(spec);
  }
  if (!provided.empty())
    c.ignored.push_back("mounts " + Joined(provided) +
                        " ignored: the sandbox provides its own synthetic /proc and /dev and "
                        "keeps writes in its in-memory overlay");
  return {};
}

Status ParseProcess(const json& config, BundleConfig& c) {
  if (!config.contains("process")) return Fail(EINVAL, "config.json has no process");
  const json& p = config["process"];
  if (p.value("terminal", false))
    return Fail(ENOTSUP,
                "process.terminal: catload-oci gives a container its stdio as pipes, not a "
                "terminal; run it without -t/--tty");
  if (!p.contains("args") || p["args"].empty())
    return Fail(EINVAL, "process.args is empty: name the program to run");
  for (const json& a : p["args"]) c.args.push_back(a.get<std::string>());
  if (p.contains("env"))
    for (const json& e : p["env"]) c.env.push_back(e.get<std::string>());
  c.cwd = p.value("cwd", "/");
  if (!IsCanonicalAbsolutePath(c.cwd))
    return Fail(EINVAL, "process.cwd '" + c.cwd + "' must be an absolute canonical path");
  if (p.contains("rlimits"))
    for (const json& r : p["rlimits"]) {
      if (r.value("type", "") == "RLIMIT_NOFILE")
        c.max_fds = static_cast<uint32_t>(std::min<uint64_t>(r.value("soft", 1024u), 1u << 20));
      else
        c.ignored.push_back("rlimit " + r.value("type", "?") +
                            " ignored: the sandbox bounds memory, fds and CPU itself");
    }
  const json user = p.value("user", json::object());
  // Compared as JSON values, not converted to int: a float like 1e90 (which a crafted config
  // may hold) converted to int is undefined behaviour (fuzz_oci_bundle found it).
  const json zero = 0;
  if (user.value("uid", zero) != zero || user.value("gid", zero) != zero)
    c.ignored.push_back("process.user ignored: the guest's identity is the sandbox's (uid 0)");
  return {};
}

void ParseLinux(const json& config, BundleConfig& c) {
  if (!config.contains("linux")) return;
  const json& l = config["linux"];
  if (l.contains("namespaces") && !l["namespaces"].empty())
    c.ignored.push_back(
        "linux.namespaces ignored: every syscall of the guest is emulated by the sandbox "
        "kernel, which is its own namespace for files, processes, network and IPC");
  if (l.contains("seccomp"))
    c.ignored.push_back(
        "linux.seccomp ignored: the guest's syscalls never reach the host kernel (the sandbox "
        "installs its own filter)");
  if (l.contains("devices") && !l["devices"].empty())
    c.ignored.push_back("linux.devices ignored: the guest sees no host device");
  if (!l.contains("resources")) return;
  const json& r = l["resources"];
  if (r.contains("memory") && r["memory"].contains("limit")) {
    const int64_t limit = r["memory"]["limit"].get<int64_t>();
    if (limit > 0) c.memory_limit = static_cast<uint64_t>(limit);
  }
  if (r.contains("pids") && r["pids"].value("limit", 0) > 0)
    c.ignored.push_back(
        "linux.resources.pids ignored: a catload-oci container runs one guest process");
  if (r.contains("cpu") &&
      (r["cpu"].contains("quota") || r["cpu"].contains("cpus") || r["cpu"].contains("shares")))
    c.ignored.push_back("linux.resources.cpu ignored: give a wall-clock bound with the " +
                        std::string(kTimeoutAnnotation) + " annotation");
}

}  // namespace

Result<BundleConfig> ParseBundleConfig(const std::string& bundle, const std::string& text) {
  const json config = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object())
    return Fail(EINVAL, bundle + "/config.json is not a JSON object");
  BundleConfig c;
  c.bundle = bundle;
  try {
    if (config.contains("hooks") && !config["hooks"].empty())
      return Fail(ENOTSUP, "hooks are not supported by catload-oci; remove them from the config");
    const std::string root = config.value("root", json::object()).value("path", "");
    if (root.empty()) return Fail(EINVAL, "config.json has no root.path");
    c.rootfs = root[0] == '/' ? root : bundle + "/" + root;
    if (config.contains("annotations"))
      for (const auto& [key, value] : config["annotations"].items())
        c.annotations[key] = value.get<std::string>();
    TRY_STATUS(ParseProcess(config, c));
    TRY_STATUS(ParseMounts(config, c));
    ParseLinux(config, c);
  } catch (const json::exception& e) {
    return Fail(EINVAL, bundle + "/config.json: a field has the wrong type (" + e.what() + ")");
  }
  if (auto t = c.annotations.find(kTimeoutAnnotation); t != c.annotations.end()) {
    char* end = nullptr;
    c.timeout_s = std::strtod(t->second.c_str(), &end);
    // NaN, infinity or a huge value would overflow the deadline's nanoseconds (int64):
    // at most kMaxTimeoutSeconds (~31 years, far beyond any function).
    if (end == t->second.c_str() || *end != '\0' || !std::isfinite(c.timeout_s) ||
        c.timeout_s < 0 || c.timeout_s > kMaxTimeoutSeconds)
      return Fail(EINVAL, std::string(kTimeoutAnnotation) + " '" + t->second +
                              "': give seconds, e.g. 2.5 (at most 1e9)");
  }
  return c;
}

Result<BundleConfig> ReadBundleConfig(const std::string& bundle) {
  std::ifstream in(bundle + "/config.json");
  if (!in) return FailErrno("open " + bundle + "/config.json");
  std::stringstream text;
  text << in.rdbuf();
  return ParseBundleConfig(bundle, text.str());
}

}  // namespace cat::oci

// The container record under --root and the status derived from its keeper (container_state.h).
#include "loader/oci/container_state.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace cat::oci {
namespace {

using nlohmann::json;

// /proc/PID/stat after the command's closing ')': field 3 (state) is the first.
bool ReadStat(pid_t pid, char& state, uint64_t& start_time) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 3) state = field.empty() ? '?' : field[0];
    if (i == 22) {
      start_time = std::strtoull(field.c_str(), nullptr, 10);
      return true;
    }
  }
  return false;
}

}  // namespace

const char* LifecycleName(Lifecycle s) {
  switch (s) {
    case Lifecycle::kCreated:
      return "created";
    case Lifecycle::kRunning:
      return "running";
    case Lifecycle::kStopped:
      return "stopped";
  }
  return "stopped";
}

Result<std::string> ContainerDir(const std::string& root, const std::string& id) {
  if (id.empty() || id.size() > 1024 || id == "." || id == "..")
    return Fail(EINVAL, "invalid container id '" + id + "'");
  for (char ch : id)
    if (!isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' && ch != '.')
      return Fail(EINVAL, "invalid container id '" + id + "': use [A-Za-z0-9_.-]");
  return root + "/" + id;
}

Status WriteRecord(const std::string& dir, const ContainerRecord& r) {
  json j = {{"id", r.id},
            {"bundle", r.bundle},
            {"rootfs", r.rootfs},
            {"pid", r.pid},
            {"pid_start_time", r.pid_start_time},
            {"created", r.created},
            {"annotations", r.annotations}};
  // Written whole then renamed: a concurrent `state` never reads half a record.
  const std::string tmp = dir + "/state.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump() << "\n";
    if (!out.flush()) return FailErrno("write " + tmp);
  }
  if (rename(tmp.c_str(), (dir + "/state.json").c_str()) != 0) return FailErrno("rename " + tmp);
  return {};
}

Result<ContainerRecord> ReadRecord(const std::string& root, const std::string& id) {
  TRY(std::string dir, ContainerDir(root, id));
  std::ifstream in(dir + "/state.json");
  if (!in) return Fail(ENOENT, "container does not exist");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Fail(EIO, dir + "/state.json is damaged");
  ContainerRecord r;
  try {
    r.id = j.at("id").get<std::string>();
    r.bundle = j.at("bundle").get<std::string>();
    r.rootfs = j.value("rootfs", "");
    r.pid = j.at("pid").get<pid_t>();
    r.pid_start_time = j.value("pid_start_time", uint64_t{0});
    r.created = j.value("created", "");
    r.annotations = j.value("annotations", std::map<std::string, std::string>());
  } catch (const json::exception& e) {
    return Fail(EIO, dir + "/state.json is damaged (" + e.what() + ")");
  }
  return r;
}

uint64_t ProcessStartTime(pid_t pid) {
  char state = '?';
  uint64_t start = 0;
  return ReadStat(pid, state, start) ? start : 0;
}

bool KeeperAlive(const ContainerRecord& r) {
  if (r.pid <= 0) return false;
  char state = '?';
  uint64_t start = 0;
  if (!ReadStat(r.pid, state, start)) return false;
  return state != 'Z' && state != 'X' && start == r.pid_start_time;
}

Lifecycle CurrentLifecycle(const std::string& dir, const ContainerRecord& r) {
  if (!KeeperAlive(r)) return Lifecycle::kStopped;
  return access((dir + "/started").c_str(), F_OK) == 0 ? Lifecycle::kRunning : Lifecycle::kCreated;
}

std::string StateJson(const ContainerRecord& r, Lifecycle status) {
  json j = {{"ociVersion", "1.0.2"},
            {"id", r.id},
            {"status", LifecycleName(status)},
            {"pid", status == Lifecycle::kStopped ? 0 : r.pid},
            {"bundle", r.bundle},
            {"rootfs", r.rootfs},
            {"created", r.created},
            {"owner", ""}};
  if (!r.annotations.empty()) j["annotations"] = r.annotations;
  return j.dump(2);
}

}  // namespace cat::oci

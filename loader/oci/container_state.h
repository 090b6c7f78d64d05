// A catload-oci container's record under --root (spec/oci.md, "Runtime: state"): ROOT/ID/
// holds state.json (written once by create), start.fifo (start's signal to the instance's
// keeper process) and `started` (written by start). The status is derived, never stored: a
// keeper that is gone (or a zombie waiting for its reaper) is a stopped container.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>

#include "format/base/error.h"

namespace cat::oci {

struct ContainerRecord {
  std::string id;
  std::string bundle;
  std::string rootfs;
  pid_t pid = 0;                // the keeper: its exit status is the container's
  uint64_t pid_start_time = 0;  // /proc/PID/stat field 22, against pid reuse
  std::string created;          // RFC 3339
  std::map<std::string, std::string> annotations;
};

enum class Lifecycle { kCreated, kRunning, kStopped };
const char* LifecycleName(Lifecycle s);

// The ID's directory under root; an ID is [A-Za-z0-9_.-]+ (runc's rule), never a path.
Result<std::string> ContainerDir(const std::string& root, const std::string& id);
Status WriteRecord(const std::string& dir, const ContainerRecord& record);
Result<ContainerRecord> ReadRecord(const std::string& root, const std::string& id);

// The keeper's state: gone or a zombie is stopped, alive before `start` is created.
Lifecycle CurrentLifecycle(const std::string& dir, const ContainerRecord& record);
// Whether pid is still the keeper recorded (alive and not a zombie, same start time).
bool KeeperAlive(const ContainerRecord& record);
// /proc/PID/stat's start time (0 if it cannot be read).
uint64_t ProcessStartTime(pid_t pid);

// The OCI runtime-spec state document of `runc state`.
std::string StateJson(const ContainerRecord& record, Lifecycle status);

}  // namespace cat::oci

// The guest's /proc: a synthetic tree generated from the sandbox kernel's own state, never the
// host's procfs (spec/abi.md §3.1). /proc/self and /proc/<guest pid> describe the guest — its
// argv, environment, VMAs, fds, mounts, limits — and the machine-wide files report what the
// syscalls report (guest_view.h). A file's content is generated when it is opened and again by
// every read at offset 0 (like Linux's seq files); the open file keeps the last snapshot as an
// inode of its own, so it survives a checkpoint (state::FileKind::kSynthetic).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "format/base/error.h"
#include "format/state/sandbox_state.h"
#include "loader/kernel/instance_id.h"

namespace cat {

// st_dev of every synthetic node (/proc, denied host directories).
constexpr dev_t kSyntheticDev = 0x3e;

class Procfs {
 public:
  explicit Procfs(const state::SandboxState& s) : s_(s) {}

  // "/proc" and every canonical path below it.
  static bool Covers(std::string_view path);

  // A node of the tree: nullopt if the path does not exist. st is lstat-like (size 0 for
  // files, as in Linux).
  std::optional<struct stat> Lookup(std::string_view path) const;
  Result<std::string> ReadLink(std::string_view path) const;
  struct Entry {
    std::string name;
    uint64_t ino;
    uint8_t type;  // DT_*
  };
  // A directory's entries, "." and ".." not included.
  Result<std::vector<Entry>> List(std::string_view path) const;
  // A regular file's content, generated now.
  Result<std::string> Generate(std::string_view path) const;

  // The guest's CPU time, for /proc/<pid>/stat (the platform knows it, not the state).
  void set_cpu_time(std::function<int64_t()> ns) { cpu_time_ns_ = std::move(ns); }
  // The instance's identity, for /proc/catalyzer/generation and
  // /proc/sys/kernel/random/boot_id (the sandbox kernel's own). Without one, a fresh id is
  // drawn at the first read, so no two Procfs ever show the same.
  void set_instance_id(const InstanceId& id) { instance_ = id; }

 private:
  struct Where;
  std::optional<Where> Find(std::string_view path) const;

  const state::SandboxState& s_;
  std::function<int64_t()> cpu_time_ns_;
  mutable std::optional<InstanceId> instance_;
};

}  // namespace cat

// BindMounts: the operator's --rootfs / --mount checked against a snapshot's mounts
// (mount_binding.h).
#include "loader/boot/mount_binding.h"

#include <sys/stat.h>

namespace cat {
namespace {

const char* ModeName(bool rw) {
  return rw ? "rw" : "ro";
}

}  // namespace

Status CheckHostDirectory(const std::string& what, const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return FailErrno(what + " " + dir);
  if (!S_ISDIR(st.st_mode)) return Fail(ENOTDIR, what + " " + dir + " is not a directory");
  return {};
}

Result<std::vector<std::string>> BindMounts(const state::SandboxState& s, const MountChoice& choice,
                                            const RecordedMounts& recorded) {
  if (s.mounts.size == 0 || s.mounts[0].guest_path.view() != "/")
    return Fail(EINVAL, "the snapshot's mount table does not start with /");
  // Operator mounts by guest path, each naming a mount of the snapshot, once.
  for (size_t i = 0; i < choice.mounts.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (choice.mounts[i].guest == choice.mounts[j].guest)
        return Fail(EINVAL, "--mount " + choice.mounts[i].guest + " given twice");

  for (const MountSpec& given : choice.mounts) {
    bool known = false;
    for (const state::Mount& m : s.mounts) known = known || m.guest_path.view() == given.guest;
    if (!known || given.guest == "/")
      return Fail(EINVAL, "--mount " + MountRecord(given) + ": the function has no mount at " +
                              given.guest);
  }
  std::vector<std::string> dirs(s.mounts.size);
  for (uint32_t i = 0; i < s.mounts.size; ++i) {
    const state::Mount& m = s.mounts[i];
    const std::string guest(m.guest_path.view());
    const bool root = guest == "/";
    if (i > 0 && root) return Fail(EINVAL, "the snapshot mounts / twice");
    if (static_cast<uint32_t>(m.access) >= state::kNumMountAccess)
      return Fail(EINVAL, "mount " + guest + ": unknown access " +
                              std::to_string(static_cast<uint32_t>(m.access)));
    const bool captured_rw = m.access == state::MountAccess::kReadWrite;
    if (root) {
      if (captured_rw) return Fail(EINVAL, "the snapshot's / is read-write (a rootfs never is)");
      if (m.access == state::MountAccess::kNone) {
        if (!choice.rootfs.empty())
          return Fail(EINVAL, "--rootfs " + choice.rootfs +
                                  ": the function was captured with an empty root; drop --rootfs");
        continue;
      }
      if (!choice.rootfs.empty()) {
        dirs[i] = choice.rootfs;
      } else if (choice.from_image && !recorded.rootfs.empty()) {
        dirs[i] = recorded.rootfs;
      } else {
        return Fail(EINVAL,
                    "the function was captured with a rootfs" +
                        (recorded.rootfs.empty() ? std::string() : " (" + recorded.rootfs + ")") +
                        ": pass --rootfs DIR, or --mounts-from-image to use the "
                        "capture-time path");
      }
      TRY_STATUS(CheckHostDirectory("rootfs", dirs[i]));
      continue;
    }
    if (m.access == state::MountAccess::kNone)
      return Fail(EINVAL, "the snapshot's mount at " + guest + " has no host access recorded");
    const MountSpec* given = nullptr;
    for (size_t j = 0; j < choice.mounts.size(); ++j)
      if (choice.mounts[j].guest == guest) given = &choice.mounts[j];
    if (given) {
      if (given->read_write != captured_rw)
        return Fail(EINVAL, "--mount " + MountRecord(*given) + ": the function was captured with " +
                                guest + " " + ModeName(captured_rw) +
                                "; pass :" + ModeName(captured_rw));
      dirs[i] = given->host;
    } else {
      const MountSpec* rec = nullptr;
      MountSpec parsed;
      for (const std::string& r : recorded.mounts)
        if (auto p = ParseMountRecord(r); p && p->guest == guest) {
          parsed = *p;
          rec = &parsed;
        }
      const std::string hint =
          rec ? " (captured from " + rec->host + ")" : std::string(" (no capture-time path)");
      if (!choice.from_image || !rec)
        return Fail(EINVAL, "the function expects a host directory at " + guest + hint +
                                ": pass --mount HOST:" + guest + ":" + ModeName(captured_rw) +
                                (rec ? ", or --mounts-from-image" : ""));
      if (captured_rw)
        return Fail(EINVAL, "the function's mount at " + guest + " is read-write" + hint +
                                ": only --mount HOST:" + guest +
                                ":rw grants that, --mounts-from-image does not");
      if (rec->read_write != captured_rw)
        return Fail(EINVAL, "the snapshot's metadata and state disagree on the mode of " + guest);
      dirs[i] = rec->host;
    }
    TRY_STATUS(CheckHostDirectory("mount " + guest + ": host directory", dirs[i]));
  }
  return dirs;
}

}  // namespace cat

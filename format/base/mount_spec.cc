// Parsing and recording of HOST:GUEST[:ro|rw] mounts (mount_spec.h).
#include "format/base/mount_spec.h"

namespace cat {

bool IsCanonicalAbsolutePath(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  if (p.size() > 1 && p.back() == '/') return false;
  if (p.find('\0') != std::string_view::npos) return false;
  return p.find("//") == std::string_view::npos && p.find("/./") == std::string_view::npos &&
         p.find("/../") == std::string_view::npos && !p.ends_with("/..") && !p.ends_with("/.");
}

Result<MountSpec> ParseMountSpec(const std::string& spec) {
  MountSpec m;
  std::string rest = spec;
  if (rest.ends_with(":rw") || rest.ends_with(":ro")) {
    m.read_write = rest.ends_with(":rw");
    rest.resize(rest.size() - 3);
  }
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
    return Fail(EINVAL, "bad --mount '" + spec + "': expected HOST:GUEST[:ro|rw]");
  m.host = rest.substr(0, colon);
  m.guest = rest.substr(colon + 1);
  if (!IsCanonicalAbsolutePath(m.guest) || m.guest == "/")
    return Fail(EINVAL, "bad --mount '" + spec +
                            "': GUEST must be an absolute path without '.', '..' or '//', not /");
  return m;
}

std::string MountRecord(const MountSpec& m) {
  return m.host + ":" + m.guest + (m.read_write ? ":rw" : ":ro");
}

Result<MountSpec> ParseMountRecord(const std::string& record) {
  if (!record.ends_with(":ro") && !record.ends_with(":rw"))
    return Fail(EINVAL, "mount '" + record + "' is not HOST:GUEST:ro|rw");
  auto m = ParseMountSpec(record);
  if (!m) return Fail(EINVAL, "mount '" + record + "' is not HOST:GUEST:ro|rw");
  if (!IsCanonicalAbsolutePath(m->host))
    return Fail(EINVAL, "mount '" + record + "': HOST is not an absolute canonical path");
  return m;
}

bool IsRootfsRecord(std::string_view rootfs) {
  return rootfs.empty() || IsCanonicalAbsolutePath(rootfs);
}

}  // namespace cat

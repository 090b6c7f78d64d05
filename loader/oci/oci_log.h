// catload-oci's --log: what runc writes there and the engines read back. With --log-format
// json each line is {"level":"error","msg":"...","time":"..."}; containerd's shim reports the
// last error line of the file as the failure of a verb. Without --log, lines go to stderr.
#pragma once

#include <string>

namespace cat::oci {

// Now, UTC, as runc's logs and the state's "created" write it (RFC 3339, nanoseconds).
std::string NowRfc3339();

class OciLog {
 public:
  OciLog() = default;
  OciLog(std::string path, bool json) : path_(std::move(path)), json_(json) {}
  void Error(const std::string& msg) const { Write("error", msg); }
  void Info(const std::string& msg) const { Write("info", msg); }
  // Also to stderr: what a person running catload-oci by hand (or podman) sees.
  void ErrorToStderr(const std::string& msg) const;

 private:
  void Write(const char* level, const std::string& msg) const;
  std::string path_;
  bool json_ = false;
};

}  // namespace cat::oci

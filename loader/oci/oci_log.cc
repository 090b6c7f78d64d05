// The --log writer (oci_log.h). Each line is appended with one write(2), so that lines of
// concurrent verbs on one container do not interleave.
#include "loader/oci/oci_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace cat::oci {

std::string NowRfc3339() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char buf[64];
  const size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

void OciLog::Write(const char* level, const std::string& msg) const {
  std::string line;
  if (json_) {
    line = nlohmann::json{{"level", level}, {"msg", msg}, {"time", NowRfc3339()}}.dump(
               -1, ' ', false, nlohmann::json::error_handler_t::replace) +
           "\n";
  } else {
    line = NowRfc3339() + " " + level + ": " + msg + "\n";
  }
  if (path_.empty()) {
    if (std::string_view(level) == "error") std::fprintf(stderr, "catload-oci: %s\n", msg.c_str());
    return;
  }
  const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  [[maybe_unused]] const ssize_t n = write(fd, line.data(), line.size());
  close(fd);
}

void OciLog::ErrorToStderr(const std::string& msg) const {
  Error(msg);
  if (!path_.empty()) std::fprintf(stderr, "catload-oci: %s\n", msg.c_str());
}

}  // namespace cat::oci

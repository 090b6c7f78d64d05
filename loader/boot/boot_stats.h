// Stage timings of a boot (catload run/restore --stats): each stage's name and duration, in
// the order they ran, plus the boot latency (request accepted -> first guest instruction).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/base/host_clock.h"

namespace cat {

class BootStats {
 public:
  BootStats() : start_ns_(MonotonicNowNs()), last_ns_(start_ns_) {}
  // Ends the current stage under `name`.
  void Stage(const std::string& name) {
    const int64_t now = MonotonicNowNs();
    stages_.push_back({name, now - last_ns_});
    last_ns_ = now;
  }
  int64_t ElapsedNs() const { return last_ns_ - start_ns_; }
  int64_t start_ns() const { return start_ns_; }  // "request accepted"
  void Note(const std::string& key, int64_t value) { notes_.push_back({key, value}); }

  struct Entry {
    std::string name;
    int64_t value;
  };
  const std::vector<Entry>& stages() const { return stages_; }
  const std::vector<Entry>& notes() const { return notes_; }

 private:
  int64_t start_ns_;
  int64_t last_ns_;
  std::vector<Entry> stages_;
  std::vector<Entry> notes_;
};

}  // namespace cat

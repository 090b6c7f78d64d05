// The server's metrics and their Prometheus text exposition (GET /metrics; names in
// spec/serve.md, "Metrics"): invocation counters by function, boot mode and outcome, latency
// histograms by function and mode, rejected requests, and gauges the caller samples at render
// time (instances running, requests queued, pool sizes).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace cat::serve {

// A histogram with fixed upper bounds in seconds (cumulative buckets as Prometheus wants them).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double seconds);
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<uint64_t>& counts() const { return counts_; }  // per bucket, +Inf last
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
};

struct Gauge {
  std::string name;
  std::string help;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

class Metrics {
 public:
  // boot_ns < 0: no guest instruction ran (no boot latency observed).
  void RecordInvocation(const std::string& function, const std::string& mode,
                        const std::string& outcome, int status, int64_t boot_ns, int64_t total_ns);
  // A request turned away before it ran (503 queue full, 404, 413, 400).
  void RecordRejected(const std::string& reason);
  // The whole exposition; `gauges` are sampled by the caller now. Gauges with one name must be
  // adjacent (one HELP/TYPE each).
  std::string Render(const std::vector<Gauge>& gauges) const;

  // Escapes a label value (backslash, double quote, newline) as the text format demands.
  static std::string EscapeLabel(const std::string& value);

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> invocations_;
  std::map<int, uint64_t> responses_;  // by HTTP status
  std::map<std::string, uint64_t> rejected_;
  std::map<std::pair<std::string, std::string>, Histogram> boot_, total_;
};

}  // namespace cat::serve

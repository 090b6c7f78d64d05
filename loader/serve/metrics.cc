// Metrics bookkeeping and Prometheus text rendering (see metrics.h).
#include "loader/serve/metrics.h"

#include <charconv>

namespace cat::serve {
namespace {

// Boot latency: the paper's range (tens of µs for fork) up to a slow cold boot.
const std::vector<double> kBootBounds = {25e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3,
                                         2e-3,  5e-3,  10e-3,  50e-3,  0.1};
// End to end: from a hello (well under a millisecond of boot) to a timed-out guest.
const std::vector<double> kTotalBounds = {500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3,
                                          0.1,    0.25, 0.5,  1,    2.5,   5,     10};

// The shortest text that reads back as the same double ("2.5e-05", not "2.50000000000000012e-05").
std::string Number(double v) {
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

std::string Labels(const std::vector<std::pair<std::string, std::string>>& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += labels[i].first + "=\"" + Metrics::EscapeLabel(labels[i].second) + "\"";
  }
  return out + "}";
}

void Header(std::string& out, const std::string& name, const std::string& type,
            const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void RenderHistograms(std::string& out, const std::string& name, const std::string& help,
                      const std::map<std::pair<std::string, std::string>, Histogram>& hs) {
  Header(out, name, "histogram", help);
  for (const auto& [key, h] : hs) {
    const std::vector<std::pair<std::string, std::string>> base = {{"function", key.first},
                                                                   {"mode", key.second}};
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h.bounds().size(); ++i) {
      cumulative += h.counts()[i];
      auto labels = base;
      labels.emplace_back("le", i < h.bounds().size() ? Number(h.bounds()[i]) : "+Inf");
      out += name + "_bucket" + Labels(labels) + " " + std::to_string(cumulative) + "\n";
    }
    out += name + "_sum" + Labels(base) + " " + Number(h.sum()) + "\n";
    out += name + "_count" + Labels(base) + " " + std::to_string(h.count()) + "\n";
  }
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  ++counts_[i];
  ++count_;
  sum_ += seconds;
}

std::string Metrics::EscapeLabel(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Metrics::RecordInvocation(const std::string& function, const std::string& mode,
                               const std::string& outcome, int status, int64_t boot_ns,
                               int64_t total_ns) {
  std::lock_guard lock(mu_);
  ++invocations_[{function, mode, outcome}];
  ++responses_[status];
  const auto key = std::make_pair(function, mode);
  if (boot_ns >= 0)
    boot_.try_emplace(key, kBootBounds).first->second.Observe(static_cast<double>(boot_ns) / 1e9);
  total_.try_emplace(key, kTotalBounds).first->second.Observe(static_cast<double>(total_ns) / 1e9);
}

void Metrics::RecordRejected(const std::string& reason) {
  std::lock_guard lock(mu_);
  ++rejected_[reason];
}

std::string Metrics::Render(const std::vector<Gauge>& gauges) const {
  std::string out;
  std::lock_guard lock(mu_);
  Header(out, "catalyzer_invocations_total", "counter",
         "Invocations that ran (or tried to boot), by function, boot mode and outcome.");
  for (const auto& [key, n] : invocations_) {
    const auto& [function, mode, outcome] = key;
    out += "catalyzer_invocations_total" +
           Labels({{"function", function}, {"mode", mode}, {"outcome", outcome}}) + " " +
           std::to_string(n) + "\n";
  }
  Header(out, "catalyzer_invocation_responses_total", "counter",
         "Invocation responses by HTTP status.");
  for (const auto& [status, n] : responses_)
    out += "catalyzer_invocation_responses_total" + Labels({{"code", std::to_string(status)}}) +
           " " + std::to_string(n) + "\n";
  Header(out, "catalyzer_rejected_total", "counter",
         "Invoke requests turned away before running, by reason.");
  for (const auto& [reason, n] : rejected_)
    out +=
        "catalyzer_rejected_total" + Labels({{"reason", reason}}) + " " + std::to_string(n) + "\n";
  RenderHistograms(out, "catalyzer_boot_latency_seconds",
                   "Boot latency: admission to the first guest instruction.", boot_);
  RenderHistograms(out, "catalyzer_invocation_duration_seconds",
                   "End to end: request received to response ready (queue wait included).", total_);
  std::string last;
  for (const Gauge& g : gauges) {
    if (g.name != last) Header(out, g.name, "gauge", g.help);
    last = g.name;
    out += g.name + Labels(g.labels) + " " + Number(g.value) + "\n";
  }
  return out;
}

}  // namespace cat::serve

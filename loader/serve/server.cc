// HTTP routes of `catload serve` on cpp-httplib (see server.h).
#include "loader/serve/server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "format/base/host_clock.h"
#include "loader/serve/status_mapping.h"

namespace cat::serve {
namespace {

// How long a client turned away by a full queue should wait: invocations take milliseconds,
// so one second (the smallest Retry-After) is plenty for the queue to move.
constexpr int kRetryAfterSeconds = 1;
// The guest's stderr quoted in the log line, at most this much.
constexpr size_t kLogStderrBytes = 4096;

// One log line's worth of bytes: printable ASCII kept, the rest escaped, so a guest cannot
// forge log lines or terminal escapes.
std::string Quote(std::string_view bytes, size_t max) {
  std::string out = "\"";
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      out += esc;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (bytes.size() > max) out += "...";
  return out + "\"";
}

void PlainAnswer(httplib::Response& res, int status, const std::string& line) {
  res.status = status;
  res.set_content(line + "\n", "text/plain; charset=utf-8");
}

std::string ModeList(const std::vector<BootMode>& modes) {
  std::string out;
  for (BootMode m : modes) out += (out.empty() ? "" : ", ") + std::string(BootModeName(m));
  return out;
}

}  // namespace

Server::Server(ServeConfig config, Registry& registry, Invoker& invoker, Logger log)
    : config_(std::move(config)),
      registry_(registry),
      invoker_(invoker),
      log_(std::move(log)),
      admission_(config_.max_instances, config_.queue),
      http_(std::make_unique<httplib::Server>()) {
  // Every admitted or queued request holds a thread while it waits, plus a few to answer
  // /metrics, /healthz and 503s while all of those are busy.
  const size_t threads = size_t{config_.max_instances} + config_.queue + 4;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // httplib answers 413 itself past this size; the error handler below words it.
  http_->set_payload_max_length(config_.max_request);
  http_->set_tcp_nodelay(true);
  Routes();
  // The invoker learns what is served now and after every change (templates made ahead,
  // those of removed images freed). Unhooked by ~Server, before the invoker can go.
  invoker_.Serving(registry_.List(), config_.limits);
  registry_.OnChange([this] { invoker_.Serving(registry_.List(), config_.limits); });
}

Server::~Server() {
  registry_.OnChange(nullptr);
}

std::string Server::NextInvocationId() {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d-%llu", static_cast<int>(getpid()),
                static_cast<unsigned long long>(next_id_++));
  return buf;
}

void Server::Routes() {
  http_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    PlainAnswer(res, stopping_ ? 503 : 200, stopping_ ? "draining" : "ok");
  });

  http_->Get("/", [this](const httplib::Request&, httplib::Response& res) {
    nlohmann::json modes = nlohmann::json::array();
    for (BootMode m : invoker_.AvailableModes()) modes.push_back(BootModeName(m));
    nlohmann::json functions = nlohmann::json::array();
    for (const auto& img : registry_.List()) {
      functions.push_back({{"name", img->name},
                           {"path", img->path},
                           {"function", img->image.function().name},
                           {"exe", img->image.function().exe},
                           {"size", img->size},
                           {"generation", img->generation},
                           {"url", "/invoke/" + img->name}});
    }
    const nlohmann::json doc = {{"server", "catload serve"},
                                {"boot_modes", modes},
                                {"default_boot_mode", modes.empty() ? "" : modes[0]},
                                {"functions", functions}};
    res.set_content(doc.dump(2) + "\n", "application/json");
  });

  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<Gauge> gauges = {
        {"catalyzer_instances_running",
         "Invocations running now (at most --max-instances).",
         {},
         static_cast<double>(admission_.running())},
        {"catalyzer_requests_queued",
         "Invoke requests waiting for an instance (at most --queue).",
         {},
         static_cast<double>(admission_.waiting())},
        {"catalyzer_max_instances",
         "The --max-instances limit.",
         {},
         static_cast<double>(config_.max_instances)},
        {"catalyzer_functions",
         "Functions served.",
         {},
         static_cast<double>(registry_.List().size())},
    };
    for (const auto& img : registry_.List())
      gauges.push_back({"catalyzer_image_generation",
                        "Images served under this name so far (1 + replacements).",
                        {{"function", img->name}},
                        static_cast<double>(img->generation)});
    // The zygote: one pool of empty shells for every image (a shell holds nothing of an image
    // until a boot maps it), kept by the in-process invoker once a boot first needs one.
    gauges.push_back({"catalyzer_pool_shells",
                      "Empty sandbox shells ready in the zygote pool (--pool).",
                      {},
                      static_cast<double>(invoker_.PoolShells())});
    res.set_content(metrics_.Render(gauges), "text/plain; version=0.0.4; charset=utf-8");
  });

  // The body is read here, through a content reader, not by httplib before the handler: httplib
  // parses a body sent as application/x-www-form-urlencoded (what `curl -d`/`--data-binary`
  // sends by default) into query parameters and refuses one over 8 KiB with a 413 of its own;
  // a function's request is bytes, whatever the client calls them. --max-request still bounds
  // it (httplib's payload limit applies to the reader: 413, worded by the error handler).
  http_->Post(R"(/invoke/([^/]+))", [this](const httplib::Request& req, httplib::Response& res,
                                           const httplib::ContentReader& content_reader) {
    if (req.is_multipart_form_data()) {
      metrics_.RecordRejected("bad_request");
      return PlainAnswer(res, 415,
                         "multipart/form-data is not a request body here: send the request's "
                         "bytes as the body (curl --data-binary @FILE)");
    }
    std::string body;
    const bool read = content_reader([&body](const char* data, size_t len) {
      body.append(data, len);
      return true;
    });
    if (!read) {
      if (res.status == 413) return;  // over --max-request: the error handler words it
      metrics_.RecordRejected("bad_request");
      return PlainAnswer(res, 400, "the request body could not be read");
    }
    const int64_t received = MonotonicNowNs();
    const std::string id = NextInvocationId();
    const std::string name = req.matches[1];
    res.set_header("X-Catalyzer-Invocation-Id", id);
    const std::vector<BootMode> available = invoker_.AvailableModes();
    BootMode mode = available.empty() ? BootMode::kCold : available.front();
    if (req.has_param("boot")) {
      const std::string asked = req.get_param_value("boot");
      const auto parsed = ParseBootMode(asked);
      if (!parsed) {
        metrics_.RecordRejected("bad_request");
        return PlainAnswer(res, 400,
                           "unknown boot mode \"" + asked + "\" (use cold, warm or fork)");
      }
      mode = *parsed;
    }
    const auto image = registry_.Lookup(name);
    if (!image) {
      metrics_.RecordRejected("not_found");
      return PlainAnswer(res, 404,
                         "no function \"" + name + "\" is served here (GET / lists them)");
    }
    if (std::find(available.begin(), available.end(), mode) == available.end()) {
      metrics_.RecordRejected("unavailable");
      return PlainAnswer(res, 501,
                         "boot mode " + std::string(BootModeName(mode)) +
                             " is not available yet (available: " + ModeList(available) + ")");
    }
    auto slot = admission_.Enter();
    if (!slot) {
      metrics_.RecordRejected("queue_full");
      res.set_header("Retry-After", std::to_string(kRetryAfterSeconds));
      return PlainAnswer(res, 503,
                         "server busy: " + std::to_string(config_.max_instances) +
                             " instances running (--max-instances) and " +
                             std::to_string(config_.queue) +
                             " requests queued (--queue); retry later");
    }
    InvokeRequest ir;
    ir.function = name;
    ir.image_path = image->path;
    ir.image = &image->image;
    ir.image_fd = image->image.fd();
    ir.image_generation = image->generation;
    ir.mode = mode;
    ir.body = std::move(body);
    ir.limits = config_.limits;
    ir.invocation_id = id;
    ir.accepted_ns = MonotonicNowNs();
    InvokeResult r = invoker_.Invoke(ir);
    slot.reset();
    const HttpAnswer answer = MapOutcome(r);
    const int64_t total_ns = MonotonicNowNs() - received;
    const bool ran = r.kind != OutcomeKind::kInternalError && r.kind != OutcomeKind::kBootFailed &&
                     r.kind != OutcomeKind::kUnavailable;
    if (ran) res.set_header("X-Catalyzer-Exit-Code", std::to_string(r.exit_code));
    res.set_header("X-Catalyzer-Outcome", std::string(OutcomeName(r.kind)));
    res.set_header("X-Catalyzer-Boot-Mode", std::string(BootModeName(r.mode_used)));
    if (ran) res.set_header("X-Catalyzer-Booted-Ahead", r.ahead ? "1" : "0");
    if (r.boot_ns >= 0)
      res.set_header("X-Catalyzer-Boot-Latency-Us", std::to_string(r.boot_ns / 1000));
    res.set_header("X-Catalyzer-Total-Us", std::to_string(total_ns / 1000));
    // Where the boot latency went (as the log line's boot_stages): for a client or benchmark
    // to see per answer, next to the latency itself.
    if (!r.boot_stages.empty()) res.set_header("X-Catalyzer-Boot-Stages", r.boot_stages);
    res.set_header("X-Catalyzer-Image-Generation", std::to_string(image->generation));
    if (answer.status == 200) {
      res.status = 200;
      res.set_content(std::move(r.stdout_bytes), "application/octet-stream");
    } else {
      PlainAnswer(res, answer.status, answer.message);
    }
    metrics_.RecordInvocation(name, std::string(BootModeName(r.mode_used)),
                              std::string(OutcomeName(r.kind)), answer.status, r.boot_ns, total_ns);
    ++served_;
    std::string line =
        "invocation " + id + " " + name + " mode=" + std::string(BootModeName(r.mode_used)) +
        " status=" + std::to_string(answer.status) + " outcome=" + std::string(OutcomeName(r.kind));
    if (ran) line += " exit=" + std::to_string(r.exit_code);
    if (r.boot_ns >= 0) line += " boot_us=" + std::to_string(r.boot_ns / 1000);
    line += " total_us=" + std::to_string(total_ns / 1000);
    if (!r.boot_stages.empty()) line += " boot_stages=" + r.boot_stages;
    if (!answer.message.empty()) line += " message=" + Quote(answer.message, kLogStderrBytes);
    line += " stderr=" + Quote(r.stderr_bytes, kLogStderrBytes);
    log_(line);
  });

  http_->set_error_handler([this](const httplib::Request&, httplib::Response& res) {
    if (res.status == 413) {
      metrics_.RecordRejected("too_large");
      PlainAnswer(res, 413,
                  "request body over the --max-request limit of " +
                      std::to_string(config_.max_request) + " bytes");
    } else if (res.body.empty() && res.status == 404) {
      PlainAnswer(res, 404, "no such route (POST /invoke/NAME, GET /, /metrics, /healthz)");
    } else if (res.body.empty()) {
      PlainAnswer(res, res.status, "bad request (HTTP " + std::to_string(res.status) + ")");
    }
  });
}

Status Server::Bind() {
  if (config_.port == 0) {
    port_ = http_->bind_to_any_port(config_.host);
    if (port_ < 0) return Fail(EADDRINUSE, "cannot listen on " + config_.host + ": no port");
  } else {
    if (!http_->bind_to_port(config_.host, config_.port))
      return Fail(EADDRINUSE, "cannot listen on " + config_.host + ":" +
                                  std::to_string(config_.port) +
                                  " (in use, or not an address "
                                  "of this host)");
    port_ = config_.port;
  }
  return {};
}

Status Server::Run() {
  if (!http_->listen_after_bind() && !stopping_)
    return Fail(EIO, "the HTTP server stopped unexpectedly");
  return {};
}

void Server::Stop() {
  stopping_ = true;
  http_->stop();
}

}  // namespace cat::serve

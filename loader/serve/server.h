// The HTTP side of `catload serve` (spec/serve.md): routes, headers, the per-invocation log
// line, admission, metrics, and the SIGTERM drain. It knows the registry and the Invoker
// interface only, never how a function is booted.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "format/base/error.h"
#include "loader/serve/admission.h"
#include "loader/serve/invoker.h"
#include "loader/serve/metrics.h"
#include "loader/serve/registry.h"

namespace httplib {
class Server;
}

namespace cat::serve {

struct ServeConfig {
  std::string host = "127.0.0.1";
  int port = 8080;
  InvokeLimits limits;
  uint32_t max_instances = 4;
  uint32_t queue = 256;
  uint32_t pool = 0;
  uint64_t max_request = 16 << 20;
};

class Server {
 public:
  using Logger = std::function<void(const std::string&)>;
  Server(ServeConfig config, Registry& registry, Invoker& invoker, Logger log);
  ~Server();

  // Binds the listening socket (port 0: any free port, see port()).
  Status Bind();
  int port() const { return port_; }
  // Serves until Stop(); then every request already accepted or queued is answered.
  Status Run();
  // Stops accepting; Run() returns once the requests in flight are answered. Any thread.
  void Stop();
  uint64_t served() const { return served_.load(); }

 private:
  void Routes();
  std::string NextInvocationId();

  ServeConfig config_;
  Registry& registry_;
  Invoker& invoker_;
  Logger log_;
  Admission admission_;
  Metrics metrics_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> served_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace cat::serve

// The logger of one instance: where the sandbox kernel's lines about a guest go (unsupported
// syscalls, failed reconnections, ...), tagged with the instance's invocation id so that a
// process serving many instances at once (catload serve) can tell whose line it is. Cheap to
// copy: the id and the sink are shared.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace cat {

class Logger {
 public:
  // Receives every line with the invocation id ("" for a process that runs one instance).
  using Sink = std::function<void(std::string_view invocation_id, const std::string& line)>;

  Logger() = default;  // drops every line
  Logger(std::string invocation_id, Sink sink)
      : id_(std::make_shared<const std::string>(std::move(invocation_id))),
        sink_(std::make_shared<const Sink>(std::move(sink))) {}
  // A plain line sink without an id (tests, tools).
  template <class F>
  requires std::is_invocable_v<F&, const std::string&> &&
      (!std::is_same_v<std::remove_cvref_t<F>, Logger>)
          Logger(F line_sink)  // NOLINT(google-explicit-constructor): a lambda is a logger
      : Logger("", [f = std::move(line_sink)](std::string_view, const std::string& line) mutable {
          f(line);
        }) {}

  void operator()(const std::string& line) const {
    if (sink_ && *sink_) (*sink_)(invocation_id(), line);
  }
  std::string_view invocation_id() const { return id_ ? std::string_view(*id_) : ""; }
  // The same sink under another id (one instance of many).
  Logger WithId(std::string invocation_id) const {
    Logger l;
    l.id_ = std::make_shared<const std::string>(std::move(invocation_id));
    l.sink_ = sink_;
    return l;
  }

 private:
  std::shared_ptr<const std::string> id_;
  std::shared_ptr<const Sink> sink_;
};

}  // namespace cat

// `catload invoke [--boot MODE] URL NAME < request`: the client of `catload serve`. Sends
// stdin as the request, prints the response body on stdout and exits with the function's exit
// code; for any other answer than 200 it says on stderr what went wrong (spec/serve.md).
#include <httplib.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <iterator>

#include "loader/cli/cli_common.h"
#include "loader/cli/serve_commands.h"

namespace cat::cli {
namespace {

// The name as one URL path segment: unreserved characters as they are, the rest %XX.
std::string EncodeSegment(const std::string& name) {
  std::string out;
  for (const unsigned char c : name) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char esc[4];
      std::snprintf(esc, sizeof esc, "%%%02X", c);
      out += esc;
    }
  }
  return out;
}

struct InvokeArgs {
  std::string url;
  std::string name;
  std::string boot;
  double timeout_s = 3600;
};

int RunInvoke(const InvokeArgs& a) {
  std::string body((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::string base = a.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  httplib::Client client(base);
  if (!client.is_valid()) {
    PrintError("invoke: " + a.url + " is not an http:// URL");
    return kExitCatloadError;
  }
  const auto timeout = std::chrono::duration<double>(a.timeout_s);
  client.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  client.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  std::string path = "/invoke/" + EncodeSegment(a.name);
  if (!a.boot.empty()) path += "?boot=" + a.boot;
  auto res = client.Post(path, body, "application/octet-stream");
  if (!res) {
    PrintError("invoke: " + a.url + ": " + httplib::to_string(res.error()));
    return kExitCatloadError;
  }
  const std::string exit_code = res->get_header_value("X-Catalyzer-Exit-Code");
  if (res->status == 200) {
    std::fwrite(res->body.data(), 1, res->body.size(), stdout);
    std::fflush(stdout);
    return exit_code.empty() ? kExitCatloadError : std::atoi(exit_code.c_str());
  }
  std::string message = res->body;
  while (!message.empty() && message.back() == '\n') message.pop_back();
  PrintError("invoke: " + a.name + ": HTTP " + std::to_string(res->status) + ": " + message);
  // A guest that ran and was stopped (504, 507, 502) exits as under `catload run` (124, 153,
  // 128+signal); anything the server refused is catload's own failure.
  return exit_code.empty() ? kExitCatloadError : std::atoi(exit_code.c_str());
}

}  // namespace

std::function<int()> AddInvokeCommand(CLI::App& app) {
  auto args = std::make_shared<InvokeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "invoke", "Invoke a function of a `catload serve`: stdin is the request, stdout the answer.");
  cmd->footer(
      "The exit code is the function's (as `catload run` gives it: 124 past --timeout, 153 past "
      "--max-output, 128+N for signal N); 125 when the server refused the request or could not "
      "be reached (the reason on stderr).\n\n"
      "Examples:\n"
      "  echo world | catload invoke http://127.0.0.1:8080 hello\n"
      "  catload invoke --boot cold http://127.0.0.1:8080 lua < request.json");
  cmd->add_option("url", args->url, "The server, e.g. http://127.0.0.1:8080")->required();
  cmd->add_option("name", args->name, "The function's name (GET / lists them)")->required();
  cmd->add_option("--boot", args->boot,
                  "Boot mode: cold, warm or fork. Default: the server's "
                  "fastest available")
      ->check(CLI::IsMember({"cold", "warm", "fork"}));
  cmd->add_option("--timeout", args->timeout_s, "Seconds to wait for the answer. Default: 3600")
      ->check(CLI::PositiveNumber);
  return [args] { return RunInvoke(*args); };
}

}  // namespace cat::cli

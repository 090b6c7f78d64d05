// How an invocation's outcome becomes an HTTP status (spec/serve.md, "Status codes"): the
// function's own exit code is data (200 with a header), the limits and faults are the
// server's to report, each with a distinct status and a one-line message.
#pragma once

#include <string>

#include "loader/serve/invoker.h"

namespace cat::serve {

struct HttpAnswer {
  int status = 200;
  std::string message;  // "" for 200; else one line (the response body, with a newline)
};

HttpAnswer MapOutcome(const InvokeResult& result);

}  // namespace cat::serve

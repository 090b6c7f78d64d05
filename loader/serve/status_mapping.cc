// Outcome -> HTTP status (see status_mapping.h).
#include "loader/serve/status_mapping.h"

namespace cat::serve {

HttpAnswer MapOutcome(const InvokeResult& r) {
  const OutcomeInfo& o = Outcome(r.kind);
  if (o.http_status == 200) return {200, ""};
  return {o.http_status, r.message.empty() ? std::string(o.fallback) : r.message};
}

}  // namespace cat::serve

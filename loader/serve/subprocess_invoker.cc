// Cold boot by a `catload run` child per invocation (see subprocess_invoker.h).
#include "loader/serve/subprocess_invoker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "format/base/error.h"
#include "format/base/host_clock.h"
#include "format/base/unique_fd.h"

extern char** environ;

namespace cat::serve {
namespace {

// The child's fds: 0-2 stdio, 3 the report, 4 the image. Everything else is closed.
constexpr int kReportFd = 3;
constexpr int kImageFd = 4;
// The guest's stderr kept for the log line; the rest is counted, not kept.
constexpr size_t kMaxStderrKept = 64 * 1024;
// The report is one short JSON line; more is not catload run.
constexpr size_t kMaxReport = 64 * 1024;

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return FailErrno("pipe");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::string ExitDescription(int wait_status) {
  if (WIFEXITED(wait_status)) return "exit " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return std::string("signal ") + strsignal(WTERMSIG(wait_status));
  return "status " + std::to_string(wait_status);
}

}  // namespace

std::vector<std::string> SubprocessInvoker::CommandLine(const InvokeLimits& limits) const {
  std::vector<std::string> argv = {catload_, "run", "--report-fd", std::to_string(kReportFd)};
  if (limits.timeout_s > 0) argv.insert(argv.end(), {"--timeout", Seconds(limits.timeout_s)});
  if (limits.cpu_limit_s > 0) argv.insert(argv.end(), {"--cpu-limit", Seconds(limits.cpu_limit_s)});
  if (limits.memory_limit > 0)
    argv.insert(argv.end(), {"--memory-limit", std::to_string(limits.memory_limit)});
  if (limits.max_output > 0)
    argv.insert(argv.end(), {"--max-output", std::to_string(limits.max_output)});
  if (limits.max_fds > 0) argv.insert(argv.end(), {"--max-fds", std::to_string(limits.max_fds)});
  if (limits.max_procs > 0)
    argv.insert(argv.end(), {"--max-procs", std::to_string(limits.max_procs)});
  argv.insert(argv.end(), bind_args_.begin(), bind_args_.end());
  argv.push_back("/proc/self/fd/" + std::to_string(kImageFd));
  return argv;
}

void ApplyRunReport(const std::string& report_line, int wait_status, InvokeResult& r,
                    int64_t accepted_ns) {
  const nlohmann::json report = nlohmann::json::parse(report_line, nullptr, false);
  if (!report.is_object() || !report.contains("outcome") || !report["outcome"].is_string()) {
    r.kind = OutcomeKind::kInternalError;
    r.message = "catload run ended (" + ExitDescription(wait_status) + ") without a report";
    return;
  }
  const std::string outcome = report["outcome"];
  r.message = report.value("message", "");
  r.exit_code = report.value("exit_code", WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 125);
  const int status = report.value("status", 0);
  if (report.contains("boot_end_ns") && accepted_ns > 0)
    r.boot_ns = std::max<int64_t>(0, report.value("boot_end_ns", int64_t{0}) - accepted_ns);
  // The report's outcome names are the table's (invoker.h, Outcome); the ones a report never
  // carries, and anything else ("run_error"), are the server's failure.
  r.kind = OutcomeFromName(outcome).value_or(OutcomeKind::kInternalError);
  if (r.kind == OutcomeKind::kMemoryLimit || r.kind == OutcomeKind::kUnavailable)
    r.kind = OutcomeKind::kInternalError;
  if (r.kind == OutcomeKind::kExited) r.exit_code = status;
  // A guest refused memory by its limit that then fails (crashes, aborts or exits non-zero)
  // ran out of memory; one that copes and exits 0 just answers.
  const bool refused = report.value("memory_limit_hit", false);
  const bool failed = r.kind == OutcomeKind::kSignaled || r.kind == OutcomeKind::kFault ||
                      (r.kind == OutcomeKind::kExited && r.exit_code != 0);
  if (refused && failed) {
    const std::string how = r.kind == OutcomeKind::kExited
                                ? "exited " + std::to_string(r.exit_code)
                                : (r.message.empty() ? "ended" : r.message);
    r.kind = OutcomeKind::kMemoryLimit;
    r.message = MemoryLimitMessage(how);
  }
}

InvokeResult SubprocessInvoker::Invoke(const InvokeRequest& req) {
  InvokeResult r;
  r.mode_used = BootMode::kCold;
  const int64_t start = req.accepted_ns ? req.accepted_ns : MonotonicNowNs();
  auto fail = [&](const std::string& what) {
    r.kind = OutcomeKind::kInternalError;
    r.message = what + ": " + std::strerror(errno);
    r.total_ns = MonotonicNowNs() - start;
    return r;
  };
  if (req.mode != BootMode::kCold) {
    r.kind = OutcomeKind::kUnavailable;
    r.message = "boot mode " + std::string(BootModeName(req.mode)) + " is not available yet";
    return r;
  }
  auto in = MakePipe(), out = MakePipe(), err = MakePipe(), rep = MakePipe();
  if (!in || !out || !err || !rep) return fail("create the invocation's pipes");
  // A private fd above the fixed ones, so that dup2 onto kImageFd always clears FD_CLOEXEC.
  UniqueFd image(fcntl(req.image_fd, F_DUPFD_CLOEXEC, 16));
  if (!image.valid()) return fail("duplicate the image fd");

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in->read.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out->write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err->write.get(), 2);
  posix_spawn_file_actions_adddup2(&fa, rep->write.get(), kReportFd);
  posix_spawn_file_actions_adddup2(&fa, image.get(), kImageFd);
  // The server's sockets and other invocations' pipes must not leak into this child (libraries
  // do not all open with O_CLOEXEC).
  posix_spawn_file_actions_addclosefrom_np(&fa, kImageFd + 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // the server blocks SIGTERM/SIGHUP for sigwait
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGHUP);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const std::vector<std::string> args = CommandLine(req.limits);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, catload_.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    return fail("start " + catload_);
  }
  in->read.Reset();
  out->write.Reset();
  err->write.Reset();
  rep->write.Reset();
  image.Reset();

  // Feed the request and drain stdout, stderr and the report until all are closed.
  fcntl(in->write.get(), F_SETFL, O_NONBLOCK);
  size_t body_done = 0;
  if (req.body.empty()) in->write.Reset();
  std::string report;
  uint64_t stderr_total = 0;
  // catload run enforces --max-output; this is the server's own backstop for its memory.
  const uint64_t stdout_cap = req.limits.max_output ? req.limits.max_output + 65536 : 0;
  bool over_cap = false;
  char buf[65536];
  for (;;) {
    pollfd fds[4];
    int n = 0;
    int idx_in = -1, idx_out = -1, idx_err = -1, idx_rep = -1;
    if (in->write.valid()) fds[idx_in = n++] = pollfd{in->write.get(), POLLOUT, 0};
    if (out->read.valid()) fds[idx_out = n++] = pollfd{out->read.get(), POLLIN, 0};
    if (err->read.valid()) fds[idx_err = n++] = pollfd{err->read.get(), POLLIN, 0};
    if (rep->read.valid()) fds[idx_rep = n++] = pollfd{rep->read.get(), POLLIN, 0};
    if (n == 0) break;
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      kill(pid, SIGKILL);
      break;
    }
    if (idx_in >= 0 && fds[idx_in].revents) {
      const ssize_t w =
          write(in->write.get(), req.body.data() + body_done, req.body.size() - body_done);
      if (w > 0) body_done += static_cast<size_t>(w);
      // EPIPE: the guest stopped reading; the rest of the request is not its to have.
      if ((w < 0 && errno != EAGAIN) || body_done == req.body.size()) in->write.Reset();
    }
    auto drain = [&](int idx, UniqueFd& fd, auto&& sink) {
      if (idx < 0 || !fds[idx].revents) return;
      const ssize_t got = read(fd.get(), buf, sizeof buf);
      if (got > 0) {
        sink(static_cast<size_t>(got));
      } else if (got == 0 || errno != EAGAIN) {
        fd.Reset();
      }
    };
    drain(idx_out, out->read, [&](size_t got) {
      r.stdout_bytes.append(buf, got);
      if (stdout_cap && r.stdout_bytes.size() > stdout_cap && !over_cap) {
        over_cap = true;
        kill(pid, SIGKILL);
      }
    });
    drain(idx_err, err->read, [&](size_t got) {
      stderr_total += got;
      if (r.stderr_bytes.size() < kMaxStderrKept)
        r.stderr_bytes.append(buf, std::min(got, kMaxStderrKept - r.stderr_bytes.size()));
    });
    drain(idx_rep, rep->read, [&](size_t got) {
      if (report.size() < kMaxReport) report.append(buf, got);
    });
  }
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  r.total_ns = MonotonicNowNs() - start;
  if (stderr_total > r.stderr_bytes.size())
    r.stderr_bytes +=
        "[" + std::to_string(stderr_total - r.stderr_bytes.size()) + " more bytes not kept]";
  ApplyRunReport(report, wait_status, r, req.accepted_ns);
  if (over_cap) {
    r.kind = OutcomeKind::kOutputLimit;
    r.message = "output limit of " + std::to_string(req.limits.max_output) +
                " bytes exceeded (--max-output); guest killed";
  }
  return r;
}

}  // namespace cat::serve

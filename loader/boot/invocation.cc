// One invocation in process (see invocation.h).
#include "loader/boot/invocation.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include "format/base/unique_fd.h"
#include "loader/boot/call_deadline.h"
#include "loader/boot/watchdog.h"

namespace cat {
namespace {

Result<UniqueFd> NewMemfd(const char* name) {
  UniqueFd fd(memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return FailErrno(std::string("invocation: memfd_create ") + name);
  return fd;
}

// At offset 0 with pwrite: the fd's own offset (where the guest reads from) stays at 0, so no
// lseek back is needed (one syscall less on a request's path).
Status WriteAll(int fd, std::string_view bytes) {
  off_t at = 0;
  while (!bytes.empty()) {
    const ssize_t n = pwrite(fd, bytes.data(), bytes.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FailErrno("invocation: write the request");
    bytes.remove_prefix(static_cast<size_t>(n));
    at += n;
  }
  return {};
}

// A request's first page, allocated when the channels are made (ahead of the request, for an
// instance booted ahead) instead of by the request's write. KEEP_SIZE: the memfd stays empty.
constexpr off_t kRequestPreallocBytes = 4096;

// Everything written to the memfd (the guest writes at its own offset; the size is the end).
Result<std::string> ReadAll(int fd) {
  const off_t size = lseek(fd, 0, SEEK_END);
  if (size < 0) return FailErrno("invocation: size the output");
  std::string out(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FailErrno("invocation: read the output");
    done += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Sandbox>> BootInstance(Platform& platform, const FuncImage& image,
                                              const InvocationOptions& o, const RunLimits& limits,
                                              const ChannelFds& channel_fds, BootStats& stats) {
  std::unique_ptr<Sandbox> sb;
  switch (o.mode) {
    case BootMode::kCold:
      return ColdBoot(platform, image, o.reconnect, o.mounts, limits, o.log, stats, channel_fds,
                      o.prefault);
    case BootMode::kWarm: {
      if (!o.warm || !o.pool) return Fail(EINVAL, "invocation: warm boot without a warm image");
      TRY(sb, WarmBoot(*o.warm, *o.pool, o.mounts, limits, o.log, stats, channel_fds));
      break;
    }
    case BootMode::kFork: {
      if (!o.fork_template) return Fail(EINVAL, "invocation: fork boot without a template");
      TRY(sb, ForkBoot(*o.fork_template, limits, o.log, stats, channel_fds));
      break;
    }
    default:
      return Fail(EINVAL, "invocation: unknown boot mode");
  }
  if (o.idle_priority)
    TRY_STATUS(WithContext(sb->shell().SetIdlePriority(true), "boot ahead of the request"));
  // The copy-on-write tax of warm and fork instances, as cold boot's prefault stage: their
  // segments are MAP_PRIVATE from the image (fork: through the template, which never wrote
  // them), so the recorded pages are copied here in one batch instead of by the guest's faults.
  if (o.prefault != Prefault::kNone && !image.working_set().empty()) {
    uint64_t pages = 0;
    for (const PageRun& r : image.working_set()) pages += r.pages;
    TRY_STATUS(WithContext(PrefaultWorkingSet(sb->shell(), image.working_set()),
                           std::string(BootModeName(o.mode)) + " boot"));
    stats.Stage("prefault");
    stats.Note("prefault_pages", static_cast<int64_t>(pages));
  }
  return sb;
}

namespace {

// A boot with a bound of its own (catload serve --boot-timeout: run_timeout_s >= 0) is bounded as
// a whole. The boot's watchdog (WatchBoot) can only start once there is a shell to stop, and
// taking one can block too: a zygote pool that is empty makes a shell on this thread, and a
// pooled shell is seized and waited for (measured up to ~1.1 s under load). The CallDeadline
// interrupts whatever host call this thread is blocked in, as for a boot ahead
// (ReadyInstance::Boot) and a template (Template::Create); what was half made is thrown away.
Result<std::unique_ptr<Sandbox>> BootBounded(Platform& platform, const FuncImage& image,
                                             const InvocationOptions& o, const RunLimits& limits,
                                             const ChannelFds& channel_fds, BootStats& stats) {
  if (limits.run_timeout_s < 0 || limits.timeout_s <= 0)
    return BootInstance(platform, image, o, limits, channel_fds, stats);
  std::optional<CallDeadline> deadline;
  deadline.emplace(limits.TimeoutLeft());
  auto sandbox = BootInstance(platform, image, o, limits, channel_fds, stats);
  const bool fired = deadline->fired();
  deadline.reset();  // before the run: nothing of it may be interrupted
  if (fired)
    return Fail(ETIMEDOUT, std::string(BootModeName(o.mode)) + " boot: not booted within " +
                               SecondsText(limits.timeout_s) + " s; the last step was interrupted" +
                               (sandbox ? std::string() : ": " + sandbox.error().message()));
  return sandbox;
}

}  // namespace

Verdict Classify(const GuestOutcome& o) {
  using Kind = GuestOutcome::Kind;
  switch (o.kind) {
    case Kind::kTimeout:
      return Verdict::kTimeout;
    case Kind::kCpuLimit:
      return Verdict::kCpuLimit;
    case Kind::kOutputLimit:
      return Verdict::kOutputLimit;
    case Kind::kShellDied:
      return Verdict::kShellDied;
    default:
      break;
  }
  const bool clean = (o.kind == Kind::kExited || o.kind == Kind::kFuncEntry) && o.status == 0;
  if (o.memory_limit_hit && !clean) return Verdict::kMemoryLimit;
  if (o.kind == Kind::kFault) return Verdict::kFault;
  if (o.kind == Kind::kSignaled) return Verdict::kSignaled;
  return Verdict::kExited;
}

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kExited:
      return "exited";
    case Verdict::kSignaled:
      return "signaled";
    case Verdict::kFault:
      return "fault";
    case Verdict::kTimeout:
      return "timeout";
    case Verdict::kCpuLimit:
      return "cpu_limit";
    case Verdict::kOutputLimit:
      return "output_limit";
    case Verdict::kMemoryLimit:
      return "memory_limit";
    case Verdict::kShellDied:
      return "shell_died";
  }
  return "?";
}

InvocationResult RunBooted(std::unique_ptr<Sandbox> sandbox, const RunLimits& boot_limits,
                           BootStats stats, bool defer_teardown) {
  InvocationResult r;
  r.boot_ns = stats.ElapsedNs();
  RunLimits limits = boot_limits;
  if (limits.run_timeout_s >= 0) {
    // The boot had a bound of its own (catload serve --boot-timeout): the run's --timeout counts
    // from here, the guest's first instruction, with a watchdog of its own (RunGuest starts it).
    (void)sandbox->TakeWatchdog();
    limits.timeout_s = limits.run_timeout_s;
    limits.run_timeout_s = -1;
    limits.start_ns = MonotonicNowNs();
  }
  const int64_t minflt_before = sandbox->shell().MinorFaults();
  const int64_t run_start = MonotonicNowNs();
  auto outcome = RunGuest(*sandbox, limits);
  r.run_ns = MonotonicNowNs() - run_start;
  // The shell is still there (stopped at its exit): the page faults of the run, where the
  // copy-on-write tax shows (a boot's pre-copy is counted before it, not here).
  const int64_t minflt_after = sandbox->shell().MinorFaults();
  if (minflt_before >= 0 && minflt_after >= 0)
    stats.Note("run_minflt", minflt_after - minflt_before);
  // The kvm platform's VM exits (syscalls, faults, interrupts) of the whole boot and run.
  if (const int64_t exits = sandbox->shell().VmExits(); exits >= 0) stats.Note("vm_exits", exits);
  // Whether its VM was taken ready from the kvm platform's pool (fork boot's zygote VMs).
  if (const int64_t pooled = sandbox->shell().VmPooled(); pooled >= 0)
    stats.Note("vm_pooled", pooled);
  if (outcome) {
    r.outcome = *outcome;
    r.verdict = Classify(r.outcome);
  } else {
    r.failure = outcome.error().message();
    r.outcome.kind = GuestOutcome::Kind::kShellDied;
    r.verdict = Verdict::kShellDied;
  }
  if (defer_teardown)
    r.instance = std::move(sandbox);  // torn down by the caller, once it has answered
  else
    sandbox.reset();  // the instance is torn down here (~Sandbox)
  r.total_ns = MonotonicNowNs() - stats.start_ns();
  r.stats = std::move(stats);
  return r;
}

Result<InvocationResult> Invoke(Platform& platform, const FuncImage& image,
                                const InvocationOptions& o, const ChannelFds& channel_fds,
                                BootStats stats) {
  // Tracer and shell on one CPU for the instance's life (cpu_pin.h); the thread's own
  // affinity comes back when the invocation is over.
  std::optional<CpuPin> pin;
  if (o.cpu != InvocationOptions::kNoPin) pin.emplace(o.cpu);
  RunLimits limits = o.limits;
  if (limits.start_ns == 0) limits.start_ns = stats.start_ns();
  TRY(std::unique_ptr<Sandbox> sandbox,
      BootBounded(platform, image, o, limits, channel_fds, stats));
  return RunBooted(std::move(sandbox), limits, std::move(stats), o.defer_teardown);
}

Result<ByteChannels> ByteChannels::Make() {
  ByteChannels c;
  TRY(c.in_, NewMemfd("catload-request"));
  // Best effort: a memfd that cannot preallocate gets its page on the write.
  (void)fallocate(c.in_.get(), FALLOC_FL_KEEP_SIZE, 0, kRequestPreallocBytes);
  TRY(c.out_, NewMemfd("catload-response"));
  TRY(c.err_, NewMemfd("catload-log"));
  return c;
}

Status ByteChannels::SetRequest(std::string_view request) {
  TRY_STATUS(WriteAll(in_.get(), request));
  if (fcntl(in_.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
    return FailErrno("invocation: seal the request");
  return {};
}

Status ByteChannels::Collect(InvocationResult& r) const {
  TRY(r.stdout_bytes, ReadAll(out_.get()));
  TRY(r.stderr_bytes, ReadAll(err_.get()));
  return {};
}

Result<InvocationResult> InvokeWithBytes(Platform& platform, const FuncImage& image,
                                         const InvocationOptions& o, std::string_view request,
                                         BootStats stats) {
  TRY(ByteChannels channels, ByteChannels::Make());
  return InvokeWithChannels(platform, image, o, std::move(channels), request, std::move(stats));
}

Result<InvocationResult> InvokeWithChannels(Platform& platform, const FuncImage& image,
                                            const InvocationOptions& o, ByteChannels channels,
                                            std::string_view request, BootStats stats) {
  TRY_STATUS(channels.SetRequest(request));
  stats.Stage("channels");
  TRY(InvocationResult r, Invoke(platform, image, o, channels.fds(), std::move(stats)));
  TRY_STATUS(channels.Collect(r));
  return r;
}

}  // namespace cat

// The in-process invoker (loader/serve/in_process_invoker.h) answers an invocation before it
// tears the instance down: Invoke returns (the HTTP answer can go) while the instance's shell
// is still being destroyed on the worker, and the teardown still happens. The shells of this
// test's platform block in their destructor until the test lets them go: an invoker that tore
// the instance down before answering would return only once that wait ran out.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "loader/platform/ptrace/ptrace_platform.h"
#include "loader/serve/in_process_invoker.h"
#include "tests/unit/exit_image.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// Shell destructors wait here while `held` (at most 5 s, so that a failing test ends).
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool held = true;
  int waiting = 0;   // destructors waiting now
  int finished = 0;  // destructors done
};

// Forwards everything to a ptrace shell; its destructor waits at the gate first.
class GatedShell final : public Shell {
 public:
  GatedShell(std::unique_ptr<Shell> inner, Gate& gate) : inner_(std::move(inner)), gate_(gate) {}
  ~GatedShell() override {
    std::unique_lock lock(gate_.mu);
    ++gate_.waiting;
    gate_.cv.notify_all();
    gate_.cv.wait_for(lock, 5s, [this] { return !gate_.held; });
    --gate_.waiting;
    ++gate_.finished;
    gate_.cv.notify_all();
  }
  Status MapAnonymous(uint64_t a, uint64_t l, int p) override {
    return inner_->MapAnonymous(a, l, p);
  }
  Status MapFile(uint64_t a, uint64_t l, int p, int fd, uint64_t o) override {
    return inner_->MapFile(a, l, p, fd, o);
  }
  Status MapFileShared(uint64_t a, uint64_t l, int p, int fd, uint64_t o) override {
    return inner_->MapFileShared(a, l, p, fd, o);
  }
  Status MapMany(const std::vector<MapRequest>& r) override { return inner_->MapMany(r); }
  Status Unmap(uint64_t a, uint64_t l) override { return inner_->Unmap(a, l); }
  Status Protect(uint64_t a, uint64_t l, int p) override { return inner_->Protect(a, l, p); }
  Status Remap(uint64_t oa, uint64_t ol, uint64_t na, uint64_t nl) override {
    return inner_->Remap(oa, ol, na, nl);
  }
  Status Discard(uint64_t a, uint64_t l) override { return inner_->Discard(a, l); }
  Status AdviseMany(const std::vector<AdviseRequest>& r) override { return inner_->AdviseMany(r); }
  Result<std::vector<GuestRange>> WrittenPages(uint64_t a, uint64_t l) override {
    return inner_->WrittenPages(a, l);
  }
  int64_t MinorFaults() override { return inner_->MinorFaults(); }
  int64_t VmExits() override { return inner_->VmExits(); }
  Status Read(uint64_t a, void* b, size_t l) override { return inner_->Read(a, b, l); }
  Status Write(uint64_t a, const void* b, size_t l) override { return inner_->Write(a, b, l); }
  const GuestRegs& regs() override { return inner_->regs(); }
  void SetRegs(const GuestRegs& r) override { inner_->SetRegs(r); }
  void SetSyscallResult(int64_t v) override { inner_->SetSyscallResult(v); }
  Result<FpuState> GetFpu() override { return inner_->GetFpu(); }
  Status SetFpu(const FpuState& f) override { return inner_->SetFpu(f); }
  Result<std::vector<uint8_t>> GetXstate() override { return inner_->GetXstate(); }
  Status SetXstate(const std::vector<uint8_t>& x) override { return inner_->SetXstate(x); }
  int64_t CpuTimeNs() override { return inner_->CpuTimeNs(); }
  bool GuestTimeOnRunThread() const override { return inner_->GuestTimeOnRunThread(); }
  Status LimitCpuTime(int64_t s, int64_t h) override { return inner_->LimitCpuTime(s, h); }
  CpuFeatures GuestCpuFeatures() override { return inner_->GuestCpuFeatures(); }
  Status UseCpuFeatures(const CpuFeatures& r) override { return inner_->UseCpuFeatures(r); }
  bool Alive() const override { return inner_->Alive(); }
  Result<Stop> Run() override { return inner_->Run(); }
  void Interrupt() override { inner_->Interrupt(); }
  void InterruptForLimit() override { inner_->InterruptForLimit(); }
  bool TakeInterrupt() override { return inner_->TakeInterrupt(); }
  void SetInterruptNotify(void (*notify)(void*), void* arg) override {
    inner_->SetInterruptNotify(notify, arg);
  }
  Status ReleaseThread() override { return inner_->ReleaseThread(); }
  Status AttachThread() override { return inner_->AttachThread(); }
  Result<std::unique_ptr<Shell>> Fork() override {
    TRY(std::unique_ptr<Shell> child, inner_->Fork());
    return std::unique_ptr<Shell>(new GatedShell(std::move(child), gate_));
  }
  Status MoveToCpu(int cpu) override { return inner_->MoveToCpu(cpu); }
  Status SetIdlePriority(bool idle) override { return inner_->SetIdlePriority(idle); }

 private:
  std::unique_ptr<Shell> inner_;
  Gate& gate_;
};

class GatedPlatform final : public Platform {
 public:
  explicit GatedPlatform(Gate& gate) : gate_(gate) {}
  std::string_view name() const override { return "ptrace (gated teardown)"; }
  Result<std::unique_ptr<Shell>> CreateShell() override {
    TRY(std::unique_ptr<Shell> s, inner_.CreateShell());
    return std::unique_ptr<Shell>(new GatedShell(std::move(s), gate_));
  }

 private:
  ptrace_platform::PtracePlatform inner_;
  Gate& gate_;
};

TEST(ServeTeardownOrderTest, TheAnswerComesBeforeTheInstanceIsTornDown) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/exit3.cfi";
  ASSERT_TRUE(cat::testing::WriteExit3Image(path));
  auto image = FuncImage::Open(path);
  ASSERT_TRUE(image) << image.error().message();

  Gate gate;
  {
    serve::InProcessInvoker invoker(std::make_unique<GatedPlatform>(gate), MountChoice{}, 1, 1);
    serve::InvokeRequest req;
    req.function = "exit3";
    req.image_path = path;
    req.image = &*image;
    req.image_fd = image->fd();
    req.image_generation = 1;
    req.mode = BootMode::kCold;
    req.invocation_id = "test-1";
    const serve::InvokeResult r = invoker.Invoke(req);
    int finished_at_answer;
    {
      std::lock_guard lock(gate.mu);
      finished_at_answer = gate.finished;
    }
    EXPECT_EQ(r.kind, serve::OutcomeKind::kExited) << r.message;
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.stdout_bytes, "ok\n");
    EXPECT_EQ(finished_at_answer, 0) << "the instance was torn down before the answer";
    // The teardown still happens, on the worker, after the answer.
    std::unique_lock lock(gate.mu);
    EXPECT_TRUE(gate.cv.wait_for(lock, 5s, [&] { return gate.waiting + gate.finished > 0; }))
        << "the instance was never torn down";
    gate.held = false;
    gate.cv.notify_all();
    EXPECT_TRUE(gate.cv.wait_for(lock, 5s, [&] { return gate.waiting == 0; }));
  }
}

}  // namespace
}  // namespace cat

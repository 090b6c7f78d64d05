// Unit tests for catload serve's admission control (loader/serve/admission.h) with a fake
// invoker that holds each invocation until the test lets it go: the concurrency bound, the
// bounded queue and its 503 (no slot), arrival order, nothing dropped.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "loader/serve/admission.h"
#include "loader/serve/invoker.h"

namespace cat::serve {
namespace {

// Each Invoke blocks until Release() lets one (or all) go; records concurrency and order.
class HoldingInvoker : public Invoker {
 public:
  std::vector<BootMode> AvailableModes() const override { return {BootMode::kCold}; }
  InvokeResult Invoke(const InvokeRequest& req) override {
    std::unique_lock lock(mu_);
    order_.push_back(req.invocation_id);
    peak_ = std::max(peak_, ++running_);
    cv_.notify_all();
    cv_.wait(lock, [&] { return releases_ > 0; });
    --releases_;
    --running_;
    InvokeResult r;
    r.kind = OutcomeKind::kExited;
    return r;
  }
  void Release(int n) {
    std::lock_guard lock(mu_);
    releases_ += n;
    cv_.notify_all();
  }
  void WaitRunning(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return running_ == n; });
  }
  int peak() {
    std::lock_guard lock(mu_);
    return peak_;
  }
  std::vector<std::string> order() {
    std::lock_guard lock(mu_);
    return order_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0, peak_ = 0, releases_ = 0;
  std::vector<std::string> order_;
};

// What the server does per request: admission, then the invoker; false if turned away.
bool Serve(Admission& admission, Invoker& invoker, const std::string& id) {
  auto slot = admission.Enter();
  if (!slot) return false;
  InvokeRequest req;
  req.invocation_id = id;
  invoker.Invoke(req);
  return true;
}

void WaitWaiting(const Admission& a, uint32_t n) {
  while (a.waiting() != n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(ServeAdmission, AtMostMaxInstancesRunAndNoneIsDropped) {
  Admission admission(2, 10);
  HoldingInvoker invoker;
  std::vector<std::thread> threads;
  std::atomic<int> served{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] { served += Serve(admission, invoker, std::to_string(i)); });
  WaitWaiting(admission, 6);
  invoker.WaitRunning(2);
  EXPECT_EQ(admission.running(), 2u);
  invoker.Release(8);
  for (auto& t : threads) t.join();
  EXPECT_EQ(served, 8);
  EXPECT_EQ(invoker.peak(), 2);
  EXPECT_EQ(admission.running(), 0u);
  EXPECT_EQ(admission.rejected(), 0u);
}

TEST(ServeAdmission, AFullQueueTurnsTheNextRequestAwayAtOnce) {
  Admission admission(1, 1);
  HoldingInvoker invoker;
  std::thread running([&] { Serve(admission, invoker, "a"); });
  invoker.WaitRunning(1);
  std::thread queued([&] { Serve(admission, invoker, "b"); });
  WaitWaiting(admission, 1);
  EXPECT_FALSE(admission.Enter().has_value());
  EXPECT_EQ(admission.rejected(), 1u);
  invoker.Release(2);
  running.join();
  queued.join();
  EXPECT_EQ(invoker.order(), (std::vector<std::string>{"a", "b"}));
}

TEST(ServeAdmission, WithoutAQueueOnlyMaxInstancesAreAdmitted) {
  Admission admission(1, 0);
  HoldingInvoker invoker;
  std::thread running([&] { Serve(admission, invoker, "a"); });
  invoker.WaitRunning(1);
  EXPECT_FALSE(admission.Enter().has_value());
  invoker.Release(1);
  running.join();
  EXPECT_TRUE(admission.Enter().has_value());
}

TEST(ServeAdmission, QueuedRequestsRunInArrivalOrder) {
  Admission admission(1, 3);
  HoldingInvoker invoker;
  std::vector<std::thread> threads;
  threads.emplace_back([&] { Serve(admission, invoker, "a"); });
  invoker.WaitRunning(1);
  for (const char* id : {"b", "c", "d"}) {
    const uint32_t before = admission.waiting();
    threads.emplace_back([&, id] { Serve(admission, invoker, id); });
    WaitWaiting(admission, before + 1);
  }
  invoker.Release(4);
  for (auto& t : threads) t.join();
  EXPECT_EQ(invoker.order(), (std::vector<std::string>{"a", "b", "c", "d"}));
}

}  // namespace
}  // namespace cat::serve

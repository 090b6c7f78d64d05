// The task table (tasks.h).
#include "loader/kernel/tasks.h"

#include <algorithm>

namespace cat {

Task& TaskTable::Add(Shell& shell, int vcpu, int32_t tid) {
  auto t = std::make_unique<Task>();
  t->shell = &shell;
  t->vcpu = vcpu;
  t->tid = tid;
  t->waiter.tid = tid;
  tasks_.push_back(std::move(t));
  if (std::find(shells_.begin(), shells_.end(), &shell) == shells_.end()) shells_.push_back(&shell);
  return *tasks_.back();
}

Task* TaskTable::Find(int32_t tid) {
  for (auto& t : tasks_)
    if (t->tid == tid && t->run != Task::Run::kExited) return t.get();
  return nullptr;
}

void TaskTable::SetCurrent(Task& t) {
  if (tasks_[current_].get() == &t) return;
  for (size_t i = 0; i < tasks_.size(); ++i)
    if (tasks_[i].get() == &t) current_ = i;
}

void TaskTable::DropExited() {
  Task* cur = current_ < tasks_.size() ? tasks_[current_].get() : nullptr;
  std::erase_if(tasks_,
                [](const std::unique_ptr<Task>& t) { return t->run == Task::Run::kExited; });
  current_ = 0;
  for (size_t i = 0; i < tasks_.size(); ++i)
    if (tasks_[i].get() == cur) current_ = i;
}

void TaskTable::Park(WaitQueue& queue, uint64_t key, uint32_t bits, int64_t wake_ns,
                     int64_t timeout_result, const SyscallArgsCopy& args) {
  Task& t = current();
  t.waiter.tid = t.tid;
  t.waiter.key = key;
  t.waiter.bits = bits;
  t.waiter.result = 0;
  queue.Enqueue(t.waiter);
  t.queue = &queue;
  t.wake_ns = wake_ns;
  t.timeout_result = timeout_result;
  t.args = args;
  t.run = Task::Run::kParked;
}

size_t TaskTable::live() const {
  size_t n = 0;
  for (const auto& t : tasks_) n += t->run != Task::Run::kExited;
  return n;
}

}  // namespace cat

// Semantic invariants of the persistent state objects (see state_invariants.h). Each rule
// names the kernel code that relies on it.
#include "format/state/state_invariants.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "format/base/guest_layout.h"
#include "format/state/state_limits.h"

namespace cat::state {
namespace {

std::unexpected<Error> Bad(std::string msg) {
  return Fail(EBADMSG, std::move(msg));
}

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
  return buf;
}

std::string N(uint64_t v) {
  return std::to_string(v);
}

// <signal.h> and <dirent.h> without _GNU_SOURCE extras: the kernel ABI values.
constexpr uint32_t kSsAutodisarm = 1u << 31;
constexpr uint8_t kDtWht = 14;

bool PageAligned(uint64_t v) {
  return v % kGuestPageSize == 0;
}

// Components of `p` (no leading slash) are all proper names: not empty, ".", or "..". Paths
// are checked for every object that has one: memchr finds the slashes.
bool ProperComponents(std::string_view p) {
  const char* s = p.data();
  const char* const end = s + p.size();
  for (;;) {
    const void* found = std::memchr(s, '/', static_cast<size_t>(end - s));
    const char* slash = found ? static_cast<const char*>(found) : end;
    const size_t len = static_cast<size_t>(slash - s);
    if (len == 0 || (s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.')))) return false;
    if (slash == end) return true;
    s = slash + 1;
  }
}

}  // namespace

bool IsCanonicalGuestPath(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  return p.size() == 1 || ProperComponents(p.substr(1));
}

bool IsCanonicalRelativePath(std::string_view p) {
  return p.empty() || (p[0] != '/' && ProperComponents(p));
}

Status CheckProcess(const Process& p) {
  // Pids are shown to the guest and compared with prlimit/kill arguments.
  if (p.pid < 1 || p.pid > kMaxPid) return Bad("process.pid " + std::to_string(p.pid));
  if (p.next_tid < 1 || p.next_tid > kMaxPid)
    return Bad("process.next_tid " + std::to_string(p.next_tid));
  if (p.ppid < 0 || p.ppid > kMaxPid) return Bad("process.ppid " + std::to_string(p.ppid));
  // umask is applied to every mode the guest creates (sys_process.cc keeps it to 0777).
  if (p.umask & ~0777u) return Bad("process.umask " + Hex(p.umask) + " has bits outside 0777");
  // Linux never lets SIGKILL or SIGSTOP be caught or blocked (sys_process.cc refuses both).
  for (int sig : {SIGKILL, SIGSTOP})
    if (p.signal_actions[sig - 1].handler != 0)
      return Bad("process.signal_actions[" + N(sig - 1) + "]: signal " + N(sig) +
                 " has a handler (it cannot be caught)");
  // prlimit compares a new limit with the old maximum; cur > max never holds in Linux.
  for (int i = 0; i < kNumRlimits; ++i)
    if (p.rlimits[i].cur > p.rlimits[i].max)
      return Bad("process.rlimits[" + N(i) + "]: cur " + N(p.rlimits[i].cur) + " above max " +
                 N(p.rlimits[i].max));
  return {};
}

Status CheckThread(const Thread& t) {
  if (t.tid < 1 || t.tid > kMaxPid) return Bad("tid " + std::to_string(t.tid));
  if (static_cast<uint32_t>(t.run_state) >= kNumThreadRunStates)
    return Bad("run_state " + std::to_string(static_cast<uint32_t>(t.run_state)) + " is unknown");
  if (t.altstack_flags & ~(uint32_t{SS_ONSTACK} | SS_DISABLE | kSsAutodisarm))
    return Bad("altstack_flags " + Hex(t.altstack_flags) + " has unknown bits");
  for (int sig : {SIGKILL, SIGSTOP})
    if (t.signal_mask & (uint64_t{1} << (sig - 1)))
      return Bad("signal_mask blocks signal " + N(sig) + " (it cannot be blocked)");
  return {};
}

Status CheckThreads(const Process& p, const Thread* threads, uint32_t count) {
  // The kernel always has a current thread, and gettid of the leader is getpid.
  if (count == 0) return Bad("process has no thread");
  if (threads[0].tid != p.pid)
    return Bad("threads[0].tid " + N(threads[0].tid) + " is not the pid " + N(p.pid));
  for (uint32_t i = 0; i < count; ++i) {
    if (auto st = CheckThread(threads[i]); !st)
      return Bad("threads[" + N(i) + "]: " + st.error().message());
    // Sorted and unique: a tid names one thread (tgkill, futex owner ids, restored contexts).
    if (i > 0 && threads[i].tid <= threads[i - 1].tid)
      return Bad("threads[" + N(i) + "].tid " + N(threads[i].tid) + " is not above the previous");
    // clone hands out next_tid and then increments it: no thread may already hold it.
    if (threads[i].tid >= p.next_tid)
      return Bad("threads[" + N(i) + "].tid " + N(threads[i].tid) + " is not below next_tid " +
                 N(p.next_tid));
  }
  return {};
}

Status CheckPendingTargets(const SignalState& s, const Thread* threads, uint32_t count) {
  // A signal pending for one thread must name a thread of the state: one naming none could
  // never be taken, and would hold a queue slot for good.
  for (uint32_t i = 0; i < s.count && i < kMaxPendingSignals; ++i) {
    const int32_t tid = s.queue[i].tid;
    if (tid == 0) continue;
    bool found = false;
    for (uint32_t t = 0; t < count && !found; ++t) found = threads[t].tid == tid;
    if (!found)
      return Bad("signals.queue[" + N(i) + "] is pending for tid " + std::to_string(tid) +
                 ", which is no thread of the process");
  }
  return {};
}

Status CheckThreadContexts(const SandboxState& s, int32_t entry_tid,
                           const std::vector<ThreadContext>& others) {
  if (uint64_t{others.size()} + 1 != s.threads.size)
    return Bad(N(others.size() + 1) + " saved thread contexts for " + N(s.threads.size) +
               " threads in the kernel state");
  auto in_state = [&](int32_t tid) {
    for (const Thread& t : s.threads)
      if (t.tid == tid) return true;
    return false;
  };
  if (!in_state(entry_tid))
    return Bad("the func-entry thread " + std::to_string(entry_tid) +
               " is not in the kernel state");
  for (size_t i = 0; i < others.size(); ++i)
    if (others[i].tid == entry_tid || !in_state(others[i].tid) ||
        (i > 0 && others[i].tid <= others[i - 1].tid))
      return Bad("saved thread context " + std::to_string(others[i].tid) +
                 " is a duplicate, out of order or not a thread of the kernel state");
  return {};
}

Status CheckClocks(const Clocks& c) {
  // Adopt computes "host now + offset" and shifts the offset by the snapshot time: bounded so
  // that neither can overflow.
  if (c.monotonic_offset_ns < -kMaxClockOffsetNs || c.monotonic_offset_ns > kMaxClockOffsetNs)
    return Bad("clocks.monotonic_offset_ns " + std::to_string(c.monotonic_offset_ns) +
               " is out of range");
  if (c.snapshot_monotonic_ns < 0 || c.snapshot_monotonic_ns > kMaxClockOffsetNs)
    return Bad("clocks.snapshot_monotonic_ns " + std::to_string(c.snapshot_monotonic_ns) +
               " is out of range");
  return {};
}

Status CheckTimer(const std::string& name, const IntervalTimer& t) {
  // signal_delivery.cc adds interval_ns to expiry_ns and converts both to host time.
  if (t.expiry_ns < 0 || t.expiry_ns > kMaxClockOffsetNs || t.interval_ns < 0 ||
      t.interval_ns > kMaxClockOffsetNs)
    return Bad(name + " has an out-of-range expiry or interval");
  return {};
}

Status CheckSignals(const SignalState& s) {
  // signal_delivery.cc indexes queue[] below count and signal_actions[] by signo - 1.
  if (s.count > kMaxPendingSignals) return Bad("signals.count " + N(s.count) + " too large");
  for (uint32_t i = 0; i < s.count; ++i) {
    if (s.queue[i].signo < 1 || s.queue[i].signo > kNumSignals)
      return Bad("signals.queue[" + N(i) + "].signo " + std::to_string(s.queue[i].signo));
    if (s.queue[i].tid < 0)
      return Bad("signals.queue[" + N(i) + "].tid " + std::to_string(s.queue[i].tid));
  }
  TRY_STATUS(CheckTimer("signals.itimer_real", s.itimer_real));
  for (int i = 0; i < kMaxPosixTimers; ++i) {
    const PosixTimer& t = s.timers[i];
    if (!t.in_use) continue;
    const std::string name = "signals.timers[" + N(i) + "]";
    if (t.signo < 0 || t.signo > kNumSignals) return Bad(name + " has a bad signal number");
    if (t.overrun < 0) return Bad(name + " has a negative overrun");
    TRY_STATUS(CheckTimer(name, t.timer));
  }
  return {};
}

Status CheckMemoryMap(const MemoryMap& m, const Vma* vmas) {
  // memory_manager.cc keeps VMAs sorted, disjoint and page-aligned, away from the reserved
  // ranges (mremap of a VMA over the trampoline would unmap it), and mapped_bytes equal to
  // their sum: Map/Unmap/Remap subtract from it and compare it with limit_bytes.
  uint64_t sum = 0, prev_end = 0;
  for (uint32_t i = 0; i < m.vmas.size; ++i) {
    const Vma& v = vmas[i];
    auto at = [&] {  // built only for a message: no allocation per VMA
      return "memory.vmas[" + N(i) + "] [" + Hex(v.start) + ", " + Hex(v.end) + ")";
    };
    if (!PageAligned(v.start) || !PageAligned(v.end)) return Bad(at() + " is not page-aligned");
    if (v.start >= v.end) return Bad(at() + " is empty or reversed");
    if (v.end > kGuestAddressLimit) return Bad(at() + " ends above the guest address limit");
    if (v.start < kGuestLowGuard) return Bad(at() + " starts below the low guard");
    if (v.start < kTrampolineBase + kTrampolineSize && v.end > kTrampolineBase)
      return Bad(at() + " overlaps the trampoline pages");
    if (i > 0 && v.start < prev_end)
      return Bad(at() + " overlaps or precedes memory.vmas[" + N(i - 1) + "] (VMAs are sorted)");
    if (v.prot & ~kGuestProtMask)
      return Bad(at() + ": protection " + Hex(v.prot) + " has unknown bits");
    if (static_cast<uint32_t>(v.kind) >= kNumVmaKinds)
      return Bad(at() + ": kind " + N(static_cast<uint32_t>(v.kind)) + " is not a VMA kind");
    if (!PageAligned(v.file_offset)) return Bad(at() + ": file offset is not page-aligned");
    // A writable shared mapping of a host file is never captured (capture_boot.cc refuses it);
    // a shared overlay mapping names its inode (the kernel looks it up when it adopts the state).
    if (v.shared_may_write > 1) return Bad(at() + ": shared_may_write is not 0 or 1");
    if (v.kind != VmaKind::kSharedFile && (v.shared_may_write || v.ino))
      return Bad(at() + ": only a shared overlay mapping carries an inode or write access");
    if (v.kind == VmaKind::kSharedFile && v.ino == 0)
      return Bad(at() + ": a shared overlay mapping names no inode");
    prev_end = v.end;
    sum += v.end - v.start;
  }
  if (sum != m.mapped_bytes)
    return Bad("memory.mapped_bytes " + N(m.mapped_bytes) + " but the VMAs map " + N(sum));
  if (m.mapped_bytes > m.limit_bytes)
    return Bad("memory.mapped_bytes " + N(m.mapped_bytes) + " above memory.limit_bytes " +
               N(m.limit_bytes));
  // Brk maps [brk_mapped, PageUp(request)) and unmaps down to brk_start's page.
  if (m.brk_start > m.brk_end || m.brk_end > m.brk_mapped || m.brk_mapped > kGuestAddressLimit)
    return Bad("memory.brk: start " + Hex(m.brk_start) + ", end " + Hex(m.brk_end) + ", mapped " +
               Hex(m.brk_mapped) +
               " are not ordered start <= end <= mapped <= " + Hex(kGuestAddressLimit));
  if (!PageAligned(m.mmap_top) || m.mmap_top > kGuestAddressLimit)
    return Bad("memory.mmap_top " + Hex(m.mmap_top) + " is not a page below the address limit");
  return {};
}

Status CheckFdTable(const FdTable& t) {
  // Install/InstallAt compare fds with max_fds; the table can be longer than max_fds after the
  // guest lowers RLIMIT_NOFILE, but neither ever exceeds catload's own ceiling.
  if (t.max_fds > kMaxFds) return Bad("fds.max_fds " + N(t.max_fds) + " above " + N(kMaxFds));
  return {};
}

Status CheckFdEntry(const FdEntry& e) {
  if (e.cloexec > 1) return Bad("cloexec " + N(e.cloexec) + " is not 0 or 1");
  return {};
}

Status CheckOpenFile(const OpenFile& f, uint32_t mount_count) {
  const uint32_t known = O_ACCMODE | O_APPEND | O_NONBLOCK;  // what open and F_SETFL keep
  if (f.status_flags & ~known) return Bad("status_flags " + Hex(f.status_flags) + " unknown bits");
  const uint32_t acc = f.status_flags & O_ACCMODE;
  if (acc == O_ACCMODE) return Bad("status_flags: access mode 3 is not O_RDONLY/O_WRONLY/O_RDWR");
  // Read/Seek treat offsets as non-negative (pread, getdents indexes the listing).
  if (f.offset < 0) return Bad("offset " + std::to_string(f.offset) + " is negative");
  if (f.is_directory > 1 || f.listing_valid > 1) return Bad("is_directory/listing_valid not 0/1");
  if (f.is_directory && acc != O_RDONLY) return Bad("a directory open for writing");
  // Each kind dereferences exactly its own pointer (files.cc switches on kind).
  const bool inode = f.inode != nullptr, pipe = f.pipe != nullptr;
  if (f.kind != FileKind::kLive && (f.live.kind != LiveKind::kNone || f.live.items.size))
    return Bad("a file that is not live with a live object");
  switch (f.kind) {
    case FileKind::kStdio:
      // A stdio file names a channel the boot caller binds to a host fd (host_bindings.h).
      if (static_cast<uint32_t>(f.channel) >= kNumStdioChannels)
        return Bad("stdio file: channel " + N(static_cast<uint32_t>(f.channel)) +
                   " is not 0, 1 or 2");
      if (inode || pipe || f.is_directory) return Bad("stdio file with an inode, pipe or dir");
      return {};
    case FileKind::kHost:
      // HostFd reopens below mounts[mount_index].
      if (f.mount_index >= mount_count)
        return Bad("host file: mount_index " + N(f.mount_index) + " but " + N(mount_count) +
                   " mounts");
      if (inode || pipe) return Bad("host file with an inode or pipe");
      return {};
    case FileKind::kOverlay:
      if (!inode || pipe) return Bad("overlay file without an inode (or with a pipe)");
      return {};
    case FileKind::kSynthetic:
      // A /proc snapshot or a denied host directory: its own inode, never written
      // (files.cc refuses writes; procfs opens it read-only).
      if (!inode || pipe) return Bad("synthetic file without an inode (or with a pipe)");
      if (acc != O_RDONLY) return Bad("synthetic file open for writing");
      return {};
    case FileKind::kPipe:
      if (!pipe || inode || f.is_directory) return Bad("pipe file without a pipe");
      if (f.offset != 0) return Bad("pipe file with an offset");
      return {};
    case FileKind::kLive:
      if (inode || pipe || f.is_directory) return Bad("live file with an inode, pipe or dir");
      if (f.offset != 0) return Bad("live file with an offset");
      return CheckLiveState(f.live);
  }
  return Bad("kind " + N(static_cast<uint32_t>(f.kind)) + " is not a FileKind");
}

// What the rebuilt objects (loader/kernel/sys_eventfd.cc, sys_timerfd.cc, sys_epoll.cc) take
// from a snapshot without further checks: a count below the eventfd maximum, a clock they can
// read, times whose sums cannot overflow, items the epoll code can hand back.
Status CheckLiveState(const LiveState& l) {
  const bool items = l.items.size != 0;
  switch (l.kind) {
    case LiveKind::kNone:
      // A socket, or what a capture did not write: only the running kernel has the object.
      return Bad("a live-only file (socket) cannot be restored");
    case LiveKind::kEventFd:
      if (l.flags > 1) return Bad("eventfd flags " + Hex(l.flags) + " (only 1 = semaphore)");
      if (l.count > kMaxEventFdCount) return Bad("eventfd count past its maximum");
      if (l.next_ns || l.interval_ns || items) return Bad("eventfd with timer or epoll fields");
      return {};
    case LiveKind::kTimerFd:
      if (l.flags != CLOCK_MONOTONIC && l.flags != CLOCK_REALTIME && l.flags != CLOCK_BOOTTIME)
        return Bad("timerfd clock " + N(l.flags) + " is not MONOTONIC, REALTIME or BOOTTIME");
      if (l.next_ns < 0 || l.next_ns > kMaxTimerNs || l.interval_ns < 0 ||
          l.interval_ns > kMaxTimerIntervalNs)
        return Bad("timerfd times out of range");
      if (!l.next_ns && l.count == 0 && l.interval_ns)
        return Bad("a disarmed timerfd with an interval");
      if (items) return Bad("timerfd with epoll items");
      return {};
    case LiveKind::kEpoll:
      if (l.flags || l.count || l.next_ns || l.interval_ns)
        return Bad("epoll with eventfd or timer fields");
      return {};
  }
  return Bad("live kind " + N(static_cast<uint32_t>(l.kind)) + " is not a LiveKind");
}

Status CheckEpollItem(const EpollItem& i) {
  if (i.fd < 0 || static_cast<uint32_t>(i.fd) >= kMaxFds)
    return Bad("epoll item fd " + std::to_string(i.fd) + " out of range");
  if (i.events & ~kEpollKnownEvents) return Bad("epoll item events " + Hex(i.events));
  if (i.reported & ~0xffffu) return Bad("epoll item reported bits " + Hex(i.reported));
  if (i.disarmed > 1) return Bad("epoll item disarmed not 0/1");
  return {};
}

Status CheckOpenFilePaths(const OpenFile& f, std::string_view guest_path,
                          std::string_view host_path) {
  const bool named =
      f.kind == FileKind::kHost || f.kind == FileKind::kOverlay || f.kind == FileKind::kSynthetic;
  if (named ? !IsCanonicalGuestPath(guest_path) : !guest_path.empty())
    return Bad("guest_path \"" + std::string(guest_path.substr(0, 64)) + "\" is not " +
               (named ? "a canonical guest path" : "empty"));
  if (f.kind == FileKind::kHost ? !IsCanonicalRelativePath(host_path) : !host_path.empty())
    return Bad("host_path \"" + std::string(host_path.substr(0, 64)) + "\" is not " +
               (f.kind == FileKind::kHost ? "a canonical path below its mount" : "empty"));
  return {};
}

Status CheckOpenFileInode(const OpenFile& f, const Inode& inode) {
  // Synthetic content is a regular file's bytes or a directory (procfs.cc, files.cc).
  if (f.kind == FileKind::kSynthetic && !S_ISREG(inode.mode) && !S_ISDIR(inode.mode))
    return Bad("synthetic file's inode mode " + Hex(inode.mode) + " is not a file or directory");
  if (f.is_directory != (S_ISDIR(inode.mode) ? 1u : 0u))
    return Bad("is_directory " + N(f.is_directory) + " disagrees with its inode's mode " +
               Hex(inode.mode));
  return {};
}

Status CheckDirEntry(const DirEntry& d, std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || name.find('/') != std::string_view::npos ||
      name == "." || name == "..")
    return Bad("name \"" + std::string(name.substr(0, 64)) + "\" is not a file name");
  if (d.type > kDtWht) return Bad("type " + N(d.type) + " is not a DT_* value");
  return {};
}

Status CheckInode(const Inode& i) {
  if (i.mode & ~uint32_t{S_IFMT | 07777}) return Bad("mode " + Hex(i.mode) + " has unknown bits");
  const uint32_t type = i.mode & S_IFMT;
  if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK && type != S_IFCHR)
    return Bad("mode " + Hex(i.mode) + ": not a regular file, directory, symlink or device");
  // files.cc switches on device for I/O; a device inode is a character device, and only one.
  if (static_cast<uint32_t>(i.device) > static_cast<uint32_t>(DeviceKind::kUrandom))
    return Bad("device " + N(static_cast<uint32_t>(i.device)) + " is not a DeviceKind");
  if ((type == S_IFCHR) != (i.device != DeviceKind::kNone))
    return Bad("mode " + Hex(i.mode) + " with device " + N(static_cast<uint32_t>(i.device)));
  if ((type == S_IFDIR || type == S_IFCHR) && i.data.size != 0)
    return Bad("a directory or device with " + N(i.data.size) + " bytes of data");
  if (type == S_IFLNK && i.data.size > kMaxPathLength)
    return Bad("symlink target of " + N(i.data.size) + " bytes");
  // file_data.cc reads and writes extents of regular files only, and sizes up to
  // kMaxOverlayFileSize (offsets are off_t).
  if (type != S_IFREG && (i.extents.size != 0 || i.size != 0))
    return Bad("a non-regular inode with file size " + N(i.size) + " or extents");
  if (i.size > kMaxOverlayFileSize) return Bad("file size " + N(i.size) + " is too large");
  return {};
}

Status CheckFileExtent(const FileExtent& e, uint64_t file_size, uint64_t first_window) {
  const uint64_t window = e.offset / kExtentWindow;
  if (window < first_window)
    return Bad("extent at offset " + N(e.offset) + " is not past the previous extent's window");
  if (e.bytes.size == 0 || (e.offset % kExtentWindow) + e.bytes.size > kExtentWindow)
    return Bad("extent at offset " + N(e.offset) + " of " + N(e.bytes.size) +
               " bytes does not lie inside one " + N(kExtentWindow) + "-byte window");
  if (e.offset > file_size || e.bytes.size > file_size - e.offset)
    return Bad("extent at offset " + N(e.offset) + " of " + N(e.bytes.size) +
               " bytes ends past the file size " + N(file_size));
  return {};
}

Status CheckPipe(const Pipe& p) {
  // Read consumes from head; Write computes room = capacity - (size - head).
  if (p.head > p.buffer.size)
    return Bad("head " + N(p.head) + " beyond its " + N(p.buffer.size) + " buffered bytes");
  if (p.buffer.size > kPipeCapacity)
    return Bad(N(p.buffer.size) + " buffered bytes, more than the pipe capacity " +
               N(kPipeCapacity));
  return {};
}

Status CheckMount(const Mount& m, uint32_t index, std::string_view guest_path) {
  // Vfs::Init and Lookup use mounts[0] as the root; MountOf matches guest paths by prefix.
  if (index == 0 ? guest_path != "/" : !IsCanonicalGuestPath(guest_path) || guest_path == "/")
    return Bad("guest_path \"" + std::string(guest_path.substr(0, 64)) + "\" is not " +
               (index == 0 ? "\"/\" (mounts[0] is the root)" : "a canonical guest path below /"));
  // The binding at boot compares access with the operator's grant; only the root may have
  // no host directory.
  const auto access = static_cast<uint32_t>(m.access);
  if (access >= kNumMountAccess) return Bad("access " + N(access) + " is not a MountAccess");
  if (index != 0 && m.access == MountAccess::kNone)
    return Bad("access none for a mount other than the root");
  return {};
}

}  // namespace cat::state

// InstanceId (see instance_id.h): drawn from the host's getrandom, formatted as a UUID.
#include "loader/kernel/instance_id.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

namespace cat {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t ClockNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

InstanceId::InstanceId(const std::array<uint8_t, 16>& bytes) : bytes_(bytes) {}

InstanceId InstanceId::FromBytes(const std::array<uint8_t, 16>& bytes) {
  return InstanceId(bytes);
}

InstanceId InstanceId::Fresh() {
  std::array<uint8_t, 16> b{};
  ssize_t n;
  do {
    n = getrandom(b.data(), b.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(b.size())) return InstanceId(b);
  // Not reached on a host catload runs on: a getrandom of at most 256 bytes returns them all
  // once the host's pool is initialized (it blocks until then), and catload depends on
  // getrandom anyway (AT_RANDOM, the guest's getrandom). Should it fail all the same, the id is
  // still unique per instance — host clocks, pid and a process-wide counter, mixed — only not
  // unpredictable; the guest's entropy never comes from it.
  static std::atomic<uint64_t> counter{0};
  const uint64_t seed = ClockNs(CLOCK_REALTIME) ^ (ClockNs(CLOCK_MONOTONIC) << 1) ^
                        (static_cast<uint64_t>(getpid()) << 48) ^ counter.fetch_add(1);
  const uint64_t hi = SplitMix64(seed), lo = SplitMix64(hi ^ counter.load());
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(hi >> (8 * i));
    b[8 + i] = static_cast<uint8_t>(lo >> (8 * i));
  }
  return InstanceId(b);
}

std::string InstanceId::Uuid() const {
  std::array<uint8_t, 16> b = bytes_;
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4 (random)
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // variant 10xx (RFC 4122)
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

}  // namespace cat

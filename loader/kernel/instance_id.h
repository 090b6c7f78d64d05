// The identity of one guest instance: 128 bits of fresh host entropy drawn when its sandbox
// kernel is made — at `catload exec`, at capture, and at every boot from a snapshot — and never
// stored in the sandbox state, so two instances booted from one image, and an instance and the
// capture it came from, never share it. The guest reads it as a UUID from
// /proc/catalyzer/generation and /proc/sys/kernel/random/boot_id (spec/abi.md, "Uniqueness
// after restore") to tell that it is new and to reseed its own generators.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace cat {

class InstanceId {
 public:
  // A new id from the host's getrandom.
  static InstanceId Fresh();
  // For tests: the id made of these bytes.
  static InstanceId FromBytes(const std::array<uint8_t, 16>& bytes);

  // "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", lower case: an RFC 4122 version-4 UUID (the
  // version and variant bits are set over the random bits), the format of Linux's boot_id.
  std::string Uuid() const;
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }

 private:
  explicit InstanceId(const std::array<uint8_t, 16>& bytes);
  std::array<uint8_t, 16> bytes_;
};

}  // namespace cat

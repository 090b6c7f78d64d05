// The checkpoint: an ELF core file (ET_CORE, EM_X86_64) that `catload capture` writes at the
// func-entry point. It stays readable by `readelf -n` and `gdb EXE CORE`: one PT_LOAD per
// guest mapping, NT_PRSTATUS / NT_PRFPREG / NT_X86_XSTATE for the thread, NT_AUXV, plus notes
// of owner "CATALYZER" holding the function's metadata, the VMA list and the sandbox kernel's
// state stream (format/state/state_stream.h). Layout and versioning: spec/checkpoint.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "format/base/cpu_features.h"
#include "format/base/error.h"
#include "format/base/unique_fd.h"
#include "format/state/cpu_state.h"

namespace cat {

// Note types of owner "CATALYZER".
// Numbers far from the CORE/LINUX note types (1 = NT_PRSTATUS, ...): gdb's core reader
// dispatches on the type without looking at the owner.
constexpr uint32_t kNoteCatMeta = 0xca700001;         // CheckpointMeta
constexpr uint32_t kNoteCatVmas = 0xca700002;         // the VMA list (CheckpointVma[])
constexpr uint32_t kNoteCatKernelState = 0xca700003;  // the kernel state stream, opaque here
constexpr uint32_t kNoteCatCpu = 0xca700004;          // CpuFeatures (optional: older cores lack it)
constexpr uint32_t kCheckpointVersion = 1;

struct CheckpointVma {
  uint64_t start;
  uint64_t end;
  uint32_t prot;   // PROT_*
  uint32_t flags;  // MAP_* the guest asked for
  uint32_t kind;   // state::VmaKind
  uint64_t file_offset;
};

struct CheckpointMeta {
  std::string exe;  // host path of the executable at capture
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string entry_kind;           // "explicit" (cat_func_entry) or "auto" (first read of fd 0)
  std::string rootfs;               // host rootfs at capture ("" = empty root)
  std::vector<std::string> mounts;  // HOST:GUEST[:ro|rw] as given at capture
  int64_t capture_realtime_ns = 0;
  int64_t capture_monotonic_ns = 0;
};

struct CheckpointContents {
  CheckpointMeta meta;
  GuestRegs regs{};
  FpuState fpu{};
  std::vector<uint8_t> xstate;  // NT_X86_XSTATE bytes; empty if the CPU has no XSAVE
  std::vector<uint64_t> auxv;   // (type, value) pairs, AT_NULL included
  std::vector<CheckpointVma> vmas;
  std::vector<uint8_t> kernel_state;
  CpuFeatures cpu;  // what the guest could observe of the CPU; not recorded() if the note is absent
};

// Reads guest memory while writing (EFAULT for unreadable pages, e.g. PROT_NONE).
using GuestMemoryReader = std::function<Status(uint64_t addr, void* buf, size_t len)>;

// Writes the core atomically (temporary file in the same directory, then rename). A VMA whose
// pages cannot be read (PROT_NONE) gets a PT_LOAD with p_filesz 0.
Status WriteCheckpoint(const std::string& path, const CheckpointContents& contents,
                       const GuestMemoryReader& read_memory);

// Where one VMA's bytes are in the core file.
struct CheckpointSegment {
  CheckpointVma vma;
  uint64_t file_offset;  // in the core file
  uint64_t file_size;    // bytes stored (0 = not stored: zero-filled on restore)
};

struct Checkpoint {
  CheckpointContents contents;
  std::vector<CheckpointSegment> segments;  // one per VMA, in address order
  UniqueFd fd;                              // the open core file
  uint64_t file_size = 0;
};

// Opens and validates a checkpoint: ELF core of this machine, our notes present with a
// supported version, every offset and size inside the file. Errors say what is wrong
// ("checkpoint x.core: truncated: PT_LOAD 3 ends past the end of the file").
Result<Checkpoint> ReadCheckpoint(const std::string& path);

}  // namespace cat

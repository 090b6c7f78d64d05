// The byte encodings of the checkpoint's ELF notes, shared by the writer and the reader so that
// the two cannot drift apart: the note framing (Elf64_Nhdr, padded name, padded descriptor), the
// CORE descriptors we fill (prstatus, prpsinfo, auxv) and our own CATALYZER descriptors (meta,
// VMA list). Every decoder bounds-checks every length against the bytes it was given.
// Byte layouts: spec/checkpoint.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/base/error.h"
#include "format/checkpoint/checkpoint.h"

namespace cat::checkpoint_notes {

inline constexpr std::string_view kOwnerCore = "CORE";
inline constexpr std::string_view kOwnerLinux = "LINUX";
inline constexpr std::string_view kOwnerCatalyzer = "CATALYZER";

// Core-file notes are 4-byte aligned (the kernel's layout; gdb and readelf expect it).
inline constexpr uint64_t kNoteAlign = 4;

// Appends one note: Elf64_Nhdr, the NUL-terminated owner padded to 4, desc padded to 4.
void AppendNote(std::vector<uint8_t>& out, std::string_view owner, uint32_t type,
                std::span<const uint8_t> desc);

// One note inside a PT_NOTE segment; the views point into the bytes given to ParseNotes.
struct Note {
  std::string_view owner;
  uint32_t type;
  std::span<const uint8_t> desc;
  uint64_t offset;  // of the note header, within the segment
};

// Splits a PT_NOTE segment into notes. `align` is the segment's note alignment (4, or 8 for
// segments with p_align 8). Fails on any header, name or descriptor that runs past the end.
Result<std::vector<Note>> ParseNotes(std::span<const uint8_t> bytes, uint64_t align);

// NT_PRSTATUS: a struct elf_prstatus whose pr_reg is the GuestRegs (same layout), pr_pid 1.
std::vector<uint8_t> EncodePrstatus(const GuestRegs& regs);
Result<GuestRegs> DecodePrstatusRegs(std::span<const uint8_t> desc);

// NT_PRPSINFO: a struct elf_prpsinfo so that gdb names the program (basename of exe, argv).
std::vector<uint8_t> EncodePrpsinfo(const CheckpointMeta& meta);

// NT_AUXV: the (type, value) u64 pairs.
std::vector<uint8_t> EncodeAuxv(std::span<const uint64_t> auxv);
Result<std::vector<uint64_t>> DecodeAuxv(std::span<const uint8_t> desc);

// CATALYZER kNoteCatMeta and kNoteCatVmas: versioned little-endian streams.
std::vector<uint8_t> EncodeMeta(const CheckpointMeta& meta);
Result<CheckpointMeta> DecodeMeta(std::span<const uint8_t> desc);
std::vector<uint8_t> EncodeVmas(std::span<const CheckpointVma> vmas);
Result<std::vector<CheckpointVma>> DecodeVmas(std::span<const uint8_t> desc);
// CATALYZER kNoteCatCpu: the CPU features (spec/checkpoint.md 3.8).
std::vector<uint8_t> EncodeCpu(const CpuFeatures& cpu);
Result<CpuFeatures> DecodeCpu(std::span<const uint8_t> desc);

}  // namespace cat::checkpoint_notes

// Fuzz target: a checkpoint as `catload restore` and `catimg build` meet it. The input is read
// as an ELF core (ReadCheckpoint: headers, notes, PT_LOADs, bounds), its kernel state stream is
// decoded object by object (DeserializeState, restore's first stage) and the decoded state is
// walked and laid out as an arena (BuildArena, catimg build's predeserialize pass).
#include <cstddef>
#include <cstdint>

#include "format/checkpoint/checkpoint.h"
#include "format/state/arena.h"
#include "format/state/state_stream.h"
#include "tests/fuzz/fuzz_input_file.h"
#include "tests/fuzz/fuzz_lsan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cat::fuzz::InputFile file(data, size);
  if (!file.ok()) return 0;
  auto cp = cat::ReadCheckpoint(file.path());
  if (!cp) return 0;
  const std::vector<uint8_t>& stream = cp->contents.kernel_state;
  auto state = cat::state::DeserializeState(stream.data(), stream.size());
  if (!state) return 0;
  cat::fuzz::KeepOnPurpose(*state);
  (void)cat::state::BuildArena(**state);
  return 0;
}

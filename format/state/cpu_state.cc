// Defaults of the vCPU register state.
#include "format/state/cpu_state.h"

#include <cstring>

namespace cat {

FpuState DefaultFpuState() {
  FpuState fpu;
  std::memset(&fpu, 0, sizeof(fpu));
  // FXSAVE layout: FCW at byte 0, MXCSR at byte 24, MXCSR_MASK at byte 28.
  const uint16_t fcw = 0x37f;
  const uint32_t mxcsr = 0x1f80;
  std::memcpy(fpu.fxsave + 0, &fcw, sizeof(fcw));
  std::memcpy(fpu.fxsave + 24, &mxcsr, sizeof(mxcsr));
  return fpu;
}

}  // namespace cat

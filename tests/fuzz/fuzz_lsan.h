// Objects the code under fuzz keeps on purpose: a decoded sandbox state lives as long as its
// process (loader/boot/sandbox.cc frees nothing of it), so a fuzz target hands it to
// LeakSanitizer as intended, and only memory lost on the way (an error path that drops what it
// allocated) is reported as a leak. Without LeakSanitizer (the replay build) this is a no-op.
#pragma once

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CAT_FUZZ_HAVE_LSAN 1
#endif
#endif
#if !defined(CAT_FUZZ_HAVE_LSAN) && defined(__SANITIZE_ADDRESS__)
#define CAT_FUZZ_HAVE_LSAN 1
#endif

#ifdef CAT_FUZZ_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace cat::fuzz {

// p and everything reachable from it is kept on purpose.
inline void KeepOnPurpose(const void* p) {
#ifdef CAT_FUZZ_HAVE_LSAN
  __lsan_ignore_object(p);
#else
  (void)p;
#endif
}

}  // namespace cat::fuzz

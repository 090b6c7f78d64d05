/* catalyzer.h: the function SDK, one header for C and C++ functions.
 *
 * Call cat_func_entry() where your function's initialization ends, just before it reads its
 * request. Under `catload capture` the function is snapshotted there; every instance booted
 * from that snapshot returns from this call with 0 and goes on to read its request on fd 0.
 * Outside the sandbox the call fails with ENOSYS (it is not a Linux syscall), so the same
 * binary runs natively. Without this call, capture stops at the first read of fd 0. */
#ifndef CATALYZER_H
#define CATALYZER_H

#define CAT_SYS_FUNC_ENTRY 0xca7

/* Returns 0 in the sandbox, -ENOSYS (as a raw syscall result) natively. */
static inline long cat_func_entry(void) {
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "0"((long)CAT_SYS_FUNC_ENTRY) : "rcx", "r11", "memory");
  return ret;
}

#endif

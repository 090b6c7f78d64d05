// kvm_probe: the QEMU harness's first inner test (tests/kvm/README.md). Proves that the guest
// kernel of the harness offers a working KVM before any catalyzer code runs on it: /dev/kvm
// opens, KVM_GET_API_VERSION is 12, KVM_CREATE_VM and KVM_CREATE_VCPU work, and a vCPU runs a
// three-instruction real-mode program to the expected exits (an `out` of a known byte, then
// `hlt`). Static C with no project code, so that it fails for the harness's reasons only.
// Prints one line per step; exits 0 when every step passed, 1 at the first that did not.
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int Fail(const char* step) {
  printf("kvm_probe: FAIL %s: %s\n", step, strerror(errno));
  return 1;
}

int main(void) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return Fail("open /dev/kvm (are the kvm and kvm-amd/kvm-intel modules loaded?)");
  int version = ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    printf("kvm_probe: FAIL KVM_GET_API_VERSION is %d, want %d\n", version, KVM_API_VERSION);
    return 1;
  }
  printf("kvm_probe: ok KVM_GET_API_VERSION %d\n", version);
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) return Fail("KVM_CREATE_VM");
  printf("kvm_probe: ok KVM_CREATE_VM\n");

  // One page of guest memory at guest-physical 0x1000 holding, in 16-bit real mode:
  //   mov al, 0x5a ; out 0x10, al ; hlt
  const uint8_t code[] = {0xb0, 0x5a, 0xe6, 0x10, 0xf4};
  const uint64_t guest_base = 0x1000;
  uint8_t* mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return Fail("mmap guest memory");
  memcpy(mem, code, sizeof code);
  struct kvm_userspace_memory_region region = {.slot = 0,
                                               .guest_phys_addr = guest_base,
                                               .memory_size = 0x1000,
                                               .userspace_addr = (uintptr_t)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) return Fail("KVM_SET_USER_MEMORY_REGION");

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) return Fail("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) return Fail("KVM_GET_VCPU_MMAP_SIZE");
  struct kvm_run* run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) return Fail("mmap kvm_run");
  printf("kvm_probe: ok KVM_CREATE_VCPU\n");

  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return Fail("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) return Fail("KVM_SET_SREGS");
  struct kvm_regs regs = {.rip = guest_base, .rflags = 0x2};
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return Fail("KVM_SET_REGS");

  if (ioctl(vcpu, KVM_RUN, 0) < 0) return Fail("KVM_RUN (first)");
  if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT ||
      run->io.port != 0x10 || run->io.size != 1 || *((uint8_t*)run + run->io.data_offset) != 0x5a) {
    printf(
        "kvm_probe: FAIL first exit: reason %u (want KVM_EXIT_IO %d, an out of 0x5a to port "
        "0x10)\n",
        run->exit_reason, KVM_EXIT_IO);
    return 1;
  }
  printf("kvm_probe: ok KVM_RUN exit KVM_EXIT_IO out 0x5a to port 0x10\n");
  if (ioctl(vcpu, KVM_RUN, 0) < 0) return Fail("KVM_RUN (second)");
  if (run->exit_reason != KVM_EXIT_HLT) {
    printf("kvm_probe: FAIL second exit: reason %u (want KVM_EXIT_HLT %d)\n", run->exit_reason,
           KVM_EXIT_HLT);
    return 1;
  }
  printf("kvm_probe: ok KVM_RUN exit KVM_EXIT_HLT\n");
  return 0;
}

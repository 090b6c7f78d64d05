// The deny list of kernel-interface filesystems and the per-device cache (host_fs_policy.h).
#include "loader/kernel/host_fs_policy.h"

#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace cat {
namespace {

// Not in <linux/magic.h>; values from the kernel sources that define them.
constexpr int64_t kConfigfsMagic = 0x62656570;   // fs/configfs/mount.c
constexpr int64_t kMqueueMagic = 0x19800202;     // ipc/mqueue.c
constexpr int64_t kFusectlMagic = 0x65735543;    // fs/fuse/control.c
constexpr int64_t kNfsdMagic = 0x6e667364;       // fs/nfsd/nfsctl.c
constexpr int64_t kRpcPipefsMagic = 0x67596969;  // net/sunrpc/rpc_pipe.c

struct DeniedFs {
  int64_t magic;
  const char* name;
};

// Filesystems whose files are the host kernel's state or controls, or handles on other host
// processes' objects, rather than data. Deny, not allow, because the rootfs and mounts are the
// operator's choice among many data filesystems (ext4, xfs, btrfs, overlay, tmpfs, squashfs,
// erofs, nfs, 9p, fuse, ...), while the kernel-interface ones are a short, known list.
// devtmpfs reports TMPFS_MAGIC and cannot be told apart from a tmpfs: its device nodes are
// refused by the special-file rule instead (and the guest's /dev is the sandbox's own).
constexpr DeniedFs kDenied[] = {
    {PROC_SUPER_MAGIC, "proc"},          // every host process, catload's own /proc/self too
    {SYSFS_MAGIC, "sysfs"},              // kernel objects, device and driver controls
    {DEVPTS_SUPER_MAGIC, "devpts"},      // host terminals
    {DEBUGFS_MAGIC, "debugfs"},          // kernel internals
    {TRACEFS_MAGIC, "tracefs"},          // kernel tracing (reads other processes' activity)
    {SECURITYFS_MAGIC, "securityfs"},    // LSM policy, IMA, TPM event logs
    {SELINUX_MAGIC, "selinuxfs"},        //
    {SMACK_MAGIC, "smackfs"},            //
    {AAFS_MAGIC, "apparmorfs"},          //
    {CGROUP_SUPER_MAGIC, "cgroup"},      // the host's resource control (v1)
    {CGROUP2_SUPER_MAGIC, "cgroup2"},    // and v2
    {RDTGROUP_SUPER_MAGIC, "resctrl"},   // cache/memory-bandwidth allocation
    {BPF_FS_MAGIC, "bpf"},               // pinned BPF programs and maps
    {kConfigfsMagic, "configfs"},        // kernel object configuration
    {PSTOREFS_MAGIC, "pstore"},          // crash logs of earlier boots
    {EFIVARFS_MAGIC, "efivarfs"},        // firmware variables
    {HUGETLBFS_MAGIC, "hugetlbfs"},      // the host's huge-page pool, outside --memory-limit
    {kMqueueMagic, "mqueue"},            // POSIX message queues of host processes
    {BINFMTFS_MAGIC, "binfmt_misc"},     // the host's binary-format handlers
    {kFusectlMagic, "fusectl"},          // controls of every FUSE connection
    {AUTOFS_SUPER_MAGIC, "autofs"},      // a lookup makes the host automount (and can hang)
    {NSFS_MAGIC, "nsfs"},                // namespace handles (bind-mounted /run/netns/x)
    {BINDERFS_SUPER_MAGIC, "binderfs"},  // Android binder IPC
    {kNfsdMagic, "nfsd"},                // the kernel NFS server's controls
    {kRpcPipefsMagic, "rpc_pipefs"},     // upcalls of the kernel's RPC clients
    {OPENPROM_SUPER_MAGIC, "openpromfs"},
    {USBDEVICE_SUPER_MAGIC, "usbfs"},  // raw USB device access
    {XENFS_SUPER_MAGIC, "xenfs"},      // the hypervisor's interfaces
};

}  // namespace

const char* DeniedFsTypeName(int64_t f_type) {
  for (const DeniedFs& d : kDenied)
    if (d.magic == f_type) return d.name;
  return nullptr;
}

Result<bool> HostFsPolicy::DeniedFd(int fd, dev_t dev) {
  if (auto it = cache_.find(dev); it != cache_.end()) return it->second;
  struct statfs sfs {};
  if (fstatfs(fd, &sfs) != 0) return FailErrno("statfs");
  const bool denied = DeniedFsTypeName(static_cast<int64_t>(sfs.f_type)) != nullptr;
  cache_.emplace(dev, denied);
  return denied;
}

Status HostFsPolicy::CheckOpenable(int fd, const struct stat& st, const std::string& guest_path) {
  if (IsHostSpecialFile(st.st_mode))
    return Fail(EACCES, guest_path + " is a host device, FIFO or socket (never opened)");
  TRY(bool denied, DeniedFd(fd, st.st_dev));
  if (denied) return Fail(EACCES, guest_path + " is on a kernel-interface filesystem of the host");
  return {};
}

void HostFsPolicy::CloseFd(int fd) {
  close(fd);
}

}  // namespace cat

// Symbolic errno names for error messages ("ENOENT" reads better in a log than "2").
#include "format/base/error.h"

namespace cat {

std::string Error::ErrnoName(int err) {
  switch (err) {
#define CASE(e) \
  case e:       \
    return #e;
    CASE(EPERM)
    CASE(ENOENT)
        CASE(ESRCH) CASE(EINTR) CASE(EIO) CASE(ENXIO) CASE(E2BIG) CASE(ENOEXEC) CASE(EBADF)
            CASE(ECHILD) CASE(EAGAIN) CASE(ENOMEM) CASE(EACCES) CASE(EFAULT) CASE(EBUSY)
                CASE(EEXIST) CASE(EXDEV) CASE(ENODEV) CASE(ENOTDIR) CASE(EISDIR) CASE(EINVAL)
                    CASE(ENFILE) CASE(EMFILE) CASE(ENOTTY) CASE(EFBIG) CASE(ENOSPC) CASE(ESPIPE)
                        CASE(EROFS) CASE(EMLINK) CASE(EPIPE) CASE(ERANGE) CASE(ENAMETOOLONG)
                            CASE(ENOSYS) CASE(ENOTEMPTY) CASE(ELOOP) CASE(EOVERFLOW) CASE(ETIMEDOUT)
                                CASE(EBADMSG) CASE(ENOTSUP)
#undef CASE
                                    default : return "errno " +
                                              std::to_string(err);
  }
}

}  // namespace cat

// Loading a static executable into a sandbox (see exec_boot.h).
#include "loader/boot/exec_boot.h"

namespace cat {
Status LoadExecutable(Sandbox& sb, const ElfImage& img, const std::vector<std::string>& argv,
                      const std::vector<std::string>& envp) {
  return LoadProgram(sb.kernel(), img, argv, envp);
}

}  // namespace cat

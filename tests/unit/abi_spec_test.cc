// spec/abi.md lists exactly the syscalls the sandbox kernel emulates: the table's rows are
// parsed and compared with the kernel's handler table, so the document cannot drift.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "loader/kernel/sandbox_kernel.h"
#include "loader/kernel/syscall_names.h"

namespace cat {
namespace {

// The syscall numbers of the table's rows, in the order they appear.
std::vector<uint64_t> SyscallRowsInSpec() {
  std::ifstream in(std::string(CATALYZER_SOURCE_DIR) + "/spec/abi.md");
  EXPECT_TRUE(in) << "spec/abi.md is missing";
  // A syscall row: | 0 | `read` | semantics...
  const std::regex row(R"(^\|\s*(\d+)\s*\|\s*`([a-z0-9_]+)`\s*\|\s*(.*)\|\s*$)");
  std::vector<uint64_t> out;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, row)) continue;
    const uint64_t nr = std::stoull(m[1]);
    EXPECT_EQ(SyscallName(nr), m[2].str()) << "spec/abi.md row names syscall " << nr << " wrongly";
    EXPECT_FALSE(m[3].str().empty())
        << "spec/abi.md row " << nr << " says nothing of its semantics";
    out.push_back(nr);
  }
  return out;
}

std::set<uint64_t> SyscallsInSpec() {
  const std::vector<uint64_t> rows = SyscallRowsInSpec();
  return {rows.begin(), rows.end()};
}

// One row per syscall, in number order: helpers adding syscalls at the same time then add
// rows in different places, and a merge that keeps both stays sorted.
TEST(AbiSpec, RowsAreSortedOnePerSyscall) {
  const std::vector<uint64_t> rows = SyscallRowsInSpec();
  ASSERT_FALSE(rows.empty());
  for (size_t i = 1; i < rows.size(); ++i)
    EXPECT_LT(rows[i - 1], rows[i]) << "spec/abi.md rows " << SyscallName(rows[i - 1]) << " and "
                                    << SyscallName(rows[i]) << " are out of order or repeated";
}

TEST(AbiSpec, ListsExactlyTheEmulatedSyscalls) {
  const std::vector<uint64_t> supported = SupportedSyscalls();
  const std::set<uint64_t> code(supported.begin(), supported.end());
  const std::set<uint64_t> spec = SyscallsInSpec();
  for (uint64_t nr : code)
    EXPECT_TRUE(spec.count(nr)) << "emulated but not in spec/abi.md: " << SyscallName(nr);
  for (uint64_t nr : spec)
    EXPECT_TRUE(code.count(nr)) << "in spec/abi.md but not emulated: " << SyscallName(nr);
}

}  // namespace
}  // namespace cat

// Tests of the instance identity (loader/kernel/instance_id.h) and of where the guest reads it
// (/proc/catalyzer/generation, /proc/sys/kernel/random/boot_id): a UUID in Linux's boot_id
// format, new for every instance, the same for the whole life of one.
#include "loader/kernel/instance_id.h"

#include <gtest/gtest.h>

#include <regex>

#include "loader/kernel/procfs.h"

namespace cat {
namespace {

const std::regex kUuid4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");

state::SandboxState* MakeState() {
  state::SandboxState* s = state::New<state::SandboxState>();
  s->process.pid = 1;
  return s;
}

TEST(InstanceId, UuidIsTheBytesWithVersion4AndTheRfc4122Variant) {
  std::array<uint8_t, 16> b{};
  for (int i = 0; i < 16; ++i) b[i] = static_cast<uint8_t>(0xf0 | i);
  EXPECT_EQ(InstanceId::FromBytes(b).Uuid(), "f0f1f2f3-f4f5-46f7-b8f9-fafbfcfdfeff");
}

TEST(InstanceId, FreshIdsAreUuidsAndDiffer) {
  const InstanceId a = InstanceId::Fresh(), b = InstanceId::Fresh();
  EXPECT_TRUE(std::regex_match(a.Uuid(), kUuid4)) << a.Uuid();
  EXPECT_NE(a.bytes(), b.bytes());
}

TEST(ProcfsGeneration, GenerationAndBootIdShowTheInstanceId) {
  state::SandboxState* s = MakeState();
  Procfs p(*s);
  const InstanceId id = InstanceId::Fresh();
  p.set_instance_id(id);
  EXPECT_EQ(p.Generate("/proc/catalyzer/generation").value_or("?"), id.Uuid() + "\n");
  EXPECT_EQ(p.Generate("/proc/sys/kernel/random/boot_id").value_or("?"), id.Uuid() + "\n");
}

TEST(ProcfsGeneration, WithoutAnIdEachProcfsDrawsItsOwnAndKeepsIt) {
  state::SandboxState* s = MakeState();
  Procfs a(*s), b(*s);
  const std::string first = a.Generate("/proc/catalyzer/generation").value_or("?");
  EXPECT_TRUE(std::regex_match(first.substr(0, first.size() - 1), kUuid4)) << first;
  EXPECT_EQ(a.Generate("/proc/sys/kernel/random/boot_id").value_or("?"), first);
  EXPECT_NE(b.Generate("/proc/catalyzer/generation").value_or("?"), first);
}

TEST(ProcfsGeneration, TheDirectoriesListTheirFiles) {
  state::SandboxState* s = MakeState();
  Procfs p(*s);
  auto names = [&](std::string_view dir) {
    std::vector<std::string> out;
    for (const auto& e : p.List(dir).value_or(std::vector<Procfs::Entry>{})) out.push_back(e.name);
    return out;
  };
  EXPECT_EQ(names("/proc/catalyzer"), std::vector<std::string>{"generation"});
  EXPECT_EQ(names("/proc/sys/kernel/random"), std::vector<std::string>{"boot_id"});
  const auto kernel = names("/proc/sys/kernel");
  EXPECT_TRUE(std::is_sorted(kernel.begin(), kernel.end()));
  EXPECT_NE(std::find(kernel.begin(), kernel.end(), "random"), kernel.end());
  const auto root = names("/proc");
  EXPECT_NE(std::find(root.begin(), root.end(), "catalyzer"), root.end());
  EXPECT_FALSE(p.Lookup("/proc/catalyzer/other"));
  EXPECT_FALSE(p.Lookup("/proc/sys/kernel/random/uuid"));
  EXPECT_TRUE(S_ISDIR(p.Lookup("/proc/sys/kernel/random")->st_mode));
}

}  // namespace
}  // namespace cat

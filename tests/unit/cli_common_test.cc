// Tests of catload's option helpers (loader/cli/cli_common.h, sandbox_args.h): ParseSize, the
// SIZE option check and the run limits as options.
#include "loader/cli/cli_common.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "loader/cli/sandbox_args.h"

namespace cat::cli {
namespace {

TEST(ParseSize, PlainBytes) {
  EXPECT_EQ(ParseSize("4096"), 4096u);
}

TEST(ParseSize, Zero) {
  EXPECT_EQ(ParseSize("0"), 0u);
}

TEST(ParseSize, KilobyteSuffix) {
  EXPECT_EQ(ParseSize("64K"), 64u << 10);
}

TEST(ParseSize, MegabyteSuffix) {
  EXPECT_EQ(ParseSize("256M"), 256u << 20);
}

TEST(ParseSize, GigabyteSuffix) {
  EXPECT_EQ(ParseSize("2G"), 2ull << 30);
}

TEST(ParseSize, GibSuffix) {
  EXPECT_EQ(ParseSize("1GiB"), 1ull << 30);
}

TEST(ParseSize, MibSuffixIsCaseInsensitive) {
  EXPECT_EQ(ParseSize("16mib"), 16ull << 20);
}

TEST(ParseSize, KbSuffix) {
  EXPECT_EQ(ParseSize("8KB"), 8ull << 10);
}

TEST(ParseSize, TerabyteSuffix) {
  EXPECT_EQ(ParseSize("1T"), 1ull << 40);
}

TEST(ParseSize, ByteSuffix) {
  EXPECT_EQ(ParseSize("100B"), 100u);
}

TEST(ParseSize, RejectsEmpty) {
  EXPECT_FALSE(ParseSize(""));
}

TEST(ParseSize, RejectsSuffixWithoutNumber) {
  EXPECT_FALSE(ParseSize("K"));
}

TEST(ParseSize, RejectsNegative) {
  EXPECT_FALSE(ParseSize("-1"));
}

TEST(ParseSize, RejectsUnknownSuffix) {
  EXPECT_FALSE(ParseSize("5X"));
}

TEST(ParseSize, RejectsTrailingGarbage) {
  EXPECT_FALSE(ParseSize("64Kx"));
}

TEST(ParseSize, RejectsInnerSpace) {
  EXPECT_FALSE(ParseSize("64 K"));
}

TEST(ParseSize, RejectsFraction) {
  EXPECT_FALSE(ParseSize("1.5G"));
}

TEST(ParseSize, AcceptsLargestValue) {
  EXPECT_EQ(ParseSize("18446744073709551615"), UINT64_MAX);
}

TEST(ParseSize, RejectsNumberFarAboveUint64) {
  EXPECT_FALSE(ParseSize("99999999999999999999999"));
}

// BUG: the digit loop checks `value > UINT64_MAX / 10` before multiplying but not whether
// adding the digit overflows: 1844674407370955161 * 10 + 6 wraps around to 0.
TEST(ParseSize, RejectsUint64MaxPlusOne) {
  EXPECT_FALSE(ParseSize("18446744073709551616"));
}

// BUG: "iB" alone is stripped to an empty unit, which then means bytes: "4iB" parses as 4.
TEST(ParseSize, RejectsBareIbSuffix) {
  EXPECT_FALSE(ParseSize("4iB"));
}

// BUG: a two-letter unit ending in B loses its B before the unit is checked, so "BB" becomes
// "B" and "5BB" parses as 5.
TEST(ParseSize, RejectsDoubleBSuffix) {
  EXPECT_FALSE(ParseSize("5BB"));
}

TEST(ParseSize, RejectsSuffixOverflow) {
  EXPECT_FALSE(ParseSize("17179869184G"));
}

TEST(ParseSize, AcceptsLargestValueWithSuffix) {
  EXPECT_EQ(ParseSize("17179869183G"), 17179869183ull << 30);
}

TEST(SizeValidator, AcceptsASize) {
  std::string text = "64M";
  EXPECT_EQ(SizeValidator()(text), "");
}

TEST(SizeValidator, RejectsAnUnknownUnitWithAHint) {
  std::string text = "12Q";
  EXPECT_NE(SizeValidator()(text).find("K/M/G suffix"), std::string::npos);
}

// Parses `args` (after the program name) as `catload run` would parse its limit options.
RunLimits ParseLimits(std::vector<std::string> args) {
  CLI::App app;
  LimitArgs limits;
  AddLimitOptions(app, limits);
  std::reverse(args.begin(), args.end());
  app.parse(args);
  return ToRunLimits(limits);
}

TEST(LimitOptions, DefaultsAreFinite) {
  const RunLimits l = ParseLimits({});
  EXPECT_EQ(l.timeout_s, 0);
  EXPECT_EQ(l.cpu_limit_s, 900);
  EXPECT_EQ(l.max_output, 1ull << 30);
}

TEST(LimitOptions, ZeroTurnsLimitsOff) {
  const RunLimits l = ParseLimits({"--cpu-limit", "0", "--max-output", "0"});
  EXPECT_EQ(l.cpu_limit_s, 0);
  EXPECT_EQ(l.max_output, 0u);
}

TEST(LimitOptions, TakesFractionsAndSuffixes) {
  const RunLimits l = ParseLimits({"--cpu-limit", "0.5", "--max-output", "6M", "--timeout", "2"});
  EXPECT_EQ(l.cpu_limit_s, 0.5);
  EXPECT_EQ(l.max_output, 6ull << 20);
  EXPECT_EQ(l.timeout_s, 2);
}

TEST(LimitOptions, RejectsANegativeCpuLimit) {
  EXPECT_THROW(ParseLimits({"--cpu-limit", "-1"}), CLI::ValidationError);
}

TEST(LimitOptions, RejectsABadOutputSize) {
  EXPECT_THROW(ParseLimits({"--max-output", "lots"}), CLI::ValidationError);
}

}  // namespace
}  // namespace cat::cli

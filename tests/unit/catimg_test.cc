// Unit tests for catimg's non-main code: the JSON writer's escaping, `inspect`'s JSON and text
// renderings of a real image, and `verify`'s report (ok line, one line per bad part, errors).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include "catimg/cli_common.h"
#include "catimg/inspect_command.h"
#include "catimg/json_writer.h"
#include "catimg/verify_command.h"
#include "format/image/func_image.h"
#include "tests/unit/state_fixture.h"
#include "tests/unit/test_support.h"

namespace cat::catimg {
namespace {

using cat::testing::ReadFile;
using cat::testing::TempDir;
using cat::testing::WriteFile;

TEST(CatimgJson, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonWriter::Quote("a\"b\\c\n\t\x01\x7f"), R"("a\"b\\c\n\t\u0001\u007f")");
}

TEST(CatimgJson, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonWriter::Quote("h\xc3\xa9llo"), "\"h\xc3\xa9llo\"");
  EXPECT_EQ(JsonWriter::Quote("a\xff"
                              "b\xc3"),
            R"("a\ufffdb\ufffd")");
  EXPECT_EQ(JsonWriter::Quote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a surrogate
}

TEST(CatimgJson, PutsCommasBetweenElementsOnly) {
  JsonWriter j;
  j.BeginObject().Key("a").Uint(1).Key("b").BeginArray().String("x").Bool(true).EndArray();
  j.Key("c").BeginObject().EndObject().EndObject();
  EXPECT_EQ(j.str(), R"({"a":1,"b":["x",true],"c":{}})");
}

class CatimgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    page_.assign(4096, 0xab);
    spec_.function = {
        "say \"hi\"", "/bin/hello", {"hello", "line\nbreak"}, {"A=1"}, "explicit", "/rootfs", {}};
    spec_.provenance = {0xabcdef, "catimg 0.1.0"};
    spec_.layout_fingerprint = 0xfeedfacecafebeefull;
    spec_.regs.rip = 0x401000;
    spec_.fpu = DefaultFpuState();
    spec_.segments = {{0x400000, 4096, PROT_READ | PROT_EXEC, 1, page_.data()},
                      {0x500000, 3 * 4096, PROT_READ | PROT_WRITE, 2, nullptr}};
    const state::ArenaImage arena = cat::testing::MinimalArena();
    spec_.arena = arena.bytes;
    spec_.arena_root = 0;
    spec_.relocations = arena.relocations;
    spec_.object_counts = {{"Inode", 4}, {"Vma", 2}};
    spec_.working_set = {{0x500000, 1}, {0x502000, 1}};
    path_ = dir_ / "fn.cfi";
    ASSERT_TRUE(WriteFuncImage(path_, spec_));
  }

  TempDir dir_;
  std::vector<uint8_t> page_;
  FuncImageSpec spec_;
  std::string path_;
};

TEST_F(CatimgTest, InspectJsonHoldsEveryPart) {
  auto img = FuncImage::Open(path_);
  ASSERT_TRUE(img) << img.error().message();
  const std::string j = InspectJson(*img);
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(j.substr(j.size() - 2), "}\n");
  EXPECT_EQ(j.find('\n'), j.size() - 1);  // one line
  for (
      const char* part :
      {R"("format":{"major":1,"minor":2})", R"("layout_fingerprint":"0xfeedfacecafebeef")",
       R"("name":"say \"hi\"")", R"("argv":["hello","line\nbreak"])", R"("entry_kind":"explicit")",
       R"("checkpoint_hash":"0xabcdef")", R"("catimg_version":"catimg 0.1.0")",
       R"("cpu":{"recorded":false})", R"("rip":"0x401000")",
       R"({"guest_addr":4194304,"size":4096,"prot":"r-x","vma_kind":1,"vma_kind_name":"file","stored":true,"pages":1,)",
       R"({"guest_addr":5242880,"size":12288,"prot":"rw-","vma_kind":2,"vma_kind_name":"elf","stored":false,"pages":3})",
       R"("totals":{"segments":2,"stored_pages":1,"stored_bytes":4096,"zero_pages":3,)",
       R"("objects":{"Inode":4,"Vma":2})",
       R"("working_set":[{"guest_addr":5242880,"pages":1},{"guest_addr":5251072,"pages":1}])"})
    EXPECT_NE(j.find(part), std::string::npos) << part << "\nin " << j;
  const std::string arena =
      "\"size\":" + std::to_string(spec_.arena.size()) +
      ",\"root\":0,\"relocations\":" + std::to_string(spec_.relocations.size()) + "}";
  EXPECT_NE(j.find(arena), std::string::npos) << arena << "\nin " << j;
}

TEST_F(CatimgTest, InspectTextShowsSegmentsAndTotals) {
  auto img = FuncImage::Open(path_);
  ASSERT_TRUE(img);
  const std::string t = InspectText(*img);
  for (const char* part :
       {"format", "1.2", "0xfeedfacecafebeef", "0x400000", "r-x", "stored", "zero",
        "1 pages stored (4096 bytes), 3 zero pages (12288 bytes", "relocations", "Inode",
        "\"line\\nbreak\"", "working set: 2 pages in 2 runs"})
    EXPECT_NE(t.find(part), std::string::npos) << part << "\nin\n" << t;
}

TEST(CatimgProt, RendersRwx) {
  EXPECT_EQ(ProtString(0), "---");
  EXPECT_EQ(ProtString(PROT_READ | PROT_WRITE | PROT_EXEC), "rwx");
  EXPECT_EQ(ProtString(PROT_READ | PROT_EXEC), "r-x");
}

TEST_F(CatimgTest, VerifyReportsOk) {
  const VerifyOutcome r = VerifyImage(path_);
  EXPECT_EQ(r.exit_code, kExitOk);
  EXPECT_EQ(r.stdout_text, path_ + ": ok (2 segments, arena " + std::to_string(spec_.arena.size()) +
                               " bytes, " + std::to_string(spec_.relocations.size()) +
                               " relocations)\n");
  EXPECT_TRUE(r.error.empty());
}

TEST_F(CatimgTest, VerifyNamesEachBadPart) {
  auto img = FuncImage::Open(path_);
  ASSERT_TRUE(img);
  std::string bytes = ReadFile(path_);
  bytes[img->segments()[0].file_offset + 5] ^= 1;
  bytes[img->arena_offset() + 3] ^= 1;
  WriteFile(path_, bytes);
  const VerifyOutcome r = VerifyImage(path_);
  EXPECT_EQ(r.exit_code, kExitBadImage);
  EXPECT_EQ(r.stdout_text, path_ + ": segment 0 (0x400000): checksum mismatch\n" + path_ +
                               ": arena: checksum mismatch\n");
}

TEST_F(CatimgTest, VerifyOfUnopenableImageIsOneErrorLine) {
  WriteFile(path_, "garbage");
  const VerifyOutcome r = VerifyImage(path_);
  EXPECT_EQ(r.exit_code, kExitBadImage);
  EXPECT_TRUE(r.stdout_text.empty());
  EXPECT_NE(r.error.find("not a func-image"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace cat::catimg

// The OCI pieces of catimg pack/unpack that need no image: reference parsing, layer entry
// names (hostile tars), digests, and reproducible compression.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "catimg/oci/compression.h"
#include "catimg/oci/layer_reader.h"
#include "catimg/oci/oci_spec.h"
#include "catimg/oci/sha256.h"

namespace cat::oci {
namespace {

TEST(OciRef, ParsesDirAndTag) {
  auto r = ParseImageRef("oci:/srv/images:fn-1.0");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->dir, "/srv/images");
  EXPECT_EQ(r->tag, "fn-1.0");
  r = ParseImageRef("oci:rel/dir");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dir, "rel/dir");
  EXPECT_EQ(r->tag, "");
}

TEST(OciRef, RefusesOtherTransportsAndBadTags) {
  EXPECT_FALSE(ParseImageRef("docker://x/y:1"));
  EXPECT_FALSE(ParseImageRef("oci:"));
  EXPECT_FALSE(ParseImageRef("oci:dir:"));
  EXPECT_FALSE(ParseImageRef("oci:dir:a b"));
  EXPECT_FALSE(ParseImageRef("oci:dir:" + std::string(129, 'a')));
}

TEST(OciEntryName, NormalizesHarmlessNames) {
  EXPECT_EQ(*SafeEntryName("./a//b/"), "a/b");
  EXPECT_EQ(*SafeEntryName("a/./b"), "a/b");
  EXPECT_EQ(*SafeEntryName("./"), "");
  EXPECT_EQ(*SafeEntryName("a..b/..c"), "a..b/..c");
}

TEST(OciEntryName, RefusesEscapes) {
  for (const char* bad : {"../x", "a/../../x", "/etc/passwd", "a/..", ".."})
    EXPECT_FALSE(SafeEntryName(bad)) << bad;
}

TEST(OciDigest, IsSha256OfTheBytes) {
  EXPECT_EQ(Sha256Digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(IsSha256Digest(Sha256Digest("")));
  EXPECT_FALSE(IsSha256Digest("sha256:../../../etc/passwd"));
  EXPECT_FALSE(IsSha256Digest("sha512:" + std::string(64, 'a')));
  EXPECT_FALSE(IsSha256Digest("sha256:" + std::string(64, 'A')));
}

std::vector<uint8_t> Compress(Compression c, const std::string& text) {
  std::vector<uint8_t> out;
  auto z = Compressor::Create(c, [&](const uint8_t* d, size_t n) -> Status {
    out.insert(out.end(), d, d + n);
    return {};
  });
  EXPECT_TRUE(z);
  EXPECT_TRUE((*z)->Write(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  EXPECT_TRUE((*z)->Finish());
  return out;
}

Result<std::string> Decompress(std::string_view media, const std::vector<uint8_t>& bytes) {
  size_t pos = 0;
  TRY(auto d, Decompressor::Create(media, [&](uint8_t* b, size_t n) -> Result<size_t> {
        const size_t k = std::min(n, bytes.size() - pos);
        std::copy(bytes.begin() + pos, bytes.begin() + pos + k, b);
        pos += k;
        return k;
      }));
  std::string out;
  uint8_t buf[1000];
  for (;;) {
    TRY(size_t n, d->Read(buf, sizeof buf));
    if (n == 0) return out;
    out.append(reinterpret_cast<char*>(buf), n);
  }
}

TEST(OciCompression, RoundTripsAndIsReproducible) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i % 97) + "\n";
  for (Compression c : {Compression::kZstd, Compression::kGzip}) {
    const std::vector<uint8_t> a = Compress(c, text), b = Compress(c, text);
    EXPECT_EQ(a, b) << "same input, same bytes";
    EXPECT_LT(a.size(), text.size() / 4);
    auto back = Decompress(LayerMediaType(c), a);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, text);
  }
}

TEST(OciCompression, RefusesATruncatedStream) {
  for (Compression c : {Compression::kZstd, Compression::kGzip}) {
    std::vector<uint8_t> z = Compress(c, std::string(100000, 'x') + "tail");
    z.resize(z.size() / 2);
    EXPECT_FALSE(Decompress(LayerMediaType(c), z)) << LayerMediaType(c);
  }
}

TEST(OciCompression, RefusesAnUnknownMediaType) {
  auto d = Decompressor::Create("application/vnd.oci.image.layer.v1.tar+bzip2",
                                [](uint8_t*, size_t) -> Result<size_t> { return size_t{0}; });
  EXPECT_FALSE(d);
}

}  // namespace
}  // namespace cat::oci

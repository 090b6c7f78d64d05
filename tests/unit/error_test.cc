// Tests of the Error type: context chains and errno names.
#include "format/base/error.h"

#include <gtest/gtest.h>

namespace cat {
namespace {

TEST(Error, ContextIsPrependedOutermostFirst) {
  Error e = Error(ENOMEM, "mmap: ENOMEM").Context("map segment 3").Context("cold boot");
  EXPECT_EQ(e.message(), "cold boot: map segment 3: mmap: ENOMEM");
  EXPECT_EQ(e.code(), ENOMEM);
}

TEST(Error, FromErrnoNamesTheErrno) {
  Error e = Error::FromErrno("open /x", ENOENT);
  EXPECT_EQ(e.code(), ENOENT);
  EXPECT_NE(e.message().find("open /x: ENOENT"), std::string::npos);
}

}  // namespace
}  // namespace cat

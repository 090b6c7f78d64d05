// Tests of the --max-output budget (loader/kernel/output_budget.h).
#include "loader/kernel/output_budget.h"

#include <gtest/gtest.h>

namespace cat {
namespace {

TEST(OutputBudget, UnlimitedByDefault) {
  OutputBudget b;
  EXPECT_FALSE(b.enabled());
  EXPECT_EQ(b.Allow(1ull << 40), 1ull << 40);
  b.Consume(1ull << 40);
  EXPECT_FALSE(b.exhausted());
}

TEST(OutputBudget, AllowsWholeWritesBelowTheLimit) {
  OutputBudget b;
  b.SetLimit(100);
  EXPECT_EQ(b.Allow(60), 60u);
  b.Consume(60);
  EXPECT_EQ(b.used(), 60u);
  EXPECT_FALSE(b.exhausted());
}

TEST(OutputBudget, CutsTheWriteThatCrossesTheLimit) {
  OutputBudget b;
  b.SetLimit(100);
  b.Consume(60);
  EXPECT_EQ(b.Allow(60), 40u);
}

TEST(OutputBudget, RefusesEverythingOnceSpent) {
  OutputBudget b;
  b.SetLimit(100);
  b.Consume(100);
  EXPECT_TRUE(b.exhausted());
  EXPECT_EQ(b.Allow(1), 0u);
}

TEST(OutputBudget, OverspendingNeverWrapsAround) {
  OutputBudget b;
  b.SetLimit(100);
  b.Consume(150);  // a write that was allowed more than it should have been
  EXPECT_EQ(b.Allow(10), 0u);
  EXPECT_TRUE(b.exhausted());
}

TEST(OutputBudget, FirstRefusalIsReportedOnce) {
  OutputBudget b;
  EXPECT_TRUE(b.FirstRefusal());
  EXPECT_FALSE(b.FirstRefusal());
}

}  // namespace
}  // namespace cat

// Unit tests for catload serve's metrics (loader/serve/metrics.h): the Prometheus text format
// of counters, histograms and gauges, and label escaping.
#include <gtest/gtest.h>

#include <cstdlib>

#include "loader/serve/metrics.h"

namespace cat::serve {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(ServeMetrics, CountsInvocationsByFunctionModeAndOutcome) {
  Metrics m;
  m.RecordInvocation("hello", "cold", "exited", 200, 1000, 2000);
  m.RecordInvocation("hello", "cold", "exited", 200, 1000, 2000);
  m.RecordInvocation("hello", "cold", "timeout", 504, 1000, 2000);
  const std::string text = m.Render({});
  EXPECT_TRUE(
      Has(text, R"(catalyzer_invocations_total{function="hello",mode="cold",outcome="exited"} 2)"))
      << text;
  EXPECT_TRUE(
      Has(text, R"(catalyzer_invocations_total{function="hello",mode="cold",outcome="timeout"} 1)"))
      << text;
  EXPECT_TRUE(Has(text, R"(catalyzer_invocation_responses_total{code="504"} 1)")) << text;
  EXPECT_TRUE(Has(text, "# TYPE catalyzer_invocations_total counter")) << text;
}

TEST(ServeMetrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  Metrics m;
  m.RecordInvocation("f", "cold", "exited", 200, 30'000, 1'500'000);   // 30 us, 1.5 ms
  m.RecordInvocation("f", "cold", "exited", 200, 150'000, 3'000'000);  // 150 us, 3 ms
  const std::string text = m.Render({});
  EXPECT_TRUE(Has(
      text, R"(catalyzer_boot_latency_seconds_bucket{function="f",mode="cold",le="2.5e-05"} 0)"))
      << text;
  EXPECT_TRUE(
      Has(text, R"(catalyzer_boot_latency_seconds_bucket{function="f",mode="cold",le="5e-05"} 1)"))
      << text;
  EXPECT_TRUE(
      Has(text, R"(catalyzer_boot_latency_seconds_bucket{function="f",mode="cold",le="0.0002"} 2)"))
      << text;
  EXPECT_TRUE(
      Has(text, R"(catalyzer_boot_latency_seconds_bucket{function="f",mode="cold",le="+Inf"} 2)"))
      << text;
  EXPECT_TRUE(Has(text, R"(catalyzer_boot_latency_seconds_count{function="f",mode="cold"} 2)"))
      << text;
  const std::string sum = R"(catalyzer_boot_latency_seconds_sum{function="f",mode="cold"} )";
  const size_t at = text.find(sum);
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_NEAR(std::strtod(text.c_str() + at + sum.size(), nullptr), 180e-6, 1e-12);
  EXPECT_TRUE(
      Has(text,
          R"(catalyzer_invocation_duration_seconds_bucket{function="f",mode="cold",le="0.002"} 1)"))
      << text;
}

TEST(ServeMetrics, NoBootLatencyObservedWhenTheGuestNeverRan) {
  Metrics m;
  m.RecordInvocation("f", "cold", "boot_failed", 500, -1, 1000);
  const std::string text = m.Render({});
  EXPECT_EQ(text.find("catalyzer_boot_latency_seconds_count{"), std::string::npos) << text;
  EXPECT_TRUE(
      Has(text, R"(catalyzer_invocation_duration_seconds_count{function="f",mode="cold"} 1)"))
      << text;
}

TEST(ServeMetrics, GaugesGetOneHeaderPerName) {
  Metrics m;
  const std::string text = m.Render({{"catalyzer_pool_shells", "Shells.", {{"function", "a"}}, 3},
                                     {"catalyzer_pool_shells", "Shells.", {{"function", "b"}}, 0}});
  EXPECT_TRUE(Has(text, R"(catalyzer_pool_shells{function="a"} 3)")) << text;
  EXPECT_TRUE(Has(text, R"(catalyzer_pool_shells{function="b"} 0)")) << text;
  const std::string type = "# TYPE catalyzer_pool_shells gauge";
  ASSERT_NE(text.find(type), std::string::npos) << text;
  EXPECT_EQ(text.find(type, text.find(type) + 1), std::string::npos) << text;
}

TEST(ServeMetrics, LabelValuesAreEscaped) {
  EXPECT_EQ(Metrics::EscapeLabel("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  Metrics m;
  m.RecordRejected("x\"y");
  EXPECT_TRUE(Has(m.Render({}), R"(catalyzer_rejected_total{reason="x\"y"} 1)"));
}

}  // namespace
}  // namespace cat::serve

// The automatic thread count's policy (core/src/core_share.h), driven with measured efficiencies
// and times given by the test: it starts at the budget, steps down when the parts do not get
// their cores, probes one thread more at its interval, and steps up when the probe gets them.
#include <gtest/gtest.h>

#include "core_share.h"

namespace {

using ddpm::CoreShare;

// `n` calls of two parts on the threads granted, each of 10 ms wall at `efficiency`.
int calls(CoreShare& share, int n, double efficiency, double& now) {
  int granted = 0;
  for (int i = 0; i < n; ++i) {
    granted = share.threads(2, 2, now);
    share.report(granted, 0.01, efficiency * granted * 0.01, now + 0.01);
    now += 0.01;
  }
  return granted;
}

TEST(CoreShare, StaysAtTheBudgetWhileTheCoresAreFree) {
  CoreShare share;
  double now = 100;
  EXPECT_EQ(share.level(), 0);
  EXPECT_EQ(calls(share, 50, 0.95, now), 2);
  EXPECT_EQ(share.level(), 2);
  EXPECT_EQ(calls(share, 50, 0.72, now), 2) << "just above the low mark";
}

TEST(CoreShare, StepsDownWhenThePartsWaitForCores) {
  CoreShare share;  // window 4, low 0.7
  double now = 100;
  EXPECT_EQ(calls(share, 3, 0.5, now), 2) << "three calls are not yet a window";
  EXPECT_EQ(calls(share, 1, 0.5, now), 2);
  EXPECT_EQ(share.level(), 1);
  EXPECT_EQ(share.threads(2, 2, now), 1);
  // A lone image has one part: one thread, and no probe however long it has been.
  EXPECT_EQ(share.threads(1, 2, now + 10), 1);
}

TEST(CoreShare, ProbesAtItsIntervalAndStepsUpWhenTheCoresAreBack) {
  CoreShare share;  // probe every 0.5 s, high 0.8
  double now = 100;
  calls(share, 4, 0.5, now);
  ASSERT_EQ(share.level(), 1);
  EXPECT_EQ(share.threads(2, 2, now + 0.4), 1) << "before the interval";
  const double later = now + 0.6;
  EXPECT_EQ(share.threads(2, 2, later), 2) << "the probe";
  EXPECT_EQ(share.threads(2, 2, later), 1) << "one probe at a time";
  share.report(2, 0.01, 0.5 * 2 * 0.01, later + 0.01);  // still contended
  EXPECT_EQ(share.level(), 1);
  EXPECT_EQ(share.threads(2, 2, later + 0.3), 1) << "the interval restarts at the probe";
  const double again = later + 0.6;
  EXPECT_EQ(share.threads(2, 2, again), 2);
  share.report(2, 0.01, 0.9 * 2 * 0.01, again + 0.01);
  EXPECT_EQ(share.level(), 2);
  EXPECT_EQ(share.threads(2, 2, again + 0.02), 2);
}

TEST(CoreShare, AFailedProbeEndsWithoutJudging) {
  CoreShare share;
  double now = 100;
  calls(share, 4, 0.5, now);
  ASSERT_EQ(share.threads(2, 2, now + 0.6), 2);
  share.report(2, 0, 0, now + 0.6);  // the probe's forward threw
  EXPECT_EQ(share.level(), 1);
  EXPECT_EQ(share.threads(2, 2, now + 1.0), 1) << "the next probe is due an interval later";
  EXPECT_EQ(share.threads(2, 2, now + 1.2), 2) << "and it comes";
}

TEST(CoreShare, CallsBelowTheLevelDoNotJudgeItAndResetForgets) {
  CoreShare share(CoreShare::Policy{0.7, 0.8, 0.5, 2});
  double now = 100;
  EXPECT_EQ(share.threads(4, 4, now), 4);
  for (int i = 0; i < 10; ++i) share.report(2, 0.01, 0.2 * 2 * 0.01, now);  // a call of 2 parts
  EXPECT_EQ(share.level(), 4);
  share.report(4, 0.01, 0.5 * 4 * 0.01, now);
  share.report(4, 0.01, 0.5 * 4 * 0.01, now);
  EXPECT_EQ(share.level(), 3) << "one thread fewer per window";
  share.reset();
  EXPECT_EQ(share.level(), 0);
  EXPECT_EQ(share.threads(4, 4, now), 4);
}

}  // namespace

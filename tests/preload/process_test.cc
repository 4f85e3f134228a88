#include "preload/internal/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace gpuslice::preload::internal {
namespace {

using State = ProcessProbe::State;

// A child that runs until killed.
pid_t StartSleeper() {
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pause();
    _exit(0);
  }
  return pid;
}

TEST(ProbeProcess, ARunningProcessHasItsStartTime) {
  const ProcessProbe self = ProbeProcess(getpid());
  EXPECT_EQ(self.state, State::kRunning);
  EXPECT_GT(self.start_time, 0u);
  const ProcessProbe parent = ProbeProcess(getppid());
  EXPECT_EQ(parent.state, State::kRunning);
  EXPECT_LE(parent.start_time, self.start_time);
}

TEST(ProbeProcess, ZombiesAndReapedProcessesAreGone) {
  const pid_t child = StartSleeper();
  ASSERT_GT(child, 0);
  EXPECT_EQ(ProbeProcess(child).state, State::kRunning);
  kill(child, SIGKILL);
  // Exited but not reaped: a zombie, whose GPU memory the driver has already freed.
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_EQ(ProbeProcess(child).state, State::kGone);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(ProbeProcess(child).state, State::kGone);
}

TEST(ProbeProcess, AProcThatCannotBeReadIsUnknownNotGone) {
  const pid_t child = StartSleeper();
  ASSERT_GT(child, 0);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit none = saved;
  none.rlim_cur = 0;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &none), 0);
  const ProcessProbe running = ProbeProcess(child);
  const ProcessProbe self = ProbeProcess(getpid());
  setrlimit(RLIMIT_NOFILE, &saved);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(running.state, State::kUnknown);
  EXPECT_EQ(self.state, State::kUnknown);
  EXPECT_EQ(self.start_time, 0u);
}

}  // namespace
}  // namespace gpuslice::preload::internal

// run_status: tests/e2e/lib/run.pl as a small binary, for the mutation campaign's tens of
// thousands of runs (perl's start-up cost more than the runs it timed). Runs CMD with stdin,
// stdout and stderr inherited and writes one line to STATUSFILE:
//   "exit N SECONDS 0"      CMD exited with status N
//   "signal N SECONDS CORE" CMD was killed by signal N (CORE 1 if it dumped core)
//   "hung 0 SECONDS 0"      CMD was still running after LIMIT_SECONDS and got SIGKILL
// Unlike a shell's $?, this tells "exit(139)" apart from "killed by SIGSEGV".
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

double Now() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

void OnAlarm(int) {}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: run_status STATUSFILE LIMIT_SECONDS CMD [ARGS...]\n");
    return 2;
  }
  const double limit = std::atof(argv[2]);
  const double t0 = Now();
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("run_status: fork");
    return 2;
  }
  if (pid == 0) {
    execvp(argv[3], argv + 3);
    std::fprintf(stderr, "run_status: exec %s: %s\n", argv[3], strerror(errno));
    _exit(127);
  }
  // SIGALRM interrupts waitpid at the limit (no SA_RESTART).
  struct sigaction sa {};
  sa.sa_handler = OnAlarm;
  sigaction(SIGALRM, &sa, nullptr);
  itimerval it{};
  it.it_value.tv_sec = static_cast<time_t>(limit);
  it.it_value.tv_usec =
      static_cast<suseconds_t>((limit - static_cast<double>(it.it_value.tv_sec)) * 1e6);
  setitimer(ITIMER_REAL, &it, nullptr);
  int status = 0;
  const char* kind = "hung";
  int value = 0, core = 0;
  if (waitpid(pid, &status, 0) == pid) {
    if (WIFSIGNALED(status)) {
      kind = "signal";
      value = WTERMSIG(status);
      core = WCOREDUMP(status) ? 1 : 0;
    } else {
      kind = "exit";
      value = WEXITSTATUS(status);
    }
  } else {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  FILE* f = std::fopen(argv[1], "w");
  if (!f) {
    std::perror("run_status: open the status file");
    return 2;
  }
  std::fprintf(f, "%s %d %.3f %d\n", kind, value, Now() - t0, core);
  return std::fclose(f) == 0 ? 0 : 2;
}

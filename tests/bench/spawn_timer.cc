// spawn_timer: the benchmarks' stopwatch. Runs one command with stdin, stdout and stderr
// redirected to files and prints "<wall µs> <exit code>": CLOCK_MONOTONIC from just before
// posix_spawn to the return of waitpid. Timing in bash instead ($EPOCHREALTIME around a
// command) also counts bash forking itself (about a millisecond on the benchmark VM), a cost of
// the harness that would swamp millisecond boots; posix_spawn starts the command with a vfork.
//
// usage: spawn_timer [--empty-env] IN OUT ERR CMD [ARGS...]
//   --empty-env  start CMD with an empty environment (like `env -i`, as catload gives guests)
// Exit code printed: CMD's, or 128+N if a signal N ended it; 127 if it could not be started.
// spawn_timer itself exits 0 when it printed a measurement, 2 on a usage or I/O error.
//
// Work CMD leaves running after its exit (catload does not wait for a killed shell's teardown)
// is not CMD's latency, but it must not land in the next measurement either: spawn_timer is a
// child subreaper, so such orphans become its children, and it waits (up to 5 s) for them to
// finish after taking the time and before returning.
#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

extern char** environ;

namespace {

int Usage(const char* why) {
  std::fprintf(stderr,
               "spawn_timer: %s\nusage: spawn_timer [--empty-env] IN OUT ERR CMD [ARGS...]\n", why);
  return 2;
}

int64_t NowUs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000 + t.tv_nsec / 1000;
}

// Reaps the orphans CMD left behind, for at most five seconds (a daemon that never exits, such
// as a gVisor sandbox until its container is deleted, is left alone after that).
void ReapOrphans() {
  const int64_t deadline = NowUs() + 5000000;
  while (NowUs() < deadline) {
    const pid_t pid = waitpid(-1, nullptr, WNOHANG);
    if (pid < 0 && errno != EINTR) return;  // ECHILD: none left
    if (pid == 0) {
      const timespec pause{0, 200000};
      nanosleep(&pause, nullptr);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int i = 1;
  bool empty_env = false;
  if (i < argc && std::string_view(argv[i]) == "--empty-env") {
    empty_env = true;
    ++i;
  }
  if (argc - i < 4) return Usage("missing arguments");
  const char* in = argv[i];
  const char* out = argv[i + 1];
  const char* err = argv[i + 2];
  char** cmd = argv + i + 3;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in, O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  char* no_env[] = {nullptr};
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  const int64_t start = NowUs();
  pid_t pid = 0;
  // posix_spawnp: CMD is looked up in PATH, as bash would.
  const int rc = posix_spawnp(&pid, cmd[0], &actions, nullptr, cmd, empty_env ? no_env : environ);
  int status = 0;
  if (rc == 0) {
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        std::fprintf(stderr, "spawn_timer: waitpid: %s\n", std::strerror(errno));
        return 2;
      }
    }
  }
  const int64_t end = NowUs();
  posix_spawn_file_actions_destroy(&actions);
  ReapOrphans();

  int code = 127;  // not started (missing command, unreadable IN, ...): like bash
  if (rc != 0)
    std::fprintf(stderr, "spawn_timer: cannot start %s: %s\n", cmd[0], std::strerror(rc));
  else if (WIFEXITED(status))
    code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    code = 128 + WTERMSIG(status);
  std::printf("%lld %d\n", static_cast<long long>(end - start), code);
  return std::fflush(stdout) == 0 ? 0 : 2;
}

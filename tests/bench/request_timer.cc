// request_timer: the native request-only time (issue 8: "an already-initialized native
// process, blocked reading its request, is given the request: time from the write to its
// exit"). Starts CMD with its stdin a pipe, waits until CMD is blocked in read(0, ...) (its
// init done: /proc/PID/syscall names read on fd 0 and it sleeps), then writes the request
// from IN, closes the pipe and prints "<µs from the write to waitpid's return> <exit code>".
//
// usage: request_timer IN OUT ERR CMD [ARGS...]
// Exit code printed: CMD's, or 128+N for a signal N. request_timer exits 0 when it printed a
// measurement, 2 on a usage or I/O error (CMD never blocking on stdin within 60 s is one).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

int64_t NowUs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000 + t.tv_nsec / 1000;
}

std::string ReadSmallFile(const std::string& path) {
  char buf[512];
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Blocked in read(0, ...): /proc/PID/syscall starts with "0 0x0 " (nr, first argument), and
// the task sleeps (state S) rather than being between the entry and the sleep.
bool BlockedReadingStdin(pid_t pid) {
  const std::string sys = ReadSmallFile("/proc/" + std::to_string(pid) + "/syscall");
  if (sys.rfind("0 0x0 ", 0) != 0) return false;
  const std::string stat = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close_paren = stat.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < stat.size() &&
         stat[close_paren + 2] == 'S';
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: request_timer IN OUT ERR CMD [ARGS...]\n");
    return 2;
  }
  std::vector<char> request;
  {
    const int in = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (in < 0) return std::perror(argv[1]), 2;
    char buf[65536];
    for (ssize_t n; (n = read(in, buf, sizeof(buf))) > 0;)
      request.insert(request.end(), buf, buf + n);
    close(in);
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return std::perror("pipe"), 2;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  if (int err = posix_spawn(&pid, argv[4], &fa, nullptr, argv + 4, environ); err != 0) {
    std::printf("0 127\n");
    return 0;
  }
  close(pipefd[0]);
  const int64_t give_up = NowUs() + 60 * 1000000;
  while (!BlockedReadingStdin(pid)) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid || NowUs() > give_up) {
      std::fprintf(stderr, "request_timer: %s never blocked reading stdin\n", argv[4]);
      return 2;
    }
    usleep(200);
  }
  const int64_t start = NowUs();
  for (size_t off = 0; off < request.size();) {
    const ssize_t n = write(pipefd[1], request.data() + off, request.size() - off);
    if (n <= 0) break;  // the function may exit without reading it all
    off += static_cast<size_t>(n);
  }
  close(pipefd[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  const int64_t us = NowUs() - start;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::printf("%lld %d\n", static_cast<long long>(us), code);
  return 0;
}

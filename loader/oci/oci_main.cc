// catload-oci: the subset of runc's command line that containerd's runc v2 shim and podman's
// conmon call (spec/oci.md, "Runtime"). catload-oci is a second name of the static catload
// binary (main.cc dispatches on argv[0]): `create` boots the instance in a process forked from
// itself, with no exec and no dynamic loading, the same per-request start catload has.
#include "loader/oci/oci_main.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "loader/oci/bundle_config.h"
#include "loader/oci/container_state.h"
#include "loader/oci/instance.h"
#include "loader/oci/oci_log.h"

namespace cat::oci {
namespace {

constexpr const char* kVersion = "catload-oci version 0.1.0\nspec: 1.0.2\n";
constexpr int kKeeperWaitMs = 10000;  // delete --force: how long the keeper may take to die

std::string DefaultRoot() {
  if (geteuid() == 0) return "/run/catload-oci";
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  return std::string(xdg && *xdg ? xdg : "/tmp") + "/catload-oci";
}

Status MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') {
      const std::string p = path.substr(0, i);
      if (mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) return FailErrno("mkdir " + p);
    }
  return {};
}

std::string Absolute(const std::string& path) {
  if (path.starts_with("/")) return path;
  char cwd[4096];
  return std::string(getcwd(cwd, sizeof cwd) ? cwd : ".") + "/" + path;
}

Status WriteFileAtomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) return FailErrno("write " + tmp);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) return FailErrno("rename " + tmp);
  return {};
}

void RemoveContainerDir(const std::string& dir) {
  for (const char* f : {"state.json", "state.json.tmp", "start.fifo", "started"})
    unlink((dir + "/" + f).c_str());
  rmdir(dir.c_str());
}

bool ReadAllFd(int fd, std::string& out) {
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out.append(buf, static_cast<size_t>(n));
  }
}

struct Globals {
  std::string root;
  std::string log_path;
  std::string log_format = "text";
  OciLog log;
};

// ---- create -------------------------------------------------------------------------------

struct CreateArgs {
  std::string id;
  std::string bundle = ".";
  std::string pid_file;
  std::string console_socket;
};

// The keeper: the forked process whose exit status is the container's. It boots the instance,
// tells create over `status_fd` ("OK" or the error), waits for start's byte on the fifo, runs
// the guest and exits with its status.
[[noreturn]] void RunKeeper(const BundleConfig& config, const Globals& g, const std::string& dir,
                            int status_fd) {
  auto instance = Instance::Boot(config, g.root, g.log);
  if (!instance) {
    const std::string msg = instance.error().message();
    [[maybe_unused]] ssize_t n = write(status_fd, msg.data(), msg.size());
    _exit(1);
  }
  g.log.Info("created: " + (*instance)->kind() + " " + config.args[0]);
  // Opened read-write so that `start` can open it for writing without blocking, and so that
  // its open fails (ENXIO) only once this keeper is gone.
  const int fifo = open((dir + "/start.fifo").c_str(), O_RDWR | O_CLOEXEC);
  if (fifo < 0) {
    const std::string msg = std::string("open start.fifo: ") + std::strerror(errno);
    [[maybe_unused]] ssize_t n = write(status_fd, msg.data(), msg.size());
    _exit(1);
  }
  [[maybe_unused]] ssize_t n = write(status_fd, "OK", 2);
  close(status_fd);
  char byte = 0;
  while (read(fifo, &byte, 1) < 0 && errno == EINTR) {
  }
  close(fifo);
  std::string why;
  const int code = (*instance)->Run(why);
  if (!why.empty()) {
    std::fprintf(stderr, "catload-oci: %s\n", why.c_str());
    g.log.Error(why);
  }
  std::fflush(nullptr);
  _exit(code);
}

int Create(const Globals& g, const CreateArgs& a) {
  if (!a.console_socket.empty()) {
    g.log.ErrorToStderr(
        "--console-socket: catload-oci gives a container its stdio as pipes, not a terminal; "
        "run it without -t/--tty");
    return 1;
  }
  auto dir = ContainerDir(g.root, a.id);
  if (!dir) {
    g.log.ErrorToStderr(dir.error().message());
    return 1;
  }
  auto config = ReadBundleConfig(Absolute(a.bundle));
  if (!config) {
    g.log.ErrorToStderr(config.error().message());
    return 1;
  }
  if (auto s = MakeDirs(g.root); !s) {
    g.log.ErrorToStderr(s.error().message());
    return 1;
  }
  if (mkdir(dir->c_str(), 0700) != 0) {
    g.log.ErrorToStderr(errno == EEXIST ? "container with id " + a.id + " already exists"
                                        : "mkdir " + *dir + ": " + std::strerror(errno));
    return 1;
  }
  if (mkfifo((*dir + "/start.fifo").c_str(), 0600) != 0) {
    g.log.ErrorToStderr("mkfifo: " + std::string(std::strerror(errno)));
    RemoveContainerDir(*dir);
    return 1;
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    g.log.ErrorToStderr("pipe: " + std::string(std::strerror(errno)));
    RemoveContainerDir(*dir);
    return 1;
  }
  std::fflush(nullptr);
  const pid_t keeper = fork();
  if (keeper < 0) {
    g.log.ErrorToStderr("fork: " + std::string(std::strerror(errno)));
    RemoveContainerDir(*dir);
    return 1;
  }
  if (keeper == 0) {
    close(pipefd[0]);
    RunKeeper(*config, g, *dir, pipefd[1]);
  }
  close(pipefd[1]);
  std::string status;
  ReadAllFd(pipefd[0], status);
  close(pipefd[0]);
  if (status != "OK") {
    if (status.empty()) status = "the instance died while booting";
    g.log.ErrorToStderr(status);
    kill(keeper, SIGKILL);
    waitpid(keeper, nullptr, 0);
    RemoveContainerDir(*dir);
    return 1;
  }
  ContainerRecord r;
  r.id = a.id;
  r.bundle = config->bundle;
  r.rootfs = config->rootfs;
  r.pid = keeper;
  r.pid_start_time = ProcessStartTime(keeper);
  r.created = NowRfc3339();
  r.annotations = config->annotations;
  Status w = WriteRecord(*dir, r);
  if (w && !a.pid_file.empty()) w = WriteFileAtomic(Absolute(a.pid_file), std::to_string(keeper));
  if (!w) {
    g.log.ErrorToStderr(w.error().message());
    kill(keeper, SIGKILL);
    waitpid(keeper, nullptr, 0);
    RemoveContainerDir(*dir);
    return 1;
  }
  return 0;
}

// ---- the other verbs ------------------------------------------------------------------------

// The record and status of an existing container, or 1 after logging why.
bool Load(const Globals& g, const std::string& id, ContainerRecord& r, std::string& dir,
          Lifecycle& status) {
  auto rec = ReadRecord(g.root, id);
  if (!rec) {
    g.log.ErrorToStderr(rec.error().message());
    return false;
  }
  r = *rec;
  dir = *ContainerDir(g.root, id);
  status = CurrentLifecycle(dir, r);
  return true;
}

int Start(const Globals& g, const std::string& id) {
  ContainerRecord r;
  std::string dir;
  Lifecycle status;
  if (!Load(g, id, r, dir, status)) return 1;
  if (status != Lifecycle::kCreated) {
    g.log.ErrorToStderr(std::string("cannot start a container that is ") + LifecycleName(status));
    return 1;
  }
  // Marked running first: once the byte is read the guest runs, and `state` must not say
  // created then.
  if (auto s = WriteFileAtomic(dir + "/started", NowRfc3339()); !s) {
    g.log.ErrorToStderr(s.error().message());
    return 1;
  }
  const int fifo = open((dir + "/start.fifo").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fifo < 0 || write(fifo, "s", 1) != 1) {
    g.log.ErrorToStderr("cannot start the container: its instance is gone (" +
                        std::string(std::strerror(errno)) + ")");
    if (fifo >= 0) close(fifo);
    return 1;
  }
  close(fifo);
  return 0;
}

int ParseSignal(const std::string& text) {
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
    char* end = nullptr;
    const long n = std::strtol(text.c_str(), &end, 10);
    return *end == '\0' && n > 0 && n < NSIG ? static_cast<int>(n) : -1;
  }
  std::string name = text;
  for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (name.starts_with("SIG")) name = name.substr(3);
  for (int s = 1; s < NSIG; ++s)
    if (const char* abbrev = sigabbrev_np(s); abbrev && name == abbrev) return s;
  return -1;
}

int Kill(const Globals& g, const std::string& id, const std::string& signal_text) {
  const int sig = ParseSignal(signal_text);
  if (sig < 0) {
    g.log.ErrorToStderr("unknown signal '" + signal_text + "': give a number or a name");
    return 1;
  }
  ContainerRecord r;
  std::string dir;
  Lifecycle status;
  if (!Load(g, id, r, dir, status)) return 1;
  if (status == Lifecycle::kStopped) {
    g.log.ErrorToStderr("container not running");
    return 1;
  }
  // The keeper takes the signal's default action: it ends, and the kernel ends the guest with
  // it (PTRACE_O_EXITKILL). Guest signal handlers are not run (spec/oci.md, "kill").
  if (::kill(r.pid, sig) != 0) {
    g.log.ErrorToStderr("kill: " + std::string(std::strerror(errno)));
    return 1;
  }
  return 0;
}

int Delete(const Globals& g, const std::string& id, bool force) {
  // As runc: --force on a container that is not there (its create failed) is done already.
  if (force && !ReadRecord(g.root, id)) {
    if (auto dir = ContainerDir(g.root, id)) RemoveContainerDir(*dir);
    return 0;
  }
  ContainerRecord r;
  std::string dir;
  Lifecycle status;
  if (!Load(g, id, r, dir, status)) return 1;
  if (status == Lifecycle::kRunning && !force) {
    g.log.ErrorToStderr("cannot delete container " + id +
                        " that is not stopped: running (stop it first, or use --force)");
    return 1;
  }
  if (status != Lifecycle::kStopped) {
    ::kill(r.pid, SIGKILL);
    // Not our child: it is dead once it is a zombie (its reaper, the engine, collects it).
    for (int waited = 0; KeeperAlive(r) && waited < kKeeperWaitMs; waited += 5)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  RemoveContainerDir(dir);
  return 0;
}

int State(const Globals& g, const std::string& id) {
  ContainerRecord r;
  std::string dir;
  Lifecycle status;
  if (!Load(g, id, r, dir, status)) return 1;
  std::printf("%s\n", StateJson(r, status).c_str());
  return 0;
}

int Ps(const Globals& g, const std::string& id, const std::string& format) {
  ContainerRecord r;
  std::string dir;
  Lifecycle status;
  if (!Load(g, id, r, dir, status)) return 1;
  std::vector<int> pids;
  if (status != Lifecycle::kStopped) {
    pids.push_back(r.pid);
    // The guest's shell, the keeper's traced child.
    std::ifstream children("/proc/" + std::to_string(r.pid) + "/task/" + std::to_string(r.pid) +
                           "/children");
    for (int p; children >> p;) pids.push_back(p);
  }
  if (format == "json") {
    std::printf("%s\n", nlohmann::json(pids).dump().c_str());
  } else {
    std::printf("PID\n");
    for (int p : pids) std::printf("%d\n", p);
  }
  return 0;
}

std::string FeaturesJson() {
  nlohmann::json j = {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", "1.0.2"},
      {"hooks", nlohmann::json::array()},
      {"mountOptions", {"bind", "rbind", "ro", "rw"}},
      {"linux",
       {{"namespaces", nlohmann::json::array()},
        {"capabilities", nlohmann::json::array()},
        {"cgroup", {{"v1", false}, {"v2", false}, {"systemd", false}}},
        {"seccomp", {{"enabled", false}}},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}}}},
      {"annotations",
       {{kFuncImageAnnotation, "guest path of a func-image in the rootfs to cold-boot"},
        {kSnapshotAnnotation, "'cache': capture at func-entry once, cold-boot from the cache"},
        {kRootfsDigestAnnotation, "the rootfs's digest for the snapshot cache key"},
        {kTimeoutAnnotation, "wall-clock limit of the run in seconds"}}}};
  return j.dump(2);
}

}  // namespace

int Main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a closed stdout is EPIPE for the guest, not catload's death
  Globals g;
  CLI::App app{
      "catload-oci: an OCI runtime (runc's command line) that runs containers in the catalyzer "
      "sandbox. A container whose rootfs holds a func-image is cold-booted from it; any other "
      "static program runs as `catload exec` runs it (spec/oci.md, \"Runtime\")."};
  app.footer(
      "Used by containerd (`ctr run --runc-binary catload-oci`, or a CRI runtime with "
      "runtime_type = \"io.containerd.runc.v2\" and options BinaryName = "
      "\"/usr/bin/catload-oci\") and podman (`podman --runtime /usr/bin/catload-oci`).\n"
      "Annotations: dev.catalyzer.func-image=PATH (a func-image in the rootfs), "
      "dev.catalyzer.snapshot=cache (capture at func-entry once, cold-boot from ROOT/snapshots "
      "after), dev.catalyzer.rootfs-digest=D (the cache key's rootfs digest), "
      "dev.catalyzer.timeout=SECONDS.");
  app.set_version_flag("-v,--version", std::string(kVersion));
  app.require_subcommand(1);
  g.root = DefaultRoot();
  app.add_option("--root", g.root,
                 "Directory of the containers' state and the snapshot cache. "
                 "Default: /run/catload-oci (root), else "
                 "$XDG_RUNTIME_DIR/catload-oci");
  app.add_option("--log", g.log_path, "Append log lines (errors, ignored features) to FILE");
  app.add_option("--log-format", g.log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  bool ignored_flag = false;
  std::string ignored_value;
  app.add_flag("--debug", ignored_flag, "Accepted for runc compatibility; no effect");
  app.add_flag("--systemd-cgroup", ignored_flag,
               "Accepted for runc compatibility; no effect (no cgroups are made)");
  app.add_option("--rootless", ignored_value, "Accepted for runc compatibility; no effect");
  app.add_option("--criu", ignored_value, "Accepted for runc compatibility; no effect");

  CreateArgs create;
  CLI::App* c = app.add_subcommand(
      "create",
      "Boot the container's instance and leave it paused just before its first instruction "
      "(a func-image at its func-entry point). The pid file names the process whose exit "
      "status will be the container's; it outlives create (the engine, a subreaper, reaps "
      "it). Its stdio is create's");
  c->add_option("-b,--bundle", create.bundle, "Bundle directory (config.json). Default: .");
  c->add_option("--pid-file", create.pid_file, "Write the container's pid to FILE");
  c->add_option("--console-socket", create.console_socket,
                "Refused: catload-oci containers have no terminal");
  int preserve_fds = 0;
  c->add_option("--preserve-fds", preserve_fds, "Accepted; fds beyond 2 are never passed");
  c->add_flag("--no-pivot", ignored_flag, "Accepted; no effect");
  c->add_flag("--no-new-keyring", ignored_flag, "Accepted; no effect");
  c->add_option("id", create.id, "Container id")->required();

  std::string id;
  CLI::App* s = app.add_subcommand("start", "Let the created instance run; returns at once");
  s->add_option("id", id, "Container id")->required();

  std::string signal_text = "SIGTERM";
  bool all = false;
  CLI::App* k = app.add_subcommand(
      "kill",
      "Send a signal (number or name, default SIGTERM) to the container. Its process takes the "
      "signal's default action: every terminating signal ends the container, exit status "
      "128+N");
  k->add_flag("-a,--all", all, "Accepted; the container has one process");
  k->add_option("id", id, "Container id")->required();
  k->add_option("signal", signal_text, "Signal");

  bool force = false;
  CLI::App* d = app.add_subcommand(
      "delete", "Remove a stopped or created container (a running one with --force: killed)");
  d->add_flag("-f,--force", force, "Kill the container if it runs");
  d->add_option("id", id, "Container id")->required();

  CLI::App* st = app.add_subcommand("state", "Print the container's OCI state JSON");
  st->add_option("id", id, "Container id")->required();

  std::string format = "table";
  CLI::App* p = app.add_subcommand("ps", "List the container's host processes");
  p->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
  p->add_option("id", id, "Container id")->required();

  CLI::App* e = app.add_subcommand(
      "exec", "Refused: a catload-oci container runs one process (its function)");
  e->allow_extras();

  app.add_subcommand("features", "Print what catload-oci supports (runtime-spec features JSON)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    const int code = app.exit(err);
    return code == 0 ? 0 : 1;
  }
  g.log = OciLog(g.log_path, g.log_format == "json");
  if (c->parsed()) return Create(g, create);
  if (s->parsed()) return Start(g, id);
  if (k->parsed()) return Kill(g, id, signal_text);
  if (d->parsed()) return Delete(g, id, force);
  if (st->parsed()) return State(g, id);
  if (p->parsed()) return Ps(g, id, format);
  if (e->parsed()) {
    g.log.ErrorToStderr(
        "exec is not supported: a catload-oci container runs exactly one process, its "
        "function; start another container instead");
    return 1;
  }
  std::printf("%s\n", FeaturesJson().c_str());
  return 0;
}

}  // namespace cat::oci

// Files written under a temporary name next to their target and renamed into place, so that a
// reader never sees half a file, and so that no temporary outlives its writer: it is unlinked
// when the write fails, when the process is ended by SIGTERM, SIGINT or SIGHUP (once
// InstallTempFileCleanup() ran), and, if the writer was killed outright (SIGKILL, a crash),
// by the next write to the same target.
//
// Naming and the stale rule (spec/func-image.md, "Writing"): the temporary of TARGET is
// `.BASE.tmp-XXXXXX` in TARGET's directory (BASE = TARGET's file name, XXXXXX six random
// characters of mkstemp's alphabet);
// a temporary of a temporary (a checkpoint written to a temporary name, as `catimg build --`
// does) adds `.tmp-XXXXXX` again behind a second leading dot. Its writer holds an exclusive
// flock on it for its whole life. A file is stale only if it has exactly that name, is a
// regular file owned by us, and its lock can be taken: the lock goes with the process that
// held it, whatever killed it, so a live writer's file (even on another host sharing the
// directory, where flock works) is never removed, and no file of another naming is touched.
#pragma once

#include <string>

#include "format/base/error.h"
#include "format/base/unique_fd.h"

namespace cat {

class TempFile {
 public:
  // Creates the temporary for final_path with the given mode, after removing stale ones.
  static Result<TempFile> Create(const std::string& final_path, mode_t mode);
  TempFile(TempFile&& o) noexcept;
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile();

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  // fsync, rename over final_path, fsync of the directory.
  Status Commit(const std::string& final_path);

 private:
  TempFile(std::string path, std::string dir, UniqueFd fd, int slot);

  std::string path_;  // empty once committed
  std::string dir_;
  UniqueFd fd_;
  int slot_;  // in the signal-cleanup registry, -1 if none
};

// Removes the stale temporaries of final_path (see above); returns how many.
int RemoveStaleTempFiles(const std::string& final_path);

// Unlinks registered temporaries on SIGTERM, SIGINT and SIGHUP, then dies of the signal as it
// would have. For the mains of programs that write files (catimg, catload).
void InstallTempFileCleanup();

// A path to unlink if a cleanup signal arrives while this lives (for a file some other code
// creates under a name we chose).
class CleanupOnSignal {
 public:
  explicit CleanupOnSignal(const std::string& path);
  ~CleanupOnSignal();
  CleanupOnSignal(const CleanupOnSignal&) = delete;
  CleanupOnSignal& operator=(const CleanupOnSignal&) = delete;

 private:
  int slot_;
};

}  // namespace cat

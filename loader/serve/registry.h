// The functions a server serves: one func-image per name, opened (header and manifest checked)
// when it is registered and held by shared_ptr, so that an invocation in flight keeps the image
// it started with after the file is replaced. The sources are FN.cfi files (name: the file's
// stem) and directories (every *.cfi in them). Rescan() picks up what changed on disk: a file
// replaced by an atomic rename gets its new image, a new *.cfi in a served directory is added,
// a removed one is dropped. Watch() rescans on inotify events of the sources' directories
// (spec/serve.md, "Images").
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "format/base/error.h"
#include "format/base/unique_fd.h"
#include "format/image/func_image.h"

namespace cat::serve {

struct ServedImage {
  std::string name;  // the URL's NAME
  std::string path;
  FuncImage image;
  dev_t dev = 0;
  ino_t ino = 0;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  uint64_t generation = 0;  // 1 for the first image under this name, +1 per replacement
};

class Registry {
 public:
  using Logger = std::function<void(const std::string&)>;

  // Every file source must open as a func-image; names must be unique. Errors are one line.
  static Result<std::unique_ptr<Registry>> Create(const std::vector<std::string>& sources,
                                                  Logger log);
  ~Registry();

  std::shared_ptr<const ServedImage> Lookup(const std::string& name) const;
  std::vector<std::shared_ptr<const ServedImage>> List() const;  // sorted by name

  // Re-reads the sources; logs each change (and each image it refused, keeping the old one).
  void Rescan();
  // Calls `listener` after every rescan (under the rescan lock, so it never runs twice at once
  // and is never called once OnChange(nullptr) has returned). Null: none.
  void OnChange(std::function<void()> listener);
  // Starts a thread that rescans when something in a source's directory is renamed, written,
  // created or removed. Stopped by the destructor.
  Status Watch();

 private:
  Registry(std::vector<std::string> files, std::vector<std::string> dirs, Logger log)
      : files_(std::move(files)), dirs_(std::move(dirs)), log_(std::move(log)) {}
  // The (path, name) pairs the sources name now.
  std::vector<std::pair<std::string, std::string>> Wanted() const;
  void WatchLoop();

  const std::vector<std::string> files_, dirs_;
  Logger log_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const ServedImage>> images_;
  std::mutex rescan_mu_;             // one rescan at a time (watcher and SIGHUP)
  std::function<void()> on_change_;  // under rescan_mu_
  UniqueFd inotify_, wake_;
  std::thread watcher_;
};

// The served name of an image file: its file name without the directory and the ".cfi".
std::string ServedName(const std::string& path);

}  // namespace cat::serve

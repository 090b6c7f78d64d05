// Helpers shared by the unit tests: temporary directories, small files, and static guest
// programs compiled on the fly (so that tests need no prebuilt fixture).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace cat::testing {

// A fresh directory under $TMPDIR, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cat-unit-XXXXXX").string();
    if (mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Compiles C source into dir/name with `cc FLAGS`; the path on success, nullopt otherwise.
inline std::optional<std::string> CompileC(const TempDir& dir, const std::string& name,
                                           const std::string& source, const std::string& flags) {
  const std::string src = dir / (name + ".c");
  const std::string out = dir / name;
  WriteFile(src, source);
  const std::string cmd = "cc " + flags + " -o '" + out + "' '" + src + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return std::nullopt;
  return out;
}

}  // namespace cat::testing

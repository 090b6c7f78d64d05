// A small JSON writer for `--json` outputs: builds one compact JSON text, handles commas and
// string escaping (control characters, quotes, backslashes, invalid UTF-8 as U+FFFD), so the
// subcommands only say what goes where.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cat::catimg {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);  // inside an object, before each value
  JsonWriter& String(std::string_view value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& StringArray(const std::vector<std::string>& values);

  const std::string& str() const { return out_; }

  // value as a JSON string literal, quotes included.
  static std::string Quote(std::string_view value);

 private:
  void BeforeValue();

  std::string out_;
  // Per open container: has it got an element yet (decides the comma).
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace cat::catimg

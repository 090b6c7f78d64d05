// catimg's error printer: errors are one line on stderr, prefixed so they can be told apart
// from a guest's or a script's output.
#include "catimg/cli_common.h"

#include <cstdio>

namespace cat::catimg {

void PrintError(const std::string& message) {
  std::string line = "catimg: " + message;
  // One line, whatever the message holds (paths may contain newlines).
  for (char& c : line)
    if (c == '\n') c = ' ';
  line += '\n';
  std::fputs(line.c_str(), stderr);
}

}  // namespace cat::catimg

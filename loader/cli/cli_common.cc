// Option parsing helpers and stderr logging for catload's subcommands.
#include "loader/cli/cli_common.h"

#include <cctype>
#include <cstdio>

namespace cat::cli {

std::optional<uint64_t> ParseSize(const std::string& text) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const uint64_t digit = static_cast<uint64_t>(text[i++] - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (i == 0) return std::nullopt;
  std::string unit = text.substr(i);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // Accepted units: none or B; K, M, G, T, each optionally followed by B or iB.
  static const char* const kUnits[] = {"K", "M", "G", "T"};
  int shift = -1;
  if (unit.empty() || unit == "B") shift = 0;
  for (int u = 0; u < 4 && shift < 0; ++u) {
    const std::string letter = kUnits[u];
    if (unit == letter || unit == letter + "B" || unit == letter + "IB") shift = 10 * (u + 1);
  }
  if (shift < 0) return std::nullopt;
  if (shift && value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

CLI::Validator SizeValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return ParseSize(text) ? "" : "expected bytes with an optional K/M/G suffix, e.g. 64M";
      },
      "SIZE");
}

SplitArgs SplitAtGuestCommand(int argc, char** argv, int first, const CLI::App& sub,
                              bool only_after_dashes) {
  SplitArgs out;
  for (int i = 0; i < first; ++i) out.options.emplace_back(argv[i]);
  int i = first;
  while (i < argc) {
    const std::string word = argv[i];
    if (word == "--") {
      ++i;
      break;
    }
    if (word.size() < 2 || word[0] != '-') {
      if (!only_after_dashes) break;
      out.options.push_back(word);
      ++i;
      continue;
    }
    out.options.push_back(word);
    ++i;
    if (word.find('=') != std::string::npos) continue;
    const CLI::Option* opt = sub.get_option_no_throw(word);
    if (opt && opt->get_items_expected_min() > 0 && i < argc) out.options.emplace_back(argv[i++]);
  }
  for (; i < argc; ++i) out.command.emplace_back(argv[i]);
  return out;
}

SplitArgs SplitCommandLine(int argc, char** argv, const CLI::App& app,
                           const std::vector<std::string>& with_command, bool only_after_dashes) {
  const std::string sub = argc > 1 ? argv[1] : "";
  for (const std::string& name : with_command)
    if (sub == name)
      return SplitAtGuestCommand(argc, argv, 2, *app.get_subcommand(name), only_after_dashes);
  SplitArgs split;
  for (int i = 0; i < argc; ++i) split.options.emplace_back(argv[i]);
  return split;
}

void ParseOptions(CLI::App& app, const SplitArgs& split) {
  std::vector<const char*> cargv;
  for (const std::string& s : split.options) cargv.push_back(s.c_str());
  app.parse(static_cast<int>(cargv.size()), cargv.data());
}

Logger StderrLogger(std::string invocation_id) {
  return Logger(std::move(invocation_id), [](std::string_view id, const std::string& line) {
    if (id.empty())
      std::fprintf(stderr, "catload: %s\n", line.c_str());
    else
      std::fprintf(stderr, "catload: [%.*s] %s\n", static_cast<int>(id.size()), id.data(),
                   line.c_str());
  });
}

void PrintError(const std::string& message) {
  std::fprintf(stderr, "catload: %s\n", message.c_str());
}

}  // namespace cat::cli

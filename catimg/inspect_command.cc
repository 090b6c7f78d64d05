// `catimg inspect`: opens the image (which validates header, manifest and bounds, but does not
// hash the bulk parts: that is `catimg verify`) and prints it.
#include "catimg/inspect_command.h"

#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <memory>

#include "catimg/cli_common.h"
#include "catimg/json_writer.h"
#include "catimg/state_summary.h"
#include "format/base/cpu_features.h"
#include "format/state/memory_map.h"

namespace cat::catimg {
namespace {

constexpr uint64_t kPage = 4096;

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
  return buf;
}

// printf into a std::string, for the aligned table rows.
template <class... Args>
std::string Format(const char* fmt, Args... args) {
  const int n = std::snprintf(nullptr, 0, fmt, args...);
  std::string s(static_cast<size_t>(n), '\0');
  std::snprintf(s.data(), s.size() + 1, fmt, args...);
  return s;
}

struct Totals {
  uint64_t stored_pages = 0, zero_pages = 0;
};
Totals CountPages(const FuncImage& image) {
  Totals t;
  for (const ImageSegment& s : image.segments())
    (s.stored ? t.stored_pages : t.zero_pages) += s.size / kPage;
  return t;
}

// Quoted and escaped when it holds anything unusual, so odd values stay visible; list items
// are also quoted when they hold a space, so that the items can be told apart.
std::string Shown(const std::string& s, bool quote_spaces = false) {
  for (unsigned char c : s)
    if (c < ' ' || c == '"' || c == '\\' || c >= 0x7F || (quote_spaces && c == ' '))
      return JsonWriter::Quote(s);
  return s.empty() ? "\"\"" : s;
}
std::string ShownList(const std::vector<std::string>& v) {
  if (v.empty()) return "(none)";
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : " ") + Shown(s, true);
  return out;
}

}  // namespace

std::string ProtString(uint32_t prot) {
  std::string s = "---";
  if (prot & PROT_READ) s[0] = 'r';
  if (prot & PROT_WRITE) s[1] = 'w';
  if (prot & PROT_EXEC) s[2] = 'x';
  return s;
}

std::string InspectText(const FuncImage& img) {
  std::string o;
  auto row = [&](const char* key, const std::string& value) {
    o += Format("  %-20s %s\n", key, value.c_str());
  };
  o += "func-image " + img.path() + "\n";
  row("format", Format("%u.%u", img.major(), img.minor()));
  row("file size", Format("%" PRIu64 " bytes", img.file_size()));
  row("layout fingerprint", Hex(img.layout_fingerprint()));

  const FunctionInfo& f = img.function();
  o += "\nfunction\n";
  row("name", Shown(f.name));
  row("exe", Shown(f.exe));
  row("argv", ShownList(f.argv));
  row("env", ShownList(f.env));
  row("entry", Shown(f.entry_kind));
  row("rootfs", Shown(f.rootfs));
  row("mounts", ShownList(f.mounts));

  o += "\nprovenance\n";
  row("checkpoint XXH3", Hex(img.provenance().checkpoint_hash));
  row("catimg version", Shown(img.provenance().catimg_version));

  const CpuFeatures& cpu = img.cpu();
  o += "\ncpu features (what the guest could observe at capture; boot refuses a CPU lacking one)\n";
  if (!cpu.recorded()) {
    o += "  (not recorded: an image of format 1.1 or older boots on any CPU)\n";
  } else {
    row("vendor", Shown(cpu.vendor));
    row("xsave", Format("xcr0 %s, area %u bytes", Hex(cpu.xcr0).c_str(), cpu.xsave_size));
    std::string names;
    for (const std::string& n : CpuFeatureNames(cpu)) names += (names.empty() ? "" : " ") + n;
    row("features", names.empty() ? "(none)" : names);
    std::string missing;
    for (const std::string& n : MissingCpuFeatures(cpu, HostCpuFeatures()))
      missing += (missing.empty() ? "" : ", ") + n;
    row("on this host", missing.empty() ? "all present" : "lacks " + missing);
  }

  o += "\nregisters at func-entry\n";
  row("rip", Hex(img.regs().rip));
  row("rsp", Hex(img.regs().rsp));
  row("fs_base", Hex(img.regs().fs_base));
  row("xstate", Format("%zu bytes", img.xstate().size()));

  o += Format("\nsegments (%zu)\n", img.segments().size());
  o += Format("  %4s  %-18s  %12s  %4s  %-5s  %-6s  %7s  %-12s  %s\n", "#", "address", "size",
              "prot", "kind", "data", "pages", "file offset", "XXH3");
  for (size_t i = 0; i < img.segments().size(); ++i) {
    const ImageSegment& s = img.segments()[i];
    o += Format("  %4zu  %-18s  %12" PRIu64 "  %4s  %-5s  %-6s  %7" PRIu64 "  %-12s  %s\n", i,
                Hex(s.guest_addr).c_str(), s.size, ProtString(s.prot).c_str(),
                state::VmaKindName(s.vma_kind).c_str(), s.stored ? "stored" : "zero",
                s.size / kPage, s.stored ? Hex(s.file_offset).c_str() : "-",
                s.stored ? Hex(s.checksum).c_str() : "-");
  }
  const Totals t = CountPages(img);
  o += Format("  total: %" PRIu64 " pages stored (%" PRIu64 " bytes), %" PRIu64
              " zero pages (%" PRIu64 " bytes, not stored)\n",
              t.stored_pages, t.stored_pages * kPage, t.zero_pages, t.zero_pages * kPage);

  uint64_t ws_pages = 0;
  for (const PageRun& r : img.working_set()) ws_pages += r.pages;
  o += Format(
      "  working set: %" PRIu64 " pages in %zu runs%s\n", ws_pages, img.working_set().size(),
      img.working_set().empty() ? " (built without --sample-request)" : " (pre-copied at boot)");

  o += "\narena\n";
  row("offset", Hex(img.arena_offset()));
  row("size", Format("%" PRIu64 " bytes", img.arena_size()));
  row("root", Format("%" PRIu64, img.arena_root()));
  row("relocations", Format("%" PRIu64, img.relocation_count()));

  o += "\nobjects by type\n";
  if (img.object_counts().empty()) o += "  (none recorded)\n";
  for (const auto& [type, count] : img.object_counts())
    o += Format("  %-20s %" PRIu64 "\n", Shown(type).c_str(), count);

  auto state = SummarizeState(img);
  if (!state) {
    o += "\nsandbox state: not decodable (" + state.error().message() + ")\n";
    return o;
  }
  o += "\nsandbox state\n";
  row("cwd", state->cwd);
  o += "\nopen fds\n";
  for (const auto& f : state->fds)
    o += Format("  %4d  %-8s %-3s %s\n", f.fd, f.kind.c_str(), f.access.c_str(), f.path.c_str());
  o += "\nmounts\n";
  for (const auto& m : state->mounts)
    o += Format("  %-20s %s\n", m.guest.c_str(),
                m.access == "none" ? "(empty root)" : m.access.c_str());
  o += Format("\noverlay files (%zu)\n", state->overlay.size());
  for (const auto& e : state->overlay)
    o += Format("  %-9s %10" PRIu64 "  %s\n", e.type.c_str(), e.size, e.path.c_str());
  return o;
}

std::string InspectJson(const FuncImage& img) {
  JsonWriter j;
  j.BeginObject();
  j.Key("path").String(img.path());
  j.Key("file_size").Uint(img.file_size());
  j.Key("format").BeginObject().Key("major").Uint(img.major()).Key("minor").Uint(img.minor());
  j.EndObject();
  j.Key("layout_fingerprint").String(Hex(img.layout_fingerprint()));

  const FunctionInfo& f = img.function();
  j.Key("function").BeginObject();
  j.Key("name").String(f.name).Key("exe").String(f.exe);
  j.Key("argv").StringArray(f.argv).Key("env").StringArray(f.env);
  j.Key("entry_kind").String(f.entry_kind).Key("rootfs").String(f.rootfs);
  j.Key("mounts").StringArray(f.mounts);
  j.EndObject();

  j.Key("provenance").BeginObject();
  j.Key("checkpoint_hash").String(Hex(img.provenance().checkpoint_hash));
  j.Key("catimg_version").String(img.provenance().catimg_version);
  j.EndObject();

  const CpuFeatures& cpu = img.cpu();
  j.Key("cpu").BeginObject();
  j.Key("recorded").Bool(cpu.recorded());
  if (cpu.recorded()) {
    j.Key("vendor").String(cpu.vendor);
    j.Key("leaf1_ecx").Uint(cpu.leaf1_ecx).Key("leaf1_edx").Uint(cpu.leaf1_edx);
    j.Key("leaf7_ebx").Uint(cpu.leaf7_ebx).Key("leaf7_ecx").Uint(cpu.leaf7_ecx);
    j.Key("leaf7_edx").Uint(cpu.leaf7_edx).Key("leaf7_1_eax").Uint(cpu.leaf7_1_eax);
    j.Key("leafd_1_eax").Uint(cpu.leafd_1_eax);
    j.Key("ext1_ecx").Uint(cpu.ext1_ecx).Key("ext1_edx").Uint(cpu.ext1_edx);
    j.Key("xcr0").Uint(cpu.xcr0).Key("xsave_size").Uint(cpu.xsave_size);
    j.Key("features").StringArray(CpuFeatureNames(cpu));
    j.Key("missing_on_this_host").StringArray(MissingCpuFeatures(cpu, HostCpuFeatures()));
  }
  j.EndObject();

  j.Key("registers").BeginObject();
  j.Key("rip").String(Hex(img.regs().rip)).Key("rsp").String(Hex(img.regs().rsp));
  j.Key("fs_base").String(Hex(img.regs().fs_base));
  j.Key("xstate_size").Uint(img.xstate().size());
  j.EndObject();

  j.Key("segments").BeginArray();
  for (const ImageSegment& s : img.segments()) {
    j.BeginObject();
    j.Key("guest_addr").Uint(s.guest_addr).Key("size").Uint(s.size);
    j.Key("prot").String(ProtString(s.prot)).Key("vma_kind").Uint(s.vma_kind);
    j.Key("vma_kind_name").String(state::VmaKindName(s.vma_kind));
    j.Key("stored").Bool(s.stored).Key("pages").Uint(s.size / kPage);
    if (s.stored) j.Key("file_offset").Uint(s.file_offset).Key("checksum").String(Hex(s.checksum));
    j.EndObject();
  }
  j.EndArray();
  const Totals t = CountPages(img);
  j.Key("totals").BeginObject();
  j.Key("segments").Uint(img.segments().size());
  j.Key("stored_pages").Uint(t.stored_pages).Key("stored_bytes").Uint(t.stored_pages * kPage);
  j.Key("zero_pages").Uint(t.zero_pages).Key("zero_bytes").Uint(t.zero_pages * kPage);
  j.EndObject();

  j.Key("working_set").BeginArray();
  for (const PageRun& r : img.working_set())
    j.BeginObject().Key("guest_addr").Uint(r.guest_addr).Key("pages").Uint(r.pages).EndObject();
  j.EndArray();

  j.Key("arena").BeginObject();
  j.Key("offset").Uint(img.arena_offset()).Key("size").Uint(img.arena_size());
  j.Key("root").Uint(img.arena_root()).Key("relocations").Uint(img.relocation_count());
  j.EndObject();

  j.Key("objects").BeginObject();
  for (const auto& [type, count] : img.object_counts()) j.Key(type).Uint(count);
  j.EndObject();

  auto state = SummarizeState(img);
  j.Key("state").BeginObject();
  if (!state) {
    j.Key("error").String(state.error().message());
  } else {
    j.Key("cwd").String(state->cwd);
    j.Key("fds").BeginArray();
    for (const auto& f : state->fds) {
      j.BeginObject().Key("fd").Uint(static_cast<uint64_t>(f.fd)).Key("kind").String(f.kind);
      j.Key("access").String(f.access).Key("path").String(f.path).EndObject();
    }
    j.EndArray();
    j.Key("mounts").BeginArray();
    for (const auto& m : state->mounts)
      j.BeginObject().Key("guest").String(m.guest).Key("access").String(m.access).EndObject();
    j.EndArray();
    j.Key("overlay").BeginArray();
    for (const auto& e : state->overlay)
      j.BeginObject()
          .Key("path")
          .String(e.path)
          .Key("type")
          .String(e.type)
          .Key("size")
          .Uint(e.size)
          .EndObject();
    j.EndArray();
  }
  j.EndObject();
  j.EndObject();
  return j.str() + "\n";
}

std::function<int()> AddInspectCommand(CLI::App& app) {
  struct Args {
    std::string path;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "inspect",
      "Show what a func-image holds: header and version, function metadata, provenance, "
      "layout fingerprint, the CPU features recorded at capture (and which this host lacks: "
      "boot refuses such an image), memory segments (address, size, protection, stored vs zero "
      "pages), the state arena (size, relocations, objects by type). Checks header, manifest and "
      "bounds and verifies the state arena (refusing, with one line, an arena that fails its "
      "checksum or the structural verifier), but does not hash segments (use verify).");
  sub->add_option("image", args->path, "the func-image (.cfi)")->required();
  sub->add_flag("--json", args->json, "print one JSON object instead of tables (for scripts)");
  sub->footer(
      "Examples:\n"
      "  catimg inspect fn.cfi\n"
      "  catimg inspect fn.cfi --json | jq '.totals'");
  return [args]() {
    auto image = FuncImage::Open(args->path);
    if (!image) {
      PrintError(image.error().message());
      return kExitBadImage;
    }
    // An arena whose bytes are bad (checksum, or the structural verifier) is refused with one
    // line rather than shown in part; one built for another state layout is shown without its
    // state (that is a version question, not damage).
    if (auto state = SummarizeState(*image); !state && state.error().code() == EBADMSG) {
      PrintError("func-image " + args->path + ": " + state.error().message());
      return kExitBadImage;
    }
    const std::string out = args->json ? InspectJson(*image) : InspectText(*image);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? kExitOk : kExitBadImage;
  };
}

}  // namespace cat::catimg

// Media types by compression and the `oci:DIR[:TAG]` reference parser (oci_spec.h).
#include "catimg/oci/oci_spec.h"

#include <cctype>

namespace cat::oci {

std::string_view LayerMediaType(Compression c) {
  return c == Compression::kZstd ? kMediaLayerZstd : kMediaLayerGzip;
}

Result<ImageRef> ParseImageRef(std::string_view ref) {
  constexpr std::string_view kPrefix = "oci:";
  if (!ref.starts_with(kPrefix))
    return Fail(EINVAL, "image reference '" + std::string(ref) +
                            "' is not oci:DIR[:TAG] (the only transport catimg writes)");
  ref.remove_prefix(kPrefix.size());
  ImageRef out;
  // The tag is after the last ':' unless that ':' is part of a path component with a '/' after.
  const size_t colon = ref.rfind(':');
  if (colon != std::string_view::npos && ref.find('/', colon) == std::string_view::npos) {
    out.tag = std::string(ref.substr(colon + 1));
    ref = ref.substr(0, colon);
    if (out.tag.empty() || out.tag.size() > 128)
      return Fail(EINVAL, "image tag '" + out.tag + "' is empty or longer than 128 characters");
    for (char c : out.tag)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
        return Fail(EINVAL, "image tag '" + out.tag + "' holds '" + std::string(1, c) +
                                "' (allowed: letters, digits, '.', '_', '-')");
  }
  if (ref.empty()) return Fail(EINVAL, "image reference names no directory (oci:DIR[:TAG])");
  out.dir = std::string(ref);
  return out;
}

}  // namespace cat::oci

// The OCI image-layout vocabulary `catimg pack` writes and `catimg unpack` reads: media types,
// the annotation keys of our own (dev.catalyzer.*), the fixed path of the func-image inside
// an image, and the image reference syntax `oci:DIR[:TAG]`. Everything here is documented in
// spec/oci.md; a change here is a change there.
#pragma once

#include <string>
#include <string_view>

#include "format/base/error.h"

namespace cat::oci {

inline constexpr std::string_view kLayoutVersion = "1.0.0";  // the oci-layout file
inline constexpr std::string_view kMediaIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kMediaManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kMediaConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kMediaLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kMediaLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kMediaLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";

// The tag of a manifest in index.json (OCI image-layout spec; skopeo's `oci:DIR:TAG`).
inline constexpr std::string_view kRefName = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kTitle = "org.opencontainers.image.title";

// Where the func-image lies in the container's root file system (its own layer, the last).
inline constexpr std::string_view kFuncImagePath = "/.catalyzer/function.cfi";

// Annotation keys (manifest annotations and config labels carry the same set).
inline constexpr std::string_view kAnnFuncImage = "dev.catalyzer.func-image";  // kFuncImagePath
inline constexpr std::string_view kAnnName = "dev.catalyzer.function.name";
inline constexpr std::string_view kAnnEntry = "dev.catalyzer.function.entry";  // explicit | auto
inline constexpr std::string_view kAnnArgv = "dev.catalyzer.function.argv";    // JSON array
inline constexpr std::string_view kAnnEnv = "dev.catalyzer.function.env";      // JSON array
// "rootfs" (captured with one: the rootfs layer is /) or "empty" (an empty root).
inline constexpr std::string_view kAnnRoot = "dev.catalyzer.function.root";
// JSON array of "GUEST:ro|rw", the function's mounts in the order it was captured with.
inline constexpr std::string_view kAnnMounts = "dev.catalyzer.function.mounts";
inline constexpr std::string_view kAnnFormat = "dev.catalyzer.image.format";  // "1.1"
inline constexpr std::string_view kAnnFingerprint = "dev.catalyzer.image.layout-fingerprint";
// The CPU features the image needs, space-separated names, and the capture CPU's vendor
// (absent when the image records none).
inline constexpr std::string_view kAnnCpuFeatures = "dev.catalyzer.image.cpu-features";
inline constexpr std::string_view kAnnCpuVendor = "dev.catalyzer.image.cpu-vendor";
inline constexpr std::string_view kAnnCheckpoint = "dev.catalyzer.provenance.checkpoint-xxh3";
inline constexpr std::string_view kAnnCatimg = "dev.catalyzer.provenance.catimg-version";
inline constexpr std::string_view kAnnPackedBy = "dev.catalyzer.provenance.packed-by";
// Layer descriptor annotations: what the layer holds.
inline constexpr std::string_view kAnnLayerKind =
    "dev.catalyzer.layer.kind";  // rootfs|mount|func-image
inline constexpr std::string_view kAnnLayerGuest = "dev.catalyzer.layer.guest-path";
inline constexpr std::string_view kAnnLayerMode = "dev.catalyzer.layer.mode";  // ro | rw

enum class Compression { kZstd, kGzip };

std::string_view LayerMediaType(Compression c);

// `oci:DIR[:TAG]`. DIR may not be empty; TAG defaults to "latest" when writing and to "the
// only manifest" when reading (empty here). A tag is what the OCI spec allows for
// ref.name: [A-Za-z0-9._-] and no longer than 128 characters.
struct ImageRef {
  std::string dir;
  std::string tag;
};
Result<ImageRef> ParseImageRef(std::string_view ref);

}  // namespace cat::oci

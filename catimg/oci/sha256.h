// Streaming SHA-256 (OpenSSL libcrypto's EVP interface), the digest algorithm of OCI
// descriptors: "sha256:" followed by 64 lowercase hex digits.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace cat::oci {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(std::span<const uint8_t> bytes) { Update(bytes.data(), bytes.size()); }
  // "sha256:<hex>"; the hash cannot be updated afterwards.
  std::string Digest();

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

std::string Sha256Digest(std::string_view bytes);

// True for "sha256:" + 64 lowercase hex digits: the only digests a layout may name (anything
// else would be a path component under blobs/ chosen by the input).
bool IsSha256Digest(std::string_view digest);

}  // namespace cat::oci

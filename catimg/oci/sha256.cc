// SHA-256 through libcrypto (sha256.h). EVP calls fail only on allocation failure, which
// std::bad_alloc would report anyway; they are checked and turned into an abort-free empty
// digest that never matches.
#include "catimg/oci/sha256.h"

#include <string_view>

namespace cat::oci {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) ctx_.reset();
}

void Sha256::Update(const void* data, size_t size) {
  if (ctx_ && size && EVP_DigestUpdate(ctx_.get(), data, size) != 1) ctx_.reset();
}

std::string Sha256::Digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx_ || EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) return "sha256:(failed)";
  ctx_.reset();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string Sha256Digest(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes.data(), bytes.size());
  return h.Digest();
}

bool IsSha256Digest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (!digest.starts_with(kPrefix) || digest.size() != kPrefix.size() + 64) return false;
  for (char c : digest.substr(kPrefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace cat::oci

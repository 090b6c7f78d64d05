// zstd and gzip stream wrappers (compression.h).
#include "catimg/oci/compression.h"

#include <zlib.h>
#include <zstd.h>

#include <vector>

namespace cat::oci {
namespace {

// zstd's default level: a layer is compressed once and unpacked many times, and level 3
// already gives most of the ratio at a speed that keeps pack of a 100 MiB image in seconds.
constexpr int kZstdLevel = 3;
constexpr size_t kChunk = 1 << 17;

class ZstdCompressor final : public Compressor {
 public:
  explicit ZstdCompressor(ByteSink out) : out_(std::move(out)), ctx_(ZSTD_createCCtx()) {}
  ~ZstdCompressor() override { ZSTD_freeCCtx(ctx_); }
  Status Init() {
    if (!ctx_) return Fail(ENOMEM, "zstd: cannot create a compression context");
    // The checksum lets any zstd reader catch a damaged frame; single-threaded for identical
    // output on every machine.
    ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, kZstdLevel);
    ZSTD_CCtx_setParameter(ctx_, ZSTD_c_checksumFlag, 1);
    return {};
  }
  Status Write(const uint8_t* data, size_t size) override {
    ZSTD_inBuffer in{data, size, 0};
    while (in.pos < in.size) TRY_STATUS(Step(&in, ZSTD_e_continue));
    return {};
  }
  Status Finish() override {
    ZSTD_inBuffer in{nullptr, 0, 0};
    return Step(&in, ZSTD_e_end);
  }

 private:
  Status Step(ZSTD_inBuffer* in, ZSTD_EndDirective mode) {
    for (;;) {
      ZSTD_outBuffer o{buf_.data(), buf_.size(), 0};
      const size_t left = ZSTD_compressStream2(ctx_, &o, in, mode);
      if (ZSTD_isError(left)) return Fail(EIO, std::string("zstd: ") + ZSTD_getErrorName(left));
      if (o.pos) TRY_STATUS(out_(buf_.data(), o.pos));
      if (mode == ZSTD_e_end ? left == 0 : in->pos == in->size) return {};
    }
  }
  ByteSink out_;
  ZSTD_CCtx* ctx_;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(ZSTD_CStreamOutSize());
};

class GzipCompressor final : public Compressor {
 public:
  explicit GzipCompressor(ByteSink out) : out_(std::move(out)) {}
  ~GzipCompressor() override {
    if (ready_) deflateEnd(&z_);
  }
  Status Init() {
    // windowBits 15 + 16: gzip framing; zlib writes mtime 0, no name, OS "unix".
    if (deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
      return Fail(ENOMEM, "zlib: deflateInit2 failed");
    ready_ = true;
    return {};
  }
  Status Write(const uint8_t* data, size_t size) override {
    z_.next_in = const_cast<Bytef*>(data);
    z_.avail_in = static_cast<uInt>(size);  // callers write at most kChunk-sized pieces
    return Step(Z_NO_FLUSH);
  }
  Status Finish() override {
    z_.next_in = nullptr;
    z_.avail_in = 0;
    return Step(Z_FINISH);
  }

 private:
  Status Step(int flush) {
    for (;;) {
      z_.next_out = buf_.data();
      z_.avail_out = static_cast<uInt>(buf_.size());
      const int rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) return Fail(EIO, "zlib: deflate failed");
      const size_t n = buf_.size() - z_.avail_out;
      if (n) TRY_STATUS(out_(buf_.data(), n));
      if (flush == Z_FINISH ? rc == Z_STREAM_END : z_.avail_in == 0 && z_.avail_out != 0) return {};
    }
  }
  ByteSink out_;
  z_stream z_{};
  bool ready_ = false;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(kChunk);
};

class PlainReader final : public Decompressor {
 public:
  explicit PlainReader(ByteSource in) : in_(std::move(in)) {}
  Result<size_t> Read(uint8_t* buf, size_t size) override { return in_(buf, size); }

 private:
  ByteSource in_;
};

class ZstdReader final : public Decompressor {
 public:
  explicit ZstdReader(ByteSource in) : in_(std::move(in)), ctx_(ZSTD_createDCtx()) {}
  ~ZstdReader() override { ZSTD_freeDCtx(ctx_); }
  Status Init() {
    if (!ctx_) return Fail(ENOMEM, "zstd: cannot create a decompression context");
    // A frame asking for a window above 128 MiB is refused (a hostile layer's memory bomb).
    ZSTD_DCtx_setParameter(ctx_, ZSTD_d_windowLogMax, 27);
    return {};
  }
  Result<size_t> Read(uint8_t* buf, size_t size) override {
    ZSTD_outBuffer o{buf, size, 0};
    while (o.pos == 0) {
      if (in_buf_.pos == in_buf_.size && !eof_) {
        TRY(size_t n, in_(raw_.data(), raw_.size()));
        in_buf_ = {raw_.data(), n, 0};
        eof_ = n == 0;
      }
      if (eof_ && in_buf_.pos == in_buf_.size) {
        if (!frame_done_) return Fail(EBADMSG, "zstd: the layer ends inside a frame (truncated)");
        return size_t{0};
      }
      const size_t rc = ZSTD_decompressStream(ctx_, &o, &in_buf_);
      if (ZSTD_isError(rc)) return Fail(EBADMSG, std::string("zstd: ") + ZSTD_getErrorName(rc));
      frame_done_ = rc == 0;
    }
    return o.pos;
  }

 private:
  ByteSource in_;
  ZSTD_DCtx* ctx_;
  std::vector<uint8_t> raw_ = std::vector<uint8_t>(ZSTD_DStreamInSize());
  ZSTD_inBuffer in_buf_{nullptr, 0, 0};
  bool eof_ = false;
  bool frame_done_ = true;
};

class GzipReader final : public Decompressor {
 public:
  explicit GzipReader(ByteSource in) : in_(std::move(in)) {}
  ~GzipReader() override {
    if (ready_) inflateEnd(&z_);
  }
  Status Init() {
    if (inflateInit2(&z_, 15 + 16) != Z_OK) return Fail(ENOMEM, "zlib: inflateInit2 failed");
    ready_ = true;
    return {};
  }
  Result<size_t> Read(uint8_t* buf, size_t size) override {
    z_.next_out = buf;
    z_.avail_out = static_cast<uInt>(std::min(size, kChunk));
    const size_t want = z_.avail_out;
    while (z_.avail_out == want) {
      if (ended_) {
        // Another gzip member may follow (concatenated gzip is valid gzip).
        if (z_.avail_in == 0) {
          TRY(size_t n, in_(raw_.data(), raw_.size()));
          if (n == 0) return size_t{0};
          z_.next_in = raw_.data();
          z_.avail_in = static_cast<uInt>(n);
        }
        inflateReset(&z_);
        ended_ = false;
      }
      if (z_.avail_in == 0) {
        TRY(size_t n, in_(raw_.data(), raw_.size()));
        if (n == 0) return Fail(EBADMSG, "gzip: the layer ends inside the stream (truncated)");
        z_.next_in = raw_.data();
        z_.avail_in = static_cast<uInt>(n);
      }
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        ended_ = true;
        if (z_.avail_out != want) break;
        continue;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR)
        return Fail(EBADMSG, std::string("gzip: ") + (z_.msg ? z_.msg : "inflate failed"));
    }
    return want - z_.avail_out;
  }

 private:
  ByteSource in_;
  z_stream z_{};
  bool ready_ = false;
  bool ended_ = false;
  std::vector<uint8_t> raw_ = std::vector<uint8_t>(kChunk);
};

}  // namespace

Result<std::unique_ptr<Compressor>> Compressor::Create(Compression c, ByteSink out) {
  if (c == Compression::kZstd) {
    auto z = std::make_unique<ZstdCompressor>(std::move(out));
    TRY_STATUS(z->Init());
    return std::unique_ptr<Compressor>(std::move(z));
  }
  auto g = std::make_unique<GzipCompressor>(std::move(out));
  TRY_STATUS(g->Init());
  return std::unique_ptr<Compressor>(std::move(g));
}

Result<std::unique_ptr<Decompressor>> Decompressor::Create(std::string_view media_type,
                                                           ByteSource in) {
  if (media_type == kMediaLayerZstd) {
    auto z = std::make_unique<ZstdReader>(std::move(in));
    TRY_STATUS(z->Init());
    return std::unique_ptr<Decompressor>(std::move(z));
  }
  if (media_type == kMediaLayerGzip) {
    auto g = std::make_unique<GzipReader>(std::move(in));
    TRY_STATUS(g->Init());
    return std::unique_ptr<Decompressor>(std::move(g));
  }
  if (media_type == kMediaLayerTar)
    return std::unique_ptr<Decompressor>(std::make_unique<PlainReader>(std::move(in)));
  return Fail(ENOTSUP, "layer media type '" + std::string(media_type) +
                           "' is not one catimg unpacks (tar, tar+gzip, tar+zstd)");
}

}  // namespace cat::oci

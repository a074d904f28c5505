// Image I/O through stb, atomic writes, bilinear resizing, model-range conversion.
//
// Loading is a fixed sequence (image.h): open a regular file without blocking, read it
// whole (bounded), identify the format the way stb would, run the format checks stb
// lacks, read the header, refuse a zero size or one above the pixel limit, then decode
// under a budget sized from the header and convert to planes: colour (gray, CMYK and
// YCCK to RGB) and EXIF orientation in the same pass, from stb's interleaved samples
// straight to the upright planes, without a second copy. All stb access goes through
// stb_glue.h.
#include "image/image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/check.h"
#include "core/temp_files.h"
#include "image/exif.h"
#include "image/format_checks.h"
#include "image/pixels.h"
#include "image/stb_glue.h"

namespace gpen {

namespace {

using stb_glue::Format;

constexpr const char* kFormatsHint = "supported formats: PNG (8/16-bit), JPEG, BMP, TGA";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return Lower(path.substr(dot + 1));
}

int64_t MulSat(int64_t a, int64_t b) {
  if (a <= 0 || b <= 0) return 0;
  return a > INT64_MAX / b ? INT64_MAX : a * b;
}
int64_t AddSat(int64_t a, int64_t b) {
  return a > INT64_MAX - b ? INT64_MAX : a + b;
}

std::string Megapixels(int64_t pixels) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", static_cast<double>(pixels) / 1e6);
  return b;
}
std::string Mib(int64_t bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f MiB", std::ceil(static_cast<double>(bytes) / (1 << 20)));
  return b;
}

// The largest file an image within the pixel limit can need: a 16-bit RGBA PNG stored
// without compression takes 8 bytes per pixel plus a filter byte per row; 16 MiB more
// for metadata. stb addresses at most INT_MAX bytes.
int64_t MaxFileBytes(int64_t max_pixels) {
  return std::min<int64_t>(AddSat(MulSat(max_pixels, 9), int64_t{16} << 20), INT_MAX);
}

// The kind of a non-regular file, for messages.
const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

Status NotRegular(const std::string& path, mode_t mode) {
  return IoError(path + ": is " + std::string(FileKind(mode)) +
                     ", not a regular file; images are read from regular files only",
                 "give the path of a PNG, JPEG, BMP or TGA file");
}

// Reads a regular file whole. open() with O_NONBLOCK cannot hang on a FIFO swapped in
// after the stat(), and fstat() on the open file decides.
Result<std::vector<uint8_t>> ReadRegularFile(const std::string& path, int64_t max_bytes,
                                             int64_t max_pixels) {
  GPEN_TRY(CheckRegularFile(path));
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return IoError(path + ": cannot open: " + std::strerror(errno));
  std::unique_ptr<int, void (*)(int*)> guard(new int(fd), [](int* f) {
    ::close(*f);
    delete f;
  });
  struct stat st {};
  if (::fstat(fd, &st) != 0) return IoError(path + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return NotRegular(path, st.st_mode);
  const int64_t size = static_cast<int64_t>(st.st_size);
  if (size > max_bytes) {
    return FormatError(path + ": file is " + std::to_string(size) +
                           " bytes, more than an image within the " + Megapixels(max_pixels) +
                           " megapixel limit can take (" + std::to_string(max_bytes) + ")",
                       "if the image is genuine, raise the limit with --max-pixels");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(path + ": read failed: " + std::strerror(errno));
    }
    if (n == 0) break;  // the file shrank meanwhile: decode what is there
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

// Names a few formats stb could read but this build does not compile, for the message.
std::string OtherFormat(const uint8_t* d, size_t n) {
  auto starts = [&](const char* sig) {
    const size_t len = std::strlen(sig);
    return n >= len && std::memcmp(d, sig, len) == 0;
  };
  if (starts("GIF8")) return "GIF";
  if (starts("#?RADIANCE") || starts("#?RGBE")) return "Radiance HDR";
  if (starts("8BPS")) return "Photoshop PSD";
  if (n >= 12 && starts("RIFF") && std::memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
  if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7') return "PNM/PPM";
  return "";
}

// Everything known before decoding.
struct Probe {
  Format format = Format::kUnknown;
  ImageInfo info;
  int64_t budget = 0;  // bytes stb may hold at once while decoding
};

// The decoder's budget: the most a valid file of this header can make stb allocate at
// once, with room to spare (see the stb loaders: PNG holds the compressed data, the
// inflated rows (doubled when an interlaced stream overruns stb's first guess), the
// image and one pass or palette expansion; JPEG up to 4 components, each with a sample
// plane and a coefficient plane padded to whole MCUs, and the output; BMP and TGA only
// the output and a palette).
int64_t DecoderBudget(Format f, int64_t w, int64_t h, bool is16, int64_t file_bytes) {
  const int64_t px = MulSat(w, h);
  const int64_t out4 = MulSat(px, is16 ? 8 : 4);  // at most 4 channels
  const int64_t slack = int64_t{1} << 20;
  switch (f) {
    case Format::kPng:
      return AddSat(AddSat(MulSat(file_bytes, 3), MulSat(out4, 4)), AddSat(2 * h, slack));
    case Format::kJpeg:
      return AddSat(AddSat(MulSat(12, MulSat(w + 32, h + 32)), MulSat(px, 4)),
                    AddSat(4 * (w + 3), slack));
    case Format::kBmp:
      return AddSat(out4, slack);
    case Format::kTga:
      return AddSat(out4, AddSat(65536 * 4, slack));
    case Format::kUnknown:
      break;
  }
  return slack;
}

// The most memory decoding an image of this header holds: the file, and the larger of
// the decoder's budget and stb's output with the planes (they coexist while converting).
struct Footprint {
  int64_t budget = 0, decoded = 0, peak = 0;
};
Footprint Measure(Format f, int64_t w, int64_t h, int channels, bool is16, int64_t file_bytes) {
  const int64_t pixels = MulSat(w, h);
  Footprint m;
  // A PNG's tRNS chunk adds alpha that the header read does not report.
  const bool alpha = channels == 2 || channels == 4 || f == Format::kPng;
  m.decoded = MulSat(pixels, alpha ? 16 : 12);
  m.budget = DecoderBudget(f, w, h, is16, file_bytes);
  const int64_t stb_output = MulSat(pixels, is16 ? 8 : 4);
  m.peak = AddSat(file_bytes, std::max(m.budget, AddSat(stb_output, m.decoded)));
  return m;
}

// The pixel limit, for an image of w x h (upright) that takes `peak` bytes to decode.
Status CheckPixelLimit(const std::string& name, int64_t w, int64_t h, int64_t peak,
                       const ImageLoadOptions& opt) {
  const int64_t pixels = MulSat(w, h);
  if (pixels <= opt.max_pixels) return Status::Ok();
  return Status(ErrorCode::kOutOfMemory,
                name + ": image is " + std::to_string(w) + "x" + std::to_string(h) + " (" +
                    Megapixels(pixels) + " megapixels), more than the limit of " +
                    Megapixels(opt.max_pixels) + " megapixels",
                "a small file declaring a huge image is a decompression bomb; if the image "
                "is genuine, raise the limit with --max-pixels " +
                    std::to_string(pixels) + " (decoding it takes up to " + Mib(peak) + ")");
}

uint32_t Be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

Result<Probe> ProbeBytes(const uint8_t* data, size_t size, const std::string& name,
                         const ImageLoadOptions& opt) {
  if (opt.max_pixels <= 0) {
    return InvalidArgument("image pixel limit " + std::to_string(opt.max_pixels) +
                           " must be positive");
  }
  if (size == 0) return FormatError(name + ": not a readable image (the file is empty)");
  if (size > static_cast<size_t>(INT_MAX)) {
    return FormatError(name + ": file is " + std::to_string(size) +
                       " bytes, more than the 2 GiB the image decoder can address");
  }
  Probe p;
  p.format = stb_glue::Detect(data, size);
  if (p.format == Format::kUnknown) {
    const std::string other = OtherFormat(data, size);
    return FormatError(name + ": not a readable image (" +
                           (other.empty() ? std::string("not PNG, JPEG, BMP or TGA")
                                          : "a " + other + " file, which is not supported") +
                           ")",
                       kFormatsHint);
  }
  const std::string fmt = stb_glue::FormatName(p.format);
  image_checks::BmpLayout bmp;
  image_checks::TgaLayout tga;
  switch (p.format) {
    case Format::kJpeg:
      GPEN_TRY(image_checks::CheckJpegHuffmanTables(data, size, name));
      break;
    case Format::kBmp:
      GPEN_TRY(image_checks::ReadBmpLayout(data, size, name, &bmp));
      break;
    case Format::kTga:
      GPEN_TRY(image_checks::ReadTgaLayout(data, size, name, &tga));
      break;
    case Format::kPng:
      // IHDR first: stb would only say "Corrupt PNG" for a zero size.
      if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0 &&
          (std::memcmp(data + 16, "\0\0\0\0", 4) == 0 ||
           std::memcmp(data + 20, "\0\0\0\0", 4) == 0)) {
        return FormatError(name + ": PNG header gives a zero width or height",
                           "the file is damaged; export it again");
      }
      break;
    case Format::kUnknown:
      break;
  }
  ImageInfo& info = p.info;
  if (p.format == Format::kJpeg) info.orientation = exif::JpegOrientation(data, size);
  const bool swap = exif::SwapsAxes(info.orientation);
  // The pixel limit from the size the header declares, read here: stb's header read
  // refuses some large sizes itself ("Image too large to decode", a PNG of more than
  // 2^30 bytes of samples), which would hide the limit and how to raise it. The memory
  // estimate assumes 4 channels; the check after stb's read below has the real count.
  {
    int64_t dw = 0, dh = 0;
    bool d16 = false;
    if (p.format == Format::kPng && size >= 25 && std::memcmp(data + 12, "IHDR", 4) == 0) {
      dw = Be32(data + 16);
      dh = Be32(data + 20);
      d16 = data[24] == 16;
    } else if (p.format == Format::kJpeg) {
      image_checks::JpegFrameSize(data, size, &dw, &dh);
    } else if (p.format == Format::kBmp) {
      dw = bmp.width;
      dh = bmp.height;
    } else if (p.format == Format::kTga) {
      dw = tga.width;
      dh = tga.height;
    }
    const Footprint m = Measure(p.format, dw, dh, 4, d16, static_cast<int64_t>(size));
    GPEN_TRY(CheckPixelLimit(name, swap ? dh : dw, swap ? dw : dh, m.peak, opt));
  }
  stb_glue::Header header;
  std::string reason;
  if (!stb_glue::Info(p.format, data, size, &header, &reason)) {
    return FormatError(name + ": not a readable image (" + fmt + " header: " + reason + ")",
                       reason.find("too large") != std::string::npos
                           ? std::string("the decoder (stb_image) takes at most 2^30 bytes of "
                                         "samples in a PNG and 2^31 in a JPEG")
                           : std::string(kFormatsHint));
  }
  int64_t w = header.width, h = header.height;
  if (p.format == Format::kBmp) {
    w = bmp.width;  // stb's BMP header read keeps a top-down file's negative height
    h = bmp.height;
  } else if (p.format == Format::kTga && (w != tga.width || h != tga.height)) {
    return FormatError(name + ": TGA header could not be read consistently");
  }
  if (w <= 0 || h <= 0) {
    return FormatError(name + ": " + fmt + " header gives a zero width or height (" +
                           std::to_string(w) + "x" + std::to_string(h) + ")",
                       "the file is damaged; export it again");
  }
  info.format = fmt;
  info.width = swap ? h : w;  // upright
  info.height = swap ? w : h;
  info.channels = header.channels;
  info.is16 = header.is16;
  info.file_bytes = static_cast<int64_t>(size);
  const Footprint m =
      Measure(p.format, w, h, header.channels, header.is16, static_cast<int64_t>(size));
  info.decoded_bytes = m.decoded;
  info.peak_bytes = m.peak;
  p.budget = m.budget;
  GPEN_TRY(CheckPixelLimit(name, info.width, info.height, info.peak_bytes, opt));
  if (p.format == Format::kBmp) GPEN_TRY(image_checks::CheckBmpData(data, size, name, bmp));
  if (p.format == Format::kTga) GPEN_TRY(image_checks::CheckTgaData(data, size, name, tga));
  return p;
}

}  // namespace

bool HasImageExtension(const std::string& path) {
  const std::string e = Extension(path);
  return e == "png" || e == "jpg" || e == "jpeg" || e == "bmp" || e == "tga";
}

Status CheckRegularFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return IoError(path + ": cannot open: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return NotRegular(path, st.st_mode);
  return Status::Ok();
}

// The file's bytes, read no further than the pixel limit can justify.
static Result<std::vector<uint8_t>> ReadWithinLimit(const std::string& path,
                                                    const ImageLoadOptions& options) {
  if (options.max_pixels <= 0) {
    return InvalidArgument("image pixel limit " + std::to_string(options.max_pixels) +
                           " must be positive");
  }
  return ReadRegularFile(path, MaxFileBytes(options.max_pixels), options.max_pixels);
}

Result<ImageInfo> ProbeImage(const std::string& path, const ImageLoadOptions& options) {
  GPEN_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadWithinLimit(path, options));
  GPEN_ASSIGN_OR_RETURN(Probe p, ProbeBytes(bytes.data(), bytes.size(), path, options));
  return p.info;
}

Result<Image> LoadImage(const std::string& path, const ImageLoadOptions& options) {
  GPEN_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadWithinLimit(path, options));
  return DecodeImage(bytes.data(), bytes.size(), path, options);
}

Result<Image> DecodeImage(const uint8_t* data, size_t size, const std::string& name,
                          const ImageLoadOptions& options) {
  GPEN_ASSIGN_OR_RETURN(Probe p, ProbeBytes(data, size, name, options));
  const ImageInfo& info = p.info;
  stb_glue::Pixels px;
  std::string reason;
  if (!stb_glue::Decode(p.format, data, size, p.budget, &px, &reason)) {
    if (px.over_budget) {
      return FormatError(name + ": decoding the " + info.format + " needs more than the " +
                             Mib(p.budget) + " a " + std::to_string(info.width) + "x" +
                             std::to_string(info.height) +
                             " image can; the file is corrupt or a decompression bomb",
                         "the compressed data expands far beyond what its header declares");
    }
    return FormatError(name + ": cannot decode the " + info.format + " (" + reason + ")",
                       "the file is damaged or uses a variant the decoder does not support");
  }
  std::unique_ptr<void, void (*)(void*)> owned(px.data, &stb_glue::Free);
  const bool swap = exif::SwapsAxes(info.orientation);
  const int64_t stored_w = swap ? info.height : info.width;
  const int64_t stored_h = swap ? info.width : info.height;
  const bool cmyk = px.color != stb_glue::Color::kDirect;
  if (px.width != stored_w || px.height != stored_h || px.channels < 1 || px.channels > 4 ||
      (px.bits != 8 && px.bits != 16) || (cmyk && (px.channels != 4 || px.bits != 8))) {
    return FormatError(name + ": the " + info.format + " decoder returned " +
                       std::to_string(px.width) + "x" + std::to_string(px.height) + " with " +
                       std::to_string(px.channels) + " channels of " + std::to_string(px.bits) +
                       " bits, but the header said " + std::to_string(stored_w) + "x" +
                       std::to_string(stored_h));
  }
  Image img;
  img.width = info.width;  // upright
  img.height = info.height;
  img.source_channels = cmyk ? 3 : px.channels;
  img.source_16bit = px.bits == 16;
  const int ch = px.channels;
  const int64_t hw = img.width * img.height;
  img.rgb.resize(static_cast<size_t>(3 * hw));
  const bool gray = ch <= 2;
  const bool has_alpha = !cmyk && (ch == 2 || ch == 4);
  if (has_alpha) img.alpha.resize(static_cast<size_t>(hw));
  const int orientation = info.orientation;
  float* const r = img.rgb.data();
  float* const g = r + hw;
  float* const b = g + hw;
  // Straight from stb's interleaved samples to upright planes, without an interleaved
  // float copy. `pixel` writes pixel `i` of stb's buffer to plane index `o`.
  auto convert = [&](auto pixel) {
    for (int64_t y = 0, i = 0; y < stored_h; ++y) {
      if (orientation == 1) {
        for (int64_t x = 0; x < stored_w; ++x, ++i) pixel(i, i);
      } else {
        for (int64_t x = 0; x < stored_w; ++x, ++i)
          pixel(i, exif::UprightIndex(orientation, x, y, stored_w, stored_h));
      }
    }
  };
  auto direct = [&](const auto* samples, float scale) {
    convert([&](int64_t i, int64_t o) {
      const auto* s = samples + i * ch;
      r[o] = static_cast<float>(s[0]) / scale;
      g[o] = static_cast<float>(gray ? s[0] : s[1]) / scale;
      b[o] = static_cast<float>(gray ? s[0] : s[2]) / scale;
      if (has_alpha) img.alpha[o] = static_cast<float>(s[ch - 1]) / scale;
    });
  };
  const auto* u8 = static_cast<const uint8_t*>(px.data);
  if (px.color == stb_glue::Color::kCmyk) {
    // Inverted CMYK (stored 255 = no ink): each channel times K, as viewers (libjpeg
    // users reading Adobe files, Pillow's CMYK to RGB) show it.
    convert([&](int64_t i, int64_t o) {
      const uint8_t* s = u8 + i * 4;
      const int k = s[3];
      r[o] = static_cast<float>(s[0] * k) / 65025.f;  // exact product; at most 1
      g[o] = static_cast<float>(s[1] * k) / 65025.f;
      b[o] = static_cast<float>(s[2] * k) / 65025.f;
    });
  } else if (px.color == stb_glue::Color::kYcck) {
    // YCCK: Y, Cb, Cr (JFIF's equations, clamped as libjpeg does) give the inverted C,
    // M, Y as R', G', B' complements; then as inverted CMYK above.
    convert([&](int64_t i, int64_t o) {
      const uint8_t* s = u8 + i * 4;
      const float yy = s[0], cb = s[1] - 128.f, cr = s[2] - 128.f;
      const float k = s[3];
      auto inv = [&](float v) { return (255.f - std::clamp(v, 0.f, 255.f)) * k / 65025.f; };
      r[o] = inv(yy + 1.402f * cr);
      g[o] = inv(yy - 0.344136f * cb - 0.714136f * cr);
      b[o] = inv(yy + 1.772f * cb);
    });
  } else if (img.source_16bit) {
    direct(static_cast<const uint16_t*>(px.data), 65535.f);
  } else {
    direct(u8, 255.f);
  }
  return img;
}

Status WriteFileAtomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tmpl = dir + "/." + base + ".tmp.XXXXXX";
  // From before the temporary file exists until it is renamed or removed, a SIGINT or
  // SIGTERM removes it (core/temp_files.h), whoever the caller is.
  PendingOutput pending(path);
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  const int fd = mkstemp(buf.data());
  if (fd < 0)
    return IoError(path + ": cannot create a temporary file in " + dir + ": " +
                   std::strerror(errno));
  const std::string tmp(buf.data());
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return IoError(path + ": write failed: " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  (void)fchmod(fd, 0644);
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return IoError(path + ": cannot flush: " + std::strerror(e));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return IoError(path + ": cannot rename the finished file into place: " + std::strerror(e));
  }
  return Status::Ok();
}

Status SaveImage(const std::string& path, const Image& img) {
  return SavePixels(path, ToPixels(img));  // values from FromModelOutput are exact levels
}

std::vector<float> ResizeBilinear(const std::vector<float>& planes, int64_t channels, int64_t h,
                                  int64_t w, int64_t oh, int64_t ow) {
  // An empty source has no pixel to clamp to (LoadImage never returns one).
  GPEN_CHECK_MSG(h > 0 && w > 0 && oh >= 0 && ow >= 0 &&
                     static_cast<int64_t>(planes.size()) >= channels * h * w,
                 "resize of a " << w << "x" << h << " image with " << planes.size() << " values to "
                                << ow << "x" << oh);
  if (oh == h && ow == w) return planes;
  std::vector<float> out(static_cast<size_t>(channels * oh * ow));
  auto axis = [](int64_t in, int64_t outn, std::vector<int64_t>* i0, std::vector<float>* f) {
    const double scale = static_cast<double>(in) / outn;
    i0->resize(outn);
    f->resize(outn);
    for (int64_t o = 0; o < outn; ++o) {
      double s = (o + 0.5) * scale - 0.5;
      int64_t i = static_cast<int64_t>(std::floor(s));
      double fr = s - i;
      if (i < 0) {
        i = 0;
        fr = 0;
      }
      if (i >= in - 1) {
        i = in - 1;
        fr = 0;
      }
      (*i0)[o] = i;
      (*f)[o] = static_cast<float>(fr);
    }
  };
  std::vector<int64_t> yi, xi;
  std::vector<float> yf, xf;
  axis(h, oh, &yi, &yf);
  axis(w, ow, &xi, &xf);
  for (int64_t c = 0; c < channels; ++c) {
    const float* p = planes.data() + c * h * w;
    float* q = out.data() + c * oh * ow;
    for (int64_t y = 0; y < oh; ++y) {
      const float* r0 = p + yi[y] * w;
      const float* r1 = p + std::min(yi[y] + 1, h - 1) * w;
      for (int64_t x = 0; x < ow; ++x) {
        const int64_t x0 = xi[x], x1 = std::min(x0 + 1, w - 1);
        const float top = r0[x0] + (r0[x1] - r0[x0]) * xf[x];
        const float bot = r1[x0] + (r1[x1] - r1[x0]) * xf[x];
        q[y * ow + x] = top + (bot - top) * yf[y];
      }
    }
  }
  return out;
}

void ToModelInput(const Image& img, int64_t size, float* out) {
  const std::vector<float> r = ResizeBilinear(img.rgb, 3, img.height, img.width, size, size);
  for (size_t i = 0; i < r.size(); ++i) out[i] = (r[i] - 0.5f) / 0.5f;
}

Image FromModelOutput(const float* in, int64_t size) {
  Image img;
  img.width = img.height = size;
  img.rgb.resize(static_cast<size_t>(3 * size * size));
  for (size_t i = 0; i < img.rgb.size(); ++i) {
    const float v = std::clamp(in[i] * 0.5f + 0.5f, 0.f, 1.f) * 255.f;
    img.rgb[i] = std::floor(v) / 255.f;  // numpy astype(uint8) truncates
  }
  return img;
}

}  // namespace gpen

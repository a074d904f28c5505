// Image I/O through stb, atomic writes, bilinear resizing, model-range conversion.
#include "image/image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>

namespace gpen {

namespace {

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

void AppendBytes(void* ctx, void* data, int size) {
  auto* v = static_cast<std::vector<uint8_t>*>(ctx);
  const auto* p = static_cast<const uint8_t*>(data);
  v->insert(v->end(), p, p + size);
}

}  // namespace

bool HasImageExtension(const std::string& path) {
  const std::string e = Extension(path);
  return e == "png" || e == "jpg" || e == "jpeg" || e == "bmp" || e == "tga";
}

Result<Image> LoadImage(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return IoError(path + ": cannot open: " + std::strerror(errno));
  std::unique_ptr<FILE, int (*)(FILE*)> guard(f, &std::fclose);
  int w = 0, h = 0, ch = 0;
  if (!stbi_info_from_file(f, &w, &h, &ch)) {
    return FormatError(path + ": not a readable image (" + stbi_failure_reason() + ")",
                       "supported formats: PNG (8/16-bit), JPEG, BMP, TGA");
  }
  if (static_cast<int64_t>(w) * h > (int64_t{1} << 28)) {
    return FormatError(path + ": image is " + std::to_string(w) + "x" + std::to_string(h) +
                       ", larger than the 268 megapixels supported");
  }
  const bool is16 = stbi_is_16_bit_from_file(f);
  Image img;
  img.source_16bit = is16;
  int got_ch = 0;
  std::vector<float> interleaved;
  if (is16) {
    stbi_us* p = stbi_load_from_file_16(f, &w, &h, &got_ch, 0);
    if (!p) return FormatError(path + ": cannot decode (" + std::string(stbi_failure_reason()) + ")");
    interleaved.assign(p, p + static_cast<size_t>(w) * h * got_ch);
    for (float& v : interleaved) v /= 65535.f;
    stbi_image_free(p);
  } else {
    stbi_uc* p = stbi_load_from_file(f, &w, &h, &got_ch, 0);
    if (!p) return FormatError(path + ": cannot decode (" + std::string(stbi_failure_reason()) + ")");
    interleaved.assign(p, p + static_cast<size_t>(w) * h * got_ch);
    for (float& v : interleaved) v /= 255.f;
    stbi_image_free(p);
  }
  img.width = w;
  img.height = h;
  img.source_channels = got_ch;
  const int64_t hw = static_cast<int64_t>(w) * h;
  img.rgb.resize(static_cast<size_t>(3 * hw));
  const bool gray = got_ch <= 2;
  const bool has_alpha = got_ch == 2 || got_ch == 4;
  if (has_alpha) img.alpha.resize(static_cast<size_t>(hw));
  for (int64_t i = 0; i < hw; ++i) {
    const float* px = interleaved.data() + i * got_ch;
    for (int c = 0; c < 3; ++c) img.rgb[c * hw + i] = gray ? px[0] : px[c];
    if (has_alpha) img.alpha[i] = px[got_ch - 1];
  }
  return img;
}

Status WriteFileAtomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tmpl = dir + "/." + base + ".tmp.XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  const int fd = mkstemp(buf.data());
  if (fd < 0) return IoError(path + ": cannot create a temporary file in " + dir + ": " + std::strerror(errno));
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
  const std::string ext = Extension(path);
  const int ch = img.alpha.empty() ? 3 : 4;
  const int64_t hw = img.width * img.height;
  std::vector<uint8_t> px(static_cast<size_t>(hw * ch));
  auto q = [](float v) {  // [0, 1] -> 8 bits, rounded (values from FromModelOutput are exact)
    return static_cast<uint8_t>(std::lround(std::clamp(v, 0.f, 1.f) * 255.f));
  };
  for (int64_t i = 0; i < hw; ++i) {
    for (int c = 0; c < 3; ++c) px[i * ch + c] = q(img.rgb[c * hw + i]);
    if (ch == 4) px[i * ch + 3] = q(img.alpha[i]);
  }
  std::vector<uint8_t> out;
  const int w = static_cast<int>(img.width), h = static_cast<int>(img.height);
  int ok = 0;
  if (ext == "png") ok = stbi_write_png_to_func(AppendBytes, &out, w, h, ch, px.data(), w * ch);
  else if (ext == "jpg" || ext == "jpeg") ok = stbi_write_jpg_to_func(AppendBytes, &out, w, h, ch, px.data(), 95);
  else if (ext == "bmp") ok = stbi_write_bmp_to_func(AppendBytes, &out, w, h, ch, px.data());
  else if (ext == "tga") ok = stbi_write_tga_to_func(AppendBytes, &out, w, h, ch, px.data());
  else return InvalidArgument(path + ": unknown output format '." + ext + "'", "use .png, .jpg, .bmp or .tga");
  if (!ok) return IoError(path + ": image encoder failed");
  return WriteFileAtomic(path, out);
}

std::vector<float> ResizeBilinear(const std::vector<float>& planes, int64_t channels, int64_t h,
                                  int64_t w, int64_t oh, int64_t ow) {
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
      if (i < 0) { i = 0; fr = 0; }
      if (i >= in - 1) { i = in - 1; fr = 0; }
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

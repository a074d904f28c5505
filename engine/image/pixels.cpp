// SavePixels: encode an 8-bit image by its file extension and write it atomically.
#include "image/pixels.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cctype>

#include "core/check.h"
#include "image/image.h"

namespace gpen {

namespace {

std::string ExtensionOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot + 1);
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

void Append(void* ctx, void* data, int size) {
  auto* v = static_cast<std::vector<uint8_t>*>(ctx);
  const auto* p = static_cast<const uint8_t*>(data);
  v->insert(v->end(), p, p + size);
}

}  // namespace

PixelImage ToPixels(const Image& img) {
  PixelImage px;
  px.width = img.width;
  px.height = img.height;
  px.channels = img.alpha.empty() ? 3 : 4;
  const int64_t hw = img.width * img.height, ch = px.channels;
  px.data.resize(static_cast<size_t>(hw * ch));
  for (int64_t i = 0; i < hw; ++i) {
    for (int64_t c = 0; c < 3; ++c)
      px.data[static_cast<size_t>(i * ch + c)] = ToByte(img.rgb[static_cast<size_t>(c * hw + i)]);
    if (ch == 4)
      px.data[static_cast<size_t>(i * ch + 3)] = ToByte(img.alpha[static_cast<size_t>(i)]);
  }
  return px;
}

void AddAlpha(PixelImage* out, const std::vector<float>& alpha, int64_t h, int64_t w) {
  GPEN_CHECK(out->channels == 3);
  const std::vector<float> a = ResizeBilinear(alpha, 1, h, w, out->height, out->width);
  const int64_t hw = out->width * out->height;
  std::vector<uint8_t> rgba(static_cast<size_t>(4 * hw));
  for (int64_t i = 0; i < hw; ++i) {
    for (int64_t c = 0; c < 3; ++c)
      rgba[static_cast<size_t>(i * 4 + c)] = out->data[static_cast<size_t>(i * 3 + c)];
    rgba[static_cast<size_t>(i * 4 + 3)] = ToByte(a[static_cast<size_t>(i)]);
  }
  out->data = std::move(rgba);
  out->channels = 4;
}

Status SavePixels(const std::string& path, const PixelImage& img) {
  // stb's encoders take int sizes, and PNG rows of at most 2^31 - 1 bytes.
  if (img.width < 1 || img.height < 1 || img.width > 1'000'000 || img.height > 1'000'000 ||
      img.width * img.height > int64_t{1} << 30) {
    return InvalidArgument(path + ": an image of " + std::to_string(img.width) + "x" +
                               std::to_string(img.height) + " pixels is too large to encode",
                           "at most 2^30 pixels (e.g. 32768x32768); choose a smaller --outscale");
  }
  const std::string ext = ExtensionOf(path);
  const int w = static_cast<int>(img.width), h = static_cast<int>(img.height), ch = img.channels;
  std::vector<uint8_t> out;
  int ok = 0;
  if (ext == "png")
    ok = stbi_write_png_to_func(Append, &out, w, h, ch, img.data.data(), w * ch);
  else if (ext == "jpg" || ext == "jpeg")
    ok = stbi_write_jpg_to_func(Append, &out, w, h, ch, img.data.data(), 95);
  else if (ext == "bmp")
    ok = stbi_write_bmp_to_func(Append, &out, w, h, ch, img.data.data());
  else if (ext == "tga")
    ok = stbi_write_tga_to_func(Append, &out, w, h, ch, img.data.data());
  else
    return InvalidArgument(path + ": unknown output format '." + ext + "'",
                           "use .png, .jpg, .bmp or .tga");
  if (!ok) return IoError(path + ": image encoder failed");
  return WriteFileAtomic(path, out);
}

}  // namespace gpen

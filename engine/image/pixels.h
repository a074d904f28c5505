// PixelImage: an 8-bit image, interleaved (H, W, C), as it is written to a file.
//
// Large outputs (a 12-megapixel photo upscaled x4 is 192 megapixels) are assembled
// straight into 8 bits: a third of the float planes' memory. SavePixels encodes it
// (PNG, JPEG, BMP, TGA by the extension) and writes it whole or not at all, like
// SaveImage.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpen {

struct PixelImage {
  int64_t width = 0, height = 0;
  int channels = 3;           // 3 (RGB) or 4 (RGBA)
  std::vector<uint8_t> data;  // (H, W, C)
  int64_t ByteSize() const { return static_cast<int64_t>(data.size()); }
};

// [0, 1] -> 0..255, rounded (RealESRGANer.post_process: (x * 255).round()).
inline uint8_t ToByte(float v) {
  v = v > 0.f ? (v < 1.f ? v : 1.f) : 0.f;  // NaN -> 0
  return static_cast<uint8_t>(std::lround(v * 255.f));
}

Status SavePixels(const std::string& path, const PixelImage& img);

struct Image;
// An Image's planes in 8 bits: RGB, and its alpha plane as a 4th channel when it has one.
PixelImage ToPixels(const Image& img);
// Appends an alpha plane of (h, w), resized bilinearly to the image, as a 4th channel.
void AddAlpha(PixelImage* img, const std::vector<float>& alpha, int64_t h, int64_t w);

}  // namespace gpen

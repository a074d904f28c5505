// Image I/O and the resampling/normalisation upstream applies around the model.
//
// Images are held as planar float RGB in [0, 1] (from 8- or 16-bit files) with an
// optional alpha plane set aside. Reading goes through stb_image (PNG, JPEG, BMP,
// TGA; grayscale, RGBA, 16-bit PNG). Writing goes to memory first, then to a
// temporary file that is renamed over the target: an output is whole or absent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpen {

struct Image {
  int64_t width = 0, height = 0;
  std::vector<float> rgb;    // (3, H, W) planar, [0, 1]
  std::vector<float> alpha;  // (H, W) or empty
  int source_channels = 0;   // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  bool source_16bit = false;
};

Result<Image> LoadImage(const std::string& path);
// Writes 8-bit PNG/JPEG/BMP/TGA chosen by the extension of `path`, atomically.
Status SaveImage(const std::string& path, const Image& img);
bool HasImageExtension(const std::string& path);

// Bilinear resize with half-pixel centres and clamped edges, as cv2.resize with
// INTER_LINEAR (upstream FaceGAN.process); no antialiasing, like upstream.
std::vector<float> ResizeBilinear(const std::vector<float>& planes, int64_t channels, int64_t h,
                                  int64_t w, int64_t oh, int64_t ow);

// FaceGAN.img2tensor: x / 255 -> (x - 0.5) / 0.5, here from [0, 1] floats.
void ToModelInput(const Image& img, int64_t size, float* out /* (3, size, size) */);
// FaceGAN.tensor2img: clip(x * 0.5 + 0.5, 0, 1) * 255, truncated to 8 bits; the result
// is stored back as k / 255 so that an 8-bit writer reproduces the truncated value.
Image FromModelOutput(const float* in /* (3, size, size) */, int64_t size);

// Writes bytes to `path` through a temporary file in the same directory + rename.
Status WriteFileAtomic(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace gpen

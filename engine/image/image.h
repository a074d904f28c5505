// Image I/O and the resampling/normalisation upstream applies around the model.
//
// Images are held as planar float RGB in [0, 1] (from 8- or 16-bit files) with an
// optional alpha plane set aside. Reading goes through stb_image (PNG, JPEG, BMP,
// TGA; grayscale, RGBA, 16-bit PNG). Writing goes to memory first, then to a
// temporary file that is renamed over the target: an output is whole or absent.
//
// Input files are untrusted. Before stb decodes anything: only regular files are
// opened (a FIFO would block), and read no larger than the pixel limit allows; the
// format is one of the four compiled in; the header gives a non-zero size of at most
// ImageLoadOptions::max_pixels; JPEG Huffman tables, BMP/TGA data sizes and BMP
// palettes are checked (image/format_checks.h); then stb decodes under a memory budget
// sized from the header, so a decompression bomb fails instead of allocating
// gigabytes. Every error names the file.
//
// Images are converted to what a viewer shows: a JPEG's EXIF orientation is applied
// (image/exif.h; the Image is upright and its width and height are the upright ones),
// a CMYK or YCCK JPEG becomes RGB (Adobe's inverted CMYK, as Photoshop writes it and
// viewers read it), gray is replicated to RGB with its alpha kept, and 16-bit PNG
// samples keep their 16 bits (source_16bit) until the float conversion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpen {

// 40 megapixels (e.g. 8000x5000, or 6324x6324): any aligned face crop and most
// camera photos. Decoding an image this large takes about 0.7 GB (8-bit JPEG) or
// 0.8 GB (8-bit PNG of a usual file size), 2.8 GB at worst (16-bit RGBA PNG in the
// largest file allowed); ImageInfo::peak_bytes gives the bound for a file. A file
// claiming more pixels is refused from its header, before anything is allocated.
inline constexpr int64_t kDefaultMaxImagePixels = 40'000'000;

// What LoadImage() accepts. The CLI exposes max_pixels (--max-pixels).
struct ImageLoadOptions {
  // The largest width x height decoded. Files larger than an image of this many pixels
  // can be (9 bytes per pixel + 16 MiB, and at most 2 GiB, stb's limit) are refused
  // unread.
  int64_t max_pixels = kDefaultMaxImagePixels;
};

struct Image {
  int64_t width = 0, height = 0;
  std::vector<float> rgb;    // (3, H, W) planar, [0, 1]
  std::vector<float> alpha;  // (H, W) or empty
  int source_channels = 0;   // 1 gray, 2 gray+alpha, 3 RGB (CMYK JPEGs too), 4 RGBA
  bool source_16bit = false;

  // Bytes of the planes held (rgb and alpha).
  int64_t ByteSize() const {
    return static_cast<int64_t>((rgb.size() + alpha.size()) * sizeof(float));
  }
};

// What a file's header says, and the memory decoding it takes: for the planner to
// count images before they are decoded.
struct ImageInfo {
  std::string format;             // "PNG", "JPEG", "BMP" or "TGA"
  int64_t width = 0, height = 0;  // upright: after the EXIF orientation, as LoadImage gives
  int orientation = 1;            // EXIF orientation 1..8 (JPEG only), applied by LoadImage
  int channels = 0;               // as the header gives them (a PNG's tRNS chunk may add alpha)
  bool is16 = false;
  int64_t file_bytes = 0;
  int64_t decoded_bytes = 0;  // upper bound of Image::ByteSize() after decoding
  int64_t peak_bytes = 0;     // upper bound of all memory held while decoding: the file,
                              // the decoder's buffers (its budget) and the Image
};

// Reads and checks the header (all the checks LoadImage makes before decoding).
Result<ImageInfo> ProbeImage(const std::string& path, const ImageLoadOptions& options = {});
Result<Image> LoadImage(const std::string& path, const ImageLoadOptions& options = {});
// Decodes an image held in memory; `name` stands for the file in messages.
Result<Image> DecodeImage(const uint8_t* data, size_t size, const std::string& name,
                          const ImageLoadOptions& options = {});
// Ok for a regular file; otherwise the error LoadImage would give (a FIFO, a folder, a
// device, or a path that does not exist). For folder listings: skip what fails.
[[nodiscard]] Status CheckRegularFile(const std::string& path);
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

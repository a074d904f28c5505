// The narrow interface image.cpp uses to call stb_image (implemented in stb_impl.cpp).
//
// Why not stb's public API: stbi_load_from_memory() tries every format in turn and
// leaves the failure reason of whichever test failed last (a PNG error could read
// "Corrupt JPEG"); it would also allocate without limit. Here the format is chosen
// once with stb's own tests, each call clears stb's (thread-local) failure reason
// first and reports it only when that call failed, and a decode runs under a byte
// budget with every allocation zeroed (see stb_impl.cpp for the stb bugs this covers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace gpen::stb_glue {

// The decoders compiled in: the documented formats only.
enum class Format { kUnknown, kJpeg, kPng, kBmp, kTga };
const char* FormatName(Format f);

// The decoder stb_image would pick for these bytes: its own signature tests, in its
// own order (JPEG, PNG, BMP, then TGA, whose test is weak). kUnknown for anything else
// and for sizes stb cannot address (above INT_MAX).
Format Detect(const uint8_t* data, size_t size);

struct Header {
  int width = 0, height = 0, channels = 0;
  bool is16 = false;  // 16 bits per sample (PNG only)
};
// Reads the header through the decoder of `f`. On failure returns false and sets
// *reason to this call's failure reason.
bool Info(Format f, const uint8_t* data, size_t size, Header* out, std::string* reason);

// How the samples of Pixels read.
enum class Color {
  kDirect,  // gray, gray+alpha, RGB or RGBA, as the channel count says
  // A 4-component JPEG, components as stored (stb's own conversion skipped, see Decode):
  kCmyk,  // C, M, Y, K, inverted as Adobe Photoshop writes them (0 = full ink)
  kYcck,  // Y, Cb, Cr of the inverted C, M, Y; then the inverted K
};

struct Pixels {
  void* data = nullptr;  // interleaved, `channels` samples per pixel; release with Free()
  int width = 0, height = 0, channels = 0;
  int bits = 8;  // 8 or 16 bits per sample
  Color color = Color::kDirect;
  int64_t peak_bytes = 0;    // most bytes stb held at once while decoding
  bool over_budget = false;  // an allocation was refused for the budget
};
// Decodes with the decoder of `f`; no more than `budget_bytes` may be allocated by stb
// at any one time. A JPEG of 4 components comes back as its 4 components (kCmyk or
// kYcck, chosen as libjpeg does: Adobe transform 0, or no Adobe marker, is CMYK; any
// other transform YCCK) for the caller to convert; every other file as stb converts it.
// On failure returns false and sets *reason; out->over_budget says whether the budget
// was the cause, and out->peak_bytes is set either way.
bool Decode(Format f, const uint8_t* data, size_t size, int64_t budget_bytes, Pixels* out,
            std::string* reason);
void Free(void* pixels);

}  // namespace gpen::stb_glue

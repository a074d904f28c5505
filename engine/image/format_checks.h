// Checks of image files that stb_image 2.27 (Debian 12) does not make, run on the
// file's bytes before stb reads them (see stb_impl.cpp for the stb bugs behind each).
//
// - JPEG: every Huffman table (DHT) stb would build has at most 256 codes; more
//   overflow stb's tables (stb issue #1289).
// - BMP and TGA: the pixel data the header promises is in the file. stb reads past the
//   end as zeros (TGA: as uninitialised memory), so a file cut to 10% would "decode".
//   BMP also: the palette stb derives from the data offset has 1 to 256 entries and
//   every pixel's index lies inside it (stb reads other entries from an uninitialised
//   stack array); width and height are not zero.
// Each function returns a FormatError whose message starts with `name`. They read only
// inside [data, data + size) and run in time linear in the size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace gpen::image_checks {

[[nodiscard]] Status CheckJpegHuffmanTables(const uint8_t* data, size_t size,
                                            const std::string& name);

// The width and height of a JPEG's first frame header (SOF0, SOF1 or SOF2: the ones
// stb reads), found by walking the segments before the first scan; false when there is
// none. Leaves *width and *height unchanged then.
bool JpegFrameSize(const uint8_t* data, size_t size, int64_t* width, int64_t* height);

// The layout of a BMP as stb_image reads it.
struct BmpLayout {
  int64_t width = 0, height = 0;  // height positive (top-down files store it negated)
  int bits_per_pixel = 0;
  int64_t data_offset = 0;  // first pixel row
  int64_t row_bytes = 0;    // bytes of pixels in a row, and with padding:
  int64_t row_stride = 0;
  int palette_entries = 0;  // for 1, 4 and 8 bits per pixel
};
// Parses the header; refuses what stb would misread (zero or negative width, zero
// height, unsupported compression or bit depth, a data offset inside the header, a
// palette of 0 or more than 256 entries).
[[nodiscard]] Status ReadBmpLayout(const uint8_t* data, size_t size, const std::string& name,
                                   BmpLayout* out);
// The rows are in the file, and palette indices are inside the palette. Call after the
// pixel count was checked against the limit: this reads every palette index.
[[nodiscard]] Status CheckBmpData(const uint8_t* data, size_t size, const std::string& name,
                                  const BmpLayout& layout);

// The layout of a TGA as stb_image reads it (a file stb's TGA test accepted).
struct TgaLayout {
  int64_t width = 0, height = 0;
  int64_t data_offset = 0;  // after the header, the image id and the palette
  int64_t pixel_bytes = 0;  // bytes per stored pixel (or palette index)
  bool rle = false;
};
[[nodiscard]] Status ReadTgaLayout(const uint8_t* data, size_t size, const std::string& name,
                                   TgaLayout* out);
// The pixels (or, for run-length encoded files, the packets covering every pixel) are
// in the file.
[[nodiscard]] Status CheckTgaData(const uint8_t* data, size_t size, const std::string& name,
                                  const TgaLayout& layout);

}  // namespace gpen::image_checks

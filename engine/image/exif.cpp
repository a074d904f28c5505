// EXIF orientation from a JPEG's APP1 segment (see exif.h). Bounded and
// allocation-free: every read is checked against the end of the bytes it lies in, and
// the only offset followed is the one to IFD0.
#include "image/exif.h"

#include <cstring>

namespace gpen::exif {

namespace {

constexpr uint16_t kOrientationTag = 0x0112;
constexpr uint16_t kShortType = 3;

uint16_t Read16(const uint8_t* p, bool big_endian) {
  return big_endian ? static_cast<uint16_t>(p[0] << 8 | p[1])
                    : static_cast<uint16_t>(p[1] << 8 | p[0]);
}

uint32_t Read32(const uint8_t* p, bool big_endian) {
  return big_endian ? (uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3])
                    : (uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0]);
}

}  // namespace

int TiffOrientation(const uint8_t* tiff, size_t size) {
  if (tiff == nullptr || size < 8) return 1;
  bool big_endian = false;
  if (tiff[0] == 'M' && tiff[1] == 'M') {
    big_endian = true;
  } else if (!(tiff[0] == 'I' && tiff[1] == 'I')) {
    return 1;
  }
  if (Read16(tiff + 2, big_endian) != 42) return 1;
  const uint64_t ifd0 = Read32(tiff + 4, big_endian);
  if (ifd0 < 8 || ifd0 + 2 > size) return 1;
  const uint32_t entries = Read16(tiff + ifd0, big_endian);
  // The entries that lie inside the segment (a directory cut short keeps its first ones,
  // as browsers read it); at most 65535 of 12 bytes each.
  uint64_t at = ifd0 + 2;
  for (uint32_t k = 0; k < entries && at + 12 <= size; ++k, at += 12) {
    const uint8_t* e = tiff + at;
    if (Read16(e, big_endian) != kOrientationTag) continue;
    // SHORT, one value, held in the first two bytes of the value field.
    if (Read16(e + 2, big_endian) != kShortType || Read32(e + 4, big_endian) != 1) return 1;
    const int v = Read16(e + 8, big_endian);
    return v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

int JpegOrientation(const uint8_t* data, size_t size) {
  if (data == nullptr || size < 4 || data[0] != 0xFF || data[1] != 0xD8) return 1;
  size_t i = 2;
  // Marker segments up to the first scan; each step moves forward, so this ends.
  while (i + 4 <= size) {
    if (data[i] != 0xFF) return 1;  // not a marker where one must be: malformed
    const uint8_t m = data[i + 1];
    if (m == 0xFF) {  // fill byte before a marker
      ++i;
      continue;
    }
    if (m == 0xDA || m == 0xD9) return 1;         // start of scan or end of image: no EXIF
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // markers without a length
      i += 2;
      continue;
    }
    const size_t len = static_cast<size_t>(data[i + 2]) << 8 | data[i + 3];
    if (len < 2 || len > size - i - 2) return 1;  // the segment runs past the end
    const uint8_t* body = data + i + 4;
    const size_t body_len = len - 2;
    if (m == 0xE1 && body_len >= 6 && std::memcmp(body, "Exif\0\0", 6) == 0) {
      // The first EXIF segment decides, as in viewers.
      return TiffOrientation(body + 6, body_len - 6);
    }
    i += 2 + len;
  }
  return 1;
}

}  // namespace gpen::exif

// Pre-decode checks of JPEG, BMP and TGA files (see format_checks.h).
//
// The JPEG walk mirrors how stb_image 2.27 moves through a file, so that it sees every
// DHT segment stb would process: markers are FF, optional FF fill bytes, then the code;
// between segments stb skips stray bytes; every segment stb accepts is consumed by its
// length field; after an SOS header the entropy-coded data runs to the first marker
// that is not a stuffed zero (FF 00) or a restart (FF D0-D7), which is also where stb's
// bit reader stops. Where stb would stop with an error, the walk may go on: it only
// ever checks more segments than stb reads, never fewer.
#include "image/format_checks.h"

#include <algorithm>
#include <limits>

namespace gpen::image_checks {

namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

uint32_t Le16(const uint8_t* d, size_t i) {
  return d[i] | (uint32_t{d[i + 1]} << 8);
}
uint32_t Le32(const uint8_t* d, size_t i) {
  return d[i] | (uint32_t{d[i + 1]} << 8) | (uint32_t{d[i + 2]} << 16) | (uint32_t{d[i + 3]} << 24);
}

// a * b for non-negative values, saturating at INT64_MAX.
int64_t MulSat(int64_t a, int64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > kInt64Max / b ? kInt64Max : a * b;
}
int64_t AddSat(int64_t a, int64_t b) {
  return a > kInt64Max - b ? kInt64Max : a + b;
}

std::string Dims(int64_t w, int64_t h) {
  return std::to_string(w) + "x" + std::to_string(h);
}

const char* kHintDamaged = "the file is truncated or damaged; export it again";

}  // namespace

Status CheckJpegHuffmanTables(const uint8_t* d, size_t n, const std::string& name) {
  // Bytes past the end read as 0, as stb's reader returns them.
  auto at = [&](size_t i) -> uint32_t { return i < n ? d[i] : 0u; };
  auto be16 = [&](size_t i) -> size_t { return (at(i) << 8) | at(i + 1); };
  // SOI as stb reads it: FF, FF fill bytes, D8.
  size_t p = 0;
  if (at(p) != 0xFF) return Status::Ok();
  while (p < n && d[p] == 0xFF) ++p;
  if (at(p) != 0xD8) return Status::Ok();
  ++p;
  bool entropy = false;  // inside entropy-coded data, after an SOS header
  while (p < n) {
    // Find the next marker.
    uint32_t marker = 0;
    if (entropy) {
      bool found = false;
      while (p < n && !found) {
        if (d[p] != 0xFF) {
          ++p;
          continue;
        }
        size_t q = p + 1;
        while (q < n && d[q] == 0xFF) ++q;
        if (q >= n) return Status::Ok();
        const uint32_t c = d[q];
        p = q + 1;
        if (c == 0x00 || (c >= 0xD0 && c <= 0xD7)) continue;  // stuffed zero, restart
        marker = c;
        found = true;
      }
      if (!found) return Status::Ok();
      entropy = false;
    } else {
      while (p < n && d[p] != 0xFF) ++p;  // stray bytes between segments
      while (p < n && d[p] == 0xFF) ++p;  // the marker's FF and fill bytes
      if (p >= n) return Status::Ok();
      marker = d[p++];
    }

    if (marker == 0xC4) {  // DHT: tables, each a class/id byte, 16 counts, the symbols
      const size_t segment = p - 2;
      int64_t left = static_cast<int64_t>(be16(p)) - 2;
      size_t q = p + 2;
      while (left > 0) {
        const uint32_t tc = at(q) >> 4, th = at(q) & 15;
        if (tc > 1 || th > 3) return Status::Ok();  // stb stops here ("bad DHT header")
        int64_t codes = 0;
        for (size_t i = 1; i <= 16; ++i) codes += at(q + i);
        if (codes > 256) {
          return FormatError(
              name + ": corrupt JPEG: the Huffman table (DHT segment at byte " +
                  std::to_string(segment) + ") declares " + std::to_string(codes) +
                  " codes, at most 256 are possible",
              "the file is damaged or crafted; the JPEG decoder (stb_image 2.27) would "
              "write past its tables, so the file is refused before decoding");
        }
        q += 17 + static_cast<size_t>(codes);
        left -= 17 + codes;
      }
      if (left != 0) return Status::Ok();  // stb stops: the tables overran the segment
      p = q;
    } else if (marker == 0xD9) {  // EOI: stb reads no further
      return Status::Ok();
    } else if (marker == 0xDA || marker == 0xC0 || marker == 0xC1 || marker == 0xC2 ||
               marker == 0xDB || marker == 0xDD || marker == 0xDC || marker == 0xFE ||
               (marker >= 0xE0 && marker <= 0xEF)) {
      // SOS, SOF0-2, DQT, DRI, DNL, COM, APPn: stb consumes exactly the length field
      // (or stops with an error).
      const size_t length = be16(p);
      if (length < 2) return Status::Ok();
      p += length;
      if (marker == 0xDA) entropy = true;
    } else {
      return Status::Ok();  // any other marker: stb stops ("unknown marker")
    }
  }
  return Status::Ok();
}

bool JpegFrameSize(const uint8_t* d, size_t n, int64_t* width, int64_t* height) {
  if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return false;
  size_t p = 2;
  // Segments before the first scan: each step moves forward, so this ends.
  while (p < n) {
    while (p < n && d[p] != 0xFF) ++p;  // stray bytes between segments, as stb skips them
    while (p < n && d[p] == 0xFF) ++p;  // the marker's FF and fill bytes
    if (p >= n) return false;
    const uint32_t marker = d[p++];
    if (marker == 0xDA || marker == 0xD9) return false;                  // scan or end: no frame
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (p + 2 > n) return false;
    const size_t length = (size_t{d[p]} << 8) | d[p + 1];
    if (length < 2) return false;
    if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2) {
      // Length, precision, height, width.
      if (length < 7 || p + 7 > n) return false;
      *height = (int64_t{d[p + 3]} << 8) | d[p + 4];
      *width = (int64_t{d[p + 5]} << 8) | d[p + 6];
      return true;
    }
    p += length;
  }
  return false;
}

Status ReadBmpLayout(const uint8_t* d, size_t size, const std::string& name, BmpLayout* out) {
  *out = BmpLayout();
  if (size < 18 || d[0] != 'B' || d[1] != 'M') {
    return FormatError(name + ": BMP header is cut short (" + std::to_string(size) + " bytes)",
                       kHintDamaged);
  }
  const uint32_t hsz = Le32(d, 14);
  if (hsz != 12 && hsz != 40 && hsz != 56 && hsz != 108 && hsz != 124) {
    return FormatError(name + ": BMP info header of " + std::to_string(hsz) +
                       " bytes is not a known BMP version");
  }
  if (size < 14 + size_t{hsz}) {
    return FormatError(name + ": BMP header is cut short: " + std::to_string(size) +
                           " bytes, the header alone needs " + std::to_string(14 + hsz),
                       kHintDamaged);
  }
  const int64_t offset = static_cast<int32_t>(Le32(d, 10));
  int64_t w = 0, h = 0, compress = 0;
  uint32_t planes = 0, bpp = 0;
  if (hsz == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
    w = Le16(d, 18);
    h = Le16(d, 20);
    planes = Le16(d, 22);
    bpp = Le16(d, 24);
  } else {
    w = static_cast<int32_t>(Le32(d, 18));
    h = static_cast<int32_t>(Le32(d, 22));
    planes = Le16(d, 26);
    bpp = Le16(d, 28);
    compress = static_cast<int32_t>(Le32(d, 30));
  }
  if (w <= 0 || h == 0) {
    return FormatError(name + ": BMP header gives a size of " + Dims(w, h) +
                           "; an image needs a positive width and height",
                       kHintDamaged);
  }
  if (planes != 1) {
    return FormatError(name + ": BMP header gives " + std::to_string(planes) +
                       " planes, expected 1");
  }
  if (compress == 1 || compress == 2) {
    return FormatError(name + ": run-length encoded BMP is not supported",
                       "save it as an uncompressed BMP or as PNG");
  }
  if (compress != 0 && compress != 3) {
    return FormatError(name + ": BMP compression " + std::to_string(compress) + " is not supported",
                       "save it as an uncompressed BMP or as PNG");
  }
  if (compress == 3 && bpp != 16 && bpp != 32) {
    return FormatError(name + ": BMP bit fields need 16 or 32 bits per pixel, the header gives " +
                       std::to_string(bpp));
  }
  int64_t row = 0;
  switch (bpp) {
    case 1:
      row = (w + 7) / 8;
      break;
    case 4:
      row = (w + 1) / 2;
      break;
    case 8:
      row = w;
      break;
    case 16:
      row = 2 * w;
      break;
    case 24:
      row = 3 * w;
      break;
    case 32:
      row = 4 * w;
      break;
    default:
      return FormatError(
          name + ": BMP with " + std::to_string(bpp) + " bits per pixel is not supported",
          "save it with 1, 4, 8, 16, 24 or 32 bits per pixel, or as PNG");
  }
  if (offset < 0) {
    return FormatError(name + ": BMP pixel data offset " + std::to_string(offset) + " is negative");
  }
  int palette = 0;
  if (bpp < 16) {
    // stb sizes the palette from the gap between the header and the data offset.
    int64_t entries = 0;
    if (hsz == 12) {
      const int64_t gap = offset - 38;  // stb's formula for OS/2 files
      entries = gap >= 0 ? gap / 3 : -((-gap) / 3);
    } else {
      const int64_t gap = offset - 14 - static_cast<int64_t>(hsz);
      entries = gap >= 0 ? gap / 4 : -1;
    }
    if (entries < 1 || entries > 256) {
      return FormatError(name + ": BMP with " + std::to_string(bpp) +
                             " bits per pixel needs a palette of 1 to 256 colours, but its "
                             "data offset " +
                             std::to_string(offset) + " leaves room for " +
                             std::to_string(std::max<int64_t>(entries, 0)),
                         kHintDamaged);
    }
    palette = static_cast<int>(entries);
  } else {
    const int64_t header_end =
        14 + static_cast<int64_t>(hsz) + ((hsz == 40 || hsz == 56) && compress == 3 ? 12 : 0);
    if (offset < header_end) {
      return FormatError(name + ": BMP pixel data offset " + std::to_string(offset) +
                             " lies inside the header, which ends at byte " +
                             std::to_string(header_end),
                         kHintDamaged);
    }
  }
  out->width = w;
  out->height = h < 0 ? -h : h;
  out->bits_per_pixel = static_cast<int>(bpp);
  out->data_offset = offset;
  out->row_bytes = row;
  out->row_stride = (row + 3) / 4 * 4;
  out->palette_entries = palette;
  return Status::Ok();
}

Status CheckBmpData(const uint8_t* d, size_t size, const std::string& name, const BmpLayout& b) {
  // stb reads every row, padding skipped (a missing pad after the last row is harmless).
  const int64_t need =
      AddSat(AddSat(b.data_offset, MulSat(b.height - 1, b.row_stride)), b.row_bytes);
  if (need > static_cast<int64_t>(size)) {
    return FormatError(name + ": BMP is cut short: its " + Dims(b.width, b.height) +
                           " pixels need " + std::to_string(need) +
                           " bytes up to the last row, the file has " + std::to_string(size),
                       kHintDamaged);
  }
  if (b.bits_per_pixel > 8) return Status::Ok();
  const int bits = b.bits_per_pixel;
  const int per_byte = 8 / bits;
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t y = 0; y < b.height; ++y) {
    const uint8_t* row = d + b.data_offset + y * b.row_stride;
    for (int64_t x = 0; x < b.width; ++x) {
      const int shift = 8 - bits * static_cast<int>(x % per_byte + 1);
      const uint32_t index = (row[x / per_byte] >> shift) & mask;
      if (index >= static_cast<uint32_t>(b.palette_entries)) {
        return FormatError(name + ": BMP pixel " + std::to_string(x) + " of stored row " +
                               std::to_string(y) + " uses colour " + std::to_string(index) +
                               ", but the palette has " + std::to_string(b.palette_entries),
                           kHintDamaged);
      }
    }
  }
  return Status::Ok();
}

Status ReadTgaLayout(const uint8_t* d, size_t size, const std::string& name, TgaLayout* out) {
  *out = TgaLayout();
  if (size < 18) {
    return FormatError(name + ": TGA header is cut short (" + std::to_string(size) + " bytes)",
                       kHintDamaged);
  }
  const uint32_t id_length = d[0], colormap = d[1], type = d[2];
  const uint32_t palette_start = Le16(d, 3), palette_length = Le16(d, 5), palette_bits = d[7];
  const int64_t w = Le16(d, 12), h = Le16(d, 14);
  const uint32_t bpp = d[16];
  if (w == 0 || h == 0) {
    return FormatError(name + ": TGA header gives a size of " + Dims(w, h) +
                           "; an image needs a positive width and height",
                       kHintDamaged);
  }
  const bool indexed = colormap != 0;
  const bool known_type = indexed ? (colormap == 1 && (type == 1 || type == 9))
                                  : (type == 2 || type == 3 || type == 10 || type == 11);
  const bool known_bpp = indexed ? (bpp == 8 || bpp == 16)
                                 : (bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32);
  const bool known_palette = !indexed || palette_bits == 8 || palette_bits == 15 ||
                             palette_bits == 16 || palette_bits == 24 || palette_bits == 32;
  if (!known_type || !known_bpp || !known_palette) {
    return FormatError(name + ": TGA type " + std::to_string(type) + " with " +
                       std::to_string(bpp) + " bits per pixel is not supported");
  }
  out->width = w;
  out->height = h;
  out->rle = type >= 8;
  out->pixel_bytes = indexed ? (bpp == 8 ? 1 : 2) : (bpp + 7) / 8;
  // stb skips the image id, then (for a palette) `palette_start` bytes, then reads the
  // palette; files without a palette ignore the palette fields.
  out->data_offset = 18 + int64_t{id_length};
  if (indexed) {
    out->data_offset += palette_start + int64_t{palette_length} * ((palette_bits + 7) / 8);
  }
  return Status::Ok();
}

Status CheckTgaData(const uint8_t* d, size_t size, const std::string& name, const TgaLayout& t) {
  const int64_t n = static_cast<int64_t>(size);
  const int64_t pixels = MulSat(t.width, t.height);
  auto cut = [&](const std::string& what) {
    return FormatError(
        name + ": TGA is cut short: " + what + ", the file has " + std::to_string(size) + " bytes",
        kHintDamaged);
  };
  if (t.data_offset > n) {
    return cut("its header, image id and palette end at byte " + std::to_string(t.data_offset));
  }
  if (!t.rle) {
    const int64_t need = AddSat(t.data_offset, MulSat(pixels, t.pixel_bytes));
    if (need > n) {
      return cut("its " + Dims(t.width, t.height) + " pixels need " + std::to_string(need) +
                 " bytes");
    }
    return Status::Ok();
  }
  // Run-length packets: a count byte, then one pixel (a run) or `count` pixels (raw).
  // Packets may cross rows; stb stops reading once every pixel is covered.
  int64_t p = t.data_offset, covered = 0;
  while (covered < pixels) {
    if (p >= n) {
      return cut("its run-length packets cover " + std::to_string(covered) + " of " +
                 std::to_string(pixels) + " pixels");
    }
    const uint32_t head = d[p++];
    const int64_t count = std::min<int64_t>((head & 127) + 1, pixels - covered);
    p += (head & 128) ? t.pixel_bytes : count * t.pixel_bytes;
    if (p > n) {
      return cut("its run-length packets cover " + std::to_string(covered) + " of " +
                 std::to_string(pixels) + " pixels");
    }
    covered += count;
  }
  return Status::Ok();
}

}  // namespace gpen::image_checks

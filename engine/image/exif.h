// EXIF orientation of JPEG files, and the pixel mapping that puts an image upright.
//
// Phones and cameras store the sensor's pixels as they came and record how to turn
// them in the EXIF Orientation tag (0x0112); every viewer honours it, so a photo taken
// in portrait is stored sideways and shown upright. gpen does the same before the
// network sees the pixels, and writes its outputs upright (without EXIF).
//
// The parser reads hostile bytes: it walks the JPEG's marker segments up to the first
// scan, takes the first APP1 "Exif" segment, and reads only IFD0's entries (no
// recursion into sub-IFDs, no offsets followed but IFD0's own). Every offset is checked
// against the segment's end; anything malformed yields orientation 1 (as stored). It
// runs in time linear in the file size and allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gpen::exif {

// The orientation (1..8) recorded in a JPEG's EXIF, or 1 when there is none, it is not
// a JPEG, or the EXIF is malformed or gives a value outside 1..8.
int JpegOrientation(const uint8_t* data, size_t size);

// The same from a TIFF structure (what follows "Exif\0\0" in the APP1 segment).
int TiffOrientation(const uint8_t* tiff, size_t size);

// Orientations 5 to 8 turn the image by a quarter: width and height swap.
inline bool SwapsAxes(int orientation) {
  return orientation >= 5 && orientation <= 8;
}

// Where the stored pixel (x, y) of a w x h image lands in the upright image
// (width h for orientations 5..8, else w), as EXIF defines the tag (and as Pillow's
// ImageOps.exif_transpose applies it): 2 mirror, 3 rotate 180, 4 flip vertically,
// 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
// Returns the index y' * upright_width + x'.
inline int64_t UprightIndex(int orientation, int64_t x, int64_t y, int64_t w, int64_t h) {
  switch (orientation) {
    case 2:
      return y * w + (w - 1 - x);
    case 3:
      return (h - 1 - y) * w + (w - 1 - x);
    case 4:
      return (h - 1 - y) * w + x;
    case 5:
      return x * h + y;
    case 6:
      return x * h + (h - 1 - y);
    case 7:
      return (w - 1 - x) * h + (h - 1 - y);
    case 8:
      return (w - 1 - x) * h + y;
    default:
      return y * w + x;
  }
}

}  // namespace gpen::exif

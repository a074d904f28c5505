// The single translation unit that compiles stb_image and stb_image_write (Debian
// libstb-dev headers), and the glue of stb_glue.h, which needs stb's internals.
//
// Only the documented input formats are compiled (STBI_ONLY_*): PNG, JPEG, BMP, TGA.
// GIF, PSD, PIC, PNM and HDR are not in the binary, and with them go CVE-2021-42715
// (HDR: endless loop on truncated RLE), CVE-2021-42716 (PNM 16-bit overflow) and the
// GIF bugs of CVE-2023-45661/45664/45665/45666/45667. Only memory is decoded
// (STBI_NO_STDIO): image.cpp reads files itself.
//
// Debian 12 ships stb_image 2.27 as git snapshot 8b5f1f3 (2022-09-08). It has the
// fixes for CVE-2021-28021 and for stb issue #1178 (JPEG sampling factors), but not the
// ones upstream released in 2.28 (2023-01-29). What we do about each:
//  - JPEG DHT counts summing past 256 write past stbi__huffman (stb issue #1289, fix
//    96fe76c; found by fuzzing): format_checks.cpp walks every DHT segment stb would
//    read and refuses such files before stb sees them.
//  - stbi__jpeg left uninitialised (fix 5cfc2a7: an undefined Huffman table reads
//    garbage), TGA rows left uninitialised on short reads (CVE-2023-45663), DEFLATE
//    back-references to bytes not yet written: every allocation stb makes here is zeroed.
//  - IDAT chunks and zlib streams larger than the image (fix 84b9401; decompression
//    bombs): every decode runs under a byte budget sized from the header
//    (image.cpp), and an allocation past it fails ("outofmem" in stb's terms).
//  - TGA and BMP files cut short decode as zeros (and TGA as uninitialised memory):
//    format_checks.cpp compares the data the header promises with the file size.
//  - Signed overflow and over-wide shifts in the JPEG decoder (fixes 47164e4, 84b9401):
//    undefined behaviour without a memory effect on our targets; the fuzz build's UBSan
//    reports them.
//  - 4-component JPEGs: stb converts CMYK only with an Adobe APP14 marker of transform 0
//    and YCCK with transform 2; without the marker (or with transform 1) it reads the
//    file as YCbCr and drops the fourth component, where libjpeg, and so every viewer,
//    reads CMYK (no marker) or YCCK. LoadJpegFourComponents below decodes such files
//    with stb's own steps but returns the components as stored; image.cpp converts them.
// STBI_ASSERT is off in every build type: its checks can be reached by hostile input,
// and the engine never aborts on input (debug builds would).
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "image/stb_glue.h"

namespace {

// Allocation accounting for one decode on this thread. Outside a DecodeScope stb
// allocations are zeroed but not limited.
struct AllocState {
  bool active = false;
  int64_t budget = 0, live = 0, peak = 0;
  bool refused = false;
};
thread_local AllocState g_alloc;
constexpr size_t kAllocHeader = 16;  // keeps the user pointer 16-byte aligned

void* StbMalloc(size_t n) {
  if (g_alloc.active) {
    if (n > static_cast<uint64_t>(g_alloc.budget - g_alloc.live)) {
      g_alloc.refused = true;
      return nullptr;
    }
  }
  if (n > SIZE_MAX - kAllocHeader) return nullptr;
  // calloc: zeroed (see above), and for large blocks fresh pages cost nothing to zero.
  auto* block = static_cast<unsigned char*>(std::calloc(1, n + kAllocHeader));
  if (!block) return nullptr;
  std::memcpy(block, &n, sizeof n);
  if (g_alloc.active) {
    g_alloc.live += static_cast<int64_t>(n);
    if (g_alloc.live > g_alloc.peak) g_alloc.peak = g_alloc.live;
  }
  return block + kAllocHeader;
}

void StbFree(void* p) {
  if (!p) return;
  unsigned char* block = static_cast<unsigned char*>(p) - kAllocHeader;
  size_t n = 0;
  std::memcpy(&n, block, sizeof n);
  if (g_alloc.active) g_alloc.live = std::max<int64_t>(0, g_alloc.live - static_cast<int64_t>(n));
  std::free(block);
}

// Always a new zeroed block: the grown part must not hold stale bytes, and the budget
// sees old and new blocks together, as they are.
void* StbRealloc(void* p, size_t n) {
  if (!p) return StbMalloc(n);
  size_t old = 0;
  std::memcpy(&old, static_cast<unsigned char*>(p) - kAllocHeader, sizeof old);
  void* q = StbMalloc(n);
  if (!q) return nullptr;  // stb keeps and later frees the old block
  std::memcpy(q, p, old < n ? old : n);
  StbFree(p);
  return q;
}

}  // namespace

#define STBI_MALLOC(sz) StbMalloc(sz)
#define STBI_REALLOC(p, newsz) StbRealloc(p, newsz)
#define STBI_FREE(p) StbFree(p)
#define STBI_ASSERT(x) ((void)0)
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#include <stb_image_write.h>

namespace gpen::stb_glue {

namespace {

class DecodeScope {
 public:
  explicit DecodeScope(int64_t budget) {
    g_alloc = AllocState();
    g_alloc.active = true;
    g_alloc.budget = budget;
    stbi__g_failure_reason = nullptr;  // only this call's reason is reported
  }
  ~DecodeScope() { g_alloc = AllocState(); }
  int64_t peak() const { return g_alloc.peak; }
  bool refused() const { return g_alloc.refused; }
  std::string Reason() const {
    return stbi__g_failure_reason && *stbi__g_failure_reason
               ? std::string(stbi__g_failure_reason)
               : std::string("the decoder gave no reason");
  }
};

constexpr int64_t kHeaderBudget = 1 << 20;  // stbi__jpeg is about 20 KB

// The number of components a JPEG's frame header declares (0 if it cannot be read).
// Reads the header only (as stbi__jpeg_info does); the caller restarts the context.
int JpegComponents(stbi__context* s) {
  auto* j = static_cast<stbi__jpeg*>(stbi__malloc(sizeof(stbi__jpeg)));
  if (!j) return 0;
  j->s = s;
  const int n = stbi__decode_jpeg_header(j, STBI__SCAN_header) ? s->img_n : 0;
  STBI_FREE(j);
  return n;
}

// load_jpeg_image of stb 2.27 for a file of 4 components, up to its colour conversion:
// the components upsampled to the full size and interleaved as stored. *transform is
// the Adobe APP14 colour transform (-1 without the marker).
stbi_uc* LoadJpegFourComponents(stbi__context* s, int* out_x, int* out_y, int* transform) {
  auto* z = static_cast<stbi__jpeg*>(stbi__malloc(sizeof(stbi__jpeg)));
  if (!z) return stbi__errpuc("outofmem", "Out of memory");
  z->s = s;
  stbi__setup_jpeg(z);
  z->s->img_n = 0;  // makes stbi__cleanup_jpeg safe
  auto fail = [&](const char* why) -> stbi_uc* {
    stbi__cleanup_jpeg(z);
    STBI_FREE(z);
    return why ? stbi__errpuc(why, why) : nullptr;
  };
  if (!stbi__decode_jpeg_image(z)) return fail(nullptr);
  if (z->s->img_n != 4) return fail("the component count changed between header and image");
  stbi__resample res_comp[4];
  for (int k = 0; k < 4; ++k) {
    stbi__resample* r = &res_comp[k];
    z->img_comp[k].linebuf = static_cast<stbi_uc*>(stbi__malloc(z->s->img_x + 3));
    if (!z->img_comp[k].linebuf) return fail("Out of memory");
    r->hs = z->img_h_max / z->img_comp[k].h;
    r->vs = z->img_v_max / z->img_comp[k].v;
    r->ystep = r->vs >> 1;
    r->w_lores = (z->s->img_x + r->hs - 1) / r->hs;
    r->ypos = 0;
    r->line0 = r->line1 = z->img_comp[k].data;
    if (r->hs == 1 && r->vs == 1)
      r->resample = resample_row_1;
    else if (r->hs == 1 && r->vs == 2)
      r->resample = stbi__resample_row_v_2;
    else if (r->hs == 2 && r->vs == 1)
      r->resample = stbi__resample_row_h_2;
    else if (r->hs == 2 && r->vs == 2)
      r->resample = z->resample_row_hv_2_kernel;
    else
      r->resample = stbi__resample_row_generic;
  }
  auto* output = static_cast<stbi_uc*>(stbi__malloc_mad3(4, z->s->img_x, z->s->img_y, 1));
  if (!output) return fail("Out of memory");
  stbi_uc* coutput[4] = {nullptr, nullptr, nullptr, nullptr};
  for (stbi__uint32 j = 0; j < z->s->img_y; ++j) {
    stbi_uc* out = output + size_t{4} * z->s->img_x * j;
    for (int k = 0; k < 4; ++k) {
      stbi__resample* r = &res_comp[k];
      const int y_bot = r->ystep >= (r->vs >> 1);
      coutput[k] = r->resample(z->img_comp[k].linebuf, y_bot ? r->line1 : r->line0,
                               y_bot ? r->line0 : r->line1, r->w_lores, r->hs);
      if (++r->ystep >= r->vs) {
        r->ystep = 0;
        r->line0 = r->line1;
        if (++r->ypos < z->img_comp[k].y) r->line1 += z->img_comp[k].w2;
      }
    }
    for (stbi__uint32 i = 0; i < z->s->img_x; ++i, out += 4) {
      for (int k = 0; k < 4; ++k) out[k] = coutput[k][i];
    }
  }
  *out_x = static_cast<int>(z->s->img_x);
  *out_y = static_cast<int>(z->s->img_y);
  *transform = z->app14_color_transform;
  stbi__cleanup_jpeg(z);
  STBI_FREE(z);
  return output;
}

}  // namespace

const char* FormatName(Format f) {
  switch (f) {
    case Format::kJpeg:
      return "JPEG";
    case Format::kPng:
      return "PNG";
    case Format::kBmp:
      return "BMP";
    case Format::kTga:
      return "TGA";
    case Format::kUnknown:
      break;
  }
  return "unknown";
}

Format Detect(const uint8_t* data, size_t size) {
  if (size == 0 || size > static_cast<size_t>(INT_MAX)) return Format::kUnknown;
  DecodeScope scope(kHeaderBudget);
  stbi__context s;
  stbi__start_mem(&s, data, static_cast<int>(size));
  if (stbi__jpeg_test(&s)) return Format::kJpeg;
  if (stbi__png_test(&s)) return Format::kPng;
  if (stbi__bmp_test(&s)) return Format::kBmp;
  if (stbi__tga_test(&s)) return Format::kTga;  // last: stb's own order, a weak test
  return Format::kUnknown;
}

bool Info(Format f, const uint8_t* data, size_t size, Header* out, std::string* reason) {
  *out = Header();
  if (f == Format::kUnknown || size == 0 || size > static_cast<size_t>(INT_MAX)) {
    *reason = "not a supported format";
    return false;
  }
  DecodeScope scope(kHeaderBudget);
  stbi__context s;
  stbi__start_mem(&s, data, static_cast<int>(size));
  int ok = 0;
  switch (f) {
    case Format::kJpeg:
      ok = stbi__jpeg_info(&s, &out->width, &out->height, &out->channels);
      break;
    case Format::kPng:
      ok = stbi__png_info(&s, &out->width, &out->height, &out->channels);
      break;
    case Format::kBmp:
      ok = stbi__bmp_info(&s, &out->width, &out->height, &out->channels);
      break;
    case Format::kTga:
      ok = stbi__tga_info(&s, &out->width, &out->height, &out->channels);
      break;
    case Format::kUnknown:
      break;
  }
  if (!ok) {
    *reason = scope.Reason();
    return false;
  }
  if (f == Format::kPng) {
    stbi__start_mem(&s, data, static_cast<int>(size));
    out->is16 = stbi__png_is16(&s) != 0;
  }
  return true;
}

bool Decode(Format f, const uint8_t* data, size_t size, int64_t budget_bytes, Pixels* out,
            std::string* reason) {
  *out = Pixels();
  if (f == Format::kUnknown || size == 0 || size > static_cast<size_t>(INT_MAX)) {
    *reason = "not a supported format";
    return false;
  }
  DecodeScope scope(budget_bytes);
  stbi__context s;
  stbi__start_mem(&s, data, static_cast<int>(size));
  stbi__result_info ri;
  std::memset(&ri, 0, sizeof ri);
  ri.bits_per_channel = 8;  // the loaders raise it to 16 for 16-bit PNGs
  ri.channel_order = STBI_ORDER_RGB;
  int x = 0, y = 0, comp = 0;
  void* p = nullptr;
  // The format's loader directly (stbi__load_main would run every format's test again
  // and flip or convert on request): req_comp 0 keeps the file's channels.
  switch (f) {
    case Format::kJpeg:
      if (JpegComponents(&s) == 4) {
        stbi__start_mem(&s, data, static_cast<int>(size));
        int transform = -1;
        p = LoadJpegFourComponents(&s, &x, &y, &transform);
        comp = 4;
        // libjpeg's reading (jdapimin.c): CMYK without an Adobe marker or with
        // transform 0; YCCK for transform 2 and, as it assumes, any other value.
        out->color = transform <= 0 ? Color::kCmyk : Color::kYcck;
      } else {
        stbi__start_mem(&s, data, static_cast<int>(size));
        p = stbi__jpeg_load(&s, &x, &y, &comp, 0, &ri);
      }
      break;
    case Format::kPng:
      p = stbi__png_load(&s, &x, &y, &comp, 0, &ri);
      break;
    case Format::kBmp:
      p = stbi__bmp_load(&s, &x, &y, &comp, 0, &ri);
      break;
    case Format::kTga:
      p = stbi__tga_load(&s, &x, &y, &comp, 0, &ri);
      break;
    case Format::kUnknown:
      break;
  }
  out->peak_bytes = scope.peak();
  out->over_budget = scope.refused();
  if (!p) {
    *reason = scope.Reason();
    out->color = Color::kDirect;
    return false;
  }
  out->data = p;
  out->width = x;
  out->height = y;
  out->channels = comp;
  out->bits = ri.bits_per_channel;
  return true;
}

void Free(void* pixels) {
  StbFree(pixels);
}

}  // namespace gpen::stb_glue

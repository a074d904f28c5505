// Image path tests: PNG outputs within 1 level of upstream's, loaders, resize, atomic writes.
//
// The fixture PNGs come from tests/data (tiny64, always) or ../shared (s128,
// bfr256_fp16 and the Solvay photo, skipped with a message when absent). The cases at
// the end (issue 9) build hostile files in memory, one class of attack each: zero
// sizes, formats not compiled in, JPEG Huffman overflows, decompression bombs,
// truncated files, stale error text, FIFOs.
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <stb_image_write.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>

#include "core/check.h"
#include "fixtures.h"
#include "graph/gpen_graph.h"
#include "image/image.h"
#include "net_helpers.h"
#include "session.h"

using namespace gpen;
using namespace gpen::test;

namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/gpen_test_XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return tmpl;
}

int CountFiles(const std::string& dir) {
  int n = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.' || std::string(e->d_name).find(".tmp.") != std::string::npos)
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
  closedir(d);
  return n;
}

}  // namespace

// The whole image path as `gpen enhance --aligned` runs it, against output{i}.png that
// upstream wrote with clip(x*0.5+0.5)*255 truncation. 1 level is the bound:
// float32 rounding can move a value across an integer boundary.
TEST_CASE("image gpen fixtures: PNG outputs within 1 level of upstream's") {
  for (const char* set : {"tiny64", "s128", "bfr256_fp16"}) {
    std::string dir;
    if (!SkipUnlessGpenFixture(set, &dir)) continue;  // tiny64 always runs
    auto w = LoadGpenModel(ModelsDir() + "/" + set + ".safetensors");
    REQUIRE_MESSAGE(w.ok(), w.status().ToString());
    auto shared = std::make_shared<GpenWeights>(std::move(w).value());
    GpenGraphOptions go;
    auto s = Session::Create(GpenNetwork::Wrap(shared), go, Device::kCpu, {});
    REQUIRE(s.ok());
    const int64_t size = shared->arch.out_size;
    for (int i = 0; FileExists(dir + "/input" + std::to_string(i) + ".png"); ++i) {
      auto in = LoadImage(dir + "/input" + std::to_string(i) + ".png");
      auto ref = LoadImage(dir + "/output" + std::to_string(i) + ".png");
      REQUIRE(in.ok());
      REQUIRE(ref.ok());
      std::vector<float> x(static_cast<size_t>(3 * size * size)), y(x.size());
      ToModelInput(in.value(), size, x.data());
      REQUIRE(s.value()->Run(x.data(), y.data()).ok());
      Image out = FromModelOutput(y.data(), size);
      int worst = 0;
      int64_t off1 = 0;
      for (size_t k = 0; k < out.rgb.size(); ++k) {
        const int d = std::abs(static_cast<int>(std::lround(out.rgb[k] * 255)) -
                               static_cast<int>(std::lround(ref->rgb[k] * 255)));
        worst = std::max(worst, d);
        off1 += d > 0;
      }
      MESSAGE(std::string(set) << " image " << i << ": max level difference " << worst << ", "
                               << off1 << " of " << out.rgb.size() << " values differ");
      CHECK(worst <= 1);
    }
  }
}

TEST_CASE("image io: gray, gray+alpha, RGBA and 16-bit PNG load; alpha is kept") {
  const std::string dir = TempDir();
  const int w = 5, h = 3;
  std::vector<uint8_t> g(w * h), ga(w * h * 2), rgba(w * h * 4);
  for (int i = 0; i < w * h; ++i) {
    g[i] = static_cast<uint8_t>(i * 10);
    ga[2 * i] = static_cast<uint8_t>(i * 10);
    ga[2 * i + 1] = 200;
    for (int c = 0; c < 4; ++c) rgba[4 * i + c] = static_cast<uint8_t>(i * 10 + c);
  }
  REQUIRE(stbi_write_png((dir + "/g.png").c_str(), w, h, 1, g.data(), w));
  REQUIRE(stbi_write_png((dir + "/ga.png").c_str(), w, h, 2, ga.data(), w * 2));
  REQUIRE(stbi_write_png((dir + "/rgba.png").c_str(), w, h, 4, rgba.data(), w * 4));
  auto a = LoadImage(dir + "/g.png");
  REQUIRE(a.ok());
  CHECK(a->alpha.empty());
  CHECK(a->rgb[2 * w * h + 7] == doctest::Approx(70 / 255.0));
  auto b = LoadImage(dir + "/ga.png");
  REQUIRE(b.ok());
  CHECK(b->alpha[3] == doctest::Approx(200 / 255.0));
  auto c = LoadImage(dir + "/rgba.png");
  REQUIRE(c.ok());
  CHECK(c->rgb[1 * w * h + 4] == doctest::Approx(41 / 255.0));
  CHECK(c->alpha[4] == doctest::Approx(43 / 255.0));
  // Round trip of an RGBA image keeps alpha.
  REQUIRE(SaveImage(dir + "/out.png", c.value()).ok());
  auto d = LoadImage(dir + "/out.png");
  REQUIRE(d.ok());
  CHECK(d->alpha == c->alpha);

  // 16-bit PNGs (written by tests/py/make_test_images.py; stb writes 8-bit only).
  auto r16 = LoadImage(ModelsDir() + "/rgb16.png");
  REQUIRE_MESSAGE(r16.ok(), r16.status().ToString());
  CHECK(r16->source_16bit);
  CHECK(r16->width == 7);
  // pixel x=3, y=2, channel 1: 3000 + 200 + 10 + 1
  CHECK(r16->rgb[1 * 35 + 2 * 7 + 3] == doctest::Approx(3211 / 65535.0));
  auto g16 = LoadImage(ModelsDir() + "/gray16.png");
  REQUIRE(g16.ok());
  CHECK(g16->rgb[0 * 35 + 4 * 7 + 6] == doctest::Approx(54004 / 65535.0));
  CHECK(g16->rgb[2 * 35 + 4 * 7 + 6] == doctest::Approx(54004 / 65535.0));

  // The real RGBA photo (in ../shared only: skipped when it is absent).
  const std::string photo = SharedFileOrSkip("images/solvay_conference_1927.png");
  if (photo.empty()) return;
  auto s = LoadImage(photo);
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  CHECK(s->width == 1328);
  CHECK(s->height == 568);
  CHECK(s->source_channels == 4);
  CHECK(s->alpha.size() == 1328u * 568u);
}

TEST_CASE("image io: unreadable files give a clear error") {
  const std::string dir = TempDir();
  FILE* f = std::fopen((dir + "/bad.png").c_str(), "wb");
  std::fputs("this is not a png", f);
  std::fclose(f);
  auto a = LoadImage(dir + "/bad.png");
  REQUIRE_FALSE(a.ok());
  CHECK(a.status().message().find("bad.png: not a readable image") != std::string::npos);
  auto b = LoadImage(dir + "/missing.png");
  REQUIRE_FALSE(b.ok());
  CHECK(b.status().message().find("missing.png: cannot open") != std::string::npos);
}

TEST_CASE("image io: atomic write leaves no temporary file, failure keeps the old file") {
  const std::string dir = TempDir();
  Image img;
  img.width = 4;
  img.height = 2;
  img.rgb.assign(24, 0.5f);
  REQUIRE(SaveImage(dir + "/a.png", img).ok());
  CHECK(CountFiles(dir) == 1);
  // Writing into a folder that does not exist fails with a message and creates nothing.
  Status st = SaveImage(dir + "/nope/a.png", img);
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("nope/a.png") != std::string::npos);
  CHECK(CountFiles(dir) == 1);
}

TEST_CASE("image resize: identity, constant, and half-pixel centres like cv2 INTER_LINEAR") {
  std::vector<float> p = {0, 1, 2, 3};  // 1 x 4 row, 1 channel, 1 row
  CHECK(ResizeBilinear(p, 1, 1, 4, 1, 4) == p);
  // Upscale 4 -> 8: cv2 gives 0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3
  const auto u = ResizeBilinear(p, 1, 1, 4, 1, 8);
  const float want[8] = {0, 0.25f, 0.75f, 1.25f, 1.75f, 2.25f, 2.75f, 3};
  for (int i = 0; i < 8; ++i) CHECK(u[i] == doctest::Approx(want[i]));
  // Downscale 4 -> 2: centres at 0.5 and 2.5
  const auto d = ResizeBilinear(p, 1, 1, 4, 1, 2);
  CHECK(d[0] == doctest::Approx(0.5));
  CHECK(d[1] == doctest::Approx(2.5));
}

TEST_CASE("image io: JPEG, BMP and TGA round trips") {
  const std::string dir = TempDir();
  Image img;
  img.width = 9;
  img.height = 7;
  img.rgb.resize(3 * 63);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<float>(i % 63) / 62.f;
  for (const char* ext : {"bmp", "tga", "jpg"}) {
    const std::string p = dir + "/x." + ext;
    REQUIRE(SaveImage(p, img).ok());
    auto back = LoadImage(p);
    REQUIRE_MESSAGE(back.ok(), back.status().ToString());
    CHECK(back->width == 9);
    CHECK(back->height == 7);
    double worst = 0;
    for (size_t i = 0; i < img.rgb.size(); ++i)
      worst = std::max(worst, std::fabs(double(back->rgb[i]) - img.rgb[i]));
    // Lossless formats within 8-bit rounding; JPEG (quality 95, chroma subsampled) loosely.
    CHECK(worst <= (std::string(ext) == "jpg" ? 0.2 : 0.5 / 255 + 1e-6));
  }
  CHECK_FALSE(SaveImage(dir + "/x.gif", img).ok());
}

// ---- Hostile image files (issue 9): each class of attack is refused, naming the file. ----

namespace {

using Bytes = std::vector<uint8_t>;

void AppendTo(void* ctx, void* data, int size) {
  auto* v = static_cast<Bytes*>(ctx);
  v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

// Deterministic pixels with some structure, so that codecs have work to do.
Bytes Pattern(int w, int h, int ch) {
  Bytes px(static_cast<size_t>(w * h * ch));
  uint32_t r = 12345;
  for (size_t i = 0; i < px.size(); ++i) {
    r = r * 1103515245u + 12345u;
    px[i] = static_cast<uint8_t>((i * 7) ^ (r >> 24));
  }
  return px;
}

// Encodes with stb_image_write (the project's writer).
Bytes Encode(const std::string& fmt, int w, int h, int ch, bool tga_rle = true) {
  const Bytes px = Pattern(w, h, ch);
  Bytes out;
  int ok = 0;
  if (fmt == "png") ok = stbi_write_png_to_func(AppendTo, &out, w, h, ch, px.data(), w * ch);
  if (fmt == "jpg") ok = stbi_write_jpg_to_func(AppendTo, &out, w, h, ch, px.data(), 90);
  if (fmt == "bmp") ok = stbi_write_bmp_to_func(AppendTo, &out, w, h, ch, px.data());
  if (fmt == "tga") {
    stbi_write_tga_with_rle = tga_rle ? 1 : 0;
    ok = stbi_write_tga_to_func(AppendTo, &out, w, h, ch, px.data());
    stbi_write_tga_with_rle = 1;
  }
  REQUIRE(ok);
  return out;
}

void Put16le(Bytes* b, uint32_t v) {
  b->push_back(static_cast<uint8_t>(v));
  b->push_back(static_cast<uint8_t>(v >> 8));
}
void Put32le(Bytes* b, uint32_t v) {
  Put16le(b, v & 0xFFFF);
  Put16le(b, v >> 16);
}
void Put32be(Bytes* b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b->push_back(static_cast<uint8_t>(v >> s));
}

// A BMP with a 40-byte info header. `rows` are the stored rows, padding included.
Bytes Bmp(int32_t w, int32_t h, int bpp, int palette, const Bytes& rows, int32_t offset = -1) {
  Bytes b = {'B', 'M'};
  const uint32_t off = offset >= 0 ? static_cast<uint32_t>(offset) : 54u + 4u * palette;
  Put32le(&b, off + static_cast<uint32_t>(rows.size()));
  Put32le(&b, 0);
  Put32le(&b, off);
  Put32le(&b, 40);
  Put32le(&b, static_cast<uint32_t>(w));
  Put32le(&b, static_cast<uint32_t>(h));
  Put16le(&b, 1);
  Put16le(&b, static_cast<uint32_t>(bpp));
  for (int i = 0; i < 6; ++i) Put32le(&b, 0);  // compression 0, sizes, resolution, colours
  for (int i = 0; i < palette; ++i) Put32le(&b, 0x00102030u * static_cast<uint32_t>(i + 1));
  b.resize(off, 0);
  b.insert(b.end(), rows.begin(), rows.end());
  return b;
}

uint32_t Crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

void PngChunk(Bytes* png, const char* type, const Bytes& data, uint32_t length_field = 0) {
  Put32be(png, length_field ? length_field : static_cast<uint32_t>(data.size()));
  Bytes td(type, type + 4);
  td.insert(td.end(), data.begin(), data.end());
  png->insert(png->end(), td.begin(), td.end());
  Put32be(png, Crc32(td.data(), td.size()));
}

Bytes PngHeader(uint32_t w, uint32_t h, uint8_t depth, uint8_t color) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  Put32be(&ihdr, w);
  Put32be(&ihdr, h);
  ihdr.insert(ihdr.end(), {depth, color, 0, 0, 0});
  PngChunk(&png, "IHDR", ihdr);
  return png;
}

// A zlib stream (fixed Huffman codes) that inflates to about `out_bytes` zeros: one
// literal, then back-references of length 258 at distance 1 (13 bits each).
Bytes DeflateBomb(size_t out_bytes) {
  Bytes z = {0x78, 0x01};
  uint32_t acc = 0;
  int nbits = 0;
  auto put = [&](uint32_t v, int n) {  // LSB first
    for (int i = 0; i < n; ++i) {
      acc |= ((v >> i) & 1u) << nbits;
      if (++nbits == 8) {
        z.push_back(static_cast<uint8_t>(acc));
        acc = 0;
        nbits = 0;
      }
    }
  };
  auto code = [&](uint32_t c, int n) {  // Huffman codes go MSB first
    for (int i = n - 1; i >= 0; --i) put((c >> i) & 1u, 1);
  };
  put(1, 1);      // final block
  put(1, 2);      // fixed Huffman codes
  code(0x30, 8);  // literal 0
  for (size_t n = 1; n + 258 <= out_bytes; n += 258) {
    code(0xC5, 8);  // length code 285: 258 bytes
    code(0, 5);     // distance code 0: 1 byte back
  }
  code(0, 7);  // end of block
  if (nbits) z.push_back(static_cast<uint8_t>(acc));
  Put32be(&z, 0);  // Adler-32 (not checked by the decoder)
  return z;
}

Status DecodeStatus(const Bytes& b, const std::string& name, ImageLoadOptions o = {}) {
  auto r = DecodeImage(b.data(), b.size(), name, o);
  return r.ok() ? Status::Ok() : r.status();
}

void ExpectRefused(const Bytes& b, const std::string& name, const std::string& needle) {
  const Status s = DecodeStatus(b, name);
  REQUIRE_MESSAGE(!s.ok(), name << " was accepted");
  CHECK_MESSAGE(s.message().find(name) != std::string::npos, s.message());
  CHECK_MESSAGE(s.message().find(needle) != std::string::npos,
                "expected '" << needle << "' in: " << s.ToString());
}

int64_t PeakRssBytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

void WriteBytes(const std::string& path, const Bytes& b) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(std::fwrite(b.data(), 1, b.size(), f) == b.size());
  std::fclose(f);
}

}  // namespace

TEST_CASE("image zero-size class: width or height 0 is refused naming the file") {
  // BMP: stb accepted these and the resize then read through a null pointer.
  ExpectRefused(Bmp(0, 5, 24, 0, {}), "zero-w.bmp", "positive width and height");
  ExpectRefused(Bmp(5, 0, 24, 0, {}), "zero-h.bmp", "positive width and height");
  ExpectRefused(Bmp(-3, 5, 24, 0, Bytes(60)), "negative-w.bmp", "positive width and height");
  Bytes png = PngHeader(0, 7, 8, 2);
  PngChunk(&png, "IEND", {});
  ExpectRefused(png, "zero.png", "zero width or height");
  Bytes tga = Encode("tga", 4, 3, 3);
  tga[12] = tga[13] = 0;  // width 0: not even a TGA any more
  ExpectRefused(tga, "zero.tga", "not a readable image");
  // PPM and HDR were the other formats with this bug: no longer compiled in.
  const std::string ppm = "P6\n0 0\n255\n";
  ExpectRefused(Bytes(ppm.begin(), ppm.end()), "zero.ppm",
                "a PNM/PPM file, which is not supported");
  const std::string hdr = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 0 +X 0\n";
  ExpectRefused(Bytes(hdr.begin(), hdr.end()), "zero.hdr", "a Radiance HDR file");
  // And the resize itself refuses an empty source instead of reading nothing.
  CHECK_THROWS_AS(ResizeBilinear({}, 3, 0, 0, 8, 8), InternalError);
}

TEST_CASE("image formats class: only PNG, JPEG, BMP and TGA are decoded") {
  const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0,   0, 0, ',', 0,
                         0,   0,   0,   1,   0,   1,   0, 0, 2, 2, 'D', 1, 0, ';'};
  ExpectRefused(Bytes(gif, gif + sizeof gif), "x.gif", "a GIF file, which is not supported");
  const std::string psd = "8BPS\x00\x01";
  ExpectRefused(Bytes(psd.begin(), psd.end()), "x.psd", "Photoshop PSD");
  for (const char* fmt : {"png", "jpg", "bmp", "tga"}) {
    const Bytes b = Encode(fmt, 5, 4, 3);
    auto img = DecodeImage(b.data(), b.size(), std::string("ok.") + fmt);
    REQUIRE_MESSAGE(img.ok(), img.status().ToString());
    CHECK(img->width == 5);
    CHECK(img->height == 4);
  }
}

// stb_image 2.27 (Debian 12) writes past its Huffman tables when a DHT segment declares
// more than 256 codes (stb issue #1289): such files never reach it.
TEST_CASE("image jpeg huffman class: a DHT with more than 256 codes is refused before decoding") {
  const Bytes good = Encode("jpg", 16, 16, 3);
  REQUIRE(DecodeStatus(good, "good.jpg").ok());
  size_t dht = 0;
  for (size_t i = 2; i + 1 < good.size(); ++i) {
    if (good[i] == 0xFF && good[i + 1] == 0xC4) {
      dht = i;
      break;
    }
  }
  REQUIRE(dht > 0);
  Bytes header_bad = good;
  header_bad[dht + 5 + 15] = 255;  // the first table's count of 16-bit codes
  header_bad[dht + 5 + 14] = 255;
  ExpectRefused(header_bad, "dht.jpg", "at most 256 are possible");

  // A DHT after the entropy-coded data (where progressive files put them) is found too.
  Bytes late = good;
  REQUIRE(late[late.size() - 2] == 0xFF);
  REQUIRE(late[late.size() - 1] == 0xD9);
  Bytes seg = {0xFF, 0xC4, 0x00, 0x13, 0x10};
  seg.insert(seg.end(), 16, 0xFF);
  late.insert(late.end() - 2, seg.begin(), seg.end());
  ExpectRefused(late, "late-dht.jpg", "declares 4080 codes");

  // The same bytes inside a comment are not a DHT: the file still loads.
  Bytes comment = good;
  Bytes com = {0xFF, 0xFE, 0x00, static_cast<uint8_t>(2 + seg.size())};
  com.insert(com.end(), seg.begin(), seg.end());
  comment.insert(comment.begin() + 2, com.begin(), com.end());
  const Status s = DecodeStatus(comment, "comment.jpg");
  CHECK_MESSAGE(s.ok(), s.ToString());
}

TEST_CASE("image bomb class: a small PNG declaring 16384x16384 is refused from its header") {
  Bytes png = PngHeader(16384, 16384, 8, 2);
  PngChunk(&png, "IDAT", DeflateBomb(1 << 16));
  PngChunk(&png, "IEND", {});
  CHECK(png.size() < 4096);
  const int64_t rss0 = PeakRssBytes();
  const Status s = DecodeStatus(png, "bomb.png");
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == ErrorCode::kOutOfMemory);
  CHECK_MESSAGE(s.message().find("bomb.png: image is 16384x16384 (268.4 megapixels), more than "
                                 "the limit of 40.0 megapixels") != std::string::npos,
                s.message());
  CHECK(s.hint().find("--max-pixels 268435456") != std::string::npos);
  CHECK((PeakRssBytes() - rss0) < (int64_t{64} << 20));

  // The limit is an option.
  const Bytes small = Encode("png", 5, 3, 3);
  ImageLoadOptions tight;
  tight.max_pixels = 14;
  CHECK(DecodeStatus(small, "small.png", tight).code() == ErrorCode::kOutOfMemory);
  tight.max_pixels = 15;
  CHECK(DecodeStatus(small, "small.png", tight).ok());
  tight.max_pixels = 0;
  CHECK(DecodeStatus(small, "small.png", tight).code() == ErrorCode::kInvalidArgument);

  // What the planner counts: the header's size and the memory decoding takes.
  const std::string dir = TempDir();
  WriteBytes(dir + "/p.png", Encode("png", 33, 17, 4));
  auto info = ProbeImage(dir + "/p.png");
  REQUIRE_MESSAGE(info.ok(), info.status().ToString());
  CHECK(info->format == "PNG");
  CHECK(info->width == 33);
  CHECK(info->height == 17);
  CHECK(info->channels == 4);
  auto img = LoadImage(dir + "/p.png");
  REQUIRE(img.ok());
  CHECK(info->decoded_bytes >= img->ByteSize());
  CHECK(info->peak_bytes >= info->decoded_bytes + info->file_bytes);
  WriteBytes(dir + "/bomb.png", png);
  CHECK(ProbeImage(dir + "/bomb.png").status().code() == ErrorCode::kOutOfMemory);
}

// A header within the limit, but compressed data that inflates far past it (stb would
// inflate all of it, 256 MiB here, before noticing): the decoder's budget stops it.
TEST_CASE("image bomb class: a zlib stream expanding past the declared size fails in budget") {
  Bytes png = PngHeader(64, 64, 8, 0);
  PngChunk(&png, "IDAT", DeflateBomb(size_t{256} << 20));
  PngChunk(&png, "IEND", {});
  CHECK(png.size() < (2 << 20));
  const int64_t rss0 = PeakRssBytes();
  const auto t0 = std::chrono::steady_clock::now();
  const Status s = DecodeStatus(png, "zbomb.png");
  REQUIRE_FALSE(s.ok());
  CHECK_MESSAGE(
      s.message().find("zbomb.png: decoding the PNG needs more than") != std::string::npos,
      s.message());
  CHECK(s.message().find("decompression bomb") != std::string::npos);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 5.0);
  CHECK((PeakRssBytes() - rss0) < (int64_t{64} << 20));
}

TEST_CASE("image truncation class: BMP, TGA, PNG and JPEG cut short are refused") {
  struct Case {
    const char* fmt;
    bool rle;
    const char* name;
  };
  for (const Case& c : {Case{"bmp", false, "cut.bmp"}, Case{"tga", false, "cut.tga"},
                        Case{"tga", true, "cut-rle.tga"}, Case{"png", false, "cut.png"},
                        Case{"jpg", false, "cut.jpg"}}) {
    const Bytes whole = Encode(c.fmt, 33, 17, 3, c.rle);
    REQUIRE_MESSAGE(DecodeStatus(whole, c.name).ok(), c.name);
    for (double keep : {0.1, 0.5, 0.9}) {
      Bytes cut(whole.begin(), whole.begin() + static_cast<int64_t>(whole.size() * keep));
      const Status s = DecodeStatus(cut, c.name);
      CHECK_MESSAGE(!s.ok(), c.name << " cut to " << keep << " was accepted");
      CHECK_MESSAGE(s.message().find(c.name) != std::string::npos, s.message());
      if (c.fmt[0] == 'b' || c.fmt[0] == 't') {
        CHECK_MESSAGE(s.message().find("cut short") != std::string::npos, s.message());
      }
    }
  }
  // A BMP palette: indices past its end read stb's uninitialised stack; refused.
  const Bytes rows = {0, 1, 1, 0, /*row 2*/ 1, 5, 0, 0};  // 3 pixels + pad per row
  CHECK(DecodeStatus(Bmp(3, 2, 8, 2, {0, 1, 1, 0, 1, 0, 0, 0}), "pal.bmp").ok());
  ExpectRefused(Bmp(3, 2, 8, 2, rows), "pal.bmp", "uses colour 5, but the palette has 2");
  ExpectRefused(Bmp(3, 2, 8, 0, rows, 54), "nopal.bmp", "needs a palette of 1 to 256 colours");
  ExpectRefused(Bmp(3, 2, 24, 0, Bytes(24), 30), "offset.bmp", "lies inside the header");
  // Top-down BMPs (negative height) load the right way up.
  const Bytes td = Bmp(1, -2, 24, 0, {255, 0, 0, 0, 0, 0, 255, 0});  // BGR: blue, then red
  auto img = DecodeImage(td.data(), td.size(), "topdown.bmp");
  REQUIRE_MESSAGE(img.ok(), img.status().ToString());
  CHECK(img->height == 2);
  CHECK(img->rgb[2 * 2 + 0] == doctest::Approx(1.0));  // blue plane, top row
  CHECK(img->rgb[0 * 2 + 1] == doctest::Approx(1.0));  // red plane, bottom row
}

// stb's failure reason is global (thread-local): a PNG failure that sets none used to be
// reported with the reason an earlier call, or another format's test, had left there.
TEST_CASE("image error text class: the failure reason belongs to the failing call") {
  const Bytes jpeg_garbage = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x02, 0x00};
  ExpectRefused(jpeg_garbage, "first.jpg", "JPEG");
  Bytes png = PngHeader(4, 4, 8, 0);
  PngChunk(&png, "IDAT", Bytes(16, 0));
  PngChunk(&png, "IDAT", {}, 0x7FFFFFF8u);  // stb fails on this one without a reason
  const Status s = DecodeStatus(png, "second.png");
  REQUIRE_FALSE(s.ok());
  CHECK_MESSAGE(s.message().find("second.png: cannot decode the PNG") != std::string::npos,
                s.message());
  CHECK_MESSAGE(s.message().find("JPEG") == std::string::npos, s.message());
}

TEST_CASE("image fifo class: a FIFO, a folder or a device is refused without blocking") {
  const std::string dir = TempDir();
  const std::string fifo = dir + "/pipe.png";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto pending = std::async(std::launch::async, [&] { return LoadImage(fifo).status(); });
  if (pending.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    const int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // unblock the reader
    if (fd >= 0) close(fd);
    FAIL("LoadImage blocked on a FIFO");
  }
  const Status s = pending.get();
  CHECK(s.code() == ErrorCode::kIo);
  CHECK_MESSAGE(
      s.message().find("pipe.png: is a FIFO (named pipe), not a regular file") != std::string::npos,
      s.message());
  CHECK(ProbeImage(fifo).status().message().find("FIFO") != std::string::npos);
  CHECK(CheckRegularFile(fifo).message().find("FIFO") != std::string::npos);
  CHECK(LoadImage(dir).status().message().find("is a folder") != std::string::npos);
  CHECK(LoadImage("/dev/null").status().message().find("is a device") != std::string::npos);
  WriteBytes(dir + "/ok.png", Encode("png", 2, 2, 3));
  CHECK(CheckRegularFile(dir + "/ok.png").ok());
  unlink(fifo.c_str());
}

// The fuzz target's seeds (tests/fuzz/corpus_image) are valid files of every documented
// format, variants included (16-bit, palette, interlaced, progressive, run-length).
TEST_CASE("image fuzz corpus: every seed decodes") {
  const std::string dir = TestDataDir() + "/../fuzz/corpus_image";
  DIR* d = opendir(dir.c_str());
  REQUIRE_MESSAGE(d != nullptr, dir);
  int n = 0;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (!HasImageExtension(name)) continue;
    auto img = LoadImage(dir + "/" + name);
    CHECK_MESSAGE(img.ok(), img.status().ToString());
    ++n;
  }
  closedir(d);
  CHECK(n >= 8);
}

// Image path tests: PNG outputs within 1 level of upstream's, loaders, resize, atomic writes.
//
// The fixture PNGs come from tests/data (tiny64, always) or ../shared (s128,
// bfr256_fp16 and the Solvay photo, skipped with a message when absent).
#include <dirent.h>
#include <doctest/doctest.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <memory>

#include "fixtures.h"
#include "image/image.h"
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
    auto s = GpenSession::Create(shared, go, Device::kCpu, {});
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

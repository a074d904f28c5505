// Tiling of image networks: the grid, the blend weights, the assembler, and tiled runs
// against untiled ones.
//
// The weights are checked exactly where they are defined (they sum to 1 at every input
// position and cover every pixel), at odd sizes, with tiles larger than the image, and
// with the network's input multiple. Tiled against untiled: with a pad at least the
// receptive field of rrdb-tiny (a radius of about 34 input pixels: 32 3x3 convolutions at
// the input resolution, 4 more at 2x and 4x) plus the blend band's half-width, every output pixel
// is computed from exactly the inputs the untiled network uses, so the outputs agree to float
// rounding (OpenBLAS may sum a different number of columns at once: 1e-5).
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "compare.h"
#include "net/registry.h"
#include "session.h"
#include "tiling/assembler.h"
#include "tiling/tiled_image.h"

using namespace gpen;
using namespace gpen::test;

TEST_CASE("tiling grid: weights sum to 1 and cover every pixel, odd sizes, tiles past the image") {
  for (int64_t align : {1, 2, 4}) {
    for (int64_t len : {4, 8, 36, 100, 257 * 4}) {
      if (len % align) continue;
      for (int64_t tile : {0, 16, 17, 48, 1000}) {
        for (int64_t pad : {0, 3, 16, 33}) {
          const AxisTiles a = TileAxis(len, tile, pad, align);
          CAPTURE(align);
          CAPTURE(len);
          CAPTURE(tile);
          CAPTURE(pad);
          REQUIRE(a.count() >= 1);
          CHECK(a.core_begin.front() == 0);
          CHECK(a.core_end.back() == len);
          for (int64_t i = 0; i < a.count(); ++i) {
            CHECK(a.core_begin[i] % align == 0);
            CHECK(a.window_begin[i] % align == 0);
            CHECK(a.window_begin[i] >= 0);
            CHECK(a.window_begin[i] + a.window <= len);
            // The window holds everything the tile contributes to.
            CHECK(a.window_begin[i] <= a.ReachBegin(i));
            CHECK(a.ReachEnd(i) <= a.window_begin[i] + a.window);
            if (i > 0) CHECK(a.core_begin[i] == a.core_end[i - 1]);
          }
          // Sub-pixel positions too: an output pixel of a x4 network samples (X + 0.5) / 4.
          for (int64_t q = 0; q < 4 * len; ++q) {
            const double x = (q + 0.5) / 4;
            double sum = 0;
            for (int64_t i = 0; i < a.count(); ++i) {
              const double w = a.Weight(i, x);
              CHECK(w >= 0);
              if (w > 0) {
                CHECK(x >= a.ReachBegin(i));
                CHECK(x < a.ReachEnd(i));
              }
              sum += w;
            }
            CHECK(sum == doctest::Approx(1.0).epsilon(1e-12));
          }
        }
      }
    }
  }
}

TEST_CASE("tiling assembler: a constant image comes back constant, every pixel written") {
  for (int64_t h : {1, 7, 37, 140}) {
    for (int64_t w : {1, 13, 53, 200}) {
      for (int64_t s : {1, 4}) {
        const TileGrid g = MakeTileGrid(h, w, 16, 8, 1);
        TileAssembler asm_(g, s, h * s, w * s);
        // Each tile's values are 0.5 plus a tile-specific offset only outside its reach,
        // so a pixel given weight outside a tile's reach would show.
        std::vector<float> planes(static_cast<size_t>(3 * g.y.window * s * g.x.window * s));
        for (int64_t ty = 0; ty < g.y.count(); ++ty) {
          for (int64_t tx = 0; tx < g.x.count(); ++tx) {
            const int64_t ww = g.x.window * s, wh = g.y.window * s;
            for (int64_t c = 0; c < 3; ++c)
              for (int64_t y = 0; y < wh; ++y)
                for (int64_t x = 0; x < ww; ++x) {
                  const double iy = (g.y.window_begin[ty] * s + y + 0.5) / s;
                  const double ix = (g.x.window_begin[tx] * s + x + 0.5) / s;
                  const bool in = iy >= g.y.ReachBegin(ty) && iy < g.y.ReachEnd(ty) &&
                                  ix >= g.x.ReachBegin(tx) && ix < g.x.ReachEnd(tx);
                  planes[static_cast<size_t>((c * wh + y) * ww + x)] = in ? 0.5f : 0.f;
                }
            asm_.Add(ty, tx, planes.data());
          }
        }
        CHECK(asm_.FloatBytes() == 0);  // every band was flushed
        const PixelImage p = asm_.Finish();
        CHECK(p.width == w * s);
        CHECK(p.height == h * s);
        int64_t wrong = 0;
        for (uint8_t v : p.data) wrong += v != 128;
        CHECK_MESSAGE(wrong == 0, h << "x" << w << " x" << s);
      }
    }
  }
}

TEST_CASE("tiling run: with a pad past the receptive field, tiled equals untiled (rrdb-tiny)") {
  auto net = NetworkForArch("rrdb-tiny", 5);
  REQUIRE(net.ok());
  const std::shared_ptr<const Network> n = net.value();
  Image img;
  img.height = 45;
  img.width = 61;
  for (int64_t i = 0; i < 3 * img.height * img.width; ++i)
    img.rgb.push_back(0.5f + 0.5f * std::sin(0.37f * static_cast<float>(i % 211)));
  auto io = n->Io(img.height, img.width);
  REQUIRE(io.ok());
  // Untiled, through a session.
  std::vector<float> x(static_cast<size_t>(io->in_numel())),
      y(static_cast<size_t>(io->out_numel()));
  n->Preprocess(img, io.value(), x.data());
  auto s = Session::Create(n, n->OptionsFor(io.value(), 1), Device::kCpu, {});
  REQUIRE(s.ok());
  REQUIRE(s.value()->Run(x.data(), y.data()).ok());
  PixelImage whole;
  whole.width = io->valid_w;
  whole.height = io->valid_h;
  for (int64_t p = 0; p < whole.width * whole.height; ++p)
    for (int64_t c = 0; c < 3; ++c)
      whole.data.push_back(ToByte(y[static_cast<size_t>(c * whole.width * whole.height + p)]));
  // Tiled: 16-pixel tiles with a pad of 40 (the band's half-width is at most 4).
  PlanRequest base;
  base.budget = int64_t{8} << 30;
  for (int64_t batch : {1, 3}) {
    auto plan = ChooseTilePlan(*n, io.value(), {16, 40, batch}, base, 12);
    REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
    CHECK(plan->grid.count() == 12);  // 4 x 3
    CHECK(plan->run.batch == batch);
    TiledRunOptions o;
    o.backend = plan->run.Options(0);
    int64_t last = 0;
    o.progress = [&](const TileProgress& p) { last = p.done; };
    auto tiled = RunTiled(n, TileSource(&img), plan.value(), o);
    REQUIRE_MESSAGE(tiled.ok(), tiled.status().ToString());
    CHECK(last == 12);
    REQUIRE(tiled->data.size() == whole.data.size());
    int64_t differ = 0, worst = 0;
    for (size_t i = 0; i < whole.data.size(); ++i) {
      const int64_t d = std::abs(int(whole.data[i]) - int(tiled->data[i]));
      differ += d > 0;
      worst = std::max(worst, d);
    }
    // 8-bit outputs of values equal to float rounding: a level apart at most where a value
    // sits on a rounding boundary.
    CHECK(worst <= 1);
    CHECK(differ <= static_cast<int64_t>(whole.data.size()) / 1000);
  }
}

TEST_CASE("tiling plan: the whole image when it fits, tiles and a batch within a budget") {
  auto net = NetworkForArch("realesrgan-x4plus", 0, /*shapes_only=*/true);
  REQUIRE(net.ok());
  auto io = net.value()->Io(3000, 4000);  // 12 megapixels
  REQUIRE(io.ok());
  PlanRequest req;
  req.device = Device::kCuda;
  req.budget = int64_t{2} << 30;  // a 2 GB plan on CUDA
  auto plan = ChooseTilePlan(*net.value(), io.value(), {}, req, 12);
  REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
  MESSAGE(plan->Describe());
  CHECK(plan->grid.count() > 1);
  CHECK(plan->run.total <= req.budget - plan->run.margin);
  CHECK(plan->grid.x.pad == kAutoTilePad);
  // A larger budget never chooses smaller tiles.
  req.budget = int64_t{8} << 30;
  auto larger = ChooseTilePlan(*net.value(), io.value(), {}, req, 12);
  REQUIRE(larger.ok());
  CHECK(larger->grid.x.tile >= plan->grid.x.tile);
  // A small image fits whole.
  auto small_io = net.value()->Io(100, 80);
  REQUIRE(small_io.ok());
  auto small = ChooseTilePlan(*net.value(), small_io.value(), {}, req, 12);
  REQUIRE(small.ok());
  CHECK(small->grid.count() == 1);
  // A budget below any tile is an error naming the budget.
  req.budget = int64_t{100} << 20;
  auto none = ChooseTilePlan(*net.value(), io.value(), {}, req, 12);
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().code() == ErrorCode::kOutOfMemory);
}

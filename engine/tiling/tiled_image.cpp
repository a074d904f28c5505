// Tiled runs: the tile plan, windows cut from the source, batches of tiles, assembly.
#include "tiling/tiled_image.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "core/check.h"
#include "core/reflect.h"
#include "core/tensor_view.h"
#include "session.h"
#include "tiling/assembler.h"

namespace gpen {

int64_t TileSource::height() const {
  return planes_ ? planes_->height : pixels_->height;
}
int64_t TileSource::width() const {
  return planes_ ? planes_->width : pixels_->width;
}

void TileSource::ReadWindow(int64_t y0, int64_t x0, int64_t h, int64_t w, float* dst) const {
  const int64_t ih = height(), iw = width();
  for (int64_t y = 0; y < h; ++y) {
    const int64_t sy = Reflect101(y0 + y, ih);
    for (int64_t x = 0; x < w; ++x) {
      const int64_t sx = Reflect101(x0 + x, iw);
      for (int64_t c = 0; c < 3; ++c) {
        dst[(c * h + y) * w + x] =
            planes_ ? planes_->rgb[static_cast<size_t>((c * ih + sy) * iw + sx)]
                    : pixels_->data[static_cast<size_t>((sy * iw + sx) * pixels_->channels + c)] /
                          255.f;
      }
    }
  }
}

namespace {

// Tile edges the planner tries after the whole image, largest first.
const int64_t kTileSizes[] = {2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32, 16};

Result<TilePlan> PlanFor(const Network& net, const IoSpec& image_io, int64_t tile, int64_t pad,
                         int64_t batch, bool hard_crop, PlanRequest req, int source_bytes_per_pixel,
                         bool alpha) {
  TilePlan p;
  p.image_io = image_io;
  p.grid = MakeTileGrid(image_io.in_h, image_io.in_w, tile, pad, net.InputMultiple(), hard_crop);
  GPEN_ASSIGN_OR_RETURN(p.window_io, net.Io(p.grid.y.window, p.grid.x.window));
  req.faces = p.grid.count();
  req.fixed_batch = batch > 0 ? std::min(batch, p.grid.count()) : 0;
  req.image_batches = 1;  // the windows of one batch, in and out
  if (req.device == Device::kCpu) {
    const int64_t s = net.Scale();
    req.host_lines.push_back(
        {"input image", image_io.valid_h / s * image_io.valid_w / s * source_bytes_per_pixel});
    const int64_t out_px = image_io.valid_h * image_io.valid_w;
    req.host_lines.push_back({"output image (8-bit RGB)", out_px * 3});
    // The alpha plane resized to the output (float) and the RGBA copy it goes into.
    if (alpha) req.host_lines.push_back({"alpha (resized, then RGBA)", out_px * 8});
    req.host_lines.push_back(
        {"seam bands (float)", TileAssembler::MaxFloatBytes(p.grid, s, image_io.valid_w)});
  }
  GPEN_ASSIGN_OR_RETURN(p.run, ChooseRunPlan(net, p.window_io, req));
  p.run.item_noun = "tile";
  if (p.run.tiled) return OutOfMemory("a tile of this size does not fit");  // not this way
  return p;
}

// For a plan that recomputes the image many times over: the smallest larger tile edge
// that at least halves the work, and the budget that would plan it at the same tile
// batch (planned as if memory were no object, then the budget for that plan's peak).
void SuggestLargerTile(const Network& net, const TileRequest& want, int64_t pad, PlanRequest base,
                       int source_bytes_per_pixel, bool alpha, TilePlan* plan) {
  const int64_t edge = std::max(plan->image_io.in_h, plan->image_io.in_w);
  const int64_t tile = std::max(plan->grid.x.tile, plan->grid.y.tile);
  base.budget = int64_t{1} << 50;  // as if memory were no object
  base.budget_measured = false;
  base.limit = 0;
  for (auto it = std::rbegin(kTileSizes); it != std::rend(kTileSizes); ++it) {
    if (*it <= tile || *it >= edge) continue;
    auto p = PlanFor(net, plan->image_io, *it, pad, plan->run.batch, want.hard_crop, base,
                     source_bytes_per_pixel, alpha);
    if (!p.ok() || p->Work() > plan->Work() / 2) continue;
    plan->larger_tile = *it;
    plan->larger_budget = SmallestBudgetFor(p->run.total);
    plan->larger_work = p->Work();
    return;
  }
}

}  // namespace

double TilePlan::Work() const {
  const double image = static_cast<double>(grid.x.length) * static_cast<double>(grid.y.length);
  const double windows = static_cast<double>(grid.x.count() * grid.x.window) *
                         static_cast<double>(grid.y.count() * grid.y.window);
  return grid.count() <= 1 || image <= 0 ? 1.0 : windows / image;
}

Result<TilePlan> ChooseTilePlan(const Network& net, const IoSpec& image_io, const TileRequest& want,
                                PlanRequest base, int source_bytes_per_pixel, bool alpha) {
  GPEN_CHECK(net.FullyConvolutional());
  const int64_t pad = want.pad >= 0 ? want.pad : kAutoTilePad;
  if (want.tile >= 0) {
    return PlanFor(net, image_io, want.tile, pad, want.batch, want.hard_crop, base,
                   source_bytes_per_pixel, alpha);
  }
  Status last = Status::Ok();
  const int64_t edge = std::max(image_io.in_h, image_io.in_w);
  auto whole = PlanFor(net, image_io, 0, pad, want.batch, want.hard_crop, base,
                       source_bytes_per_pixel, alpha);
  if (whole.ok()) return whole;
  last = whole.status();
  for (int64_t t : kTileSizes) {
    if (t >= edge) continue;
    auto p = PlanFor(net, image_io, t, pad, want.batch, want.hard_crop, base,
                     source_bytes_per_pixel, alpha);
    if (p.ok()) {
      if (p->Work() >= kSlowTileWork)
        SuggestLargerTile(net, want, pad, base, source_bytes_per_pixel, alpha, &p.value());
      return p;
    }
    last = p.status();
    if (last.code() != ErrorCode::kOutOfMemory) return last;
  }
  return Status(last.code(),
                last.message() + " (even as tiles of " + std::to_string(kMinTile) +
                    " pixels with a pad of " + std::to_string(pad) + ")",
                last.hint());
}

namespace {

std::string FormatFactor(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fx", x);
  return buf;
}

}  // namespace

std::string TilePlan::Describe() const {
  std::ostringstream os;
  if (grid.count() == 1) {
    os << "tiles: the whole image as one tile (" << grid.x.window << "x" << grid.y.window
       << " input pixels)\n";
  } else {
    os << "tiles: " << grid.count() << " (" << grid.x.count() << " x " << grid.y.count() << ") of "
       << grid.x.tile << "x" << grid.y.tile << " input pixels, pad " << grid.x.pad << ", windows "
       << grid.x.window << "x" << grid.y.window << ", "
       << (std::max(grid.x.blend, grid.y.blend) > 0
               ? "seam bands " + std::to_string(2 * std::max(grid.x.blend, grid.y.blend)) + " px"
               : std::string(grid.count() > 1 && grid.x.pad > 0 ? "hard crop" : "no seam bands"))
       << ", " << run.batch << " tile" << (run.batch == 1 ? "" : "s") << " per run; "
       << FormatFactor(Work()) << " the image's pixels computed\n";
  }
  if (larger_tile > 0) {
    // The budget of this pass: all of --vram-budget for upscale, what the restorer
    // leaves for enhance's background. Both figures rounded up to a whole MiB.
    const auto mib_up = [](int64_t b) { return (b + (int64_t{1} << 20) - 1) >> 20; };
    os << "notice: tiles this small recompute the image " << FormatFactor(Work())
       << " over; tiles of " << larger_tile << " pixels (" << FormatFactor(larger_work)
       << ") would need " << mib_up(larger_budget) << " MiB for this pass, "
       << mib_up(std::max<int64_t>(1, larger_budget - run.budget))
       << " MiB more than it had (raise --vram-budget, or free memory)\n";
  }
  return os.str() + run.Describe();
}

std::string TilePlan::Json() const {
  const std::string run_json = run.Json();
  std::ostringstream os;
  os << "{\"tiles\":" << grid.count() << ",\"tiles_x\":" << grid.x.count()
     << ",\"tiles_y\":" << grid.y.count() << ",\"tile_w\":" << grid.x.tile
     << ",\"tile_h\":" << grid.y.tile << ",\"pad\":" << grid.x.pad
     << ",\"window_w\":" << grid.x.window << ",\"window_h\":" << grid.y.window
     << ",\"blend\":" << std::max(grid.x.blend, grid.y.blend) << ",\"tile_batch\":" << run.batch
     << ",\"work\":" << Work() << ",\"larger_tile\":" << larger_tile
     << ",\"larger_budget_bytes\":" << larger_budget << ",\"run\":" << run_json << "}";
  return os.str();
}

namespace {

Status SaveTile(const std::string& dir, int64_t ty, int64_t tx, const float* planes, int64_t h,
                int64_t w) {
  PixelImage img;
  img.width = w;
  img.height = h;
  img.data.resize(static_cast<size_t>(h * w * 3));
  for (int64_t i = 0; i < h * w; ++i)
    for (int64_t c = 0; c < 3; ++c)
      img.data[static_cast<size_t>(i * 3 + c)] = ToByte(planes[c * h * w + i]);
  return SavePixels(dir + "/tile_" + std::to_string(ty) + "_" + std::to_string(tx) + ".png", img);
}

}  // namespace

Result<PixelImage> RunTiled(std::shared_ptr<const Network> net, const TileSource& src,
                            const TilePlan& plan, const TiledRunOptions& o) {
  const TileGrid& g = plan.grid;
  const IoSpec& wio = plan.window_io;
  const int64_t total = g.count(), batch = plan.run.batch;
  GPEN_ASSIGN_OR_RETURN(std::unique_ptr<Session> session,
                        Session::Create(net, net->OptionsFor(wio, batch), o.device, o.backend));
  TileAssembler assembler(g, net->Scale(), plan.image_io.valid_h, plan.image_io.valid_w);
  std::vector<float> in, out;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < total; first += batch) {
    const int64_t n = std::min(batch, total - first);
    // The session runs `batch` windows; a last, smaller batch leaves the rest as zeros.
    const TensorView iv = TensorView::Of(&in, {batch, 3, wio.in_h, wio.in_w});
    const TensorView ov = TensorView::Of(&out, {batch, 3, wio.out_h, wio.out_w});
    for (int64_t k = 0; k < n; ++k) {
      const int64_t ty = (first + k) / g.x.count(), tx = (first + k) % g.x.count();
      src.ReadWindow(g.y.window_begin[ty], g.x.window_begin[tx], wio.in_h, wio.in_w, iv.Item(k));
    }
    GPEN_TRY(session->Run(iv.data(), ov.data()));
    for (int64_t k = 0; k < n; ++k) {
      const int64_t ty = (first + k) / g.x.count(), tx = (first + k) % g.x.count();
      assembler.Add(ty, tx, ov.Item(k));
      if (!o.save_tiles_dir.empty()) {
        GPEN_TRY(SaveTile(o.save_tiles_dir, ty, tx, ov.Item(k), wio.out_h, wio.out_w));
      }
    }
    if (o.progress) {
      const double el =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      o.progress({first + n, total, el});
    }
  }
  return assembler.Finish();
}

}  // namespace gpen

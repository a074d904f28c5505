// Tiled runs of a fully convolutional network over one image (tile_grid.h for the
// geometry and the blend), within a memory budget.
//
// The planner's side: ChooseTilePlan takes the tile size, pad and tile batch the user
// fixed (each -1 for auto) and decides the rest. A tile is an item of its own (its
// window's IoSpec), so the batch of tiles is ChooseRunPlan's choice for that item;
// the largest tile that fits wins (the whole image first: --tile-size 0), since a larger
// tile recomputes less context. On the CPU the plan also counts what the run holds on
// the host: the input, the 8-bit output and the float seam bands.
//
// The run: windows of the padded input are cut B at a time from the source (float
// planes of a decoded image, or the 8-bit output of a previous pass), run through one
// session, and handed to the TileAssembler in order; only B windows are ever on the
// device. Progress is reported after each batch; with a folder given, every tile's
// output is also written as tile_<row>_<col>.png.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "backend.h"
#include "image/image.h"
#include "image/pixels.h"
#include "net/network.h"
#include "run_plan.h"
#include "tiling/tile_grid.h"

namespace gpen {

inline constexpr int64_t kAutoTilePad = 32;
inline constexpr int64_t kMinTile = 16;

// What a tiled run reads: the image's RGB planes in [0, 1], h x w, either float planes
// (a decoded Image) or 8 bits (a previous pass). Reads past the bottom and right edges
// reflect, as the network's own padding to its input multiple does.
class TileSource {
 public:
  explicit TileSource(const Image* planes) : planes_(planes) {}
  explicit TileSource(const PixelImage* pixels) : pixels_(pixels) {}
  int64_t height() const;
  int64_t width() const;
  // (3, h, w) of the padded input starting at (y0, x0).
  void ReadWindow(int64_t y0, int64_t x0, int64_t h, int64_t w, float* dst) const;

 private:
  const Image* planes_ = nullptr;
  const PixelImage* pixels_ = nullptr;
};

struct TileRequest {
  int64_t tile = -1;       // core edge in input pixels; 0: the whole image; -1: auto
  int64_t pad = -1;        // context on each side; -1: auto (kAutoTilePad)
  int64_t batch = -1;      // tiles per run; -1: auto
  bool hard_crop = false;  // keep each tile's core only (Real-ESRGAN's way), no seam bands
};

// An auto tile plan that recomputes at least this many times the image's pixels (small
// tiles under a tight budget: a pad of 32 around 16-pixel tiles is 25x) says so, with the
// budget a larger tile would need.
inline constexpr double kSlowTileWork = 4.0;

struct TilePlan {
  TileGrid grid;
  IoSpec image_io;   // the whole image's
  IoSpec window_io;  // one tile's
  RunPlan run;       // batch = tiles per run
  // Auto plans above kSlowTileWork: a larger tile edge and the smallest budget that
  // plans it (0: none found).
  int64_t larger_tile = 0;
  int64_t larger_budget = 0;
  double larger_work = 0;
  // The windows' pixels over the image's: what tiling recomputes (1 for one tile).
  double Work() const;
  std::string Describe() const;
  std::string Json() const;
};

// `base`: device, precision, budget, threads, limits as for any run; faces and
// fixed_batch are set here. source_bytes_per_pixel: what the source holds per input
// pixel (12 for a decoded image's float planes, 3 for an 8-bit previous pass); alpha:
// the output gets the input's alpha plane (counted at its peak, 8 more bytes per output
// pixel).
Result<TilePlan> ChooseTilePlan(const Network& net, const IoSpec& image_io, const TileRequest& want,
                                PlanRequest base, int source_bytes_per_pixel, bool alpha = false);

struct TileProgress {
  int64_t done = 0, total = 0;
  double elapsed_s = 0;
};

struct TiledRunOptions {
  Device device = Device::kCpu;
  BackendOptions backend;
  std::string save_tiles_dir;  // empty: none
  std::function<void(const TileProgress&)> progress;
};

// Runs every tile of `plan` and returns the valid output (3 channels).
Result<PixelImage> RunTiled(std::shared_ptr<const Network> net, const TileSource& src,
                            const TilePlan& plan, const TiledRunOptions& options);

}  // namespace gpen

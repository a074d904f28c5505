// One point of a benchmark sweep (gpen bench --sweep): one network, device, precision,
// batch, size, tiling, budget and thread count, measured in this process.
//
// A point warms up, validates first (a CPU point: the output finite and identical
// across runs; a CUDA point: also a CPU run of the same network at batch 1 on a small
// input, within a stated relative L2 tolerance), then times --iters passes. It runs in
// one of three modes: plain (one session of --batch items), tiled (an image network
// cut into tiles by the planner, tiling/tiled_image.h, as gpen upscale does: --tile,
// --tile-pad, --tile-batch or --vram-budget) or budget (GPEN faces in planner-sized
// batches, as gpen enhance does). Its result is one row of the sweep's CSV
// (kSweepColumns), printed as "POINT <csv row>" for the parent process to collect:
// each point runs in a child process so that its peak RSS is its own.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backend.h"
#include "core/status.h"
#include "net/network.h"

namespace gpen::cli {

// The CSV columns, in order (bench/ plotting scripts read them by name).
extern const std::vector<std::string> kSweepColumns;

struct PointConfig {
  std::string arch, model;  // model: a file; else arch with seeded random weights
  std::string device_flag = "auto", precision_flag = "fp32";
  int64_t batch = 1, h = 128, w = 128;
  int64_t tile = -1, tile_pad = -1, tile_batch = -1;  // -1: auto (tiled mode only)
  bool tiled_flags = false;                           // any tile flag given
  int64_t budget = 0;                                 // 0: none (plain mode)
  int64_t faces = 16;                                 // items of the budget mode
  int threads = 0;
  int64_t iters = 3, warmup = 1, seed = 1;
  double peak_gflops = 0, peak_gbps = 0;  // 0: unknown, peak_share left empty
};

// A row: column name -> value ("" when not applicable).
using PointRow = std::map<std::string, std::string>;

// A batch of n random images of h x w, preprocessed as the network does.
std::vector<float> RandomInput(const Network& net, const IoSpec& io, int64_t n, int64_t h,
                               int64_t w, uint32_t seed);

// Runs the point, prints a human summary and returns its row (valid = "no" with a
// failed validation, together with an error status).
Status RunPoint(const PointConfig& c, PointRow* row);

// "a,b,c": one CSV line of `row` in kSweepColumns order (fields quoted when needed).
std::string CsvLine(const PointRow& row);
std::string CsvHeader();
// Parses CsvLine's output back (the sweep parent reads its children's rows).
PointRow ParseCsvLine(const std::string& line);

}  // namespace gpen::cli

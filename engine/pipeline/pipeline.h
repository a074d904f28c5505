// Pipeline: files in, files out, through any network, in planner-sized batches.
//
// For each run of consecutive jobs whose items have one shape (every face for GPEN;
// images of one size for RRDBNet), a BatchRunner plans the batch for that many items
// and that shape, then each batch moves through three stages that overlap: decoding and
// preprocessing on a host thread, the run on the device, postprocessing and writing on
// another host thread. Decoding batch k+1 and writing batch k-1 overlap the device work
// on batch k, so the device is not left idle while images are converted. Buffers are
// TensorViews, one (N, C, H, W) batch each.
//
// A fully convolutional network (RRDBNet) runs each image on its own instead, in
// overlapping tiles the planner sizes (tiling/tiled_image.h; the whole image as one tile
// when it fits), assembled into an 8-bit output; several such networks given in order
// run as chained passes (x4 then x2 = x8), each planned and tiled on its own, the
// intermediate staying on the host in 8 bits. Then, optionally, the output is resized
// to `outscale` times the input (Lanczos, as Real-ESRGAN's --outscale) and filtered
// against high-frequency ringing (bilateral, --hf-suppress).
//
// An input that cannot be read, or an output that cannot be written, is reported and
// skipped; the rest go on and the result counts the failures. Outputs are written whole
// or not at all (image/image.h), an existing output is checked again just before it
// is replaced (it may have changed since the run began), and the alpha plane of an
// input is resized to its output and written with it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend.h"
#include "core/status.h"
#include "image/image.h"
#include "net/network.h"
#include "pipeline/events.h"
#include "pipeline/jobs.h"
#include "tiling/tiled_image.h"

namespace gpen {

struct PipelineOptions {
  Device device = Device::kCpu;
  Precision precision = Precision::kFp32;
  int threads = 0;          // CPU threads, 0 = the free cores (core/cpu_load.h)
  int64_t budget = 0;       // bytes; 0 = measure
  int64_t fixed_batch = 0;  // 0 = the planner chooses
  uint64_t noise_seed = 0;
  ImageLoadOptions load;
  // Fully convolutional networks: tiles, chained passes, post-processing.
  TileRequest tiles;
  std::string save_tiles_dir;  // every tile's output as tile_<row>_<col>.png
  double outscale = 0;         // > 0: the output is this many times the input's size
  bool hf_suppress = false;
  RunEventSink events;  // plans, tiles, stages, notices (gpen serve); empty: stderr only
};

struct PipelineResult {
  int64_t written = 0, failed = 0;
  double seconds = 0;
  Status first_failure;  // why the first failed job failed (ok when none did)
};

// `networks`: one, or several fully convolutional ones run in sequence.
Result<PipelineResult> RunPipeline(const std::vector<std::shared_ptr<const Network>>& networks,
                                   const std::vector<Job>& jobs, const PipelineOptions& options);

}  // namespace gpen

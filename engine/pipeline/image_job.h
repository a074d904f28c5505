// ImageJob: one image through fully convolutional networks (RRDBNet) in tiles: every
// pass planned and tiled on its own, out-of-memory answered by smaller tiles, then the
// optional resize to --outscale and the --hf-suppress filter, and the alpha plane.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "image/image.h"
#include "image/pixels.h"
#include "net/network.h"
#include "pipeline/pipeline.h"
#include "tiling/tiled_image.h"

namespace gpen {

// The plan request of a run of `net` with options `o`: device, precision, budget,
// threads and, on the CPU, the address-space limit (also gpen serve's plans).
PlanRequest BasePlanRequest(const PipelineOptions& o, const Network& net);

class ImageJobRunner {
 public:
  ImageJobRunner(std::vector<std::shared_ptr<const Network>> nets, const PipelineOptions& o)
      : nets_(std::move(nets)), o_(o) {}
  // `label` prefixes progress lines ("[2/5]").
  Result<PixelImage> Run(Image img, const std::string& label);

 private:
  Result<PixelImage> RunPass(size_t pass, const TileSource& src, int64_t h, int64_t w,
                             const std::string& label);
  // Memory free now for a re-plan (0 when it cannot be measured).
  int64_t MeasureFree(const Network& net) const;
  // After `failed` ran out of memory, for tiles or a batch the user fixed: fewer tiles
  // per run, else smaller tiles whose windows are smaller; an error when none is left.
  Result<TileRequest> Smaller(const Network& net, const IoSpec& io, const TilePlan& failed,
                              TileRequest want, const Status& why) const;

  std::vector<std::shared_ptr<const Network>> nets_;
  const PipelineOptions& o_;
  std::string last_plan_;   // printed once, and again only when it changes
  bool has_alpha_ = false;  // the image being run has an alpha plane
};

}  // namespace gpen

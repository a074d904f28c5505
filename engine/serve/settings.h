// The settings of one gpen serve job, from the form fields of POST /api/jobs or
// /api/plan, checked before anything is queued.
//
// Every field is optional text (README, "gpen serve"); a value that is not one of the
// accepted ones is an error naming the field and what it takes, as the command line's
// flags are. The settings become the PhotoOptions of the run: the server's own options
// (its device, budget, threads, pixel limit, detection thresholds) with the job's device,
// precision, tiles, upscale, background, alpha and filters applied.
#pragma once

#include <map>
#include <string>

#include "backend.h"
#include "core/status.h"
#include "pipeline/photo.h"
#include "tiling/tiled_image.h"

namespace gpen::serve {

using Fields = std::map<std::string, std::string>;

// What the server offers every job: its loaded models and the devices it can use.
struct ServerCaps {
  PhotoOptions base;           // the server's flags: device, budget, threads, limits, detection
  bool have_upscaler = false;  // a background upscaler (RRDBNet) is loaded
  bool cuda_usable = false;
};

struct JobSettings {
  std::string device = "auto", precision = "auto", bg_upsampler = "auto";
  std::string tile = "auto", tile_pad = "auto", tile_batch = "auto";
  int upscale = 2;
  double alpha = 1;
  bool only_faces = false, hf_suppress = false;
  TileRequest tiles;

  std::string Json() const;  // the settings as parsed, one JSON object
};

// Parses and checks the fields (all must be known) against what the server offers.
Result<JobSettings> ParseSettings(const Fields& fields, const ServerCaps& caps);

// The run's options: caps.base with the job's settings applied.
PhotoOptions ToPhotoOptions(const JobSettings& s, const ServerCaps& caps);

// The fields besides the settings that /api/plan takes (width, height, faces).
bool IsPlanField(const std::string& name);

}  // namespace gpen::serve

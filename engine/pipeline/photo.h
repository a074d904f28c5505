// Photo pipeline: whole photos through detection, alignment, batched restoration and
// paste-back over an upscaled background (upstream GPEN's FaceEnhancement.process).
//
//   1. Detect. Every photo is decoded and its faces found (face/face_detector.h), the
//      photo seen at the output scale as upstream's detector sees the upscaled photo.
//      Only the faces are kept; the photo is decoded again in step 2, so that the
//      restorer is planned for the true number of faces of the whole run.
//   2. Restore. Each face is aligned on its 5 landmarks and cropped from the photo
//      itself at the restorer's input size (face/align.h). Crops from consecutive
//      photos fill planner-sized batches (BatchRunner: one plan for all the faces, never
//      one face at a time); at most kMaxPendingPhotos photos wait for a batch at once,
//      which bounds host memory.
//   3. Paste. Once a photo's faces are back, its background is made (the upscaler in
//      tiles, tiling/tiled_image.h, with the memory the restorer leaves; or a bicubic
//      resize; or the photo itself), the faces are pasted with the feathered mask
//      (face/paste_back.h), and the result is written whole or not at all.
// --only-faces sends only the faces through networks: the background is the photo
// resized (bicubic). A photo without faces gives the background alone, with a notice.
// A photo that cannot be read or written is reported and skipped; the rest go on.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "face/detect_decode.h"
#include "net/network.h"
#include "net/retinaface_net.h"
#include "pipeline/jobs.h"
#include "pipeline/pipeline.h"

namespace gpen {

// Photos held while their faces wait for a batch (each as float planes: 12 bytes a pixel).
inline constexpr int kMaxPendingPhotos = 2;

enum class Background { kUpscaler, kBicubic, kNone };

struct PhotoOptions {
  PipelineOptions run;  // device, precision, threads, budget, batch, image limits, tiles
  DetectOptions detect;
  Background background = Background::kBicubic;
  int upscale = 2;  // output pixels per photo pixel: 1, 2 or 4
  float alpha = 1.f;
  bool only_faces = false;
  std::string save_faces_dir;  // a (crop | restored) pair per face
};

struct PhotoNetworks {
  std::shared_ptr<const Network> restorer;  // GPEN
  std::shared_ptr<const RetinaFaceNetwork> detector;
  std::shared_ptr<const Network> upscaler;  // Background::kUpscaler only
};

Result<PipelineResult> RunPhotos(const PhotoNetworks& nets, const std::vector<Job>& jobs,
                                 const PhotoOptions& options);

}  // namespace gpen

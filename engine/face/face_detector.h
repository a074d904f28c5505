// FaceDetector: the faces of a photo, from the RetinaFace network to boxes and landmarks.
//
// Mirrors upstream GPEN's RetinaFaceDetection.detect as FaceEnhancement.process calls
// it: the photo is seen at `view_scale` times its size (upstream detects in the
// background upscaler's output, so the detector sees the upscaled photo), shrunk for
// detection when that is over 1500 pixels (DetectionScale), fed as BGR minus the means,
// decoded with the priors, thresholded and NMS'ed (face/detect_decode.h). We resize the
// photo once, straight to the detector's input (bilinear), instead of upscaling it and
// shrinking it again, and map the faces back to the photo's own pixels (pixel centres:
// photo x = (view x + 0.5) / view_scale - 0.5).
//
// The detector graph depends on the input size: one is built for the first photo and
// kept while the next photos have the same detector size.
#pragma once

#include <memory>
#include <vector>

#include "backend.h"
#include "core/status.h"
#include "face/detect_decode.h"
#include "image/image.h"
#include "net/retinaface_net.h"

namespace gpen {

class FaceDetector {
 public:
  FaceDetector(std::shared_ptr<const RetinaFaceNetwork> net, Device device, BackendOptions o)
      : net_(std::move(net)), device_(device), options_(o) {}

  // The faces of `img` in its own pixels, best score first.
  Result<std::vector<FaceBox>> Detect(const Image& img, const DetectOptions& options,
                                      double view_scale = 1.0);

 private:
  std::shared_ptr<const RetinaFaceNetwork> net_;
  Device device_;
  BackendOptions options_;
  std::unique_ptr<RetinaFaceDetector> detector_;  // for the last input size
};

// Loads a detector model file: a RetinaFace network, or an error naming the flag.
Result<std::shared_ptr<const RetinaFaceNetwork>> LoadDetector(const std::string& flag,
                                                              const std::string& path);

}  // namespace gpen

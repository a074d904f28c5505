// FaceDetector: resize, run the RetinaFace heads, decode, map back to the photo.
#include "face/face_detector.h"

#include <cmath>

#include "net/registry.h"

namespace gpen {

Result<std::vector<FaceBox>> FaceDetector::Detect(const Image& img, const DetectOptions& options,
                                                  double view_scale) {
  const int64_t vh = std::llround(static_cast<double>(img.height) * view_scale);
  const int64_t vw = std::llround(static_cast<double>(img.width) * view_scale);
  const DetectionSize ds = DetectionScale(vh, vw);
  if (!detector_ || detector_->height() != ds.h || detector_->width() != ds.w) {
    detector_.reset();  // one detector graph alive at a time
    GPEN_ASSIGN_OR_RETURN(detector_,
                          RetinaFaceDetector::Create(net_, ds.h, ds.w, device_, options_));
  }
  Image in;
  in.width = ds.w;
  in.height = ds.h;
  in.rgb = ResizeBilinear(img.rgb, 3, img.height, img.width, ds.h, ds.w);
  GPEN_ASSIGN_OR_RETURN(IoSpec io, net_->Io(ds.h, ds.w));
  std::vector<float> x(static_cast<size_t>(io.in_numel()));
  net_->Preprocess(in, io, x.data());
  GPEN_ASSIGN_OR_RETURN(DetectorHeads heads, detector_->RunHeads(x.data()));
  DetectOptions o = options;
  o.scale = ds.ss;  // faces come back in the view's pixels
  GPEN_ASSIGN_OR_RETURN(std::vector<FaceBox> faces,
                        DecodeDetections(heads.loc.data(), heads.conf.data(), heads.landms.data(),
                                         heads.priors, ds.h, ds.w, o));
  if (view_scale != 1.0) {
    const auto back = [view_scale](float v) {
      return static_cast<float>((v + 0.5) / view_scale - 0.5);
    };
    for (FaceBox& f : faces) {
      f.x1 = back(f.x1), f.y1 = back(f.y1), f.x2 = back(f.x2), f.y2 = back(f.y2);
      for (float& v : f.lm) v = back(v);
    }
  }
  return faces;
}

Result<std::shared_ptr<const RetinaFaceNetwork>> LoadDetector(const std::string& flag,
                                                              const std::string& path) {
  GPEN_ASSIGN_OR_RETURN(std::shared_ptr<const Network> net, LoadNetwork(path));
  auto det = std::dynamic_pointer_cast<const RetinaFaceNetwork>(net);
  if (!det) {
    return InvalidArgument(flag + " " + path + " is a " + net->family() + " model (" +
                               net->Describe() + "), not a face detector",
                           "give a RetinaFace model: tools/fetch_models.sh converts one to "
                           "models/retinaface-mnet.safetensors");
  }
  return det;
}

}  // namespace gpen

// RetinaFace post-processing: priors, box and landmark decoding, thresholding and NMS.
//
// The detector network (not here) outputs, per prior box P: loc (P, 4) offsets, conf
// (P, 2) softmaxed [background, face] scores and landms (P, 10) landmark offsets. This
// turns them into faces in photo pixels, mirroring upstream GPEN's
// face_detect/retinaface_detection.py RetinaFaceDetection.detect and what it calls (the
// code is our own):
//   MakePriors        - layers/functions/prior_box.py PriorBox.forward: for each level
//                       (min_sizes [16, 32], [64, 128], [256, 512], steps 8, 16, 32) a
//                       ceil(H / step) x ceil(W / step) grid, in the order level -> y ->
//                       x -> min size, each (cx, cy, w, h) normalised by the input size,
//                       computed in double and stored as float (torch.Tensor), no clip.
//   DecodeDetections  - utils/box_utils.py decode and decode_landm (variances 0.1, 0.2,
//                       float32 arithmetic as torch), scaled to detector pixels; scores
//                       > threshold; the top_k best (5000) before and keep_top_k (750)
//                       after utils/nms/py_cpu_nms.py (IoU with the +1 pixel convention
//                       of its areas and overlaps, float32; a box is dropped when its IoU
//                       with a kept one is > nms_threshold); finally divided by the
//                       detection scale to photo pixels (detect's "dets / ss, landms / ss").
//   DetectionScale    - detect's "tricky" downscale: a photo whose larger side exceeds
//                       1500 is resized by ss = 1000 / max(h, w) before detection.
// Two upstream quirks are not copied: detect divides the score column by ss too (faces
// are filtered before that, so nothing depends on it; FaceBox::score is the network's),
// and it returns landmarks as x1..x5, y1..y5, which face_enhancement reshapes back to
// points; FaceBox::lm holds the points directly.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace gpen {

struct FaceBox {
  float x1, y1, x2, y2, score;
  float lm[10];  // x1, y1, ..., x5, y5: left eye, right eye, nose, left/right mouth corner
};

struct DetectOptions {
  float confidence_threshold = 0.9f;  // detect's default; scores strictly above are kept
  float nms_threshold = 0.4f;
  int64_t top_k = 5000;      // candidates kept before NMS
  int64_t keep_top_k = 750;  // faces kept after NMS
  double scale = 1.0;        // DetectionScale::ss the detector input was resized by
};

// What detect resizes a (h, w) photo to: ss = 1 for max(h, w) <= 1500, else
// 1000.0 / max(h, w); the detector input is cv2.resize(img, (0, 0), fx=ss, fy=ss),
// whose size is round(w * ss) x round(h * ss) (cvRound) and whose sampling uses ss
// itself (source x = (x + 0.5) / ss - 0.5), not the ratio of the sizes.
struct DetectionSize {
  double ss = 1.0;
  int64_t h = 0, w = 0;
};
DetectionSize DetectionScale(int64_t h, int64_t w);

// Prior boxes for a (h, w) detector input: (P, 4) as (cx, cy, w, h).
std::vector<float> MakePriors(int64_t h, int64_t w);
int64_t PriorCount(int64_t h, int64_t w);

// Faces from the raw heads for a (det_h, det_w) detector input, best score first.
// Fails when P is not the prior count of that size (the network's outputs do not fit
// the input it was given).
[[nodiscard]] Result<std::vector<FaceBox>> DecodeDetections(const float* loc, const float* conf,
                                                            const float* landms, int64_t P,
                                                            int64_t det_h, int64_t det_w,
                                                            const DetectOptions& options);

// py_cpu_nms on boxes sorted by descending score: the indices kept, in order.
std::vector<int64_t> NmsSorted(const std::vector<FaceBox>& boxes, float iou_threshold);

}  // namespace gpen

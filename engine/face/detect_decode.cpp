// RetinaFace priors, decoding and NMS (see detect_decode.h). Arithmetic on the network's
// values is float, in the order upstream's torch and numpy code evaluates it.
#include "face/detect_decode.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace gpen {

namespace {

constexpr int kLevels = 3;
constexpr int64_t kMinSizes[kLevels][2] = {{16, 32}, {64, 128}, {256, 512}};
constexpr int64_t kSteps[kLevels] = {8, 16, 32};
constexpr float kVariance0 = 0.1f, kVariance1 = 0.2f;

int64_t CeilDiv(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// decode + decode_landm for prior p, scaled to (w, h) detector pixels.
FaceBox DecodeOne(const float* loc, const float* lmo, const float* prior, float w, float h) {
  const float cx = prior[0] + loc[0] * kVariance0 * prior[2];
  const float cy = prior[1] + loc[1] * kVariance0 * prior[3];
  const float bw = prior[2] * std::exp(loc[2] * kVariance1);
  const float bh = prior[3] * std::exp(loc[3] * kVariance1);
  FaceBox b{};
  const float x1 = cx - bw / 2, y1 = cy - bh / 2;
  b.x1 = x1 * w;
  b.y1 = y1 * h;
  b.x2 = (bw + x1) * w;
  b.y2 = (bh + y1) * h;
  for (int k = 0; k < 5; ++k) {
    b.lm[2 * k] = (prior[0] + lmo[2 * k] * kVariance0 * prior[2]) * w;
    b.lm[2 * k + 1] = (prior[1] + lmo[2 * k + 1] * kVariance0 * prior[3]) * h;
  }
  return b;
}

}  // namespace

DetectionSize DetectionScale(int64_t h, int64_t w) {
  GPEN_CHECK_MSG(h > 0 && w > 0, "detection scale of a " << w << "x" << h << " image");
  DetectionSize d{1.0, h, w};
  const int64_t side = std::max(h, w);
  if (side > 1500) {
    d.ss = 1000.0 / static_cast<double>(side);
    // At least one pixel: cv2.resize would refuse a strip that rounds to 0; we detect in
    // the one-pixel strip instead (it finds nothing).
    d.h = std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(static_cast<double>(h) * d.ss)));
    d.w = std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(static_cast<double>(w) * d.ss)));
  }
  return d;
}

int64_t PriorCount(int64_t h, int64_t w) {
  int64_t n = 0;
  for (int k = 0; k < kLevels; ++k) n += CeilDiv(h, kSteps[k]) * CeilDiv(w, kSteps[k]) * 2;
  return n;
}

std::vector<float> MakePriors(int64_t h, int64_t w) {
  GPEN_CHECK_MSG(h > 0 && w > 0, "priors for a " << w << "x" << h << " input");
  std::vector<float> p;
  p.reserve(static_cast<size_t>(PriorCount(h, w) * 4));
  const double dh = static_cast<double>(h), dw = static_cast<double>(w);
  for (int k = 0; k < kLevels; ++k) {
    const double step = static_cast<double>(kSteps[k]);
    for (int64_t i = 0; i < CeilDiv(h, kSteps[k]); ++i) {
      for (int64_t j = 0; j < CeilDiv(w, kSteps[k]); ++j) {
        for (int64_t ms : kMinSizes[k]) {
          p.push_back(static_cast<float>((static_cast<double>(j) + 0.5) * step / dw));
          p.push_back(static_cast<float>((static_cast<double>(i) + 0.5) * step / dh));
          p.push_back(static_cast<float>(static_cast<double>(ms) / dw));
          p.push_back(static_cast<float>(static_cast<double>(ms) / dh));
        }
      }
    }
  }
  return p;
}

std::vector<int64_t> NmsSorted(const std::vector<FaceBox>& b, float iou_threshold) {
  const size_t n = b.size();
  std::vector<float> area(n);
  for (size_t i = 0; i < n; ++i) area[i] = (b[i].x2 - b[i].x1 + 1) * (b[i].y2 - b[i].y1 + 1);
  std::vector<char> dropped(n, 0);
  std::vector<int64_t> keep;
  for (size_t i = 0; i < n; ++i) {
    if (dropped[i]) continue;
    keep.push_back(static_cast<int64_t>(i));
    for (size_t j = i + 1; j < n; ++j) {
      if (dropped[j]) continue;
      const float iw = std::max(0.f, std::min(b[i].x2, b[j].x2) - std::max(b[i].x1, b[j].x1) + 1);
      const float ih = std::max(0.f, std::min(b[i].y2, b[j].y2) - std::max(b[i].y1, b[j].y1) + 1);
      const float inter = iw * ih;
      if (inter / (area[i] + area[j] - inter) > iou_threshold) dropped[j] = 1;
    }
  }
  return keep;
}

Result<std::vector<FaceBox>> DecodeDetections(const float* loc, const float* conf,
                                              const float* landms, int64_t P, int64_t det_h,
                                              int64_t det_w, const DetectOptions& o) {
  GPEN_CHECK_MSG(
      det_h > 0 && det_w > 0 && o.scale > 0 && o.top_k >= 0 && o.keep_top_k >= 0,
      "detection decoding for a " << det_w << "x" << det_h << " input, scale " << o.scale);
  if (P != PriorCount(det_h, det_w))
    return ShapeError("the face detector gave " + std::to_string(P) + " boxes for a " +
                          std::to_string(det_w) + "x" + std::to_string(det_h) +
                          " input, which has " + std::to_string(PriorCount(det_h, det_w)) +
                          " prior boxes",
                      "the detector model does not match RetinaFace's prior layout");
  // Candidates above the threshold, best first; among equal scores the later prior
  // first, as numpy's argsort()[::-1] orders them when its sort keeps equal keys in order.
  std::vector<int64_t> cand;
  for (int64_t p = 0; p < P; ++p)
    if (conf[2 * p + 1] > o.confidence_threshold) cand.push_back(p);
  std::sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) {
    const float sa = conf[2 * a + 1], sb = conf[2 * b + 1];
    return sa != sb ? sa > sb : a > b;
  });
  if (static_cast<int64_t>(cand.size()) > o.top_k) cand.resize(static_cast<size_t>(o.top_k));

  const std::vector<float> priors = MakePriors(det_h, det_w);
  std::vector<FaceBox> boxes;
  boxes.reserve(cand.size());
  for (int64_t p : cand) {
    FaceBox b = DecodeOne(loc + 4 * p, landms + 10 * p, priors.data() + 4 * p,
                          static_cast<float>(det_w), static_cast<float>(det_h));
    b.score = conf[2 * p + 1];
    boxes.push_back(b);
  }
  std::vector<FaceBox> out;
  const float inv = static_cast<float>(o.scale);
  for (int64_t i : NmsSorted(boxes, o.nms_threshold)) {
    if (static_cast<int64_t>(out.size()) >= o.keep_top_k) break;
    FaceBox b = boxes[static_cast<size_t>(i)];
    b.x1 /= inv;
    b.y1 /= inv;
    b.x2 /= inv;
    b.y2 /= inv;
    for (float& v : b.lm) v /= inv;
    out.push_back(b);
  }
  return out;
}

}  // namespace gpen

// RetinaFace post-processing tests (face/detect_decode.h) against upstream's own output
// on a real photo: the fixture retinaface_mnet holds the raw heads of a mobilenet0.25
// RetinaFace (loc, conf softmaxed, landms), the priors PriorBox made, and the faces
// detect() returned after threshold and NMS.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "face/detect_decode.h"
#include "fixtures.h"
#include "npy.h"

using namespace gpen;

namespace {

// The fixture set, or "" after a skip message (it is large enough to live in ../shared
// unless tests/data has a copy).
std::string RetinaDir() {
  const std::string dir = test::FixtureDir("retinaface", "retinaface_mnet");
  if (dir.empty()) {
    const char* req = std::getenv("GPEN_REQUIRE_SHARED");
    REQUIRE_MESSAGE(!(req && std::string(req) == "1"),
                    "retinaface_mnet not found, and GPEN_REQUIRE_SHARED=1 forbids skipping");
    MESSAGE("skipped: fixture set retinaface/retinaface_mnet not found (looked in "
            << test::TestDataDir() << "/retinaface and " << test::SharedDir()
            << "/fixtures/retinaface)");
  }
  return dir;
}

test::NpyArray Npy(const std::string& path) {
  auto a = test::ReadNpy(path);
  REQUIRE_MESSAGE(a.ok(), a.status().ToString());
  return std::move(a).value();
}

float IoU(const float* a, const float* b) {
  const float iw = std::max(0.f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const float ih = std::max(0.f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const float inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

}  // namespace

TEST_CASE("detect: DetectionScale is upstream's 'max side > 1500 -> 1000' rule") {
  const DetectionSize small = DetectionScale(1500, 800);
  CHECK(small.ss == 1.0);
  CHECK(small.h == 1500);
  CHECK(small.w == 800);
  const DetectionSize big = DetectionScale(1501, 3000);
  CHECK(big.ss == 1000.0 / 3000.0);
  CHECK(big.w == 1000);
  CHECK(big.h == 500);  // round(1501 / 3) = round(500.33)
  const DetectionSize tall = DetectionScale(4000, 2250);
  CHECK(tall.h == 1000);
  CHECK(tall.w == 562);                                  // 562.5 rounds to even, as cvRound
  const DetectionSize strip = DetectionScale(1, 20000);  // 0.05 rows: kept at one
  CHECK(strip.h == 1);
  CHECK(strip.w == 1000);
}

TEST_CASE("detect: priors match PriorBox exactly") {
  const std::string dir = RetinaDir();
  if (dir.empty()) return;
  const test::NpyArray ref = Npy(dir + "/priors.npy");
  const std::vector<float> p = MakePriors(274, 640);
  REQUIRE(static_cast<int64_t>(p.size()) == ref.shape.numel());
  CHECK(PriorCount(274, 640) * 4 == ref.shape.numel());
  // Both are the double value rounded once to float: identical bits.
  CHECK(p == ref.data);
}

TEST_CASE("detect: decoded faces match upstream's detect (threshold, top-k, NMS)") {
  const std::string dir = RetinaDir();
  if (dir.empty()) return;
  std::ifstream mf(dir + "/meta.json");
  const nlohmann::json meta = nlohmann::json::parse(mf);
  const int64_t h = meta["input_hw"][0].get<int64_t>(), w = meta["input_hw"][1].get<int64_t>();
  const test::NpyArray loc = Npy(dir + "/loc.npy"), conf = Npy(dir + "/conf.npy"),
                       lms = Npy(dir + "/landms.npy"), dets = Npy(dir + "/dets.npy"),
                       dlm = Npy(dir + "/dets_landmarks.npy");
  const int64_t P = loc.shape.numel() / 4;
  DetectOptions o;
  o.confidence_threshold = meta["confidence_threshold"].get<float>();
  o.nms_threshold = meta["nms_threshold"].get<float>();
  auto faces = DecodeDetections(loc.data.data(), conf.data.data(), lms.data.data(), P, h, w, o);
  REQUIRE_MESSAGE(faces.ok(), faces.status().ToString());
  const int64_t K = dets.shape.numel() / 5;
  CHECK(static_cast<int64_t>(faces->size()) == K);
  // Each upstream face is matched to ours by IoU; the same float operations (exp may
  // differ in its last bit between libm and torch) leave ~1e-4 pixel: 1e-3 holds that.
  double worst_box = 0, worst_lm = 0, worst_score = 0;
  int64_t matched = 0;
  for (int64_t k = 0; k < K; ++k) {
    const float* r = dets.data.data() + 5 * k;
    const FaceBox* best = nullptr;
    float best_iou = 0;
    for (const FaceBox& f : faces.value()) {
      const float iou = IoU(&f.x1, r);
      if (iou > best_iou) best_iou = iou, best = &f;
    }
    if (!best || best_iou < 0.99f) continue;
    ++matched;
    const float mine[4] = {best->x1, best->y1, best->x2, best->y2};
    for (int i = 0; i < 4; ++i) worst_box = std::max(worst_box, double(std::fabs(mine[i] - r[i])));
    worst_score = std::max(worst_score, double(std::fabs(best->score - r[4])));
    for (int i = 0; i < 10; ++i)
      worst_lm = std::max(worst_lm, double(std::fabs(best->lm[i] - dlm.data[10 * k + i])));
  }
  MESSAGE(matched << " of " << K << " faces matched; max error: box " << worst_box
                  << " px, landmarks " << worst_lm << " px, score " << worst_score);
  CHECK(matched == K);
  CHECK(worst_box <= 1e-3);
  CHECK(worst_lm <= 1e-3);
  CHECK(worst_score == 0);  // the scores are copied, not computed
  // Best first, as upstream returns them.
  for (size_t i = 1; i < faces->size(); ++i)
    CHECK(faces.value()[i - 1].score >= faces.value()[i].score);
}

TEST_CASE("detect: mismatched head sizes are a Status; the scale maps back to the photo") {
  std::vector<float> loc(4 * 10), conf(2 * 10), lms(10 * 10);
  CHECK(!DecodeDetections(loc.data(), conf.data(), lms.data(), 10, 64, 64, {}).ok());
  // One confident prior with zero offsets decodes to the prior box itself, divided by ss.
  const int64_t h = 32, w = 32, P = PriorCount(h, w);
  loc.assign(4 * P, 0.f);
  conf.assign(2 * P, 0.f);
  lms.assign(10 * P, 0.f);
  conf[2 * 5 + 1] = 0.95f;  // prior 5: level 0, y 0, x 2, min size 32 -> centre (20, 4)
  DetectOptions o;
  o.scale = 0.5;
  auto f = DecodeDetections(loc.data(), conf.data(), lms.data(), P, h, w, o);
  REQUIRE(f.ok());
  REQUIRE(f->size() == 1);
  CHECK(f.value()[0].x1 == doctest::Approx((20 - 16) / 0.5));
  CHECK(f.value()[0].y2 == doctest::Approx((4 + 16) / 0.5));
  CHECK(f.value()[0].lm[8] == doctest::Approx(20 / 0.5));
}

TEST_CASE("detect: NMS keeps the best of overlapping boxes, with py_cpu_nms's +1 areas") {
  // Two 10x10 boxes (11x11 with the +1) shifted by 4: overlap 7x11 = 77,
  // IoU = 77 / (121 + 121 - 77) = 0.467 > 0.4: the second goes. Shifted by 5: 66 / 176
  // = 0.375: both stay.
  auto box = [](float x, float s) { return FaceBox{x, 0, x + 10, 10, s, {}}; };
  CHECK(NmsSorted({box(0, 0.9f), box(4, 0.8f)}, 0.4f) == std::vector<int64_t>{0});
  CHECK(NmsSorted({box(0, 0.9f), box(5, 0.8f)}, 0.4f) == std::vector<int64_t>{0, 1});
  CHECK(NmsSorted({box(0, 0.9f), box(4, 0.8f), box(8, 0.7f)}, 0.4f) == std::vector<int64_t>{0, 2});
}

// gpen detect: the faces of a photo, as RetinaFace finds them: box, score, 5 landmarks.
//
// Prints one line per face (or a JSON object with --json) in the input image's pixels,
// and with --draw OUT writes the image with the boxes and landmarks drawn on it. The
// detection is the one `gpen enhance` makes on a whole photo (face/face_detector.h),
// at the image's own size (shrunk to 1000 px when it is over 1500, as upstream does).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/default_models.h"
#include "cli/device_select.h"
#include "core/parallel.h"
#include "face/face_detector.h"
#include "image/pixels.h"
#include "pipeline/jobs.h"

namespace gpen::cli {

namespace {

void Fill(PixelImage* img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t rgb[3]) {
  x0 = std::max<int64_t>(x0, 0), y0 = std::max<int64_t>(y0, 0);
  x1 = std::min<int64_t>(x1, img->width), y1 = std::min<int64_t>(y1, img->height);
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t x = x0; x < x1; ++x)
      for (int c = 0; c < 3; ++c)
        img->data[static_cast<size_t>((y * img->width + x) * img->channels + c)] = rgb[c];
}

// Boxes in green, landmarks as dots (eyes red, nose blue, mouth corners yellow).
void Draw(PixelImage* img, const std::vector<FaceBox>& faces) {
  static const uint8_t kBox[3] = {0, 255, 0};
  static const uint8_t kDots[5][3] = {
      {255, 0, 0}, {255, 0, 0}, {0, 64, 255}, {255, 255, 0}, {255, 255, 0}};
  const int64_t t = std::max<int64_t>(1, std::max(img->width, img->height) / 500);
  for (const FaceBox& f : faces) {
    const int64_t x0 = std::lround(f.x1), y0 = std::lround(f.y1);
    const int64_t x1 = std::lround(f.x2), y1 = std::lround(f.y2);
    Fill(img, x0, y0, x1 + 1, y0 + t, kBox);
    Fill(img, x0, y1 + 1 - t, x1 + 1, y1 + 1, kBox);
    Fill(img, x0, y0, x0 + t, y1 + 1, kBox);
    Fill(img, x1 + 1 - t, y0, x1 + 1, y1 + 1, kBox);
    for (int k = 0; k < 5; ++k) {
      const int64_t x = std::lround(f.lm[2 * k]), y = std::lround(f.lm[2 * k + 1]);
      Fill(img, x - t, y - t, x + t + 1, y + t + 1, kDots[k]);
    }
  }
}

void Print(const std::string& path, const Image& img, const std::vector<FaceBox>& faces,
           bool json) {
  if (!json) {
    std::printf("%s: %lldx%lld, %zu face%s\n", path.c_str(), static_cast<long long>(img.width),
                static_cast<long long>(img.height), faces.size(), faces.size() == 1 ? "" : "s");
  } else {
    std::printf("{\"width\": %lld, \"height\": %lld, \"faces\": [",
                static_cast<long long>(img.width), static_cast<long long>(img.height));
  }
  for (size_t i = 0; i < faces.size(); ++i) {
    const FaceBox& f = faces[i];
    if (json) {
      std::printf("%s\n  {\"box\": [%.2f, %.2f, %.2f, %.2f], \"score\": %.5f, \"landmarks\": [",
                  i ? "," : "", f.x1, f.y1, f.x2, f.y2, f.score);
      for (int k = 0; k < 5; ++k)
        std::printf("%s[%.2f, %.2f]", k ? ", " : "", f.lm[2 * k], f.lm[2 * k + 1]);
      std::printf("]}");
    } else {
      std::printf("face %zu: box %.1f %.1f %.1f %.1f score %.4f landmarks", i, f.x1, f.y1, f.x2,
                  f.y2, f.score);
      for (int k = 0; k < 5; ++k) std::printf(" %.1f,%.1f", f.lm[2 * k], f.lm[2 * k + 1]);
      std::printf("\n");
    }
  }
  if (json) std::printf("\n]}\n");
}

}  // namespace

Status CmdDetect(int argc, char** argv) {
  Args a("detect");
  a.Flag("--detector", true,
         "face detector model (RetinaFace); default models/" + std::string(kDefaultDetector))
      .Flag("-i,--input", true, "input image")
      .Flag("--threshold", true, "confidence threshold", "0.9")
      .Flag("--nms", true, "NMS IoU threshold", "0.4")
      .Flag("--json", false, "print one JSON object")
      .Flag("--draw", true, "write the image with the faces drawn on it")
      .Flag("--device", true, "cpu, cuda or auto", "auto")
      .Flag("--threads", true,
            "CPU threads (0 = one per core that other processes leave free, measured as it runs)",
            "0")
      .Flag("--max-pixels", true, "the largest input image decoded, in pixels",
            std::to_string(kDefaultMaxImagePixels))
      .Flag("-h,--help", false, "show this help");
  GPEN_TRY(a.Parse(argc, argv));
  if (a.Has("--help")) {
    std::printf("usage: gpen detect -i IMAGE [--detector MODEL] [flags]\n\n%s", a.Help().c_str());
    return Status::Ok();
  }
  if (a.Get("--input").empty()) {
    return InvalidArgument("gpen detect: --input is required", "see gpen detect --help");
  }
  DetectOptions d;
  GPEN_ASSIGN_OR_RETURN(double th, a.GetDouble("--threshold", 0, 1));
  GPEN_ASSIGN_OR_RETURN(double nms, a.GetDouble("--nms", 0, 1));
  d.confidence_threshold = static_cast<float>(th);
  d.nms_threshold = static_cast<float>(nms);
  GPEN_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("--threads", 0, 1024));
  ImageLoadOptions load;
  GPEN_ASSIGN_OR_RETURN(load.max_pixels, a.GetInt("--max-pixels", 1, int64_t{1'000'000'000'000}));
  GPEN_ASSIGN_OR_RETURN(Device device, ResolveDevice(a.Get("--device")));
  std::vector<Job> draw;
  if (a.Has("--draw")) {  // checked now: never the input, never a read-only file
    GPEN_ASSIGN_OR_RETURN(draw, PlanJobs(a.Get("--input"), a.Get("--draw")));
  }
  std::string path = a.Get("--detector");
  if (path.empty()) path = FindDefaultModel(kDefaultDetector);
  if (path.empty()) {
    return InvalidArgument("gpen detect: --detector is not given and models/" +
                               std::string(kDefaultDetector) + " is not found",
                           "run tools/fetch_models.sh, or give --detector MODEL");
  }
  if (device == Device::kCpu) GPEN_TRY(StartCpuThreads(static_cast<int>(threads)));
  GPEN_ASSIGN_OR_RETURN(std::shared_ptr<const RetinaFaceNetwork> net,
                        LoadDetector("--detector", path));
  GPEN_ASSIGN_OR_RETURN(Image img, LoadImage(a.Get("--input"), load));
  FaceDetector detector(net, device, BackendOptions{Precision::kFp32, static_cast<int>(threads)});
  GPEN_ASSIGN_OR_RETURN(std::vector<FaceBox> faces, detector.Detect(img, d));
  Print(a.Get("--input"), img, faces, a.Has("--json"));
  if (!draw.empty()) {
    PixelImage px = ToPixels(img);
    Draw(&px, faces);
    GPEN_TRY(SavePixels(draw[0].out, px));
    std::fprintf(stderr, "drew %zu face%s: %s\n", faces.size(), faces.size() == 1 ? "" : "s",
                 draw[0].out.c_str());
  }
  return Status::Ok();
}

}  // namespace gpen::cli

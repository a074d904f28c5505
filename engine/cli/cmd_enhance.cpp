// gpen enhance: restore faces, in whole photos or in aligned crops, a file or a folder.
//
// Whole photos (the default): faces are detected (--detector, RetinaFace), aligned,
// restored in planner-sized batches and pasted back over the photo upscaled by
// --upscale with --bg-upsampler (pipeline/photo.h). --aligned: the inputs are aligned
// face crops, restored as they are (pipeline/pipeline.h). Which files are read and
// written is decided by PlanJobs (pipeline/jobs.h: inputs never overwritten, outputs
// whole or absent, read-only or non-regular outputs refused before any model loads).
// An image that cannot be read or written is reported and skipped; the exit code says
// some failed.
#include <sys/resource.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/default_models.h"
#include "cli/device_select.h"
#include "cli/run_command.h"
#include "core/parallel.h"
#include "pipeline/photo.h"
#include "run_plan.h"

namespace gpen::cli {

namespace {

void AddPhotoFlags(Args& a) {
  a.Flag("--aligned", false, "inputs are aligned face crops: restore them as they are")
      .Flag("--detector", true,
            "face detector model (RetinaFace); default models/" + std::string(kDefaultDetector))
      .Flag("--upscaler", true,
            "background upscaler model (RRDBNet); default models/" + std::string(kDefaultUpscaler))
      .Flag("--bg-upsampler", true,
            "background: rrdb (the upscaler, in tiles), bicubic, none, or auto: rrdb when an "
            "upscaler model is found, else bicubic",
            "auto")
      .Flag("--upscale", true, "output size as a multiple of the photo's: 1, 2 or 4", "2")
      .Flag("--alpha", true, "weight of the restored face against the original, 0 to 1", "1")
      .Flag("--threshold", true, "detection confidence threshold", "0.9")
      .Flag("--nms", true, "detection NMS IoU threshold", "0.4")
      .Flag("--only-faces", false,
            "only faces go through networks; the background is the photo resized (bicubic)")
      .Flag("--save-faces", true, "also write each face as a (crop | restored) pair here");
  AddTileFlags(a);
}

// The background and its upscaler, from --bg-upsampler, --upscaler, --upscale.
Status ChooseBackground(const Args& a, PhotoOptions* po, PhotoNetworks* nets) {
  const std::string bg = a.Get("--bg-upsampler");
  if (bg != "auto" && bg != "rrdb" && bg != "bicubic" && bg != "none") {
    return InvalidArgument("--bg-upsampler '" + bg + "' is not rrdb, bicubic, none or auto");
  }
  if (bg == "none" && po->upscale != 1) {
    return InvalidArgument("--bg-upsampler none keeps the photo's size, but --upscale is " +
                               std::to_string(po->upscale),
                           "add --upscale 1, or choose rrdb or bicubic");
  }
  po->background = bg == "none" ? Background::kNone : Background::kBicubic;
  if (bg == "bicubic" || bg == "none" || po->only_faces || po->upscale == 1) return Status::Ok();
  std::string path = a.Get("--upscaler");
  if (path.empty()) path = FindDefaultModel(kDefaultUpscaler);
  if (path.empty()) {
    if (bg == "rrdb") {
      return InvalidArgument(
          "--bg-upsampler rrdb: no upscaler model: --upscaler is not given "
          "and models/" +
              std::string(kDefaultUpscaler) + " is not found",
          "run tools/fetch_models.sh, or give --upscaler MODEL");
    }
    std::fprintf(stderr,
                 "notice: no upscaler model (--upscaler, models/%s): the background is "
                 "resized bicubically\n",
                 kDefaultUpscaler);
    return Status::Ok();
  }
  GPEN_ASSIGN_OR_RETURN(nets->upscaler, LoadUpscaler(path));
  po->background = Background::kUpscaler;
  return Status::Ok();
}

Result<PhotoOptions> ParsePhotoFlags(const RunCommand& c, const Args& a) {
  PhotoOptions po;
  GPEN_ASSIGN_OR_RETURN(po.run, ParseRunFlags(c, a));
  GPEN_TRY(ParseTileFlags(a, &po.run.tiles));
  GPEN_ASSIGN_OR_RETURN(int64_t up, a.GetInt("--upscale", 1, 4));
  if (up == 3) return InvalidArgument("--upscale 3: use 1, 2 or 4");
  po.upscale = static_cast<int>(up);
  GPEN_ASSIGN_OR_RETURN(double alpha, a.GetDouble("--alpha", 0, 1));
  GPEN_ASSIGN_OR_RETURN(double th, a.GetDouble("--threshold", 0, 1));
  GPEN_ASSIGN_OR_RETURN(double nms, a.GetDouble("--nms", 0, 1));
  po.alpha = static_cast<float>(alpha);
  po.detect.confidence_threshold = static_cast<float>(th);
  po.detect.nms_threshold = static_cast<float>(nms);
  po.only_faces = a.Has("--only-faces");
  if (a.Has("--save-faces")) {
    po.save_faces_dir = a.Get("--save-faces");
    GPEN_TRY(MakeFolder("--save-faces", po.save_faces_dir));
  }
  return po;
}

Status RunPhotoFiles(const RunCommand& c, const Args& a, int* failed) {
  GPEN_ASSIGN_OR_RETURN(PhotoOptions po, ParsePhotoFlags(c, a));
  GPEN_ASSIGN_OR_RETURN(std::vector<Job> jobs, SelectedJobs(a));
  if (jobs.empty()) return Status::Ok();
  if (po.run.device == Device::kCpu) GPEN_TRY(StartCpuThreads(po.run.threads));
  PhotoNetworks nets;
  GPEN_ASSIGN_OR_RETURN(nets.restorer, LoadRestorer("gpen enhance", a.Get("--model")));
  GPEN_ASSIGN_OR_RETURN(nets.detector, LoadPhotoDetector("gpen enhance", a.Get("--detector"),
                                                         ", or pass --aligned for face crops"));
  GPEN_TRY(ChooseBackground(a, &po, &nets));
  GPEN_ASSIGN_OR_RETURN(PipelineResult r, RunPhotos(nets, jobs, po));
  *failed = static_cast<int>(r.failed);
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  std::fprintf(stderr, "done: %lld of %zu photos in %.1f s, peak RSS %s%s\n",
               static_cast<long long>(r.written), jobs.size(), r.seconds,
               FormatBytes(static_cast<int64_t>(ru.ru_maxrss) * 1024).c_str(),
               r.failed ? " (some failed, see above)" : "");
  return Status::Ok();
}

}  // namespace

Status CmdEnhance(int argc, char** argv, int* failed) {
  *failed = 0;
  const RunCommand c{"enhance", "gpen enhance -m GPEN_MODEL -i IN -o OUT [--aligned] [flags]",
                     "gpen", "gpen upscale runs RRDBNet upscalers; gpen enhance needs a GPEN model",
                     true};
  Args a("enhance");
  AddRunFlags(c, a);
  AddPhotoFlags(a);
  a.Flag("-h,--help", false, "show this help");
  GPEN_TRY(a.Parse(argc, argv));
  if (a.Has("--help")) {
    std::printf("usage: %s\n\n%s", c.usage.c_str(), a.Help().c_str());
    return Status::Ok();
  }
  if (a.Has("--aligned")) return RunFiles(c, a, failed);
  return RunPhotoFiles(c, a, failed);
}

}  // namespace gpen::cli

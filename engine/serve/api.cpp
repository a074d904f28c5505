// The API of gpen serve: info, job submission (upload checks) and plans.
#include "serve/api.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backend.h"
#include "image/image.h"
#include "pipeline/image_job.h"
#include "run_plan.h"
#include "serve/temp_folder.h"
#include "tiling/tiled_image.h"

#ifndef GPEN_VERSION
#define GPEN_VERSION "unknown"
#endif

namespace gpen::serve {

namespace {

// A decoded photo: float planes (12 bytes a pixel) and the 8-bit buffer stb decodes into.
constexpr int64_t kHeldBytesPerPixel = 12;
constexpr int64_t kDecodeBytesPerPixel = 16;

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); !from.empty() && at != std::string::npos;
       at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

std::string Extension(const std::string& format) {
  if (format == "JPEG") return ".jpg";
  if (format == "BMP") return ".bmp";
  if (format == "TGA") return ".tga";
  return ".png";
}

Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return IoError("cannot write the upload on the server", "the server's disk may be full");
  return Status::Ok();
}

// The answer to a failed ProbeImage of the upload (saved as `path`).
ApiAnswer ProbeError(const Status& s, const std::string& path, int64_t max_pixels) {
  const std::string message = ReplaceAll(s.message(), path, "the upload");
  if (s.code() == ErrorCode::kOutOfMemory) {  // the pixel limit (image/image.h)
    return ErrorAnswer(413, Status(s.code(), message,
                                   "send a photo of at most " + std::to_string(max_pixels) +
                                       " pixels (the server's --max-pixels)"));
  }
  if (s.code() == ErrorCode::kFormat) {
    return ErrorAnswer(415, Status(s.code(), message, s.hint()));
  }
  return ErrorAnswer(s.code() == ErrorCode::kIo ? 500 : 400, Status(s.code(), message, s.hint()));
}

Result<int64_t> PlanInt(const Fields& f, const std::string& name, int64_t lo, int64_t hi,
                        int64_t def) {
  auto it = f.find(name);
  if (it == f.end()) {
    if (def >= 0) return def;
    return InvalidArgument("field '" + name + "' is missing",
                           "give the photo's width and height in pixels");
  }
  const std::string& v = it->second;
  int64_t n = 0;
  bool ok = !v.empty() && v.size() <= 12;
  for (char c : v) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) n = n * 10 + (c - '0');
  }
  if (!ok || n < lo || n > hi) {
    return InvalidArgument("field '" + name + "' is '" + v + "'; expected a whole number from " +
                               std::to_string(lo) + " to " + std::to_string(hi),
                           "width and height are the photo's size in pixels; faces, how many "
                           "faces to plan for (default 1)");
  }
  return n;
}

// The restorer's plan for `faces` faces of a w x h photo, as the photo pipeline's
// BatchRunner makes it (the decoding of the photo estimated from its size).
Result<RunPlan> RestorePlan(const Network& net, const PipelineOptions& run, int64_t w, int64_t h,
                            int64_t faces) {
  GPEN_ASSIGN_OR_RETURN(IoSpec io, net.Io(512, 512));  // a fixed-size network: any photo size
  PlanRequest req = BasePlanRequest(run, net);
  req.faces = faces;
  req.fixed_batch = run.fixed_batch;
  req.image_batches = 2;
  const int64_t pixels = w * h;
  req.decode_bytes =
      kDecodeBytesPerPixel * pixels + (kMaxPendingPhotos - 1) * kHeldBytesPerPixel * pixels;
  return ChooseRunPlan(net, io, req);
}

// The background upscaler's tiles for the photo, with the budget the restorer leaves
// when one is given (as the photo pipeline plans it).
Result<TilePlan> BackgroundPlan(const Network& up, const PipelineOptions& run,
                                const RunPlan& restore, int64_t w, int64_t h) {
  GPEN_ASSIGN_OR_RETURN(IoSpec io, up.Io(h, w));
  PlanRequest base = BasePlanRequest(run, up);
  if (run.budget > 0) {
    int64_t used = restore.total;
    for (const MemoryLine& l : restore.lines) {
      if (l.what.rfind("CUDA context", 0) == 0) used -= l.bytes;  // shared, counted once
    }
    base.budget = std::max<int64_t>(run.budget - used, 1);
  }
  return ChooseTilePlan(up, io, run.tiles, base, kHeldBytesPerPixel);
}

int64_t FreeBytes(Device d) {
  if (d == Device::kCpu) return AvailableHostMemory();
  auto f = CudaFreeMemory();
  return f.ok() ? f.value() : 0;
}

}  // namespace

ApiAnswer ErrorAnswer(int status, const Status& s) {
  ApiAnswer a;
  a.status = status;
  a.body = nlohmann::json{{"error", s.message()}, {"hint", s.hint()}}.dump();
  return a;
}

ServeApp::ServeApp(PhotoNetworks nets, ServerCaps caps, ServeLimits limits, std::string temp_root)
    : nets_(std::move(nets)),
      caps_(std::move(caps)),
      limits_(limits),
      root_(std::move(temp_root)),
      store_(StoreLimits{limits.max_queue, limits.job_ttl_s},
             [this](const JobSpec& spec, const RunEventSink& sink) { return RunJob(spec, sink); }) {
}

std::string ServeApp::InfoJson() const {
  nlohmann::json devices = {"cpu"};
  if (caps_.cuda_usable) devices.push_back("cuda");
  nlohmann::json j = {
      {"version", GPEN_VERSION},
      {"models",
       {{"restorer", nets_.restorer->Describe()},
        {"detector", nets_.detector->Describe()},
        {"upscaler", nets_.upscaler ? nlohmann::json(nets_.upscaler->Describe()) : nullptr}}},
      {"devices", devices},
      {"default_device", caps_.base.run.device == Device::kCuda ? "cuda" : "cpu"},
      {"limits",
       {{"max_upload_bytes", limits_.max_upload_bytes},
        {"max_pixels", limits_.max_pixels},
        {"max_queue", limits_.max_queue}}},
      {"options",
       {{"precision", {"fp32", "fp16"}},
        {"upscale", {1, 2, 4}},
        {"bg_upsampler", {"auto", "rrdb", "bicubic", "none"}}}}};
  return j.dump();
}

ApiAnswer ServeApp::SubmitJob(const std::string* image, const Fields& fields) {
  if (!image) {
    return ErrorAnswer(400, InvalidArgument("field 'image' is missing: send one photo as the file "
                                            "field 'image' of a multipart/form-data POST"));
  }
  if (static_cast<int64_t>(image->size()) > limits_.max_upload_bytes) {
    return ErrorAnswer(
        413,
        InvalidArgument("the upload is " + FormatBytes(static_cast<int64_t>(image->size())) +
                            ", more than the limit of " + FormatBytes(limits_.max_upload_bytes) +
                            " (" + std::to_string(limits_.max_upload_bytes) + " bytes)",
                        "send a smaller file (the server's --max-upload)"));
  }
  if (image->empty()) return ErrorAnswer(415, FormatError("the upload is empty, not an image"));
  auto settings = ParseSettings(fields, caps_);
  if (!settings.ok()) return ErrorAnswer(400, settings.status());
  JobSpec spec;
  spec.settings_json = settings->Json();
  spec.options = ToPhotoOptions(settings.value(), caps_);
  ApiAnswer saved = SaveAndProbe(*image, &spec);
  if (saved.status != 200) return saved;
  int64_t position = 0;
  const Status queued = store_.Submit(spec, &position);
  if (!queued.ok()) {
    RemoveTree(spec.dir);
    ApiAnswer a = ErrorAnswer(503, queued);
    a.retry_after = 10;
    return a;
  }
  const std::string url = "/api/jobs/" + spec.id;
  ApiAnswer a;
  a.status = 202;
  a.body = nlohmann::json{{"id", spec.id},
                          {"state", "queued"},
                          {"position", position},
                          {"status_url", url},
                          {"events_url", url + "/events"},
                          {"result_url", url + "/result"}}
               .dump();
  return a;
}

ApiAnswer ServeApp::SaveAndProbe(const std::string& image, JobSpec* spec) {
  spec->id = NewJobId();
  spec->dir = root_ + "/" + spec->id;
  Status made = MakePrivateFolder(spec->dir);
  if (!made.ok()) return ErrorAnswer(500, made);
  const std::string upload = spec->dir + "/upload";
  Status written = WriteFile(upload, image);
  ImageLoadOptions load;
  load.max_pixels = limits_.max_pixels;
  Result<ImageInfo> info = written.ok() ? ProbeImage(upload, load) : Result<ImageInfo>(written);
  if (!info.ok()) {
    RemoveTree(spec->dir);
    return ProbeError(info.status(), upload, limits_.max_pixels);
  }
  spec->width = info->width;
  spec->height = info->height;
  spec->input = spec->dir + "/input" + Extension(info->format);
  spec->output = spec->dir + "/restored.png";
  if (std::rename(upload.c_str(), spec->input.c_str()) != 0) {
    RemoveTree(spec->dir);
    return ErrorAnswer(500, IoError("cannot rename the upload on the server"));
  }
  return ApiAnswer{};
}

Result<JobOutput> ServeApp::RunJob(const JobSpec& spec, const RunEventSink& sink) const {
  PhotoOptions po = spec.options;
  po.run.events = sink;
  GPEN_ASSIGN_OR_RETURN(PipelineResult r, RunPhotos(nets_, {Job{spec.input, spec.output}}, po));
  if (r.written != 1) {
    const Status& why = r.first_failure;
    if (why.ok()) return IoError("the photo could not be restored (the server's log says why)");
    return Status(why.code(), ReplaceAll(why.message(), spec.input, "the upload"), why.hint());
  }
  ImageLoadOptions any;
  any.max_pixels = int64_t{1} << 40;
  GPEN_ASSIGN_OR_RETURN(ImageInfo out, ProbeImage(spec.output, any));
  return JobOutput{out.width, out.height, out.file_bytes};
}

ApiAnswer ServeApp::Plan(const Fields& all) const {
  Fields settings_fields;
  for (const auto& [k, v] : all) {
    if (!IsPlanField(k)) settings_fields[k] = v;
  }
  auto settings = ParseSettings(settings_fields, caps_);
  if (!settings.ok()) return ErrorAnswer(400, settings.status());
  auto w = PlanInt(all, "width", 1, 65536, -1);
  auto h = PlanInt(all, "height", 1, 65536, -1);
  auto faces = PlanInt(all, "faces", 1, 100000, 1);
  for (const Status& s : {w.status(), h.status(), faces.status()}) {
    if (!s.ok()) return ErrorAnswer(400, s);
  }
  const PhotoOptions po = ToPhotoOptions(settings.value(), caps_);
  auto restore = RestorePlan(*nets_.restorer, po.run, w.value(), h.value(), faces.value());
  if (!restore.ok()) return ErrorAnswer(422, restore.status());
  nlohmann::json answer = {{"restore", nlohmann::json::parse(restore->Json())},
                           {"background", nullptr},
                           {"free_bytes", FreeBytes(po.run.device)}};
  if (po.background == Background::kUpscaler && nets_.upscaler) {
    auto tiles = BackgroundPlan(*nets_.upscaler, po.run, restore.value(), w.value(), h.value());
    if (!tiles.ok()) return ErrorAnswer(422, tiles.status());
    answer["background"] = nlohmann::json::parse(tiles->Json());
  }
  return ApiAnswer{200, answer.dump(), 0};
}

}  // namespace gpen::serve

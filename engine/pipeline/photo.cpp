// Photo pipeline: detect every photo, then restore faces in batches across photos and
// paste each photo back as soon as its faces are done (see photo.h).
#include "pipeline/photo.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>

#include "batch_runner.h"
#include "core/tensor_view.h"
#include "face/align.h"
#include "face/face_detector.h"
#include "face/paste_back.h"
#include "image/pixels.h"
#include "image/resize_lanczos.h"
#include "pipeline/image_job.h"

namespace gpen {

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

std::string Stem(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

// Seconds spent in each stage of the run, for the summary.
struct Stages {
  double decode = 0, detect = 0, align = 0, restore = 0, background = 0, paste = 0, write = 0;
  int64_t batches = 0;
};

struct FaceWork {
  FaceBox box;
  FaceAlignment alignment;
  std::vector<float> crop;      // (3, size, size) in [0, 1]
  std::vector<float> restored;  // (3, size, size) in [0, 1]
};

struct PendingPhoto {
  size_t job = 0;
  Image photo;
  std::vector<FaceWork> faces;
  int64_t left = 0;  // faces not restored yet
};

class PhotoRunner {
 public:
  PhotoRunner(const PhotoNetworks& nets, const std::vector<Job>& jobs, const PhotoOptions& o)
      : nets_(nets), jobs_(jobs), o_(o), found_(jobs.size()), ok_(jobs.size(), false) {}

  Result<PipelineResult> Run() {
    const auto t0 = Clock::now();
    GPEN_TRY(DetectAll());
    GPEN_TRY(RestoreAll());
    PrintStages();
    PipelineResult r;
    r.failed = failed_;
    r.first_failure = first_failure_;
    r.written = static_cast<int64_t>(jobs_.size()) - failed_;
    r.seconds = Seconds(t0);
    return r;
  }

 private:
  std::string Label(size_t j) const {
    return "[" + std::to_string(j + 1) + "/" + std::to_string(jobs_.size()) + "]";
  }
  void Fail(size_t j, const char* what, const Status& st) {
    std::fprintf(stderr, "%s %s: %s\n", Label(j).c_str(), what, st.ToString().c_str());
    if (failed_ == 0) first_failure_ = st;
    ++failed_;
    ok_[j] = false;
  }
  Result<Image> Load(size_t j) {
    const auto t0 = Clock::now();
    auto info = ProbeImage(jobs_[j].in, o_.run.load);
    if (!info.ok()) return info.status();
    decode_bytes_ = std::max(decode_bytes_, info->peak_bytes);
    held_bytes_ = std::max(held_bytes_, info->decoded_bytes);
    Result<Image> img = LoadImage(jobs_[j].in, o_.run.load);
    stages_.decode += Seconds(t0);
    return img;
  }

  // Step 1: the faces of every photo (the photos themselves are not kept).
  Status DetectAll() {
    FaceDetector detector(nets_.detector, o_.run.device,
                          BackendOptions{o_.run.precision, o_.run.threads});
    for (size_t j = 0; j < jobs_.size(); ++j) {
      Result<Image> img = Load(j);
      if (!img.ok()) {
        Fail(j, "skipped", img.status());
        continue;
      }
      const auto t0 = Clock::now();
      auto faces = detector.Detect(img.value(), o_.detect, o_.upscale);
      stages_.detect += Seconds(t0);
      if (!faces.ok()) {
        if (faces.status().code() == ErrorCode::kOutOfMemory) return faces.status();
        Fail(j, "skipped", faces.status().WithContext(jobs_[j].in));
        continue;
      }
      found_[j] = std::move(faces).value();
      ok_[j] = true;
      total_faces_ += static_cast<int64_t>(found_[j].size());
      EmitFaces(o_.run.events, static_cast<int64_t>(found_[j].size()), img->width, img->height,
                Seconds(t0));
      std::fprintf(stderr, "%s %s: %lldx%lld, %zu face%s\n", Label(j).c_str(), jobs_[j].in.c_str(),
                   static_cast<long long>(img->width), static_cast<long long>(img->height),
                   found_[j].size(), found_[j].size() == 1 ? "" : "s");
    }
    std::fprintf(stderr, "faces: %lld in %zu photo%s (detection %.2f s)\n",
                 static_cast<long long>(total_faces_), jobs_.size(), jobs_.size() == 1 ? "" : "s",
                 stages_.detect);
    EmitStage(o_.run.events, "decode", stages_.decode);
    EmitStage(o_.run.events, "detect", stages_.detect);
    return Status::Ok();
  }

  // Step 2: batches of faces across photos; each photo pasted once its faces are back.
  Status RestoreAll() {
    if (total_faces_ > 0) GPEN_TRY(CreateRestorer());
    for (size_t j = 0; j < jobs_.size(); ++j) {
      if (!ok_[j]) continue;
      GPEN_TRY(Enqueue(j));
      while (!queue_.empty() && (static_cast<int64_t>(queue_.size()) >= runner_->batch() ||
                                 static_cast<int64_t>(pending_.size()) >= kMaxPendingPhotos)) {
        GPEN_TRY(RunBatch());
      }
      FinishDone();
    }
    while (!queue_.empty()) GPEN_TRY(RunBatch());
    FinishDone();
    return Status::Ok();
  }

  Status CreateRestorer() {
    const Network& net = *nets_.restorer;
    GPEN_ASSIGN_OR_RETURN(io_, net.Io(512, 512));  // a fixed-size network: any image size
    BatchRunnerOptions ro;
    ro.device = o_.run.device;
    ro.precision = o_.run.precision;
    ro.threads = o_.run.threads;
    ro.items = total_faces_;
    ro.budget = o_.run.budget;
    ro.fixed_batch = o_.run.fixed_batch;
    ro.noise_seed = o_.run.noise_seed;
    ro.image_batches = 2;  // the batch's crops and its outputs
    // Decoding one photo while the other pending photos are held.
    ro.decode_bytes = decode_bytes_ + (kMaxPendingPhotos - 1) * held_bytes_;
    ro.events = o_.run.events;
    GPEN_ASSIGN_OR_RETURN(runner_, BatchRunner::Create(nets_.restorer, io_, ro));
    return Status::Ok();
  }

  // Decodes photo j again, aligns and crops its faces, and queues them.
  Status Enqueue(size_t j) {
    Result<Image> img = Load(j);
    if (!img.ok()) {
      Fail(j, "skipped", img.status());
      return Status::Ok();
    }
    auto p = std::make_unique<PendingPhoto>();
    p->job = j;
    p->photo = std::move(img).value();
    const auto t0 = Clock::now();
    const int64_t size = io_.in_h;
    for (const FaceBox& box : found_[j]) {
      auto al = AlignFace(LandmarksOf(box), size);
      if (!al.ok()) {
        std::fprintf(stderr, "%s notice: a face at (%.0f, %.0f) is left as it is: %s\n",
                     Label(j).c_str(), box.x1, box.y1, al.status().message().c_str());
        EmitNotice(o_.run.events, "a face is left as it is: " + al.status().message());
        continue;
      }
      FaceWork f;
      f.box = box;
      f.alignment = al.value();
      f.crop = CropFace(p->photo.rgb.data(), 3, p->photo.height, p->photo.width, f.alignment);
      p->faces.push_back(std::move(f));
    }
    stages_.align += Seconds(t0);
    p->left = static_cast<int64_t>(p->faces.size());
    for (size_t k = 0; k < p->faces.size(); ++k) queue_.push_back({p.get(), k});
    pending_.push_back(std::move(p));
    return Status::Ok();
  }

  // One batch of queued faces through the restorer.
  Status RunBatch() {
    const int64_t n = std::min<int64_t>(runner_->batch(), static_cast<int64_t>(queue_.size()));
    const auto t0 = Clock::now();
    const int64_t size = io_.in_h;
    std::vector<float> in_buf, out_buf;
    const TensorView in = TensorView::Of(&in_buf, {n, io_.in_c, io_.in_h, io_.in_w});
    const TensorView out = TensorView::Of(&out_buf, {n, io_.out_c, io_.out_h, io_.out_w});
    Image crop;
    crop.width = crop.height = size;
    for (int64_t i = 0; i < n; ++i) {
      const auto& [photo, k] = queue_[static_cast<size_t>(i)];
      crop.rgb = photo->faces[k].crop;
      nets_.restorer->Preprocess(crop, io_, in.Item(i));
    }
    GPEN_TRY(runner_->Run(in, out));
    for (int64_t i = 0; i < n; ++i) {
      auto& [photo, k] = queue_[static_cast<size_t>(i)];
      Image r = nets_.restorer->Postprocess(out.Item(i), io_);
      // upstream: a model whose output is larger than its input is resized back to the
      // crop size before pasting (cv2.resize, bilinear).
      photo->faces[k].restored = ResizeBilinear(r.rgb, 3, r.height, r.width, size, size);
      --photo->left;
    }
    queue_.erase(queue_.begin(), queue_.begin() + n);
    stages_.restore += Seconds(t0);
    restored_ += n;
    EmitProgress(o_.run.events, "batch", restored_, total_faces_, stages_.restore);
    ++stages_.batches;
    return Status::Ok();
  }

  void FinishDone() {
    for (auto it = pending_.begin(); it != pending_.end();) {
      if ((*it)->left > 0) {
        ++it;
        continue;
      }
      Finish(**it);
      it = pending_.erase(it);
    }
  }

  // Background, paste-back and the write of one photo whose faces are all restored.
  void Finish(PendingPhoto& p) {
    const size_t j = p.job;
    // The run's align and restore time so far (batches mix the faces of several photos).
    EmitStage(o_.run.events, "align", stages_.align);
    EmitStage(o_.run.events, "restore", stages_.restore);
    const auto t0 = Clock::now();
    if (p.faces.empty()) {
      std::fprintf(stderr, "%s notice: no face found in %s: writing the %s photo\n",
                   Label(j).c_str(), jobs_[j].in.c_str(), o_.upscale > 1 ? "upscaled" : "");
      EmitNotice(o_.run.events, "no face found: the photo is written without restored faces");
    }
    auto bg = Background(p.photo, Label(j));
    if (!bg.ok()) {
      Fail(j, "failed", bg.status().WithContext(jobs_[j].in));
      return;
    }
    PixelImage canvas = std::move(bg).value();
    stages_.background += Seconds(t0);
    EmitStage(o_.run.events, "background", Seconds(t0));
    const auto t1 = Clock::now();
    const double s = o_.upscale;
    std::vector<PasteFace> faces;
    for (const FaceWork& f : p.faces) {
      faces.push_back(
          {f.restored.data(), f.crop.data(), io_.in_h, f.alignment.tfm_inv, IsSmallFace(f.box, s)});
    }
    PasteFaces(&canvas, faces, PasteOptions{o_.alpha, s});
    stages_.paste += Seconds(t1);
    EmitStage(o_.run.events, "paste", Seconds(t1));
    const auto t2 = Clock::now();
    Status st = SaveFaces(p);
    if (st.ok()) st = CheckOutputTarget(jobs_[j].out);
    if (st.ok()) st = SavePixels(jobs_[j].out, canvas);  // whole or absent
    stages_.write += Seconds(t2);
    EmitStage(o_.run.events, "write", Seconds(t2));
    if (!st.ok()) {
      Fail(j, "failed", st);
      return;
    }
    std::fprintf(stderr, "%s %s -> %s (%lldx%lld, %zu face%s, %.2f s)\n", Label(j).c_str(),
                 jobs_[j].in.c_str(), jobs_[j].out.c_str(), static_cast<long long>(canvas.width),
                 static_cast<long long>(canvas.height), p.faces.size(),
                 p.faces.size() == 1 ? "" : "s", Seconds(t0));
  }

  // The photo at the output scale, in 8 bits (alpha kept).
  Result<PixelImage> Background(Image photo, const std::string& label) {
    const int64_t s = o_.upscale;
    if (o_.only_faces || o_.background != Background::kUpscaler) {
      if (s == 1) return ToPixels(photo);
      return ToPixels(ResizeBicubic(photo, photo.width * s, photo.height * s));
    }
    if (!upscaler_) {
      up_options_ = o_.run;
      // The upscaler's output resized to the photo times --upscale when its own scale
      // differs (x4 model, --upscale 2), as Real-ESRGAN's --outscale does.
      up_options_.outscale = nets_.upscaler->Scale() == s ? 0.0 : static_cast<double>(s);
      if (o_.run.budget > 0 && runner_) {  // what the restorer's plan leaves of the budget
        int64_t used = runner_->plan().total;
        for (const MemoryLine& l : runner_->plan().lines) {
          if (l.what.rfind("CUDA context", 0) == 0) used -= l.bytes;  // shared, counted once
        }
        up_options_.budget = std::max<int64_t>(o_.run.budget - used, 1);
      }
      upscaler_ = std::make_unique<ImageJobRunner>(
          std::vector<std::shared_ptr<const Network>>{nets_.upscaler}, up_options_);
    }
    return upscaler_->Run(std::move(photo), label);
  }

  // --save-faces: NAME_faceK.png, the aligned crop beside the restored face.
  Status SaveFaces(const PendingPhoto& p) {
    if (o_.save_faces_dir.empty()) return Status::Ok();
    const int64_t size = io_.in_h, plane = size * size;
    for (size_t k = 0; k < p.faces.size(); ++k) {
      Image pair;
      pair.width = 2 * size;
      pair.height = size;
      pair.rgb.resize(static_cast<size_t>(3 * 2 * plane));
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < size; ++y)
          for (int64_t x = 0; x < size; ++x) {
            const size_t src = static_cast<size_t>(c * plane + y * size + x);
            float* row = pair.rgb.data() + c * 2 * plane + y * 2 * size;
            row[x] = p.faces[k].crop[src];
            row[size + x] = p.faces[k].restored[src];
          }
      const std::string path =
          o_.save_faces_dir + "/" + Stem(jobs_[p.job].in) + "_face" + std::to_string(k) + ".png";
      if (IsAnInput(path)) {
        return InvalidArgument("--save-faces: " + path +
                                   " is an input; inputs are never "
                                   "overwritten",
                               "give --save-faces a folder of its own");
      }
      GPEN_TRY(SaveImage(path, pair));
    }
    return Status::Ok();
  }

  // Whether `path` is one of the run's inputs (the same file, by device and inode).
  bool IsAnInput(const std::string& path) const {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return false;
    for (const Job& j : jobs_) {
      struct stat in {};
      if (stat(j.in.c_str(), &in) == 0 && in.st_dev == st.st_dev && in.st_ino == st.st_ino) {
        return true;
      }
    }
    return false;
  }

  void PrintStages() const {
    std::fprintf(stderr,
                 "stages: decode %.2f s, detect %.2f s, align %.2f s, restore %.2f s (%lld "
                 "batch%s), background %.2f s, paste %.2f s, write %.2f s\n",
                 stages_.decode, stages_.detect, stages_.align, stages_.restore,
                 static_cast<long long>(stages_.batches), stages_.batches == 1 ? "" : "es",
                 stages_.background, stages_.paste, stages_.write);
  }

  const PhotoNetworks& nets_;
  const std::vector<Job>& jobs_;
  const PhotoOptions& o_;
  std::vector<std::vector<FaceBox>> found_;
  std::vector<bool> ok_;
  int64_t total_faces_ = 0, restored_ = 0, decode_bytes_ = 0, held_bytes_ = 0, failed_ = 0;
  Status first_failure_;
  IoSpec io_;
  std::unique_ptr<BatchRunner> runner_;
  std::deque<std::unique_ptr<PendingPhoto>> pending_;
  std::deque<std::pair<PendingPhoto*, size_t>> queue_;
  PipelineOptions up_options_;
  std::unique_ptr<ImageJobRunner> upscaler_;
  Stages stages_;
};

}  // namespace

Result<PipelineResult> RunPhotos(const PhotoNetworks& nets, const std::vector<Job>& jobs,
                                 const PhotoOptions& options) {
  GPEN_CHECK(nets.restorer && nets.detector);
  GPEN_CHECK(options.only_faces || options.background != Background::kUpscaler || nets.upscaler);
  PhotoRunner runner(nets, jobs, options);
  return runner.Run();
}

}  // namespace gpen

// Pipeline: probe, group by item shape, then decode -> run -> encode with overlap.
#include "pipeline/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <mutex>
#include <system_error>

#include "batch_runner.h"
#include "core/tensor_view.h"
#include "pipeline/image_job.h"

namespace gpen {

namespace {

std::once_flag g_no_task_thread;

// Runs f on a thread of its own, or, when no thread can be created (a process limit),
// on the caller's thread when its result is asked for: the run goes on, without overlap.
template <typename F>
auto StartTask(const F& f) -> std::future<decltype(f())> {
  try {
    return std::async(std::launch::async, f);
  } catch (const std::system_error&) {
    std::call_once(g_no_task_thread, [] {
      std::fprintf(stderr,
                   "notice: no thread can be started to decode and write images beside the "
                   "run; they take turns with it\n");
    });
    return std::async(std::launch::deferred, f);
  }
}

double Seconds(std::chrono::steady_clock::time_point a) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
}

// A job whose header was read: its item shape and what decoding it holds.
struct Probed {
  size_t job = 0;
  IoSpec io;
  int64_t decode_bytes = 0;
};

// A batch as it moves through the pipeline.
struct Batch {
  std::vector<size_t> jobs;  // indexes into the run's jobs
  std::vector<std::vector<float>> alphas;
  std::vector<float> input, output;
  double seconds = 0;
};

class Runner {
 public:
  Runner(const std::vector<std::shared_ptr<const Network>>& nets, const std::vector<Job>& jobs,
         const PipelineOptions& o)
      : nets_(nets), net_(nets.at(0)), jobs_(jobs), o_(o) {}

  Result<PipelineResult> Run() {
    const auto t0 = std::chrono::steady_clock::now();
    if (net_->FullyConvolutional()) {
      RunImages();
    } else {
      GPEN_TRY(RunBatches());
    }
    PipelineResult r;
    r.failed = failures_.load();
    r.written = static_cast<int64_t>(jobs_.size()) - r.failed;
    r.seconds = Seconds(t0);
    return r;
  }

 private:
  // Each image on its own, in tiles, through every pass.
  void RunImages() {
    ImageJobRunner runner(nets_, o_);
    for (size_t j = 0; j < jobs_.size(); ++j) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::string label =
          "[" + std::to_string(j + 1) + "/" + std::to_string(jobs_.size()) + "]";
      auto info = ProbeImage(jobs_[j].in, o_.load);
      Result<Image> img =
          info.ok() ? LoadImage(jobs_[j].in, o_.load) : Result<Image>(info.status());
      if (!img.ok()) {
        Fail(j, "skipped", img.status());
        continue;
      }
      auto out = runner.Run(std::move(img).value(), label);
      Status st =
          out.ok() ? CheckOutputTarget(jobs_[j].out) : out.status().WithContext(jobs_[j].in);
      if (st.ok()) st = SavePixels(jobs_[j].out, out.value());  // whole or absent
      if (!st.ok()) {
        Fail(j, "failed", st);
        continue;
      }
      std::fprintf(stderr, "%s %s -> %s (%lldx%lld, %.2f s)\n", label.c_str(), jobs_[j].in.c_str(),
                   jobs_[j].out.c_str(), static_cast<long long>(out->width),
                   static_cast<long long>(out->height), Seconds(t0));
    }
  }

  // Items of one shape in planner-sized batches, decode -> run -> encode overlapping.
  Status RunBatches() {
    std::vector<Probed> probed = Probe();
    for (size_t start = 0; start < probed.size();) {
      size_t end = start + 1;
      while (end < probed.size() && probed[end].io == probed[start].io) ++end;
      GPEN_TRY(RunGroup(std::vector<Probed>(probed.begin() + static_cast<std::ptrdiff_t>(start),
                                            probed.begin() + static_cast<std::ptrdiff_t>(end))));
      start = end;
    }
    return Status::Ok();
  }

  void Fail(size_t job, const char* what, const Status& st) {
    std::fprintf(stderr, "[%zu/%zu] %s: %s\n", job + 1, jobs_.size(), what, st.ToString().c_str());
    ++failures_;
  }

  // Every job's header (ProbeImage reads no more): a file whose header is unreadable,
  // or whose size the network cannot take, is reported and skipped now.
  std::vector<Probed> Probe() {
    std::vector<Probed> out;
    for (size_t j = 0; j < jobs_.size(); ++j) {
      auto info = ProbeImage(jobs_[j].in, o_.load);
      if (!info.ok()) {
        Fail(j, "skipped", info.status());
        continue;
      }
      auto io = net_->Io(info->height, info->width);
      if (!io.ok()) {
        Fail(j, "skipped", io.status().WithContext(jobs_[j].in));
        continue;
      }
      out.push_back({j, io.value(), info->peak_bytes});
    }
    return out;
  }

  Status RunGroup(const std::vector<Probed>& group) {
    const IoSpec io = group[0].io;
    BatchRunnerOptions ro;
    ro.device = o_.device;
    ro.precision = o_.precision;
    ro.threads = o_.threads;
    ro.items = static_cast<int64_t>(group.size());
    ro.budget = o_.budget;
    ro.fixed_batch = o_.fixed_batch;
    ro.noise_seed = o_.noise_seed;
    ro.image_batches = 3;  // decoding, running and writing overlap
    for (const Probed& p : group) ro.decode_bytes = std::max(ro.decode_bytes, p.decode_bytes);
    GPEN_ASSIGN_OR_RETURN(std::unique_ptr<BatchRunner> runner, BatchRunner::Create(net_, io, ro));
    const size_t batch = static_cast<size_t>(runner->batch());

    std::future<Batch> next = StartTask([&] { return Load(group, 0, batch, io); });
    std::future<void> saving;
    for (size_t start = 0; start < group.size(); start += batch) {
      Batch b = next.get();
      if (start + batch < group.size()) {
        const size_t following = start + batch;
        next = StartTask([&, following] { return Load(group, following, batch, io); });
      }
      if (b.jobs.empty()) continue;
      const int64_t n = static_cast<int64_t>(b.jobs.size());
      const auto t0 = std::chrono::steady_clock::now();
      const TensorView in(b.input.data(), {n, io.in_c, io.in_h, io.in_w});
      const TensorView out = TensorView::Of(&b.output, {n, io.out_c, io.out_h, io.out_w});
      Status st = runner->Run(in, out);
      if (!st.ok()) {
        if (saving.valid()) saving.wait();
        if (next.valid()) next.wait();
        return st;
      }
      b.seconds += Seconds(t0);
      if (saving.valid()) saving.get();
      auto done = std::make_shared<Batch>(std::move(b));
      saving = StartTask([this, done, io] { Save(std::move(*done), io); });
    }
    if (saving.valid()) saving.get();
    return Status::Ok();
  }

  bool SameShape(const Image& img, const IoSpec& io) const {
    auto now = net_->Io(img.height, img.width);
    return now.ok() && now.value() == io;
  }

  // Decodes and preprocesses group[start, start + batch) into one input batch.
  Batch Load(const std::vector<Probed>& group, size_t start, size_t batch, const IoSpec& io) {
    Batch b;
    const auto t0 = std::chrono::steady_clock::now();
    const size_t end = std::min(group.size(), start + batch);
    b.input.resize((end - start) * static_cast<size_t>(io.in_numel()));
    const TensorView in(b.input.data(),
                        {static_cast<int64_t>(end - start), io.in_c, io.in_h, io.in_w});
    for (size_t k = start; k < end; ++k) {
      const size_t j = group[k].job;
      auto img = LoadImage(jobs_[j].in, o_.load);
      if (img.ok() && !SameShape(img.value(), io)) {
        img = InvalidArgument(jobs_[j].in + ": the file changed while the run went on",
                              "run it again once it is no longer being written");
      }
      if (!img.ok()) {
        Fail(j, "skipped", img.status());
        continue;
      }
      net_->Preprocess(img.value(), io, in.Item(static_cast<int64_t>(b.jobs.size())));
      b.alphas.push_back(img->alpha.empty() ? std::vector<float>()
                                            : ResizeBilinear(img->alpha, 1, img->height, img->width,
                                                             io.valid_h, io.valid_w));
      b.jobs.push_back(j);
    }
    b.input.resize(b.jobs.size() * static_cast<size_t>(io.in_numel()));
    b.seconds = Seconds(t0);
    return b;
  }

  void Save(Batch b, const IoSpec& io) {
    // An image's time: its share of decoding and the batch's run, plus its own encoding.
    const double share = b.seconds / static_cast<double>(b.jobs.size());
    const TensorView out(b.output.data(),
                         {static_cast<int64_t>(b.jobs.size()), io.out_c, io.out_h, io.out_w});
    for (size_t i = 0; i < b.jobs.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const Job& job = jobs_[b.jobs[i]];
      Image img = net_->Postprocess(out.Item(static_cast<int64_t>(i)), io);
      img.alpha = std::move(b.alphas[i]);
      Status st = CheckOutputTarget(job.out);     // it may have changed since the start
      if (st.ok()) st = SaveImage(job.out, img);  // whole or absent, even on a signal
      if (!st.ok()) {
        Fail(b.jobs[i], "failed", st);
        continue;
      }
      std::fprintf(stderr, "[%zu/%zu] %s -> %s (%lldx%lld, %.2f s)\n", b.jobs[i] + 1, jobs_.size(),
                   job.in.c_str(), job.out.c_str(), static_cast<long long>(img.width),
                   static_cast<long long>(img.height), share + Seconds(t0));
    }
  }

  const std::vector<std::shared_ptr<const Network>>& nets_;
  std::shared_ptr<const Network> net_;
  const std::vector<Job>& jobs_;
  const PipelineOptions& o_;
  std::atomic<int64_t> failures_{0};
};

}  // namespace

Result<PipelineResult> RunPipeline(const std::vector<std::shared_ptr<const Network>>& networks,
                                   const std::vector<Job>& jobs, const PipelineOptions& options) {
  if (networks.empty()) return InvalidArgument("no model to run");
  for (const auto& n : networks) {
    if (networks.size() > 1 && !n->FullyConvolutional()) {
      return InvalidArgument(n->Describe() +
                             " cannot be chained: only image networks (RRDBNet) "
                             "run as passes one after another");
    }
  }
  return Runner(networks, jobs, options).Run();
}

}  // namespace gpen

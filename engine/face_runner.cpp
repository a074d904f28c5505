// FaceRunner: plan, lazily created sessions, out-of-memory fallback.
#include "face_runner.h"

#include <algorithm>
#include <cstdio>

namespace gpen {

Result<std::unique_ptr<FaceRunner>> FaceRunner::Create(std::shared_ptr<const GpenWeights> weights,
                                                       const FaceRunnerOptions& options) {
  auto r = std::unique_ptr<FaceRunner>(new FaceRunner());
  r->weights_ = std::move(weights);
  r->options_ = options;
  GPEN_TRY(r->Replan(options.budget, false));
  return r;
}

Status FaceRunner::Replan(int64_t budget, bool measured) {
  PlanRequest req;
  req.device = options_.device;
  req.precision = options_.precision;
  req.faces = options_.faces;
  req.budget = budget;
  req.budget_measured = measured;
  req.fixed_batch = options_.fixed_batch;
  GPEN_ASSIGN_OR_RETURN(plan_, ChooseRunPlan(*weights_, req));
  sessions_.clear();
  tiled_.reset();
  if (!options_.quiet) std::fprintf(stderr, "%s", plan_.Describe().c_str());
  return Status::Ok();
}

Status FaceRunner::RunChunk(const float* in, int64_t n, float* out) {
  GpenGraphOptions go;
  go.batch = n;
  go.noise_seed = options_.noise_seed;
  const BackendOptions bo = plan_.Options(options_.threads);
  if (plan_.tiled) {
    if (!tiled_) {
      GPEN_ASSIGN_OR_RETURN(
          tiled_, TiledGpenSession::Create(weights_, go, plan_.tile, options_.device, bo));
    }
    return tiled_->Run(in, out);
  }
  auto it = sessions_.find(n);
  if (it == sessions_.end()) {
    GPEN_ASSIGN_OR_RETURN(std::unique_ptr<GpenSession> s,
                          GpenSession::Create(weights_, go, options_.device, bo));
    it = sessions_.emplace(n, std::move(s)).first;
  }
  return it->second->Run(in, out);
}

Status FaceRunner::Run(const float* in, int64_t n, float* out) {
  const int64_t in_px = 3 * weights_->arch.in_size * weights_->arch.in_size;
  const int64_t out_px = 3 * weights_->arch.out_size * weights_->arch.out_size;
  for (int64_t done = 0; done < n;) {
    const int64_t m = std::min(n - done, plan_.batch);
    Status st = RunChunk(in + done * in_px, m, out + done * out_px);
    if (st.code() == ErrorCode::kOutOfMemory && !(plan_.tiled && plan_.tile.tile <= 16)) {
      // A fixed batch is halved first; at one face the planner may tile.
      if (options_.fixed_batch > 0)
        options_.fixed_batch = options_.fixed_batch > 1 ? options_.fixed_batch / 2 : 0;
      const int64_t shrunk = plan_.budget * 7 / 10;
      std::fprintf(stderr,
                   "notice: %s\nnotice: planning again for less memory and retrying this batch\n",
                   st.message().c_str());
      const bool measure = options_.budget == 0 && options_.device == Device::kCuda;
      int64_t budget = shrunk;
      if (measure) {
        auto free_now = CudaFreeMemory();
        if (free_now.ok()) budget = std::min(shrunk, free_now.value());
      }
      // A measured budget stays measured: the context it would count is already spent.
      GPEN_TRY(Replan(budget, options_.budget == 0));
      continue;  // nothing of this chunk was written; run it again
    }
    GPEN_TRY(st);
    done += m;
  }
  return Status::Ok();
}

}  // namespace gpen

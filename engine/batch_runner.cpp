// BatchRunner: plan, one lazily created session, out-of-memory fallback.
#include "batch_runner.h"

#include <algorithm>
#include <cstdio>
#include <new>

#include "core/check.h"
#include "core/parallel.h"

namespace gpen {

Result<std::unique_ptr<BatchRunner>> BatchRunner::Create(std::shared_ptr<const Network> network,
                                                         const IoSpec& io,
                                                         const BatchRunnerOptions& options) {
  auto r = std::unique_ptr<BatchRunner>(new BatchRunner());
  r->network_ = std::move(network);
  r->io_ = io;
  r->options_ = options;
  // The threads first: their stacks and OpenBLAS's buffer take address space that a
  // limit of the process then no longer offers to the plan.
  if (options.device == Device::kCpu) GPEN_TRY(StartCpuThreads(options.threads));
  GPEN_TRY(r->Replan(options.budget, false));
  return r;
}

Status BatchRunner::Replan(int64_t budget, bool measured, const std::string& source) {
  session_.reset();
  tiled_.reset();
  PlanRequest req;
  req.device = options_.device;
  req.precision = options_.precision;
  req.faces = options_.items;
  req.budget = budget;
  req.budget_measured = measured;
  req.budget_source = source;
  req.fixed_batch = options_.fixed_batch;
  req.threads = options_.threads;
  req.image_batches = options_.image_batches;
  req.decode_bytes = options_.decode_bytes;
  if (options_.device == Device::kCpu) {
    req.limit = CpuAddressSpaceLimit(network_->store().total_params() * 4);
    req.limit_source = "the address-space limit (ulimit -v)";
  }
  GPEN_ASSIGN_OR_RETURN(plan_, ChooseRunPlan(*network_, io_, req));
  if (!options_.quiet) std::fprintf(stderr, "%s", plan_.Describe().c_str());
  EmitPlan(options_.events, "restore", plan_.Json());
  return Status::Ok();
}

Status BatchRunner::RunChunkOrThrow(const float* in, int64_t n, float* out) {
  const GraphOptions go = network_->OptionsFor(io_, n, options_.noise_seed);
  const BackendOptions bo = plan_.Options(options_.threads);
  if (plan_.tiled) {
    if (!tiled_) {
      GPEN_ASSIGN_OR_RETURN(tiled_,
                            network_->CreateTiledRunner(plan_.tile, go, options_.device, bo));
    }
    return tiled_->Run(in, out);
  }
  if (!session_ || session_->batch() != n) {
    session_.reset();  // first: the plan has room for one session, not two
    GPEN_ASSIGN_OR_RETURN(session_, Session::Create(network_, go, options_.device, bo));
  }
  return session_->Run(in, out);
}

Status BatchRunner::RunChunk(const float* in, int64_t n, float* out) {
  try {
    return RunChunkOrThrow(in, n, out);
  } catch (const std::bad_alloc&) {  // a host allocation outside the backends' own checks
    return OutOfMemory("out of host memory while preparing or running a batch of " +
                       std::to_string(n));
  }
}

int64_t BatchRunner::MeasureForReplan() const {
  if (options_.device == Device::kCuda) {
    if (options_.budget != 0) return 0;  // a user budget stands for a card we do not measure
    auto free_now = CudaFreeMemory();
    return free_now.ok() ? free_now.value() : 0;
  }
  int64_t free_now = AvailableHostMemory();
  const int64_t limit = CpuAddressSpaceLimit(network_->store().total_params() * 4);
  if (limit > 0) free_now = std::min(free_now, limit);
  return free_now;
}

Status BatchRunner::Run(const TensorView& in, const TensorView& out) {
  GPEN_CHECK(in.n() == out.n() && in.item_numel() == io_.in_numel() &&
             out.item_numel() == io_.out_numel());
  const int64_t n = in.n();
  for (int64_t done = 0; done < n;) {
    const int64_t m = std::min(n - done, plan_.batch);
    Status st = RunChunk(in.Slice(done, m).data(), m, out.Slice(done, m).data());
    if (st.code() == ErrorCode::kOutOfMemory && !(plan_.tiled && plan_.tile.tile <= 16)) {
      // A fixed batch is halved first; at one face the planner may tile.
      if (options_.fixed_batch > 0)
        options_.fixed_batch = options_.fixed_batch > 1 ? options_.fixed_batch / 2 : 0;
      session_.reset();  // what failed is given back before memory is measured again
      tiled_.reset();
      const int64_t budget = ReplanBudget(plan_, MeasureForReplan());
      std::fprintf(stderr,
                   "notice: %s\nnotice: planning again for %s (%.0f%% of the %s the failed plan "
                   "needed, at most what is free now) and retrying this batch\n",
                   st.message().c_str(), FormatBytes(budget).c_str(), kReplanFraction * 100,
                   FormatBytes(std::min(plan_.budget, SmallestBudgetFor(plan_.total))).c_str());
      EmitNotice(options_.events, "out of memory: " + st.message() +
                                      "; the engine planned again for " + FormatBytes(budget) +
                                      " and is retrying this batch");
      // A measured budget stays measured: the context it would count is already spent.
      GPEN_TRY(Replan(budget, options_.budget == 0, "re-planned after an allocation failed"));
      continue;  // nothing of this chunk was written; run it again
    }
    GPEN_TRY(st);
    done += m;
  }
  return Status::Ok();
}

}  // namespace gpen

// FaceRunner: restores batches of aligned faces within a memory budget.
//
// Plans once (run_plan.h) for the faces waiting, prints the choice, and creates the
// session the plan asks for: a batch session or a tiled one. One session is alive at a
// time, since the plan is for one: a smaller remainder batch replaces the batch session
// (and the next full batch replaces it back). If creating or running a session fails
// for lack of memory (another process took some since the plan was made, or a limit
// of this process), it says so, plans again for 70% of what the failed plan used (and
// no more than is free now), and goes on with a smaller batch or tiles (a batch the
// user fixed is halved): no face is dropped, and since each plan is smaller than the
// last, retrying ends. Run() accepts any number of faces up to batch().
#pragma once

#include <memory>
#include <string>

#include "run_plan.h"
#include "session.h"
#include "tiled.h"

namespace gpen {

struct FaceRunnerOptions {
  Device device = Device::kCpu;
  Precision precision = Precision::kFp32;
  int threads = 0;
  int64_t faces = 1;
  int64_t budget = 0;       // 0: measure
  int64_t fixed_batch = 0;  // 0: the planner chooses
  uint64_t noise_seed = 0;
  bool quiet = false;
  int64_t image_batches = 1;  // batches of host image buffers the caller keeps alive
  int64_t decode_bytes = 0;   // the most decoding one input holds (RunPlan's CPU line)
};

class FaceRunner {
 public:
  static Result<std::unique_ptr<FaceRunner>> Create(std::shared_ptr<const GpenWeights> weights,
                                                    const FaceRunnerOptions& options);
  int64_t batch() const { return plan_.batch; }
  const RunPlan& plan() const { return plan_; }
  // in: (n, 3, in_size, in_size); out: (n, 3, out_size, out_size); any n >= 1.
  Status Run(const float* in, int64_t n, float* out);

 private:
  // budget 0: measure; `measured`: budget is free memory measured now, not a user
  // budget; `source` names a derived budget in the plan.
  Status Replan(int64_t budget, bool measured, const std::string& source = {});
  Status RunChunk(const float* in, int64_t n, float* out);
  Status RunChunkOrThrow(const float* in, int64_t n, float* out);
  // Memory free now for a re-plan (0 when not measured), after the sessions are gone.
  int64_t MeasureForReplan() const;
  std::shared_ptr<const GpenWeights> weights_;
  FaceRunnerOptions options_;
  RunPlan plan_;
  std::unique_ptr<GpenSession> session_;  // the one untiled session, of any batch size
  std::unique_ptr<TiledGpenSession> tiled_;
};

}  // namespace gpen

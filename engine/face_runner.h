// FaceRunner: restores batches of aligned faces within a memory budget.
//
// Plans once (run_plan.h) for the faces waiting, prints the choice, and creates the
// sessions the plan asks for: a batch session (and a smaller one for the remainder)
// or a tiled session. If creating one still fails for lack of memory (another
// process took some since the plan was made), it says so, plans again for what is
// free now (or 70% of the previous budget), and goes on with a smaller batch or
// tiles (a batch the user fixed is halved): no face is dropped. Run() accepts any number of faces
// up to batch().
#pragma once

#include <map>
#include <memory>

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
  // budget 0: measure; `measured`: budget is free memory measured now, not a user budget.
  Status Replan(int64_t budget, bool measured);
  Status RunChunk(const float* in, int64_t n, float* out);
  std::shared_ptr<const GpenWeights> weights_;
  FaceRunnerOptions options_;
  RunPlan plan_;
  std::map<int64_t, std::unique_ptr<GpenSession>> sessions_;  // by batch size
  std::unique_ptr<TiledGpenSession> tiled_;
};

}  // namespace gpen

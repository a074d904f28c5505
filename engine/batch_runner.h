// BatchRunner: runs batches of items (faces, images) of one network within a memory budget.
//
// Plans once (run_plan.h) for the items waiting, all of one shape (IoSpec), prints the choice, and
// creates the session the plan asks for: a batch session or a tiled one. One session is alive at a
// time, since the plan is for one: a smaller remainder batch replaces the batch session
// (and the next full batch replaces it back). If creating or running a session fails
// for lack of memory (another process took some since the plan was made, or a limit
// of this process), it says so, plans again for 70% of what the failed plan used (and
// no more than is free now), and goes on with a smaller batch or tiles (a batch the
// user fixed is halved): no item is dropped, and since each plan is smaller than the
// last, retrying ends. Run() accepts any number of items up to batch().
#pragma once

#include <memory>
#include <string>

#include "core/tensor_view.h"
#include "net/network.h"
#include "pipeline/events.h"
#include "run_plan.h"
#include "session.h"

namespace gpen {

struct BatchRunnerOptions {
  Device device = Device::kCpu;
  Precision precision = Precision::kFp32;
  int threads = 0;
  int64_t items = 1;        // waiting to be run
  int64_t budget = 0;       // 0: measure
  int64_t fixed_batch = 0;  // 0: the planner chooses
  uint64_t noise_seed = 0;
  bool quiet = false;
  int64_t image_batches = 1;  // batches of host image buffers the caller keeps alive
  int64_t decode_bytes = 0;   // the most decoding one input holds (RunPlan's CPU line)
  RunEventSink events;        // the plan and re-plan notices (pipeline/events.h)
};

class BatchRunner {
 public:
  static Result<std::unique_ptr<BatchRunner>> Create(std::shared_ptr<const Network> network,
                                                     const IoSpec& io,
                                                     const BatchRunnerOptions& options);
  int64_t batch() const { return plan_.batch; }
  const RunPlan& plan() const { return plan_; }
  const IoSpec& io() const { return io_; }
  // in: (n, in_c, in_h, in_w); out: (n, out_c, out_h, out_w); any n >= 1.
  Status Run(const TensorView& in, const TensorView& out);

 private:
  // budget 0: measure; `measured`: budget is free memory measured now, not a user
  // budget; `source` names a derived budget in the plan.
  Status Replan(int64_t budget, bool measured, const std::string& source = {});
  Status RunChunk(const float* in, int64_t n, float* out);
  Status RunChunkOrThrow(const float* in, int64_t n, float* out);
  // Memory free now for a re-plan (0 when not measured), after the sessions are gone.
  int64_t MeasureForReplan() const;
  std::shared_ptr<const Network> network_;
  IoSpec io_;
  BatchRunnerOptions options_;
  RunPlan plan_;
  std::unique_ptr<Session> session_;  // the one untiled session, of any batch size
  std::unique_ptr<ItemRunner> tiled_;
};

}  // namespace gpen

// Run events: what a run reports while it works (its plans, the faces found, tiles and
// batches done, the time of each stage, notices such as an out-of-memory re-plan), for
// a listener beside the lines on stderr. gpen serve streams them to the page as
// Server-Sent Events; the command line leaves the sink empty.
//
// The sink is called on the run's own threads, in the order things happen; it must be
// quick and thread-safe, and it never changes what the run does.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace gpen {

struct RunEvent {
  std::string kind;  // plan, faces, batch, tile, stage, notice
  std::string json;  // one JSON object (the kinds and fields: README, "gpen serve")
};

using RunEventSink = std::function<void(const RunEvent&)>;

// Each sends one event when the sink is set, and does nothing otherwise.
// plan: {"stage": stage, "plan": plan_json} (RunPlan::Json or TilePlan::Json)
void EmitPlan(const RunEventSink& sink, const char* stage, const std::string& plan_json);
// faces: {"count", "width", "height", "seconds"} (one photo's detection)
void EmitFaces(const RunEventSink& sink, int64_t count, int64_t width, int64_t height,
               double seconds);
// batch (faces restored) or tile (tiles run): {"done", "total", "elapsed_s"}
void EmitProgress(const RunEventSink& sink, const char* kind, int64_t done, int64_t total,
                  double elapsed_s);
// stage: {"name", "seconds"}, the time one stage took
void EmitStage(const RunEventSink& sink, const char* name, double seconds);
// notice: {"message"}
void EmitNotice(const RunEventSink& sink, const std::string& message);

}  // namespace gpen

// Run events: each payload built with nlohmann::json, which escapes every string.
#include "pipeline/events.h"

#include <nlohmann/json.hpp>

namespace gpen {

namespace {

void Send(const RunEventSink& sink, const char* kind, const nlohmann::json& j) {
  if (sink) sink(RunEvent{kind, j.dump()});
}

}  // namespace

void EmitPlan(const RunEventSink& sink, const char* stage, const std::string& plan_json) {
  if (!sink) return;
  nlohmann::json plan = nlohmann::json::parse(plan_json, nullptr, /*allow_exceptions=*/false);
  if (plan.is_discarded()) plan = plan_json;  // never expected; kept as text, not lost
  Send(sink, "plan", {{"stage", stage}, {"plan", plan}});
}

void EmitFaces(const RunEventSink& sink, int64_t count, int64_t width, int64_t height,
               double seconds) {
  Send(sink, "faces",
       {{"count", count}, {"width", width}, {"height", height}, {"seconds", seconds}});
}

void EmitProgress(const RunEventSink& sink, const char* kind, int64_t done, int64_t total,
                  double elapsed_s) {
  Send(sink, kind, {{"done", done}, {"total", total}, {"elapsed_s", elapsed_s}});
}

void EmitStage(const RunEventSink& sink, const char* name, double seconds) {
  Send(sink, "stage", {{"name", name}, {"seconds", seconds}});
}

void EmitNotice(const RunEventSink& sink, const std::string& message) {
  Send(sink, "notice", {{"message", message}});
}

}  // namespace gpen

// The job queue, its worker and janitor threads, and the per-job event logs.
#include "serve/job_store.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>
#include <random>

#include "serve/temp_folder.h"

namespace gpen::serve {

using Clock = std::chrono::steady_clock;

struct JobStore::Job {
  JobSpec spec;
  JobState state = JobState::kQueued;
  int64_t position = 0;
  std::vector<ServeEvent> events;
  JobOutput output;
  nlohmann::json error;
  bool files_removed = false;
  Clock::time_point ended;
  std::condition_variable changed;
};

namespace {

const char* DeviceName(Device d) {
  return d == Device::kCuda ? "cuda" : "cpu";
}
const char* PrecisionName(Precision p) {
  return p == Precision::kFp16 ? "fp16" : "fp32";
}

std::string ErrorJson(const std::string& error, const std::string& hint) {
  return nlohmann::json{{"error", error}, {"hint", hint}}.dump();
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

const char* StateName(JobState s) {
  switch (s) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kFailed:
      return "failed";
  }
  return "failed";
}

std::string NewJobId() {
  std::random_device rd;  // the kernel's random source (getrandom, /dev/urandom)
  std::string id;
  char buf[9];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
    id += buf;
  }
  return id;
}

JobStore::JobStore(StoreLimits limits, JobRunner runner)
    : limits_(limits), runner_(std::move(runner)) {
  worker_ = std::thread([this] { WorkerLoop(); });
  janitor_ = std::thread([this] { JanitorLoop(); });
}

JobStore::~JobStore() {
  Close();
}

bool JobStore::closing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closing_;
}

Status JobStore::Submit(JobSpec spec, int64_t* position) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closing_) {
    return Unavailable("the server is shutting down", "try again when it is back");
  }
  if (static_cast<int64_t>(queue_.size()) >= limits_.max_queue) {
    return Unavailable("the queue is full (" + std::to_string(limits_.max_queue) + " jobs wait)",
                       "try again in a little while");
  }
  auto job = std::make_shared<Job>();
  job->spec = std::move(spec);
  job->position = static_cast<int64_t>(queue_.size());
  *position = job->position;
  AddEvent(*job, "queued", nlohmann::json{{"position", job->position}}.dump());
  jobs_[job->spec.id] = job;
  queue_.push_back(job);
  work_cv_.notify_one();
  return Status::Ok();
}

void JobStore::AddEvent(Job& job, const std::string& kind, const std::string& data) {
  const int64_t id = static_cast<int64_t>(job.events.size()) + 1;
  job.events.push_back(ServeEvent{id, kind, data});
  job.changed.notify_all();
}

void JobStore::AnnouncePositions() {
  for (size_t i = 0; i < queue_.size(); ++i) {
    Job& j = *queue_[i];
    if (j.position == static_cast<int64_t>(i)) continue;
    j.position = static_cast<int64_t>(i);
    AddEvent(j, "queued", nlohmann::json{{"position", j.position}}.dump());
  }
}

void JobStore::WorkerLoop() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing, and Close() failed what was queued
      job = queue_.front();
      queue_.pop_front();
      job->state = JobState::kRunning;
      job->position = 0;
      const PipelineOptions& run = job->spec.options.run;
      AddEvent(*job, "started",
               nlohmann::json{{"device", DeviceName(run.device)},
                              {"precision", PrecisionName(run.precision)}}
                   .dump());
      AnnouncePositions();
    }
    RunOne(job);
  }
}

void JobStore::RunOne(const std::shared_ptr<Job>& job) {
  const auto t0 = Clock::now();
  RunEventSink sink = [this, job](const RunEvent& e) {
    std::lock_guard<std::mutex> lock(mu_);
    AddEvent(*job, e.kind, e.json);
  };
  gpen::Result<JobOutput> r = Status::Ok();
  try {
    r = runner_(job->spec, sink);
  } catch (const std::bad_alloc&) {
    r = OutOfMemory("out of host memory", "try a smaller photo, or free memory on the server");
  } catch (const std::exception& e) {
    r = Status(ErrorCode::kInternal, std::string("internal error: ") + e.what(),
               "this is a bug in gpen; please report it");
  }
  RemoveTree(job->spec.input);
  if (r.ok()) {
    job->output = r.value();  // before the state: readers take the lock first
    const nlohmann::json done = {{"width", r->width},
                                 {"height", r->height},
                                 {"bytes", r->bytes},
                                 {"seconds", SecondsSince(t0)}};
    Finish(*job, JobState::kDone, "done", done.dump());
  } else {
    Finish(*job, JobState::kFailed, "error", ErrorJson(r.status().message(), r.status().hint()));
  }
}

void JobStore::Finish(Job& job, JobState state, const std::string& kind, const std::string& data) {
  std::lock_guard<std::mutex> lock(mu_);
  job.state = state;
  job.ended = Clock::now();
  if (state == JobState::kFailed) job.error = nlohmann::json::parse(data);
  AddEvent(job, kind, data);
}

std::optional<std::string> JobStore::StatusJson(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  const Job& j = *it->second;
  nlohmann::json s = {{"id", j.spec.id},
                      {"state", StateName(j.state)},
                      {"events", static_cast<int64_t>(j.events.size())},
                      {"input", {{"width", j.spec.width}, {"height", j.spec.height}}},
                      {"settings", nlohmann::json::parse(j.spec.settings_json)}};
  if (j.state == JobState::kQueued) s["position"] = j.position;
  if (j.state == JobState::kDone) {
    s["result"] = {
        {"width", j.output.width}, {"height", j.output.height}, {"bytes", j.output.bytes}};
  }
  if (j.state == JobState::kFailed) s["error"] = j.error;
  return s.dump();
}

EventBatch JobStore::WaitEvents(const std::string& id, int64_t after,
                                std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  EventBatch b;
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return b;
  std::shared_ptr<Job> job = it->second;  // kept alive should the janitor expire it
  b.known = true;
  const auto has_new = [&] { return static_cast<int64_t>(job->events.size()) > after; };
  const auto ended = [&] {
    return job->state == JobState::kDone || job->state == JobState::kFailed;
  };
  if (!has_new() && !ended())
    job->changed.wait_for(lock, timeout, [&] { return has_new() || ended(); });
  for (int64_t i = std::max<int64_t>(after, 0); i < static_cast<int64_t>(job->events.size()); ++i) {
    b.events.push_back(job->events[static_cast<size_t>(i)]);
  }
  b.ended = ended();
  return b;
}

ResultState JobStore::ResultOf(const std::string& id, std::string* path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return ResultState::kUnknown;
  const Job& j = *it->second;
  if (j.state != JobState::kDone) return ResultState::kNotDone;
  if (j.files_removed) return ResultState::kGone;
  *path = j.spec.output;
  return ResultState::kReady;
}

void JobStore::RemoveFiles(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second->files_removed) return;
  it->second->files_removed = true;
  RemoveTree(it->second->spec.dir);
}

void JobStore::ExpireOld() {
  const auto now = Clock::now();
  const auto ttl = std::chrono::seconds(limits_.job_ttl_s);
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const Job& j = *it->second;
    const bool ended = j.state == JobState::kDone || j.state == JobState::kFailed;
    if (ended && now - j.ended >= ttl) {
      RemoveTree(j.spec.dir);
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

void JobStore::JanitorLoop() {
  const auto period = std::chrono::seconds(std::clamp<int64_t>(limits_.job_ttl_s / 4, 1, 60));
  std::unique_lock<std::mutex> lock(mu_);
  while (!closed_) {
    janitor_cv_.wait_for(lock, period, [this] { return closed_; });
    ExpireOld();
  }
}

void JobStore::Close() {
  std::lock_guard<std::mutex> closing(close_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closing_ = true;
    for (const std::shared_ptr<Job>& j : queue_) {
      j->state = JobState::kFailed;
      j->ended = Clock::now();
      const std::string e =
          ErrorJson("the server is shutting down", "start the server again and resubmit");
      j->error = nlohmann::json::parse(e);
      AddEvent(*j, "error", e);
      RemoveTree(j->spec.dir);
      j->files_removed = true;
    }
    queue_.clear();
    work_cv_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    janitor_cv_.notify_all();
  }
  if (janitor_.joinable()) janitor_.join();
}

}  // namespace gpen::serve

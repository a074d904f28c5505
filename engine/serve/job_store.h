// JobStore: the jobs of gpen serve, their queue, the one worker that runs them, and
// each job's event log.
//
// A job is submitted with its upload already saved and checked (http_server.cpp). It
// waits in a queue of at most max_queue jobs (a full queue is refused: 503) and is run
// by one worker thread, one job at a time, so the models and the device are never
// shared. Everything a job reports is appended to its event log under the store's
// lock, and the job's condition variable is notified: streams (GET .../events) wait on
// it and write to their sockets themselves, so the worker never touches a socket and a
// slow client cannot stall the queue. Waiting jobs learn their place in the queue from
// `queued` events whenever it changes.
//
// Files: each job owns a folder under the server's temporary folder; the upload is
// removed when the job ends, the result after it was downloaded (then 410) or when the
// job expires (job_ttl after it ended; then 404). Close() refuses new jobs, fails the
// queued ones and waits for the running one to finish.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "pipeline/events.h"
#include "pipeline/photo.h"

namespace gpen::serve {

struct ServeEvent {
  int64_t id = 0;  // 1, 2, ... within a job
  std::string kind, data;
};

enum class JobState { kQueued, kRunning, kDone, kFailed };

struct JobOutput {
  int64_t width = 0, height = 0, bytes = 0;
};

// A job as submitted: immutable once queued (the worker reads it without the lock).
struct JobSpec {
  std::string id, dir, input, output;  // the job's folder, upload and result paths
  int64_t width = 0, height = 0;       // the upload's size
  std::string settings_json;           // as parsed (JobSettings::Json)
  PhotoOptions options;
};

// Runs one job: RunPhotos on spec.input -> spec.output, its events sent to `sink`.
using JobRunner = std::function<Result<JobOutput>(const JobSpec& spec, const RunEventSink& sink)>;

struct StoreLimits {
  int64_t max_queue = 16;
  int64_t job_ttl_s = 3600;
};

// A batch of events for a stream, and whether the job has ended (or is unknown).
struct EventBatch {
  bool known = false;
  bool ended = false;
  std::vector<ServeEvent> events;
};

enum class ResultState { kUnknown, kNotDone, kGone, kReady };

class JobStore {
 public:
  JobStore(StoreLimits limits, JobRunner runner);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Queues the job; Unavailable when the queue is full or the server is closing.
  // *position: its place in the queue (0 = runs next).
  [[nodiscard]] Status Submit(JobSpec spec, int64_t* position);
  // The status object of GET /api/jobs/ID, or nothing for an unknown id.
  std::optional<std::string> StatusJson(const std::string& id) const;
  // Events with id > after; waits up to `timeout` for one when there is none yet.
  EventBatch WaitEvents(const std::string& id, int64_t after, std::chrono::milliseconds timeout);
  // The result's path when it is ready.
  ResultState ResultOf(const std::string& id, std::string* path) const;
  // Removes the job's files after its result was downloaded (later requests: 410).
  void RemoveFiles(const std::string& id);
  // Refuses new jobs, fails the queued ones, waits for the running one; idempotent.
  void Close();
  bool closing() const;

 private:
  struct Job;
  void WorkerLoop();
  void JanitorLoop();
  void RunOne(const std::shared_ptr<Job>& job);
  void AddEvent(Job& job, const std::string& kind, const std::string& data);  // lock held
  void Finish(Job& job, JobState state, const std::string& kind, const std::string& data);
  void AnnouncePositions();  // lock held
  void ExpireOld();          // lock held

  StoreLimits limits_;
  JobRunner runner_;
  mutable std::mutex mu_;
  std::mutex close_mu_;  // one Close() at a time
  std::condition_variable work_cv_, janitor_cv_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool closing_ = false;
  bool closed_ = false;
  std::thread worker_, janitor_;
};

// 128 random bits as 32 lowercase hex digits.
std::string NewJobId();

const char* StateName(JobState s);

}  // namespace gpen::serve

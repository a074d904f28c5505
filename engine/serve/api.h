// ServeApp: what the HTTP routes of gpen serve do, apart from HTTP itself.
//
// Each call takes what the request carried (the upload's bytes, the form fields) and
// answers with a status code and a JSON body, so http_server.cpp only moves bytes.
// An upload is checked before it is queued: its size (413, naming the limit), its
// header (415 when it is not an image, naming what it looks like; 413 over the pixel
// limit), its fields (400 naming the field); it is stored in a folder of its own under
// the server's private temporary folder, under a name the server chooses.
#pragma once

#include <cstdint>
#include <string>

#include "pipeline/photo.h"
#include "serve/job_store.h"
#include "serve/settings.h"

namespace gpen::serve {

struct ServeLimits {
  int64_t max_upload_bytes = int64_t{50} << 20;
  int64_t max_pixels = 0;
  int64_t max_queue = 16;
  int64_t job_ttl_s = 3600;
};

struct ApiAnswer {
  int status = 200;
  std::string body;     // JSON
  int retry_after = 0;  // seconds, for 503
};

// An error answer: {"error": message, "hint": hint}.
ApiAnswer ErrorAnswer(int status, const Status& s);

class ServeApp {
 public:
  ServeApp(PhotoNetworks nets, ServerCaps caps, ServeLimits limits, std::string temp_root);

  std::string InfoJson() const;
  // POST /api/jobs: `has_image` false when no single file field 'image' was sent.
  ApiAnswer SubmitJob(const std::string* image, const Fields& fields);
  // POST /api/plan.
  ApiAnswer Plan(const Fields& fields) const;

  JobStore& store() { return store_; }
  const ServeLimits& limits() const { return limits_; }

 private:
  ApiAnswer SaveAndProbe(const std::string& image, JobSpec* spec);
  Result<JobOutput> RunJob(const JobSpec& spec, const RunEventSink& sink) const;

  PhotoNetworks nets_;
  ServerCaps caps_;
  ServeLimits limits_;
  std::string root_;
  JobStore store_;  // last: its worker uses the members above
};

}  // namespace gpen::serve

// HttpServer: the routes of gpen serve over cpp-httplib (README, "gpen serve").
//
//   GET  /, /app.js, /style.css     the embedded page (page_assets.h)
//   GET  /api/info                  models, devices, limits, options
//   POST /api/jobs                  multipart upload -> 202 and the job's urls
//   GET  /api/jobs/ID               the job's state
//   GET  /api/jobs/ID/events        Server-Sent Events: replay, then live, until done/error
//   GET  /api/jobs/ID/result        the PNG (?download=1: attachment, then its files go)
//   POST /api/plan                  the plans of a photo of that size; nothing runs
//
// Every error answer is JSON {"error", "hint"}. Requests are served by a pool of
// kServerThreads threads with read and write timeouts; an event stream waits on its
// job's condition variable (at most kKeepAliveSeconds, then a keep-alive comment), and
// ends on its own when its client is gone.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "core/status.h"
#include "serve/api.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace gpen::serve {

inline constexpr int kServerThreads = 64;
inline constexpr int kKeepAliveSeconds = 10;

class HttpServer {
 public:
  explicit HttpServer(ServeApp* app);
  ~HttpServer();

  // Binds host:port (port 0: a free one); returns the port.
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop(); returns false when listening failed.
  bool Listen();
  // Waits (at most `seconds`) for the open event streams to end, then stops listening.
  void Stop(double seconds);

 private:
  void AddRoutes();
  void AddJobRoutes();
  void ServeStatus(const httplib::Request& req, httplib::Response& res);
  void ServeResult(const httplib::Request& req, httplib::Response& res);
  void ServeEvents(const httplib::Request& req, httplib::Response& res);

  ServeApp* app_;
  std::unique_ptr<httplib::Server> svr_;
  std::shared_ptr<std::atomic<int>> streams_;  // event streams open now
};

}  // namespace gpen::serve

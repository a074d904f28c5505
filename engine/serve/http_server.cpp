// The routes of gpen serve, on cpp-httplib.
#include "serve/http_server.h"

#include <httplib.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "serve/page_assets.h"

namespace gpen::serve {

namespace {

constexpr int kIoTimeoutSeconds = 30;
constexpr int kKeepAliveTimeoutSeconds = 2;
constexpr size_t kFormOverheadBytes = size_t{1} << 20;  // multipart headers and text fields

void Send(httplib::Response& res, const ApiAnswer& a) {
  res.status = a.status;
  res.set_header("Cache-Control", "no-store");
  if (a.retry_after > 0) res.set_header("Retry-After", std::to_string(a.retry_after));
  res.set_content(a.body, "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& error,
               const std::string& hint) {
  Send(res, ErrorAnswer(status, Status(ErrorCode::kInvalidArgument, error, hint)));
}

// The text fields of a form (multipart, or urlencoded); `image` is the file field
// 'image' when sent exactly once. Repeated fields are an error.
Status ReadForm(const httplib::Request& req, Fields* fields, const std::string** image) {
  *image = nullptr;
  if (req.is_multipart_form_data()) {
    for (const auto& [name, part] : req.files) {
      const size_t n = req.files.count(name);
      if (n > 1) {
        return InvalidArgument("field '" + name + "' is sent " + std::to_string(n) + " times",
                               "send each field once (one photo per job)");
      }
      if (name == "image") {
        *image = &part.content;
      } else {
        (*fields)[name] = part.content;
      }
    }
    return Status::Ok();
  }
  for (const auto& [name, value] : req.params) {
    if (req.params.count(name) > 1) {
      return InvalidArgument("field '" + name + "' is sent more than once");
    }
    (*fields)[name] = value;
  }
  return Status::Ok();
}

std::string ReadWhole(const std::string& path, bool* ok) {
  std::ifstream f(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  *ok = static_cast<bool>(f) || f.eof();
  return data;
}

std::string FormatEvent(const ServeEvent& e) {
  return "id: " + std::to_string(e.id) + "\nevent: " + e.kind + "\ndata: " + e.data + "\n\n";
}

int64_t LastEventId(const httplib::Request& req) {
  const std::string v = req.get_header_value("Last-Event-ID");
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9' || n > (int64_t{1} << 40)) return 0;
    n = n * 10 + (c - '0');
  }
  return n;
}

// The answer httplib gives itself (no route, a body over the limit) as JSON.
httplib::Server::HandlerResponse ErrorBody(const httplib::Request& req, httplib::Response& res,
                                           int64_t max_upload) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
  if (res.status == 413) {
    SendError(res, 413,
              "the upload is larger than the limit of " + FormatBytes(max_upload) + " (" +
                  std::to_string(max_upload) + " bytes)",
              "send a smaller file (the server's --max-upload)");
  } else if (res.status == 404) {
    SendError(res, 404, "nothing here: " + req.method + " " + req.path,
              "the page is at /, the API under /api (README, \"gpen serve\")");
  } else {
    SendError(res, res.status,
              "the request could not be served (HTTP " + std::to_string(res.status) + ")",
              "check the request against the API (README, \"gpen serve\")");
  }
  return httplib::Server::HandlerResponse::Handled;
}

}  // namespace

HttpServer::HttpServer(ServeApp* app)
    : app_(app),
      svr_(std::make_unique<httplib::Server>()),
      streams_(std::make_shared<std::atomic<int>>(0)) {
  svr_->new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  svr_->set_read_timeout(kIoTimeoutSeconds);
  svr_->set_write_timeout(kIoTimeoutSeconds);
  svr_->set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
  svr_->set_payload_max_length(static_cast<size_t>(app_->limits().max_upload_bytes) +
                               kFormOverheadBytes);
  const int64_t max_upload = app_->limits().max_upload_bytes;
  svr_->set_error_handler(httplib::Server::HandlerWithResponse(
      [max_upload](const httplib::Request& req, httplib::Response& res) {
        return ErrorBody(req, res, max_upload);
      }));
  svr_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        SendError(res, 500, "internal error: " + what, "this is a bug in gpen; please report it");
      });
  AddRoutes();
  AddJobRoutes();
}

HttpServer::~HttpServer() = default;

void HttpServer::AddRoutes() {
  for (size_t i = 0; i < kPageAssetCount; ++i) {
    const PageAsset a = kPageAssets[i];
    svr_->Get(a.url, [a](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(reinterpret_cast<const char*>(a.data), a.size, a.content_type);
    });
  }
  svr_->Get("/api/info", [this](const httplib::Request&, httplib::Response& res) {
    Send(res, ApiAnswer{200, app_->InfoJson(), 0});
  });
  svr_->Post("/api/jobs", [this](const httplib::Request& req, httplib::Response& res) {
    Fields fields;
    const std::string* image = nullptr;
    const Status form = ReadForm(req, &fields, &image);
    if (!form.ok()) return Send(res, ErrorAnswer(400, form));
    if (!req.is_multipart_form_data()) {
      return SendError(res, 400, "POST /api/jobs takes multipart/form-data",
                       "send the photo as the file field 'image' of a form");
    }
    Send(res, app_->SubmitJob(image, fields));
  });
  svr_->Post("/api/plan", [this](const httplib::Request& req, httplib::Response& res) {
    Fields fields;
    const std::string* image = nullptr;
    const Status form = ReadForm(req, &fields, &image);
    if (!form.ok()) return Send(res, ErrorAnswer(400, form));
    if (image) return SendError(res, 400, "POST /api/plan takes no image", "send width and height");
    Send(res, app_->Plan(fields));
  });
}

void HttpServer::AddJobRoutes() {
  using httplib::Request;
  using httplib::Response;
  svr_->Get(R"(/api/jobs/([^/]+))", [this](const Request& q, Response& r) { ServeStatus(q, r); });
  svr_->Get(R"(/api/jobs/([^/]+)/result)",
            [this](const Request& q, Response& r) { ServeResult(q, r); });
  svr_->Get(R"(/api/jobs/([^/]+)/events)",
            [this](const Request& q, Response& r) { ServeEvents(q, r); });
}

void HttpServer::ServeStatus(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  const auto s = app_->store().StatusJson(id);
  if (!s) return SendError(res, 404, "no job " + id, "it may have expired");
  Send(res, ApiAnswer{200, *s, 0});
}

void HttpServer::ServeResult(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  std::string path;
  switch (app_->store().ResultOf(id, &path)) {
    case ResultState::kUnknown:
      return SendError(res, 404, "no job " + id, "it may have expired");
    case ResultState::kNotDone:
      return SendError(res, 409, "job " + id + " has no result yet",
                       "wait for its done event (GET /api/jobs/" + id + "/events)");
    case ResultState::kGone:
      return SendError(res, 410, "the result of job " + id + " was downloaded and removed",
                       "submit the photo again");
    case ResultState::kReady:
      break;
  }
  bool ok = false;
  auto data = std::make_shared<std::string>(ReadWhole(path, &ok));
  if (!ok) return SendError(res, 410, "the result of job " + id + " is gone", "submit it again");
  const bool download = req.get_param_value("download") == "1";
  res.set_header("Cache-Control", "no-store");
  res.set_header("Content-Disposition",
                 download ? "attachment; filename=\"restored.png\"" : "inline");
  // The files go once the whole result was sent (a failed send leaves them).
  ServeApp* app = app_;
  res.set_content_provider(
      data->size(), "image/png",
      [data](size_t offset, size_t length, httplib::DataSink& sink) {
        return sink.write(data->data() + offset, length);
      },
      [app, id, download](bool success) {
        if (download && success) app->store().RemoveFiles(id);
      });
}

namespace {

// One event stream: each call writes what came since the last (or a keep-alive comment
// after kKeepAliveSeconds), and ends the stream after done/error.
struct EventStream {
  JobStore* store;
  std::string id;
  std::shared_ptr<int64_t> last;     // the id of the last event sent
  std::shared_ptr<bool> ended;       // done/error sent (or the job expired)
  std::shared_ptr<void> open_token;  // counts the stream as open while it lives

  bool operator()(size_t, httplib::DataSink& sink) const {
    if (*ended) {
      sink.done();
      return true;
    }
    const EventBatch b = store->WaitEvents(id, *last, std::chrono::seconds(kKeepAliveSeconds));
    std::string out;
    for (const ServeEvent& e : b.events) {
      out += FormatEvent(e);
      *last = e.id;
    }
    if (out.empty() && !b.ended) out = ": keep-alive\n\n";
    *ended = b.ended || !b.known;
    if (!out.empty() && (!sink.is_writable() || !sink.write(out.data(), out.size()))) {
      return false;  // the client is gone: this stream ends, nothing else does
    }
    if (*ended) sink.done();
    return true;
  }
};

}  // namespace

void HttpServer::ServeEvents(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  if (!app_->store().StatusJson(id)) {
    return SendError(res, 404, "no job " + id, "it may have expired");
  }
  ++*streams_;
  std::shared_ptr<void> open(nullptr, [streams = streams_](void*) { --*streams; });
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      EventStream{&app_->store(), id, std::make_shared<int64_t>(LastEventId(req)),
                  std::make_shared<bool>(false), std::move(open)});
}

Result<int> HttpServer::Bind(const std::string& host, int port) {
  const int got =
      port == 0 ? svr_->bind_to_any_port(host) : (svr_->bind_to_port(host, port) ? port : -1);
  if (got <= 0) {
    return IoError(
        "cannot listen on " + host + ":" + std::to_string(port),
        "the port may be in use: choose another with --port, or --port 0 for any free one");
  }
  return got;
}

bool HttpServer::Listen() {
  return svr_->listen_after_bind();
}

void HttpServer::Stop(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (*streams_ > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  svr_->stop();
}

}  // namespace gpen::serve

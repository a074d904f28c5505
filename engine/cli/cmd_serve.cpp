// gpen serve: restore photos from a web page (or any HTTP client) on this machine.
//
// The models are loaded once, at start; jobs then run one at a time, in the order
// they came, on one worker thread (serve/job_store.h), and report their progress as
// Server-Sent Events (serve/http_server.h; the API: README, "gpen serve"). The server
// listens on loopback unless --host says otherwise (it has no authentication: another
// address is warned about). Uploads and results live in a private temporary folder
// that is removed on exit. SIGTERM or SIGINT: no new jobs, the running job finishes,
// the queued ones fail with "the server is shutting down", the server stops, exit 0.
//
// Built only with cpp-httplib (tools/install_deps.sh); without it the command says so.
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"

#if GPEN_HAVE_HTTPLIB
#include "cli/default_models.h"
#include "cli/device_select.h"
#include "core/parallel.h"
#include "serve/api.h"
#include "serve/http_server.h"
#include "serve/shutdown_signal.h"
#include "serve/temp_folder.h"
#endif

namespace gpen::cli {

namespace {

void AddServeFlags(Args& a) {
  a.Flag("-m,--model", true, "GPEN model file (.safetensors)")
      .Flag("--detector", true,
            "face detector model (RetinaFace); default models/retinaface-mnet.safetensors")
      .Flag("--upscaler", true,
            "background upscaler model (RRDBNet); default models/realesrgan-x4plus.safetensors "
            "when found, else backgrounds are resized bicubically")
      .Flag("--host", true, "address to listen on (loopback by default; others are warned about)",
            "127.0.0.1")
      .Flag("--port", true, "port to listen on, 0 for any free one", "7860")
      .Flag("--max-upload", true, "the largest upload accepted, in bytes (e.g. 50M)", "50M")
      .Flag("--max-pixels", true, "the largest photo accepted, in pixels (width x height)",
            "40000000")
      .Flag("--max-queue", true, "jobs that may wait at once; more are refused (503)", "16")
      .Flag("--job-ttl", true, "seconds a finished job and its result are kept", "3600")
      .Flag("--device", true, "cpu, cuda or auto (the default of jobs that say auto)", "auto")
      .Flag("--precision", true, "fp32 or fp16 (fp16 on cuda only)", "fp32")
      .Flag("--threads", true,
            "CPU threads (0 = one per core that other processes leave free, measured as it runs)",
            "0")
      .Flag("--vram-budget", true, "plan every job for this much memory (e.g. 2G)")
      .Flag("--threshold", true, "detection confidence threshold", "0.9")
      .Flag("--nms", true, "detection NMS IoU threshold", "0.4")
      .Flag("-h,--help", false, "show this help");
}

constexpr const char* kUsage =
    "gpen serve -m GPEN_MODEL [--detector M] [--upscaler M] [--host 127.0.0.1] [--port 7860] "
    "[flags]";

#if GPEN_HAVE_HTTPLIB

using serve::ServeLimits;
using serve::ServerCaps;

Status ParseServerOptions(const Args& a, ServerCaps* caps, ServeLimits* limits) {
  PipelineOptions& run = caps->base.run;
  GPEN_ASSIGN_OR_RETURN(run.device, ResolveDevice(a.Get("--device")));
  GPEN_ASSIGN_OR_RETURN(run.precision, ResolvePrecision(a.Get("--precision"), run.device));
  GPEN_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("--threads", 0, 1024));
  run.threads = static_cast<int>(threads);
  if (a.Has("--vram-budget")) {
    GPEN_ASSIGN_OR_RETURN(run.budget, a.GetBytes("--vram-budget"));
  }
  GPEN_ASSIGN_OR_RETURN(limits->max_pixels,
                        a.GetInt("--max-pixels", 1, int64_t{1'000'000'000'000}));
  run.load.max_pixels = limits->max_pixels;
  GPEN_ASSIGN_OR_RETURN(limits->max_upload_bytes, a.GetBytes("--max-upload"));
  GPEN_ASSIGN_OR_RETURN(limits->max_queue, a.GetInt("--max-queue", 1, 100000));
  GPEN_ASSIGN_OR_RETURN(limits->job_ttl_s, a.GetInt("--job-ttl", 1, int64_t{1} << 40));
  GPEN_ASSIGN_OR_RETURN(double th, a.GetDouble("--threshold", 0, 1));
  GPEN_ASSIGN_OR_RETURN(double nms, a.GetDouble("--nms", 0, 1));
  caps->base.detect.confidence_threshold = static_cast<float>(th);
  caps->base.detect.nms_threshold = static_cast<float>(nms);
  std::string why;
  caps->cuda_usable = CudaUsable(&why);
  return Status::Ok();
}

// The restorer, the detector and (when given or found) the background upscaler.
Status LoadModels(const Args& a, PhotoNetworks* nets) {
  if (a.Get("--model").empty()) {
    return InvalidArgument("gpen serve: --model is required", "see gpen serve --help");
  }
  GPEN_ASSIGN_OR_RETURN(nets->restorer, LoadRestorer("gpen serve", a.Get("--model")));
  GPEN_ASSIGN_OR_RETURN(nets->detector, LoadPhotoDetector("gpen serve", a.Get("--detector"), ""));
  std::string up = a.Get("--upscaler");
  if (up.empty()) up = FindDefaultModel(kDefaultUpscaler);
  if (up.empty()) {
    std::fprintf(stderr,
                 "notice: no upscaler model (--upscaler, models/%s): backgrounds are "
                 "resized bicubically\n",
                 kDefaultUpscaler);
    return Status::Ok();
  }
  GPEN_ASSIGN_OR_RETURN(nets->upscaler, LoadUpscaler(up));
  return Status::Ok();
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Serves until SIGTERM/SIGINT.
Status Serve(const Args& a, serve::ServeApp* app) {
  serve::HttpServer http(app);
  const std::string host = a.Get("--host");
  GPEN_ASSIGN_OR_RETURN(int64_t port_flag, a.GetInt("--port", 0, 65535));
  serve::ShutdownSignal signals;
  GPEN_TRY(signals.Install());
  GPEN_ASSIGN_OR_RETURN(int port, http.Bind(host, static_cast<int>(port_flag)));
  if (!IsLoopback(host)) {
    std::fprintf(stderr,
                 "warning: --host %s: the server is reachable from other machines, and it has "
                 "no authentication: anyone who reaches it can run jobs\n",
                 host.c_str());
  }
  const bool v6 = host.find(':') != std::string::npos;
  std::fprintf(stderr, "serving on http://%s%s%s:%d/\n", v6 ? "[" : "", host.c_str(), v6 ? "]" : "",
               port);
  std::thread watcher([&] {
    if (signals.Wait()) {
      std::fprintf(stderr, "gpen serve: shutting down; the running job finishes first\n");
    }
    app->store().Close();
    http.Stop(5.0);
  });
  const bool listened = http.Listen();
  signals.Wake();
  watcher.join();
  if (!listened) return IoError("cannot serve on " + host + ":" + std::to_string(port));
  std::fprintf(stderr, "gpen serve: stopped\n");
  return Status::Ok();
}

Status RunServe(const Args& a) {
  // A client that goes away mid-answer is an error of that answer's write, not a
  // signal that ends the server.
  std::signal(SIGPIPE, SIG_IGN);
  ServerCaps caps;
  ServeLimits limits;
  GPEN_TRY(ParseServerOptions(a, &caps, &limits));
  if (caps.base.run.device == Device::kCpu) GPEN_TRY(StartCpuThreads(caps.base.run.threads));
  PhotoNetworks nets;
  GPEN_TRY(LoadModels(a, &nets));
  caps.have_upscaler = nets.upscaler != nullptr;
  GPEN_ASSIGN_OR_RETURN(serve::TempFolder tmp, serve::TempFolder::Create("gpen-serve-"));
  serve::ServeApp app(std::move(nets), caps, limits, tmp.path());
  return Serve(a, &app);
}

#endif  // GPEN_HAVE_HTTPLIB

}  // namespace

Status CmdServe(int argc, char** argv) {
  Args a("serve");
  AddServeFlags(a);
  GPEN_TRY(a.Parse(argc, argv));
  if (a.Has("--help")) {
    std::printf("usage: %s\n\n%s", kUsage, a.Help().c_str());
    return Status::Ok();
  }
#if GPEN_HAVE_HTTPLIB
  return RunServe(a);
#else
  return Unavailable(
      "gpen serve is not in this build: cpp-httplib was not found when it was "
      "configured",
      "run tools/install_deps.sh (it installs libcpp-httplib-dev), then configure "
      "and build again");
#endif
}

}  // namespace gpen::cli

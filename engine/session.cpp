// Session: graph lowering + backend creation + run, for any network.
#include "session.h"

#include <chrono>

#include "core/check.h"

namespace gpen {

Result<std::unique_ptr<Backend>> CreateBackend(Device d, const Graph& g, const WeightStore& w,
                                               const BackendOptions& o) {
  return d == Device::kCpu ? CreateCpuBackend(g, w, o) : CreateCudaBackend(g, w, o);
}

Status Backend::SetInput(const float* host, int64_t count) {
  return SetTensor(graph().input(), host, count);
}

Result<double> Backend::TimedRun() {
  const auto t0 = std::chrono::steady_clock::now();
  GPEN_TRY(Run());
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

Result<std::unique_ptr<Session>> Session::Create(std::shared_ptr<const Network> network,
                                                 const GraphOptions& graph_options, Device device,
                                                 const BackendOptions& backend_options) {
  auto s = std::unique_ptr<Session>(new Session());
  s->network_ = std::move(network);
  s->graph_ = s->network_->BuildGraph(graph_options);
  GPEN_ASSIGN_OR_RETURN(s->backend_,
                        CreateBackend(device, s->graph_, s->network_->store(), backend_options));
  const Graph& g = s->backend_->graph();
  s->input_ = g.input();
  s->image_ = g.FindOutput("image");
  GPEN_CHECK(s->input_ >= 0);
  if (s->image_ < 0) {  // a detector: its outputs are heads, not an image
    return Unavailable(s->network_->Describe() + " gives no image; this command runs image " +
                           "networks (GPEN, RRDBNet)",
                       "find faces with gpen detect, or restore whole photos with gpen enhance "
                       "--detector MODEL");
  }
  return s;
}

Status Session::SetInput(const float* in) {
  const Graph& g = backend_->graph();
  return backend_->SetTensor(input_, in, g.tensor(input_).shape.numel());
}

Status Session::ReadImage(float* out) {
  const Graph& g = backend_->graph();
  return backend_->ReadOutput(image_, out, g.tensor(image_).shape.numel());
}

Status Session::Run(const float* in, float* out) {
  GPEN_TRY(SetInput(in));
  GPEN_TRY(backend_->Run());
  return ReadImage(out);
}

Status Session::ReadOutput(const std::string& name, std::vector<float>* out, Shape* shape) {
  const Graph& g = backend_->graph();
  const int t = g.FindOutput(name);
  if (t < 0) return InvalidArgument("graph has no output named '" + name + "'");
  *shape = g.tensor(t).shape;
  out->resize(static_cast<size_t>(shape->numel()));
  return backend_->ReadOutput(t, out->data(), shape->numel());
}

}  // namespace gpen

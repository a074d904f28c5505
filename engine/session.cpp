// GpenSession: graph lowering + backend creation + run.
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

Result<std::unique_ptr<GpenSession>> GpenSession::Create(std::shared_ptr<const GpenWeights> weights,
                                                         const GpenGraphOptions& graph_options,
                                                         Device device,
                                                         const BackendOptions& backend_options) {
  auto s = std::unique_ptr<GpenSession>(new GpenSession());
  s->weights_ = std::move(weights);
  s->graph_ = BuildGpenGraph(*s->weights_, graph_options);
  GPEN_ASSIGN_OR_RETURN(s->backend_, CreateBackend(device, s->graph_, s->weights_->store, backend_options));
  return s;
}

Status GpenSession::SetInput(const float* in) {
  const Graph& g = backend_->graph();
  return backend_->SetInput(in, g.tensor(g.input()).shape.numel());
}

Status GpenSession::ReadImage(float* out) {
  const Graph& g = backend_->graph();
  const int img = g.FindOutput("image");
  GPEN_CHECK(img >= 0);
  return backend_->ReadOutput(img, out, g.tensor(img).shape.numel());
}

Status GpenSession::Run(const float* in, float* out) {
  GPEN_TRY(SetInput(in));
  GPEN_TRY(backend_->Run());
  return ReadImage(out);
}

Status GpenSession::ReadOutput(const std::string& name, std::vector<float>* out, Shape* shape) {
  const Graph& g = backend_->graph();
  const int t = g.FindOutput(name);
  if (t < 0) return InvalidArgument("graph has no output named '" + name + "'");
  *shape = g.tensor(t).shape;
  out->resize(static_cast<size_t>(shape->numel()));
  return backend_->ReadOutput(t, out->data(), shape->numel());
}

}  // namespace gpen

// GpenSession: one model, one batch size, one backend, ready to run.
//
// Owns the graph and backend and shares the weights, so several sessions (a full
// batch and a remainder batch) can run one model without copying its weights.
#pragma once

#include <memory>

#include "backend.h"
#include "graph/gpen_graph.h"
#include "model/gpen_weights.h"

namespace gpen {

class GpenSession {
 public:
  static Result<std::unique_ptr<GpenSession>> Create(std::shared_ptr<const GpenWeights> weights,
                                                     const GpenGraphOptions& graph_options,
                                                     Device device,
                                                     const BackendOptions& backend_options);
  // in: (N, 3, in_size, in_size) in [-1, 1]; out: (N, 3, out_size, out_size).
  Status Run(const float* in, float* out);
  // The three steps of Run, for callers that time or overlap them.
  Status SetInput(const float* in);
  Status ReadImage(float* out);
  // Reads any graph output by name ("image", "latent", "ecd0", ...).
  Status ReadOutput(const std::string& name, std::vector<float>* out, Shape* shape);

  const Graph& graph() const { return graph_; }
  Backend& backend() { return *backend_; }
  const GpenArch& arch() const { return weights_->arch; }
  int64_t batch() const { return graph_.tensor(graph_.input()).shape.n(); }

 private:
  std::shared_ptr<const GpenWeights> weights_;
  Graph graph_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace gpen

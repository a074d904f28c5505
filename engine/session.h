// Session: one network, one batch of items of one shape, one backend, ready to run.
//
// Owns the graph and the backend and shares the network (its weights), so several
// sessions (a full batch and a remainder batch) run one model without copying its
// weights. The input and the "image" output are found once, at creation: a run looks
// nothing up by name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "net/network.h"

namespace gpen {

class Session : public ItemRunner {
 public:
  static Result<std::unique_ptr<Session>> Create(std::shared_ptr<const Network> network,
                                                 const GraphOptions& graph_options, Device device,
                                                 const BackendOptions& backend_options);
  // in: (N, in_c, in_h, in_w); out: (N, out_c, out_h, out_w).
  Status Run(const float* in, float* out) override;
  // The three steps of Run, for callers that time or overlap them.
  Status SetInput(const float* in);
  Status ReadImage(float* out);
  // Reads any graph output by name ("image", and for tests "latent", "ecd0", ...).
  Status ReadOutput(const std::string& name, std::vector<float>* out, Shape* shape);

  const Graph& graph() const { return graph_; }
  Backend& backend() { return *backend_; }
  const Network& network() const { return *network_; }
  int64_t batch() const override { return graph_.tensor(graph_.input()).shape.n(); }

 private:
  std::shared_ptr<const Network> network_;
  Graph graph_;
  std::unique_ptr<Backend> backend_;
  int input_ = -1, image_ = -1;  // tensor ids in backend_->graph()
};

}  // namespace gpen

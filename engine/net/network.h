// Network: what the engine needs to know about a model, whatever the model is.
//
// A network is its weights, bound once into typed structs; a graph builder for a batch
// and an input size; the shapes of one item in and out (IoSpec); and the pre- and
// post-processing between an Image and its tensors. The session (session.h), the
// planner (run_plan.h), the batch runner (batch_runner.h) and the pipeline
// (pipeline/pipeline.h) take a Network and never look inside it. A network may also
// offer a way to run one item in tiles when a whole one does not fit (GPEN's exact
// staged tiling, net/gpen_net.h); the planner asks for it only then.
//
// Adding a network means one module under net/ (its arch, weights, graph builder and a
// Network subclass) and one line in net/registry.cpp, keyed on the model file's
// `family` metadata as tools/archs.py writes it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "core/status.h"
#include "graph/graph.h"
#include "graph/graph_options.h"
#include "image/image.h"
#include "model/weights.h"

namespace gpen {

// One item's tensors: the input (in_c, in_h, in_w) and the output (out_c, out_h, out_w),
// each (C, H, W) of a batch (N, C, H, W); and the part of the output that is the image
// (a network that pads its input to a multiple crops its output back to valid_h x
// valid_w at the top left).
struct IoSpec {
  int64_t in_c = 3, in_h = 0, in_w = 0;
  int64_t out_c = 3, out_h = 0, out_w = 0;
  int64_t valid_h = 0, valid_w = 0;
  int64_t in_numel() const { return in_c * in_h * in_w; }
  int64_t out_numel() const { return out_c * out_h * out_w; }
  bool operator==(const IoSpec& o) const {
    return in_c == o.in_c && in_h == o.in_h && in_w == o.in_w && out_c == o.out_c &&
           out_h == o.out_h && out_w == o.out_w && valid_h == o.valid_h && valid_w == o.valid_w;
  }
  bool operator!=(const IoSpec& o) const { return !(*this == o); }
};

// Runs batches of items: a Session (one graph, one backend) or a network's tiled runner.
class ItemRunner {
 public:
  virtual ~ItemRunner() = default;
  virtual int64_t batch() const = 0;
  // in: (batch, in_c, in_h, in_w); out: (batch, out_c, out_h, out_w).
  virtual Status Run(const float* in, float* out) = 0;
};

// What a tiled run of one item holds: the graphs alive at once (each gets a backend)
// and the floats waiting on the host between them.
struct TiledGraphs {
  std::vector<Graph> graphs;
  int64_t host_staging_floats = 0;
};

class Network {
 public:
  virtual ~Network() = default;
  // The family as the model file names it ("gpen", "rrdbnet") and the architecture.
  virtual std::string family() const = 0;
  virtual std::string Describe() const = 0;
  // What one item is called in messages ("face", "image").
  virtual std::string ItemNoun() const = 0;
  virtual const WeightStore& store() const = 0;

  // The item shapes for an image of h x w pixels: a fixed-size network (GPEN) resizes
  // every image to its input; a fully convolutional one (RRDBNet) takes the image's own
  // size, padded up to what its architecture needs. An error names what is wrong.
  virtual Result<IoSpec> Io(int64_t h, int64_t w) const = 0;
  // The graph of a batch of items of that shape: one input, the image, and the output
  // tensor named "image"; options.in_h/in_w are io's.
  virtual Graph BuildGraph(const GraphOptions& options) const = 0;
  // GraphOptions for a batch of items of shape io.
  GraphOptions OptionsFor(const IoSpec& io, int64_t batch, uint64_t seed = 0) const;

  // An image to one item's input tensor (in_c, in_h, in_w), and one item's output tensor
  // back to an image of valid_h x valid_w (alpha is the caller's).
  virtual void Preprocess(const Image& img, const IoSpec& io, float* dst) const = 0;
  virtual Image Postprocess(const float* src, const IoSpec& io) const = 0;

  // Whether the network is fully convolutional over an image: its input for an image is
  // the image's RGB planes in [0, 1], reflected past the bottom and right edges up to
  // io.in_h x io.in_w (Preprocess), and output pixel (y, x) depends on input pixels
  // near (y, x) / scale only. Such a network runs large images in overlapping tiles
  // (tiling/tiled_image.h), any window of the padded input being an item of its own.
  virtual bool FullyConvolutional() const { return false; }
  // Output pixels per input pixel of a fully convolutional network.
  virtual int64_t Scale() const { return 1; }
  // The multiple its input sizes must be (windows and tiles are aligned to it).
  virtual int64_t InputMultiple() const { return 1; }

  // Tiling of one item, for when a whole one does not fit: the candidates fewest tiles
  // first (none by default), the tiles each gives per item, the graphs it holds, and a
  // runner of batch 1.
  virtual std::vector<TileSpec> TileChoices(const IoSpec&) const { return {}; }
  virtual int64_t TilesPerItem(const TileSpec&, const IoSpec&) const { return 1; }
  virtual TiledGraphs BuildTiledGraphs(const TileSpec&, const GraphOptions&) const { return {}; }
  virtual Result<std::unique_ptr<ItemRunner>> CreateTiledRunner(const TileSpec&,
                                                                const GraphOptions&, Device,
                                                                const BackendOptions&) const;
};

}  // namespace gpen

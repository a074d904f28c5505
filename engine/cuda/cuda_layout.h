// The CUDA backend's weight upload layout, computed on the host alone.
//
// One function decides what is uploaded and where: the backend uploads the blob it
// returns, and the memory planner asks it for sizes only (weights with shapes but no
// values). Being the single source, the planned weight bytes are the uploaded bytes.
// Rules: every piece starts at a 256-byte boundary; convolution weights are stored in
// the activation precision (fp16 in fp16 mode), transposed filters for the upsampling
// convolutions; biases, ToRGB weights, demodulation sums of squares, the mapping layers
// are fp32; the modulation layers that read one latent back to back share one matrix
// and one bias vector (one GEMM computes all their styles).
//
// Also here, host-only so that every build can test it: how a convolution's batch is
// split for cuDNN, whose legacy API indexes a tensor with 32-bit ints.
#pragma once

#include <cstdint>
#include <vector>

#include "graph/graph.h"
#include "model/weights.h"

namespace gpen::cuda {

inline constexpr size_t kNoPiece = static_cast<size_t>(-1);

struct NodeLayout {
  size_t w = kNoPiece, b = kNoPiece, aux = kNoPiece;  // blob offsets
  float noise_weight = 0.f;
  int style_group = -1;  // kModStyle: its group
  bool style_leader = false;
};

struct StyleSliceLayout {
  int tensor = -1;  // the style tensor this slice fills
  int64_t offset = 0, count = 0;
  bool normalize = false;  // fp16: divide by the per-sample max |s| (feeds a demodulation)
};

struct StyleGroupLayout {
  int input = -1;
  float scale = 1.f, bias_scale = 1.f;
  int64_t total = 0, sd = 0, batch = 0;
  size_t w = kNoPiece, b = kNoPiece;  // (total, sd) and (total)
  std::vector<StyleSliceLayout> slices;
};

struct WeightLayout {
  std::vector<uint8_t> blob;  // empty when built for sizes only
  size_t blob_bytes = 0;
  std::vector<NodeLayout> nodes;
  std::vector<StyleGroupLayout> groups;
  int64_t cast_floats = 0;   // fp32 copy of an fp16 input to a mapping GEMM
  int64_t style_floats = 0;  // the largest (N x total) style GEMM result
};

// `fused`: the graph after FuseGraph. transposed_for_cudnn: the layout of the upsampling
// filters ((Cin, Cout, k, k) for cuDNN's backward data, else ((Cout, k, k), Cin) rows).
WeightLayout BuildWeightLayout(const Graph& fused, const WeightStore& w, bool half,
                               bool transposed_for_cudnn, bool with_data);

// Device allocations and their parts are aligned to this many bytes.
inline constexpr size_t kDeviceAlign = 256;
inline size_t AlignUp(size_t v) {
  return (v + kDeviceAlign - 1) / kDeviceAlign * kDeviceAlign;
}

// The backend's one scratch buffer: convolution workspace (at most the cap), then the
// style GEMM result, then the fp32 copy of an fp16 GEMM input. The backend allocates
// exactly `total`; the planner counts it with the convolution part at its cap.
struct ScratchLayout {
  size_t style_offset = 0, cast_offset = 0, total = 0;
};
ScratchLayout PlanScratch(size_t conv_bytes, const WeightLayout& L);

// The most elements a tensor handed to cuDNN's legacy API may have (2^31 - 1).
inline constexpr int64_t kCudnnMaxElements = (int64_t{1} << 31) - 1;

// Samples per cuDNN call for a convolution from x (N, C, H, W) to y (N, C', H', W'):
// the whole batch when x and y both have at most kCudnnMaxElements, else the fewest
// calls that fit, each of ceil(N / calls) samples (the last may be smaller). PyTorch
// splits too (at 2^28-element chunks); fewer, larger calls suit cuDNN better.
// 0 when a single sample is already too large.
int64_t ConvBatchChunk(const Shape& x, const Shape& y);

}  // namespace gpen::cuda

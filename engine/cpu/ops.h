// CPU reference ops: plain, unfused, float32, one function per upstream building block.
//
// These are the ground truth every other backend is tested against. Each comment
// names the upstream function it mirrors (yangxy/GPEN face_model/gpen_model.py and
// face_model/op/*). Activations are (N, C, H, W), contiguous. Matrix work goes
// through cblas_sgemm (OpenBLAS); the rest is split over channels with
// ParallelFor (core/parallel.h).
#pragma once

#include <cstdint>
#include <vector>

#include "core/shape.h"
#include "graph/activation.h"

namespace gpen::cpu {

// Reusable scratch for im2col / col buffers; grows on demand, counted by the backend.
struct Workspace {
  std::vector<float> buf;
  float* Get(size_t n) {
    if (buf.size() < n) buf.resize(n);
    return buf.data();
  }
};

// C = alpha A B (row-major; A m x k, B k x n, C m x n, leading dimensions lda, ldb, ldc),
// split into blocks of C's columns (or rows, when it has few columns) claimed dynamically
// by GemmThreads() threads of the pool, each block one single-threaded OpenBLAS call
// (core/parallel.h says why). Small GEMMs run as one call. The blocks are the same at
// any thread count (GemmBlockThreads), and so is the result, bit for bit.
void ParallelSgemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float* c, int64_t ldc);

// Bytes of scratch the banded convolutions use at most (im2col of a row band).
constexpr size_t kConvBandBytes = size_t{8} << 20;
size_t Conv2dWorkspaceFloats(const Shape& x, int64_t k, const Shape& y);
size_t ConvTranspose2dWorkspaceFloats(const Shape& x, int64_t cout, int64_t k);

// EqualConv2d.forward: F.conv2d(x, W * scale, stride, padding), no bias.
// w: (Cout, Cin, k, k). y: (N, Cout, Ho, Wo).
void Conv2d(const float* x, const Shape& xs, const float* w, int64_t k, float scale, int stride,
            int pad, float* y, const Shape& ys, Workspace* ws);

// ModulatedConv2d.forward (upsample branch): F.conv_transpose2d(x, W^T * scale, stride=2,
// padding=0). wt is W pre-arranged as ((Cout, k, k), Cin) rows by PrepareConvTranspose.
// y: (N, Cout, 2H + k - 2, 2W + k - 2).
std::vector<float> PrepareConvTranspose(const float* w, int64_t cout, int64_t cin, int64_t k);
void ConvTranspose2d(const float* x, const Shape& xs, const float* wt, int64_t cout, int64_t k,
                     float scale, float* y, const Shape& ys, Workspace* ws);

// op/upfirdn2d.py upfirdn2d_native: zero-insert `up`, pad (pad0, pad1) (negative
// crops), convolve with the flipped kernel (kh, kw), keep every `down`-th sample.
void Upfirdn2d(const float* x, const Shape& xs, const float* kernel, int64_t kh, int64_t kw, int up,
               int down, int pad0, int pad1, float* y, const Shape& ys);

// act(x + bias * bias_scale): op/fused_act.py fused_leaky_relu(x, bias, 0.2, 2 ** 0.5) with
// act = Activation::GpenLeakyRelu(), a conv bias followed by nn.LeakyReLU(0.2) or nn.ReLU
// with others, the bias alone with Activation::None(). bias has C entries, multiplied by
// bias_scale (lr_mul); null: act(x) alone. y may equal x.
void BiasAct(const float* x, const Shape& xs, const float* bias, float bias_scale,
             const Activation& act, float* y);

// EqualLinear.forward: act(x (N, K) . (W (M, K) * scale)^T + bias * lr_mul); GPEN's
// fused_lrelu is Activation::GpenLeakyRelu().
void Linear(const float* x, int64_t n, int64_t k, const float* w, int64_t m, float scale,
            const float* bias, float bias_scale, const Activation& act, float* y);

// PixelNorm.forward: x * rsqrt(mean over C of x^2 + 1e-8); x (N, C).
void PixelNorm(const float* x, int64_t n, int64_t c, float* y);

// ModulatedConv2d demodulation: d[n, o] = rsqrt(sum_{i,k} (scale * W[o, i, k] * s[n, i])^2 + 1e-8).
// wsq[o, i] = sum_k W[o, i, k]^2, from PrepareDemod.
std::vector<double> PrepareDemod(const float* w, int64_t cout, int64_t cin, int64_t kk);
void DemodCoef(const float* s, int64_t n, int64_t cin, const double* wsq, int64_t cout, float scale,
               float* d);

// x[n, c, :, :] * s[n, c] (modulation of the input, demodulation of the output).
void ScaleChannels(const float* x, const Shape& xs, const float* s, float* y);

// Where seeded noise comes from: element (n, c, y, x) of a window whose origin in the
// untiled (N, C, full_h, full_w) tensor is (y0, x0) draws HashNormal(seed, flat index
// in the untiled tensor), so tiles draw exactly the values the whole image would.
// full_h == 0 means the tensor is the whole image.
struct NoiseWindow {
  uint64_t seed = 0;
  int64_t y0 = 0, x0 = 0, full_h = 0, full_w = 0;
};

// NoiseInjection.forward: cat(x, weight * noise) along C (isconcat) or x + weight * noise.
// noise is `feat` (N, C, H, W) or, when null, seeded N(0, 1) (see NoiseWindow).
void NoiseConcat(const float* x, const Shape& xs, const float* feat, const NoiseWindow& nw,
                 float weight, bool concat, float* y);

// Tiled generation: x is the window of an untiled (full_h, full_w) tensor whose top-left
// is (y0, x0); positions outside the untiled tensor become 0 (its zero padding).
void MaskWindow(const float* x, const Shape& xs, int64_t y0, int64_t x0, int64_t full_h,
                int64_t full_w, float* y);

// A window of every plane: y = x[:, :, y0 : y0 + Ho, x0 : x0 + Wo].
void Crop(const float* x, const Shape& xs, int64_t y0, int64_t x0, float* y, const Shape& ys);

// y = alpha * a + beta * b: GPEN's ToRGB skip sum (alpha = beta = 1, computed as a + b), and
// basicsr rrdbnet_arch.py's scaled residuals `x5 * 0.2 + x` (ResidualDenseBlock) and
// `out * 0.2 + x` (RRDB): alpha 0.2, beta 1. y may equal a or b.
void Add(const float* a, const float* b, int64_t n, float alpha, float beta, float* y);

// torch.cat(xs, dim=1): inputs[i] is (N, channels[i], H, W) with hw = H * W; y is
// (N, sum of channels, H, W).
void Concat(const std::vector<const float*>& inputs, const std::vector<int64_t>& channels,
            int64_t n, int64_t hw, float* y);

// F.interpolate(x, scale_factor=f, mode='nearest') (RRDBNet's upsampling): x (N, C, H, W),
// y (N, C, H * f, W * f), y[n, c, h, w] = x[n, c, h / f, w / f].
void UpsampleNearest(const float* x, const Shape& xs, int f, float* y);

// F.interpolate(x, size=(Ho, Wo), mode='nearest') (RetinaFace's FPN, upstream
// facemodels/net.py FPN.forward): y[n, c, h, w] = x[n, c, NearestSource(h, H, Ho),
// NearestSource(w, W, Wo)], torch's nearest_idx: the identity at equal sizes, dst / 2 at
// twice the size, else min(floor(dst * (float)in / out), in - 1) in float as torch computes it.
int64_t NearestSource(int64_t dst, int64_t in, int64_t out);
void UpsampleNearestTo(const float* x, const Shape& xs, const Shape& ys, float* y);

// nn.Conv2d(C, C, k, stride, pad, groups=C, bias=False) (MobileNetV1's conv_dw, upstream
// facemodels/net.py): each channel convolved with its own (k, k) filter, times scale.
// w: (C, 1, k, k). y: (N, C, Ho, Wo).
void DepthwiseConv2d(const float* x, const Shape& xs, const float* w, int64_t k, float scale,
                     int stride, int pad, float* y, const Shape& ys);

// F.max_pool2d(x, k, stride, pad) (torchvision resnet's maxpool, k 3 stride 2 pad 1):
// padded positions are -inf and never win; a NaN in the window is the result, as torch's.
// y: (N, C, Ho, Wo) with Ho = (H + 2 pad - k) / stride + 1.
void MaxPool2d(const float* x, const Shape& xs, int k, int stride, int pad, float* y,
               const Shape& ys);

// F.pixel_unshuffle(x, f) (basicsr rrdbnet_arch.py pixel_unshuffle, RRDBNet at scale 1 and
// 2): x (N, C, H * f, W * f) -> y (N, C * f * f, H, W), output channel c * f * f + i * f + j
// holding x[n, c, h * f + i, w * f + j]. xs is x's shape.
void PixelUnshuffle(const float* x, const Shape& xs, int f, float* y);

// ConstantInput.forward: input.repeat(batch, 1, 1, 1).
void ConstInput(const float* param, int64_t per_sample, int64_t batch, float* y);

}  // namespace gpen::cpu

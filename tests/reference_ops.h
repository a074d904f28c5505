// Direct float64 re-statements of upstream's definitions, for op tests.
//
// Deliberately naive: no im2col, no banding, no shared-weight rewrite. They read like
// the upstream PyTorch expressions they mirror (named in each comment), so a CPU op
// that agrees with them agrees with upstream.
#pragma once

#include <cstdint>
#include <vector>

namespace gpen::test::ref {

using Vec = std::vector<double>;

// F.conv2d(x, w * scale, stride, padding); x (N, C, H, W), w (O, C, k, k).
Vec Conv2d(const Vec& x, int64_t n, int64_t c, int64_t h, int64_t w, const Vec& wt, int64_t o,
           int64_t k, double scale, int stride, int pad, int64_t* ho, int64_t* wo);

// F.conv_transpose2d(x, w^T * scale, stride=2, padding=0) with w (O, C, k, k) as upstream
// transposes it: out[o, 2y+ky, 2x+kx] += w[o, c, ky, kx] x[c, y, x].
Vec ConvTranspose2d(const Vec& x, int64_t n, int64_t c, int64_t h, int64_t w, const Vec& wt,
                    int64_t o, int64_t k, double scale);

// upfirdn2d_native, literally: zero-insert, pad (negative crops), conv with flipped kernel,
// stride `down`.
Vec Upfirdn2d(const Vec& x, int64_t planes, int64_t h, int64_t w, const Vec& kernel, int64_t kh,
              int64_t kw, int up, int down, int pad0, int pad1, int64_t* ho, int64_t* wo);

// ModulatedConv2d.forward with per-sample weights (the form upstream computes):
// w_b = scale * W * s_b; demod: w_b *= rsqrt(sum w_b^2 + 1e-8); grouped conv (plain,
// pad k/2) or transposed stride-2 conv (upsample, before the blur).
Vec ModulatedConv(const Vec& x, int64_t n, int64_t c, int64_t h, int64_t w, const Vec& weight,
                  int64_t o, int64_t k, const Vec& style, bool demodulate, bool upsample,
                  int64_t* ho, int64_t* wo);

// scale * leaky_relu(x + bias, 0.2) (op/fused_act.py fused_leaky_relu, CPU branch).
Vec FusedLeakyRelu(const Vec& x, int64_t n, int64_t c, int64_t hw, const Vec& bias, double lr_mul);

// EqualLinear.forward (both branches).
Vec EqualLinear(const Vec& x, int64_t n, int64_t in, const Vec& w, int64_t out, const Vec& b,
                double lr_mul, bool activation);

// PixelNorm.forward.
Vec PixelNorm(const Vec& x, int64_t n, int64_t c);

// gain * F.leaky_relu(x + bias, slope) (nn.LeakyReLU; slope 0 is F.relu), per channel bias;
// empty bias: none.
Vec BiasLeakyRelu(const Vec& x, int64_t n, int64_t c, int64_t hw, const Vec& bias, double slope,
                  double gain);

// torch.cat(xs, dim=1) of (N, C_i, HW) tensors.
Vec Concat(const std::vector<Vec>& xs, const std::vector<int64_t>& channels, int64_t n, int64_t hw);

// F.interpolate(x, scale_factor=f, mode='nearest'): source index floor(dst * in / out).
Vec UpsampleNearest(const Vec& x, int64_t planes, int64_t h, int64_t w, int f);

// basicsr rrdbnet_arch.py pixel_unshuffle, literally: x.view(b, c, hh, f, hw, f)
// .permute(0, 1, 3, 5, 2, 4).reshape(b, c * f * f, hh, hw); x (N, C, H, W).
Vec PixelUnshuffle(const Vec& x, int64_t n, int64_t c, int64_t h, int64_t w, int f);

}  // namespace gpen::test::ref

// CPU reference ops (see ops.h). Convolutions are banded im2col + sgemm so that the
// scratch stays within kConvBandBytes at any resolution. Every GEMM goes through
// ParallelSgemm: blocks of output columns (or rows) claimed dynamically by the pool's
// threads, each an OpenBLAS call on one thread, so a thread slowed by another process
// takes fewer blocks instead of stalling the GEMM (core/parallel.h).
#include "cpu/ops.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "core/check.h"
#include "core/noise.h"
#include "core/parallel.h"

namespace gpen::cpu {

namespace {

// Rows of output computed per band so that `per_row` floats per row fit the budget.
int64_t BandRows(int64_t per_row, int64_t total) {
  const int64_t budget = static_cast<int64_t>(kConvBandBytes / sizeof(float));
  return std::clamp<int64_t>(budget / std::max<int64_t>(per_row, 1), 1, total);
}

// ParallelSgemm's split: below kMinSplitFlops one call (waking the pool costs more);
// otherwise about kBlocksPerThread blocks per thread, each at least kMinBlock wide so
// that OpenBLAS's packing of the other operand stays a small share of the block.
constexpr double kMinSplitFlops = 8e6;
constexpr int64_t kBlocksPerThread = 6;
constexpr int64_t kMinBlock = 128;
constexpr int64_t kBlockAlign = 16;  // a multiple of the sgemm kernels' unroll

int64_t BlockSize(int64_t extent, int threads) {
  const int64_t want = (extent + threads * kBlocksPerThread - 1) / (threads * kBlocksPerThread);
  const int64_t aligned = (want + kBlockAlign - 1) / kBlockAlign * kBlockAlign;
  return std::min(extent, std::max(kMinBlock, aligned));
}

// Below this many element operations a loop runs on the calling thread: waking the
// pool costs more, and under CPU contention every wake-up is a chance that a preempted
// worker holds the op's end (issue 13).
constexpr int64_t kMinParallelWork = int64_t{1} << 16;

// ParallelFor over n items whose whole loop does about `work` element operations.
template <typename F>
void ParallelWork(int64_t n, int64_t work, F&& fn) {
  ParallelFor(n, std::forward<F>(fn), work < kMinParallelWork ? 1 : 0);
}

}  // namespace

void ParallelSgemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float* c, int64_t ldc) {
  // The blocks depend on the machine only (GemmBlockThreads), never on the threads that
  // run them now, so the result is the same at any --threads and under any load.
  const int split_for = GemmBlockThreads();
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * k;
  const bool by_cols = n >= split_for * kMinBlock || n >= m;  // columns: A packed per block
  const int64_t extent = by_cols ? n : m;
  if (!GemmsSplit() || split_for <= 1 || flops < kMinSplitFlops || extent < 2 * kMinBlock) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, 0.f, c,
                ldc);
    return;
  }
  const int threads = std::min(GemmThreads(), ActiveThreads());
  const int64_t block = BlockSize(extent, split_for);
  const int64_t blocks = (extent + block - 1) / block;
  ParallelFor(
      blocks,
      [&](int64_t b0, int64_t b1) {
        for (int64_t i = b0; i < b1; ++i) {
          const int64_t lo = i * block, len = std::min(block, extent - lo);
          if (by_cols) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, len, k, alpha, a, lda, b + lo,
                        ldb, 0.f, c + lo, ldc);
          } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, n, k, alpha, a + lo * lda,
                        lda, b, ldb, 0.f, c + lo * ldc, ldc);
          }
        }
      },
      threads);
}

size_t Conv2dWorkspaceFloats(const Shape& x, int64_t k, const Shape& y) {
  if (k == 1 && x.h() == y.h() && x.w() == y.w()) return 0;  // direct GEMM
  const int64_t per_row = x.c() * k * k * y.w();
  return static_cast<size_t>(per_row * BandRows(per_row, y.h()));
}

size_t ConvTranspose2dWorkspaceFloats(const Shape& x, int64_t cout, int64_t k) {
  const int64_t per_row = cout * k * k * x.w();
  return static_cast<size_t>(per_row * BandRows(per_row, x.h()));
}

void Conv2d(const float* x, const Shape& xs, const float* w, int64_t k, float scale, int stride,
            int pad, float* y, const Shape& ys, Workspace* ws) {
  const int64_t n = xs.n(), cin = xs.c(), h = xs.h(), wd = xs.w();
  const int64_t cout = ys.c(), ho = ys.h(), wo = ys.w();
  const int64_t kdim = cin * k * k;
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = x + b * cin * h * wd;
    float* yb = y + b * cout * ho * wo;
    if (k == 1 && stride == 1 && pad == 0) {
      // (Cout, Cin) x (Cin, H*W)
      ParallelSgemm(cout, ho * wo, cin, scale, w, cin, xb, ho * wo, yb, ho * wo);
      continue;
    }
    const int64_t band = BandRows(kdim * wo, ho);
    float* cols = ws->Get(static_cast<size_t>(kdim * band * wo));
    for (int64_t r0 = 0; r0 < ho; r0 += band) {
      const int64_t rows = std::min(band, ho - r0);
      const int64_t ncol = rows * wo;
      ParallelWork(cin, cin * k * k * ncol, [&](int64_t c_begin, int64_t c_end) {
        for (int64_t c = c_begin; c < c_end; ++c) {
          const float* xc = xb + c * h * wd;
          for (int64_t ky = 0; ky < k; ++ky) {
            for (int64_t kx = 0; kx < k; ++kx) {
              float* col = cols + ((c * k + ky) * k + kx) * ncol;
              for (int64_t oy = 0; oy < rows; ++oy) {
                const int64_t iy = (r0 + oy) * stride - pad + ky;
                float* dst = col + oy * wo;
                if (iy < 0 || iy >= h) {
                  std::fill(dst, dst + wo, 0.f);
                  continue;
                }
                const float* src = xc + iy * wd;
                if (stride == 1) {
                  const int64_t lo = std::clamp<int64_t>(pad - kx, 0, wo);
                  const int64_t hi = std::clamp<int64_t>(wd + pad - kx, lo, wo);
                  std::fill(dst, dst + lo, 0.f);
                  std::memcpy(dst + lo, src + lo - pad + kx, (hi - lo) * sizeof(float));
                  std::fill(dst + hi, dst + wo, 0.f);
                } else {
                  for (int64_t ox = 0; ox < wo; ++ox) {
                    const int64_t ix = ox * stride - pad + kx;
                    dst[ox] = (ix >= 0 && ix < wd) ? src[ix] : 0.f;
                  }
                }
              }
            }
          }
        }
      });
      // (Cout, K) x (K, rows*Wo) -> output rows [r0, r0 + rows) of every channel.
      ParallelSgemm(cout, ncol, kdim, scale, w, kdim, cols, ncol, yb + r0 * wo, ho * wo);
    }
  }
}

std::vector<float> PrepareConvTranspose(const float* w, int64_t cout, int64_t cin, int64_t k) {
  // w (Cout, Cin, k, k) -> wt ((Cout, k, k), Cin)
  // Split over Cout: part of a cold start, where the pool would otherwise be idle.
  std::vector<float> wt(static_cast<size_t>(cout * cin * k * k));
  ParallelWork(cout, cout * cin * k * k, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t i = 0; i < cin; ++i)
        for (int64_t t = 0; t < k * k; ++t)
          wt[(o * k * k + t) * cin + i] = w[(o * cin + i) * k * k + t];
  });
  return wt;
}

void ConvTranspose2d(const float* x, const Shape& xs, const float* wt, int64_t cout, int64_t k,
                     float scale, float* y, const Shape& ys, Workspace* ws) {
  // out[o, 2*iy + ky, 2*ix + kx] += W[o, i, ky, kx] * x[i, iy, ix]
  const int64_t n = xs.n(), cin = xs.c(), h = xs.h(), wd = xs.w();
  const int64_t ho = ys.h(), wo = ys.w();
  const int64_t rows_k = cout * k * k;
  const int64_t band = BandRows(rows_k * wd, h);
  float* cols = ws->Get(static_cast<size_t>(rows_k * band * wd));
  std::memset(y, 0, sizeof(float) * static_cast<size_t>(ys.numel()));
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = x + b * cin * h * wd;
    float* yb = y + b * cout * ho * wo;
    for (int64_t r0 = 0; r0 < h; r0 += band) {
      const int64_t rows = std::min(band, h - r0);
      const int64_t ncol = rows * wd;
      ParallelSgemm(rows_k, ncol, cin, scale, wt, cin, xb + r0 * wd, h * wd, cols, ncol);
      ParallelWork(cout, cout * k * k * ncol, [&](int64_t o_begin, int64_t o_end) {
        for (int64_t o = o_begin; o < o_end; ++o) {
          float* yo = yb + o * ho * wo;
          for (int64_t ky = 0; ky < k; ++ky) {
            for (int64_t kx = 0; kx < k; ++kx) {
              const float* col = cols + ((o * k + ky) * k + kx) * ncol;
              for (int64_t iy = 0; iy < rows; ++iy) {
                float* dst = yo + (2 * (r0 + iy) + ky) * wo + kx;
                const float* src = col + iy * wd;
                for (int64_t ix = 0; ix < wd; ++ix) dst[2 * ix] += src[ix];
              }
            }
          }
        }
      });
    }
  }
}

void Upfirdn2d(const float* x, const Shape& xs, const float* kernel, int64_t kh, int64_t kw, int up,
               int down, int pad0, int pad1, float* y, const Shape& ys) {
  (void)pad1;  // implied by the output size
  const int64_t planes = xs.n() * xs.c(), h = xs.h(), wd = xs.w();
  const int64_t ho = ys.h(), wo = ys.w();
  // Flipped kernel: F.conv2d(padded, flip(kernel)) in upfirdn2d_native.
  std::vector<float> kf(static_cast<size_t>(kh * kw));
  for (int64_t i = 0; i < kh; ++i)
    for (int64_t j = 0; j < kw; ++j) kf[i * kw + j] = kernel[(kh - 1 - i) * kw + (kw - 1 - j)];
  // For each output column and kernel column: the source column, or -1.
  std::vector<int64_t> src_x(static_cast<size_t>(wo * kw));
  for (int64_t ox = 0; ox < wo; ++ox) {
    for (int64_t j = 0; j < kw; ++j) {
      const int64_t u = ox * down + j - pad0;  // index in the zero-inserted row
      src_x[ox * kw + j] = (u >= 0 && u % up == 0 && u / up < wd) ? u / up : -1;
    }
  }
  ParallelWork(planes, ys.numel() * kh, [&](int64_t p_begin, int64_t p_end) {
    for (int64_t p = p_begin; p < p_end; ++p) {
      const float* xp = x + p * h * wd;
      float* yp = y + p * ho * wo;
      for (int64_t oy = 0; oy < ho; ++oy) {
        float* dst = yp + oy * wo;
        std::fill(dst, dst + wo, 0.f);
        for (int64_t i = 0; i < kh; ++i) {
          const int64_t v = oy * down + i - pad0;
          if (v < 0 || v % up != 0 || v / up >= h) continue;
          const float* src = xp + (v / up) * wd;
          const float* krow = kf.data() + i * kw;
          if (up == 1 && down == 1) {
            // Contiguous fast path: dst[ox] += k * src[ox + j - pad0] on the valid range.
            for (int64_t j = 0; j < kw; ++j) {
              const int64_t lo = std::clamp<int64_t>(pad0 - j, 0, wo);
              const int64_t hi = std::clamp<int64_t>(wd + pad0 - j, lo, wo);
              const float kv = krow[j];
              const float* s = src + j - pad0;
              for (int64_t ox = lo; ox < hi; ++ox) dst[ox] += kv * s[ox];
            }
          } else {
            for (int64_t ox = 0; ox < wo; ++ox) {
              float acc = 0.f;
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t sx = src_x[ox * kw + j];
                if (sx >= 0) acc += krow[j] * src[sx];
              }
              dst[ox] += acc;
            }
          }
        }
      }
    }
  });
}

void BiasAct(const float* x, const Shape& xs, const float* bias, float bias_scale,
             const Activation& act, float* y) {
  const int64_t n = xs.n(), c = xs.c();
  const int64_t hw = xs.numel() / (n * c);
  const Activation a = act;  // a local copy: the loops below are unswitched on its kind
  ParallelWork(n * c, xs.numel(), [&](int64_t p_begin, int64_t p_end) {
    for (int64_t p = p_begin; p < p_end; ++p) {
      const float* xp = x + p * hw;
      float* yp = y + p * hw;
      if (bias == nullptr) {
        for (int64_t i = 0; i < hw; ++i) yp[i] = a.Apply(xp[i]);
        continue;
      }
      const float b = bias[p % c] * bias_scale;
      if (a.active()) {
        for (int64_t i = 0; i < hw; ++i) yp[i] = a.Apply(xp[i] + b);
      } else {
        for (int64_t i = 0; i < hw; ++i) yp[i] = xp[i] + b;
      }
    }
  });
}

void Linear(const float* x, int64_t n, int64_t k, const float* w, int64_t m, float scale,
            const float* bias, float bias_scale, const Activation& act, float* y) {
  // Accumulated in double: these layers are small and feed every later layer.
  ParallelWork(m, m * n * k, [&](int64_t j_begin, int64_t j_end) {
    for (int64_t j = j_begin; j < j_end; ++j) {
      const float* wj = w + j * k;
      for (int64_t b = 0; b < n; ++b) {
        const float* xb = x + b * k;
        double acc = 0;
        for (int64_t i = 0; i < k; ++i) acc += static_cast<double>(xb[i]) * wj[i];
        float v = static_cast<float>(acc * scale) + bias[j] * bias_scale;
        v = act.Apply(v);
        y[b * m + j] = v;
      }
    }
  });
}

void PixelNorm(const float* x, int64_t n, int64_t c, float* y) {
  for (int64_t b = 0; b < n; ++b) {
    double ss = 0;
    for (int64_t i = 0; i < c; ++i) ss += static_cast<double>(x[b * c + i]) * x[b * c + i];
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(c) + 1e-8);
    for (int64_t i = 0; i < c; ++i) y[b * c + i] = static_cast<float>(x[b * c + i] * r);
  }
}

std::vector<double> PrepareDemod(const float* w, int64_t cout, int64_t cin, int64_t kk) {
  std::vector<double> wsq(static_cast<size_t>(cout * cin));
  ParallelWork(cout, cout * cin * kk, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t i = 0; i < cin; ++i) {
        double s = 0;
        for (int64_t t = 0; t < kk; ++t) {
          const double v = w[(o * cin + i) * kk + t];
          s += v * v;
        }
        wsq[o * cin + i] = s;
      }
  });
  return wsq;
}

void DemodCoef(const float* s, int64_t n, int64_t cin, const double* wsq, int64_t cout, float scale,
               float* d) {
  const double sc2 = static_cast<double>(scale) * scale;
  for (int64_t b = 0; b < n; ++b) {
    std::vector<double> s2(static_cast<size_t>(cin));
    for (int64_t i = 0; i < cin; ++i) s2[i] = static_cast<double>(s[b * cin + i]) * s[b * cin + i];
    ParallelWork(cout, cout * cin, [&](int64_t o_begin, int64_t o_end) {
      for (int64_t o = o_begin; o < o_end; ++o) {
        double acc = 0;
        const double* wo = wsq + o * cin;
        for (int64_t i = 0; i < cin; ++i) acc += wo[i] * s2[i];
        d[b * cout + o] = static_cast<float>(1.0 / std::sqrt(sc2 * acc + 1e-8));
      }
    });
  }
}

void ScaleChannels(const float* x, const Shape& xs, const float* s, float* y) {
  const int64_t planes = xs.n() * xs.c();
  const int64_t hw = xs.numel() / planes;
  ParallelWork(planes, xs.numel(), [&](int64_t p_begin, int64_t p_end) {
    for (int64_t p = p_begin; p < p_end; ++p) {
      const float v = s[p];  // s is (N, C): flat index n*C + c == plane index
      for (int64_t i = 0; i < hw; ++i) y[p * hw + i] = x[p * hw + i] * v;
    }
  });
}

void NoiseConcat(const float* x, const Shape& xs, const float* feat, const NoiseWindow& nw,
                 float weight, bool concat, float* y) {
  const int64_t n = xs.n(), c = xs.c(), h = xs.h(), w = xs.w(), chw = c * h * w;
  const int64_t fh = nw.full_h ? nw.full_h : h, fw = nw.full_w ? nw.full_w : w;
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = x + b * chw;
    float* yb = y + b * chw * (concat ? 2 : 1);
    float* nb = concat ? yb + chw : yb;
    if (concat && yb != xb) std::memcpy(yb, xb, sizeof(float) * static_cast<size_t>(chw));
    ParallelWork(c * h, 8 * c * h * w, [&](int64_t r_begin, int64_t r_end) {
      for (int64_t r = r_begin; r < r_end; ++r) {  // r = channel * h + row
        const int64_t ch = r / h, row = r % h;
        const int64_t base = ((b * c + ch) * fh + nw.y0 + row) * fw + nw.x0;
        for (int64_t col = 0; col < w; ++col) {
          const int64_t i = r * w + col;
          const float nz =
              feat ? feat[b * chw + i] : HashNormal(nw.seed, static_cast<uint64_t>(base + col));
          nb[i] = concat ? weight * nz : xb[i] + weight * nz;
        }
      }
    });
  }
}

void MaskWindow(const float* x, const Shape& xs, int64_t y0, int64_t x0, int64_t full_h,
                int64_t full_w, float* y) {
  const int64_t planes = xs.n() * xs.c(), h = xs.h(), w = xs.w();
  ParallelWork(planes, xs.numel(), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t r = 0; r < h; ++r) {
        const bool row_in = y0 + r >= 0 && y0 + r < full_h;
        for (int64_t c = 0; c < w; ++c) {
          const int64_t i = (p * h + r) * w + c;
          y[i] = (row_in && x0 + c >= 0 && x0 + c < full_w) ? x[i] : 0.f;
        }
      }
  });
}

void Crop(const float* x, const Shape& xs, int64_t y0, int64_t x0, float* y, const Shape& ys) {
  const int64_t planes = xs.n() * xs.c();
  ParallelWork(planes, ys.numel(), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t r = 0; r < ys.h(); ++r)
        std::memcpy(y + (p * ys.h() + r) * ys.w(), x + (p * xs.h() + y0 + r) * xs.w() + x0,
                    sizeof(float) * static_cast<size_t>(ys.w()));
  });
}

void Add(const float* a, const float* b, int64_t n, float alpha, float beta, float* y) {
  ParallelWork(n, n, [&](int64_t b0, int64_t b1) {
    if (alpha == 1.f && beta == 1.f) {
      for (int64_t i = b0; i < b1; ++i) y[i] = a[i] + b[i];
    } else {
      for (int64_t i = b0; i < b1; ++i) y[i] = alpha * a[i] + beta * b[i];
    }
  });
}

void Concat(const std::vector<const float*>& inputs, const std::vector<int64_t>& channels,
            int64_t n, int64_t hw, float* y) {
  GPEN_CHECK(inputs.size() == channels.size());
  int64_t total = 0;
  for (int64_t c : channels) total += c;
  for (int64_t b = 0; b < n; ++b) {
    float* yb = y + b * total * hw;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const size_t count = static_cast<size_t>(channels[i] * hw);
      std::memcpy(yb, inputs[i] + b * channels[i] * hw, sizeof(float) * count);
      yb += count;
    }
  }
}

void UpsampleNearest(const float* x, const Shape& xs, int f, float* y) {
  const int64_t planes = xs.n() * xs.c(), h = xs.h(), w = xs.w(), wo = w * f;
  ParallelWork(planes, planes * h * w * f * f, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t r = 0; r < h; ++r) {
        const float* src = x + (p * h + r) * w;
        float* dst = y + (p * h + r) * f * wo;
        for (int64_t c = 0; c < wo; ++c) dst[c] = src[c / f];
        for (int i = 1; i < f; ++i) std::memcpy(dst + i * wo, dst, sizeof(float) * wo);
      }
  });
}

int64_t NearestSource(int64_t dst, int64_t in, int64_t out) {
  // ATen UpSample.h nearest_idx / nearest_neighbor_compute_source_index.
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const int64_t src = static_cast<int64_t>(std::floor(static_cast<float>(dst) * scale));
  return std::min(src, in - 1);
}

void UpsampleNearestTo(const float* x, const Shape& xs, const Shape& ys, float* y) {
  const int64_t planes = xs.n() * xs.c(), h = xs.h(), w = xs.w(), ho = ys.h(), wo = ys.w();
  std::vector<int64_t> sx(static_cast<size_t>(wo));
  for (int64_t c = 0; c < wo; ++c) sx[c] = NearestSource(c, w, wo);
  ParallelWork(planes, planes * ho * wo, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t r = 0; r < ho; ++r) {
        const float* src = x + (p * h + NearestSource(r, h, ho)) * w;
        float* dst = y + (p * ho + r) * wo;
        for (int64_t c = 0; c < wo; ++c) dst[c] = src[sx[c]];
      }
  });
}

void DepthwiseConv2d(const float* x, const Shape& xs, const float* w, int64_t k, float scale,
                     int stride, int pad, float* y, const Shape& ys) {
  const int64_t c = xs.c(), h = xs.h(), wd = xs.w(), ho = ys.h(), wo = ys.w();
  ParallelWork(xs.n() * c, xs.n() * c * ho * wo * k * k, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {  // p = b * C + channel
      const float* xp = x + p * h * wd;
      const float* wp = w + (p % c) * k * k;
      float* yp = y + p * ho * wo;
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          float acc = 0.f;
          for (int64_t ky = 0; ky < k; ++ky) {
            const int64_t iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t ix = ox * stride - pad + kx;
              if (ix >= 0 && ix < wd) acc += wp[ky * k + kx] * xp[iy * wd + ix];
            }
          }
          yp[oy * wo + ox] = acc * scale;
        }
    }
  });
}

void MaxPool2d(const float* x, const Shape& xs, int k, int stride, int pad, float* y,
               const Shape& ys) {
  const int64_t h = xs.h(), wd = xs.w(), ho = ys.h(), wo = ys.w();
  ParallelWork(xs.n() * xs.c(), ys.numel() * k * k, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* xp = x + p * h * wd;
      float* yp = y + p * ho * wo;
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          float m = -INFINITY;
          for (int64_t iy = oy * stride - pad; iy < oy * stride - pad + k; ++iy) {
            if (iy < 0 || iy >= h) continue;
            for (int64_t ix = ox * stride - pad; ix < ox * stride - pad + k; ++ix) {
              if (ix < 0 || ix >= wd) continue;
              const float v = xp[iy * wd + ix];
              if (v > m || std::isnan(v)) m = v;  // ATen max_pool2d: NaN propagates
            }
          }
          yp[oy * wo + ox] = m;
        }
    }
  });
}

void PixelUnshuffle(const float* x, const Shape& xs, int f, float* y) {
  const int64_t n = xs.n(), c = xs.c(), h = xs.h() / f, w = xs.w() / f;
  GPEN_CHECK(h * f == xs.h() && w * f == xs.w());
  // torch: x.view(N, C, H, f, W, f).permute(0, 1, 3, 5, 2, 4).reshape(N, C * f * f, H, W).
  ParallelWork(n * c, xs.numel(), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)  // p = b * C + channel: input plane p, outputs p*f*f..
      for (int64_t i = 0; i < f; ++i)
        for (int64_t j = 0; j < f; ++j) {
          float* dst = y + ((p * f + i) * f + j) * h * w;
          const float* src = x + p * xs.h() * xs.w();
          for (int64_t r = 0; r < h; ++r)
            for (int64_t col = 0; col < w; ++col)
              dst[r * w + col] = src[(r * f + i) * xs.w() + col * f + j];
        }
  });
}

void ConstInput(const float* param, int64_t per_sample, int64_t batch, float* y) {
  for (int64_t b = 0; b < batch; ++b)
    std::memcpy(y + b * per_sample, param, sizeof(float) * static_cast<size_t>(per_sample));
}

}  // namespace gpen::cpu

// GPEN weight binding: the table of upstream state_dict names and shapes, written once.
// From a file it runs twice: a check-only pass, then the pass that allocates (weights.h).
#include "model/gpen_weights.h"

#include <cmath>

namespace gpen {

namespace {

// make_kernel(k) * gain: outer(k, k) / sum(k)^2 * gain, row-major.
std::vector<float> BlurKernel2D(const std::vector<int64_t>& k, float gain) {
  double sum = 0;
  for (int64_t v : k) sum += static_cast<double>(v);
  std::vector<float> out;
  for (int64_t a : k)
    for (int64_t b : k) out.push_back(static_cast<float>(a * b / (sum * sum) * gain));
  return out;
}

LinearW BindLinear(Binder& b, const std::string& prefix, int64_t in, int64_t out, float lr_mul,
                   bool activate, Init bias_init) {
  LinearW l;
  l.weight = b.Bind(prefix + ".weight", {out, in});
  l.bias = b.Bind(prefix + ".bias", {out}, bias_init);
  l.lr_mul = lr_mul;
  l.activate = activate;
  return l;
}

Status Bind(const GpenArch& a, Binder& b, GpenWeights* w) {
  const int64_t mult = a.isconcat ? 2 : 1;
  const int64_t kk = static_cast<int64_t>(a.blur_kernel.size());
  const std::vector<float> blur1 = BlurKernel2D(a.blur_kernel, 1.f);
  const std::vector<float> blur4 = BlurKernel2D(a.blur_kernel, 4.f);
  const int64_t sd = a.style_dim;

  for (int64_t i = 1; i <= a.n_mlp; ++i) {
    w->style.push_back(BindLinear(b, "generator.style." + std::to_string(i), sd, sd,
                                  static_cast<float>(a.lr_mlp), true, Init::kBias));
  }
  w->const_input = b.Bind("generator.input.input", {1, a.Channels(4), 4, 4});

  auto styled = [&](const std::string& p, int64_t cin, int64_t cout, bool up) {
    StyledConvW s;
    s.upsample = up;
    s.weight = b.Bind(p + ".conv.weight", {1, cout, cin, 3, 3});
    if (up) s.blur_kernel = b.BindFixed(p + ".conv.blur.kernel", {kk, kk}, blur4);
    s.modulation = BindLinear(b, p + ".conv.modulation", sd, cin, 1.f, false, Init::kModBias);
    s.noise_weight = b.Bind(p + ".noise.weight", {1}, Init::kNoiseWeight);
    s.act_bias = b.Bind(p + ".activate.bias", {cout * mult}, Init::kBias);
    return s;
  };
  auto to_rgb = [&](const std::string& p, int64_t cin, bool up) {
    ToRgbW t;
    t.bias = b.Bind(p + ".bias", {1, 3, 1, 1}, Init::kBias);
    if (up) t.up_kernel = b.BindFixed(p + ".upsample.kernel", {kk, kk}, blur4);
    t.weight = b.Bind(p + ".conv.weight", {1, 3, cin, 1, 1});
    t.modulation = BindLinear(b, p + ".conv.modulation", sd, cin, 1.f, false, Init::kModBias);
    return t;
  };

  w->conv1 = styled("generator.conv1", a.Channels(4), a.Channels(4), false);
  w->to_rgb1 = to_rgb("generator.to_rgb1", a.Channels(4) * mult, false);
  int64_t cin = a.Channels(4);
  for (int i = 3; i <= a.LogOut(); ++i) {
    const int64_t cout = a.Channels(int64_t{1} << i);
    const int k = 2 * (i - 3);
    w->convs.push_back(styled("generator.convs." + std::to_string(k), cin * mult, cout, true));
    w->convs.push_back(
        styled("generator.convs." + std::to_string(k + 1), cout * mult, cout, false));
    w->to_rgbs.push_back(to_rgb("generator.to_rgbs." + std::to_string(i - 3), cout * mult, true));
    cin = cout;
  }

  EncoderLevelW e0;
  e0.weight = b.Bind("ecd0.0.0.weight", {a.Channels(a.in_size), 3, 1, 1});
  e0.act_bias = b.Bind("ecd0.0.1.bias", {a.Channels(a.in_size)}, Init::kBias);
  w->ecd.push_back(e0);
  cin = a.Channels(a.in_size);
  int n = 1;
  for (int i = a.LogIn(); i > 2; --i, ++n) {
    const int64_t cout = a.Channels(int64_t{1} << (i - 1));
    const std::string p = "ecd" + std::to_string(n) + ".0.";
    EncoderLevelW e;
    e.downsample = true;
    e.blur_kernel = b.BindFixed(p + "0.kernel", {kk, kk}, blur1);
    e.weight = b.Bind(p + "1.weight", {cout, cin, 3, 3});
    e.act_bias = b.Bind(p + "2.bias", {cout}, Init::kBias);
    w->ecd.push_back(e);
    cin = cout;
  }
  w->final_linear = BindLinear(b, "final_linear.0", a.Channels(4) * 16, sd, 1.f, true, Init::kBias);
  return b.Finish(a.ToString());
}

}  // namespace

Result<GpenWeights> GpenWeights::FromFile(const ModelFile& file) {
  GPEN_ASSIGN_OR_RETURN(GpenArch arch, GpenArch::FromModelFile(file));
  return BindFromFile<GpenWeights>(file, arch, Bind);
}

Result<GpenWeights> GpenWeights::Random(const GpenArch& arch, uint64_t seed) {
  return BindWithoutFile<GpenWeights>(arch, BindMode::kRandom, seed, Bind);
}

Result<GpenWeights> GpenWeights::ShapesOnly(const GpenArch& arch) {
  return BindWithoutFile<GpenWeights>(arch, BindMode::kShapesOnly, 0, Bind);
}

Result<GpenWeights> LoadGpenModel(const std::string& path) {
  GPEN_ASSIGN_OR_RETURN(ModelFile file, ModelFile::Open(path));
  return GpenWeights::FromFile(file);
}

}  // namespace gpen

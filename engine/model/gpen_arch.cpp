// GpenArch: metadata parsing, presets and the channel table.
#include "model/gpen_arch.h"

#include <cmath>
#include <sstream>

namespace gpen {

int64_t GpenArch::Channels(int64_t r) const {
  double base = 0;
  switch (r) {
    case 4:
    case 8:
    case 16:
    case 32:
      base = 512;
      break;
    case 64:
      base = 256.0 * channel_multiplier;
      break;
    case 128:
      base = 128.0 * channel_multiplier;
      break;
    case 256:
      base = 64.0 * channel_multiplier;
      break;
    case 512:
      base = 32.0 * channel_multiplier;
      break;
    case 1024:
      base = 16.0 * channel_multiplier;
      break;
    case 2048:
      base = 8.0 * channel_multiplier;
      break;
    default:
      return 0;
  }
  return static_cast<int64_t>(base * narrow);  // python int() truncation
}

static int Log2(int64_t v) {
  int l = 0;
  while ((int64_t{1} << l) < v) ++l;
  return l;
}

int GpenArch::LogIn() const {
  return Log2(in_size);
}
int GpenArch::LogOut() const {
  return Log2(out_size);
}

std::string GpenArch::ToString() const {
  std::ostringstream os;
  os << "GPEN " << (in_size == out_size ? "FullGenerator" : "FullGenerator_SR") << " in " << in_size
     << " out " << out_size << ", style_dim " << style_dim << ", n_mlp " << n_mlp
     << ", channel_multiplier " << channel_multiplier << ", narrow " << narrow << ", isconcat "
     << (isconcat ? "true" : "false") << ", lr_mlp " << lr_mlp << ", blur [";
  for (size_t i = 0; i < blur_kernel.size(); ++i) os << (i ? "," : "") << blur_kernel[i];
  os << "]";
  return os.str();
}

Status GpenArch::Validate(const std::string& where) const {
  auto pow2 = [](int64_t v) { return v >= 8 && v <= 2048 && (v & (v - 1)) == 0; };
  if (!pow2(in_size) || !pow2(out_size) || in_size > out_size) {
    return FormatError(where + ": in_size " + std::to_string(in_size) + " and out_size " +
                       std::to_string(out_size) +
                       " must be powers of two in [8, 2048] with in_size <= out_size");
  }
  if (blur_kernel.size() != 4) {
    return FormatError(where + ": blur kernel has " + std::to_string(blur_kernel.size()) +
                       " taps; GPEN's upsampling paddings are defined for 4");
  }
  int64_t sum = 0;
  for (int64_t k : blur_kernel) sum += k;
  if (sum <= 0) return FormatError(where + ": blur kernel sums to zero");
  for (int r = 4; r <= out_size; r *= 2) {
    if (Channels(r) <= 0) {
      return FormatError(where + ": narrow " + std::to_string(narrow) + " and channel_multiplier " +
                         std::to_string(channel_multiplier) + " give no channels at resolution " +
                         std::to_string(r));
    }
  }
  return Status::Ok();
}

Result<GpenArch> GpenArch::FromModelFile(const ModelFile& f) {
  GPEN_ASSIGN_OR_RETURN(std::string family, f.MetaString("family"));
  if (family != "gpen") {
    return FormatError(
        f.path() + ": model family is " + QuoteUntrusted(family) + ", expected 'gpen'",
        "this command runs GPEN face models");
  }
  GpenArch a;
  GPEN_ASSIGN_OR_RETURN(a.in_size, f.MetaInt("in_size", 8, 2048));
  GPEN_ASSIGN_OR_RETURN(a.out_size, f.MetaInt("out_size", 8, 2048));
  GPEN_ASSIGN_OR_RETURN(a.style_dim, f.MetaInt("style_dim", 1, 8192));
  GPEN_ASSIGN_OR_RETURN(a.n_mlp, f.MetaInt("n_mlp", 1, 64));
  GPEN_ASSIGN_OR_RETURN(a.channel_multiplier, f.MetaInt("channel_multiplier", 1, 16));
  GPEN_ASSIGN_OR_RETURN(a.narrow, f.MetaDouble("narrow", 1.0 / 512, 16));
  GPEN_ASSIGN_OR_RETURN(a.isconcat, f.MetaBool("isconcat"));
  GPEN_ASSIGN_OR_RETURN(a.lr_mlp, f.MetaDouble("lr_mlp", 1e-6, 1e3));
  GPEN_ASSIGN_OR_RETURN(a.blur_kernel, f.MetaIntList("blur_kernel"));
  GPEN_TRY(a.Validate(f.path()));
  return a;
}

Result<GpenArch> GpenArch::Preset(const std::string& name) {
  GpenArch a;  // defaults are GPEN-BFR-512
  if (name == "bfr512") {
  } else if (name == "bfr256") {
    a.in_size = a.out_size = 256;
    a.channel_multiplier = 1;
    a.narrow = 0.5;
  } else if (name == "bfr1024") {
    a.in_size = a.out_size = 1024;
  } else if (name == "bfr2048") {
    a.in_size = 1024;
    a.out_size = 2048;
  } else {
    return InvalidArgument("unknown architecture preset '" + name + "'",
                           "use one of bfr256, bfr512, bfr1024, bfr2048");
  }
  return a;
}

}  // namespace gpen

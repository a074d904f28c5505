// libFuzzer target: any byte string given to the image decoder (DecodeImage, the path
// every LoadImage takes after reading the file) yields an Image or a Status, never a
// crash, leak, hang or undefined behaviour; an Image it returns is well formed and goes
// through the model's input path (resize, range mapping). Built with clang and
// -DGPEN_FUZZ=ON (AddressSanitizer + UBSan); seeded from tests/fuzz/corpus_image
// (every documented format and its variants, see make_seeds.py there):
//   build-fuzz/tests/gpen_fuzz_image build-fuzz/corpus_image tests/fuzz/corpus_image \
//     -max_total_time=60 -rss_limit_mb=2048 -timeout=20
// (new inputs go to the first, writable folder).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gpen::ImageLoadOptions options;
  options.max_pixels = int64_t{1} << 22;  // 4 megapixels: fast runs; the same checks apply
  auto decoded = gpen::DecodeImage(data, size, "fuzz.img", options);
  if (!decoded.ok()) return 0;
  const gpen::Image& img = decoded.value();
  const int64_t hw = img.width * img.height;
  if (img.width <= 0 || img.height <= 0 || hw > options.max_pixels ||
      static_cast<int64_t>(img.rgb.size()) != 3 * hw ||
      !(img.alpha.empty() || static_cast<int64_t>(img.alpha.size()) == hw)) {
    __builtin_trap();  // an Image that is not what it says
  }
  for (float v : img.rgb) {
    if (!(v >= 0.f && v <= 1.f)) __builtin_trap();
  }
  std::vector<float> x(3 * 16 * 16);
  gpen::ToModelInput(img, 16, x.data());
  if (!img.alpha.empty()) {
    (void)gpen::ResizeBilinear(img.alpha, 1, img.height, img.width, 16, 16);
  }
  return 0;
}

// libFuzzer target: any byte string given to the model loader yields a Status, never a
// crash, leak or undefined behaviour. Built with clang and -DGPEN_FUZZ=ON; CI runs it
// for a bounded time from a seed corpus of converted fixtures.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/gpen_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  auto file = gpen::ModelFile::FromBytes(std::move(bytes), "fuzz.safetensors");
  if (!file.ok()) return 0;
  auto w = gpen::GpenWeights::FromFile(file.value());
  (void)w.ok();
  return 0;
}

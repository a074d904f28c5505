// Minimal .npy reader for test fixtures (float32, C order, little endian only).
#pragma once

#include <string>
#include <vector>

#include "core/shape.h"
#include "core/status.h"

namespace gpen::test {

struct NpyArray {
  Shape shape;
  std::vector<float> data;
};

Result<NpyArray> ReadNpy(const std::string& path);

}  // namespace gpen::test

// --device / --precision resolution.
#include "cli/device_select.h"

#include <cstdio>

namespace gpen::cli {

Result<Device> ResolveDevice(const std::string& flag) {
  std::string why;
  if (flag == "cpu") return Device::kCpu;
  if (flag == "cuda") {
    if (!CudaUsable(&why)) return Unavailable("--device cuda: " + why, "use --device cpu or auto");
    return Device::kCuda;
  }
  if (flag == "auto" || flag.empty()) {
    if (CudaUsable(&why)) return Device::kCuda;
    std::fprintf(stderr, "notice: no usable GPU (%s); running on the CPU\n", why.c_str());
    return Device::kCpu;
  }
  return InvalidArgument("--device '" + flag + "' is not one of cpu, cuda, auto");
}

Result<Precision> ResolvePrecision(const std::string& flag, Device d) {
  if (flag == "fp32" || flag.empty()) return Precision::kFp32;
  if (flag == "fp16") {
    if (d == Device::kCpu) {
      return InvalidArgument("--precision fp16 needs --device cuda",
                             "the CPU backend computes in fp32 only");
    }
    return Precision::kFp16;
  }
  return InvalidArgument("--precision '" + flag + "' is not one of fp32, fp16");
}

}  // namespace gpen::cli

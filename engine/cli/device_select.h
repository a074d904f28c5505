// --device parsing shared by commands: cpu, cuda, or auto (GPU when usable, else CPU).
#pragma once

#include <string>

#include "backend.h"
#include "core/status.h"

namespace gpen {

// True when a CUDA device is usable by this build; *why explains when not.
bool CudaUsable(std::string* why);

namespace cli {
// Resolves --device; `auto` falls back to the CPU with a one-line notice on stderr.
Result<Device> ResolveDevice(const std::string& flag);
Result<Precision> ResolvePrecision(const std::string& flag, Device d);
}  // namespace cli

}  // namespace gpen

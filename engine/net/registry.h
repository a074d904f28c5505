// The network registry: from a model file's `family` metadata (tools/archs.py writes
// it) or an architecture name (benchmarks, plans) to a Network.
//
// Each family registers a loader for files, its named architectures, and a maker of
// seeded random (or shapes-only) weights for them; nothing else in the engine names a
// family. To add a network: its module under net/ and one row in registry.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "net/network.h"

namespace gpen {

// Opens, validates and binds a model file of any registered family.
Result<std::shared_ptr<const Network>> LoadNetwork(const std::string& path);

// The family of a named architecture ("bfr512" -> "gpen", "realesrgan-x4plus" ->
// "rrdbnet"), or an error listing the names known.
Result<std::string> FamilyOfArch(const std::string& arch);
// A network of a named architecture with seeded random weights (shapes_only: shapes
// without values, for planning; it cannot run).
Result<std::shared_ptr<const Network>> NetworkForArch(const std::string& arch, uint64_t seed,
                                                      bool shapes_only = false);
// Every architecture name, for help texts.
std::vector<std::string> KnownArchNames();

}  // namespace gpen

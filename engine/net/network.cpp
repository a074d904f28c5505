// Network: the defaults every network shares (see network.h).
#include "net/network.h"

namespace gpen {

Result<std::unique_ptr<ItemRunner>> Network::CreateTiledRunner(const TileSpec&, const GraphOptions&,
                                                               Device,
                                                               const BackendOptions&) const {
  return Unavailable(family() + " networks cannot run in tiles yet");
}

GraphOptions Network::OptionsFor(const IoSpec& io, int64_t batch, uint64_t seed) const {
  GraphOptions o;
  o.batch = batch;
  o.in_h = io.in_h;
  o.in_w = io.in_w;
  o.noise_seed = seed;
  return o;
}

}  // namespace gpen

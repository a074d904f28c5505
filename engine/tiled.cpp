// TiledGpenSession: global pass, host-side windowing, one tile pass per tile.
#include "tiled.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"

namespace gpen {

std::vector<int64_t> TileOrigins(int64_t out_size, int64_t tile) {
  std::vector<int64_t> o;
  for (int64_t p = 0; p + tile < out_size; p += tile) o.push_back(p);
  o.push_back(out_size - tile);
  return o;
}

Result<std::unique_ptr<TiledGpenSession>> TiledGpenSession::Create(
    std::shared_ptr<const GpenWeights> weights, const GpenGraphOptions& graph_options,
    const TileSpec& spec, Device device, const BackendOptions& backend_options) {
  if (!TileSpecValid(weights->arch, spec)) {
    return InvalidArgument("tile " + std::to_string(spec.tile) + " from resolution " +
                           std::to_string(spec.split_res) + " is not valid for " +
                           weights->arch.ToString(),
                           "the tile must be a multiple of out_size / split resolution");
  }
  auto s = std::unique_ptr<TiledGpenSession>(new TiledGpenSession());
  s->weights_ = std::move(weights);
  s->spec_ = spec;
  s->global_graph_ = BuildGpenGlobalGraph(*s->weights_, graph_options, spec.split_res);
  s->tile_graph_ = BuildGpenTileGraph(*s->weights_, graph_options, spec);
  GPEN_ASSIGN_OR_RETURN(s->global_, CreateBackend(device, s->global_graph_, s->weights_->store, backend_options));
  GPEN_ASSIGN_OR_RETURN(s->tile_, CreateBackend(device, s->tile_graph_.graph, s->weights_->store, backend_options));
  return s;
}

int64_t TiledGpenSession::tiles_per_face() const {
  const int64_t n = static_cast<int64_t>(TileOrigins(weights_->arch.out_size, spec_.tile).size());
  return n * n;
}

Status TiledGpenSession::ReadAll(const std::string& name, std::vector<float>* out, Shape* shape) {
  const Graph& g = global_->graph();
  const int t = g.FindOutput(name);
  GPEN_CHECK_MSG(t >= 0, "global graph has no output " << name);
  *shape = g.tensor(t).shape;
  out->resize(static_cast<size_t>(shape->numel()));
  return global_->ReadOutput(t, out->data(), shape->numel());
}

Status TiledGpenSession::Run(const float* in, float* out) {
  const int64_t top = weights_->arch.out_size, T = spec_.tile;
  GPEN_TRY(global_->SetInput(in, global_->graph().tensor(global_->graph().input()).shape.numel()));
  GPEN_TRY(global_->Run());
  const Graph& tg = tile_->graph();
  struct Source {
    int tensor;
    std::vector<float> data;
    Shape shape;
    Span win;
    int64_t res;
  };
  std::vector<Source> sources;
  for (const auto& [name, win] : tile_graph_.input_window) {
    Source src;
    src.tensor = tg.FindInput(name);
    GPEN_CHECK(src.tensor >= 0);
    GPEN_TRY(ReadAll(name, &src.data, &src.shape));
    src.win = win;
    src.res = tile_graph_.input_res.at(name);
    sources.push_back(std::move(src));
  }
  {
    std::vector<float> latent;
    Shape ls;
    GPEN_TRY(ReadAll("latent", &latent, &ls));
    GPEN_TRY(tile_->SetTensor(tg.FindInput("latent"), latent.data(), ls.numel()));
  }
  const int image = tg.FindOutput("image");
  const int origin = tg.FindInput("tile_origin");
  const int64_t n = tg.tensor(image).shape.n();
  std::vector<float> tile_out(static_cast<size_t>(tg.tensor(image).shape.numel())), window;
  const std::vector<int64_t> origins = TileOrigins(top, T);
  for (int64_t oy : origins) {
    for (int64_t ox : origins) {
      const float o[2] = {static_cast<float>(oy), static_cast<float>(ox)};
      GPEN_TRY(tile_->SetTensor(origin, o, 2));
      for (const Source& src : sources) {
        // The window of this tile, shifted to the tile's origin at the source's resolution.
        const int64_t sy = oy * src.res / top + src.win.lo, sx = ox * src.res / top + src.win.lo;
        const int64_t c = src.shape.c(), r = src.shape.h(), ws = src.win.size();
        window.assign(static_cast<size_t>(n * c * ws * ws), 0.f);
        for (int64_t p = 0; p < n * c; ++p) {
          for (int64_t y = 0; y < ws; ++y) {
            const int64_t yy = sy + y;
            if (yy < 0 || yy >= r) continue;
            const int64_t x0 = std::max<int64_t>(0, -sx), x1 = std::min<int64_t>(ws, r - sx);
            if (x1 > x0) {
              std::memcpy(&window[(p * ws + y) * ws + x0], &src.data[(p * r + yy) * r + sx + x0],
                          sizeof(float) * static_cast<size_t>(x1 - x0));
            }
          }
        }
        GPEN_TRY(tile_->SetTensor(src.tensor, window.data(), static_cast<int64_t>(window.size())));
      }
      GPEN_TRY(tile_->Run());
      GPEN_TRY(tile_->ReadOutput(image, tile_out.data(), static_cast<int64_t>(tile_out.size())));
      for (int64_t p = 0; p < n * 3; ++p)
        for (int64_t y = 0; y < T; ++y)
          std::memcpy(out + (p * top + oy + y) * top + ox, &tile_out[(p * T + y) * T],
                      sizeof(float) * static_cast<size_t>(T));
    }
  }
  return Status::Ok();
}

}  // namespace gpen

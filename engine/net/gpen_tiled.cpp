// TiledGpenSession: global pass, host-side windowing, one tile pass per tile.
#include "net/gpen_tiled.h"

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
  GPEN_ASSIGN_OR_RETURN(
      s->global_, CreateBackend(device, s->global_graph_, s->weights_->store, backend_options));
  GPEN_ASSIGN_OR_RETURN(
      s->tile_, CreateBackend(device, s->tile_graph_.graph, s->weights_->store, backend_options));
  const Graph& gg = s->global_->graph();
  const Graph& tg = s->tile_->graph();
  for (const auto& [name, win] : s->tile_graph_.input_window) {
    Source src;
    src.global_output = gg.FindOutput(name);
    src.tile_input = tg.FindInput(name);
    GPEN_CHECK_MSG(src.global_output >= 0 && src.tile_input >= 0, "tiled GPEN input " << name);
    src.win = win;
    src.res = s->tile_graph_.input_res.at(name);
    s->sources_.push_back(src);
  }
  s->latent_out_ = gg.FindOutput("latent");
  s->latent_in_ = tg.FindInput("latent");
  s->origin_in_ = tg.FindInput("tile_origin");
  s->image_out_ = tg.FindOutput("image");
  GPEN_CHECK(s->latent_out_ >= 0 && s->latent_in_ >= 0 && s->origin_in_ >= 0 && s->image_out_ >= 0);
  return s;
}

int64_t TiledGpenSession::batch() const {
  return global_->graph().tensor(global_->graph().input()).shape.n();
}

int64_t TiledGpenSession::tiles_per_face() const {
  const int64_t n = static_cast<int64_t>(TileOrigins(weights_->arch.out_size, spec_.tile).size());
  return n * n;
}

Status TiledGpenSession::ReadAll(int t, std::vector<float>* out, Shape* shape) {
  const Graph& g = global_->graph();
  *shape = g.tensor(t).shape;
  out->resize(static_cast<size_t>(shape->numel()));
  return global_->ReadOutput(t, out->data(), shape->numel());
}

Status TiledGpenSession::Run(const float* in, float* out) {
  const int64_t top = weights_->arch.out_size, T = spec_.tile;
  GPEN_TRY(global_->SetInput(in, global_->graph().tensor(global_->graph().input()).shape.numel()));
  GPEN_TRY(global_->Run());
  const Graph& tg = tile_->graph();
  struct Loaded {
    std::vector<float> data;
    Shape shape;
  };
  std::vector<Loaded> loaded(sources_.size());
  for (size_t i = 0; i < sources_.size(); ++i)
    GPEN_TRY(ReadAll(sources_[i].global_output, &loaded[i].data, &loaded[i].shape));
  {
    std::vector<float> latent;
    Shape ls;
    GPEN_TRY(ReadAll(latent_out_, &latent, &ls));
    GPEN_TRY(tile_->SetTensor(latent_in_, latent.data(), ls.numel()));
  }
  const int image = image_out_;
  const int64_t n = tg.tensor(image).shape.n();
  std::vector<float> tile_out(static_cast<size_t>(tg.tensor(image).shape.numel())), window;
  const std::vector<int64_t> origins = TileOrigins(top, T);
  for (int64_t oy : origins) {
    for (int64_t ox : origins) {
      const float o[2] = {static_cast<float>(oy), static_cast<float>(ox)};
      GPEN_TRY(tile_->SetTensor(origin_in_, o, 2));
      for (size_t i = 0; i < sources_.size(); ++i) {
        const Source& src = sources_[i];
        const Loaded& data = loaded[i];
        // The window of this tile, shifted to the tile's origin at the source's resolution.
        const int64_t sy = oy * src.res / top + src.win.lo, sx = ox * src.res / top + src.win.lo;
        const int64_t c = data.shape.c(), r = data.shape.h(), ws = src.win.size();
        window.assign(static_cast<size_t>(n * c * ws * ws), 0.f);
        for (int64_t p = 0; p < n * c; ++p) {
          for (int64_t y = 0; y < ws; ++y) {
            const int64_t yy = sy + y;
            if (yy < 0 || yy >= r) continue;
            const int64_t x0 = std::max<int64_t>(0, -sx), x1 = std::min<int64_t>(ws, r - sx);
            if (x1 > x0) {
              std::memcpy(&window[(p * ws + y) * ws + x0], &data.data[(p * r + yy) * r + sx + x0],
                          sizeof(float) * static_cast<size_t>(x1 - x0));
            }
          }
        }
        GPEN_TRY(
            tile_->SetTensor(src.tile_input, window.data(), static_cast<int64_t>(window.size())));
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

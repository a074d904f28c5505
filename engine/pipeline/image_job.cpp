// ImageJob: passes, re-plans on out-of-memory, post-processing, alpha.
#include "pipeline/image_job.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <new>

#include "image/bilateral.h"
#include "image/resize_lanczos.h"

namespace gpen {

namespace {

Image ToPlanes(const PixelImage& p) {
  Image img;
  img.width = p.width;
  img.height = p.height;
  const int64_t hw = p.width * p.height;
  img.rgb.resize(static_cast<size_t>(3 * hw));
  for (int64_t i = 0; i < hw; ++i)
    for (int64_t c = 0; c < 3; ++c)
      img.rgb[static_cast<size_t>(c * hw + i)] =
          p.data[static_cast<size_t>(i * p.channels + c)] / 255.f;
  return img;
}

}  // namespace

Result<TileRequest> ImageJobRunner::Smaller(const Network& net, const IoSpec& io,
                                            const TilePlan& failed, TileRequest want,
                                            const Status& why) const {
  const int64_t edge = std::max(failed.grid.x.tile, failed.grid.y.tile);
  if (want.batch > 1) {
    want.batch /= 2;
    return want;
  }
  for (int64_t t = edge / 2; t >= kMinTile; t /= 2) {
    const TileGrid g =
        MakeTileGrid(io.in_h, io.in_w, t, failed.grid.x.pad, net.InputMultiple(), want.hard_crop);
    if (g.x.window * g.y.window < failed.grid.x.window * failed.grid.y.window) {
      want.tile = t;
      return want;
    }
  }
  return Status(why.code(),
                why.message() + "; smaller tiles do not help (a pad of " +
                    std::to_string(failed.grid.x.pad) + " pixels dominates the window)",
                "give a smaller --tile-pad, --precision fp16, or free memory");
}

PlanRequest BasePlanRequest(const PipelineOptions& o, const Network& net) {
  PlanRequest req;
  req.device = o.device;
  req.precision = o.precision;
  req.budget = o.budget;
  req.threads = o.threads;
  // Decoding ends before a pass begins, and what it leaves, the image, is the tile
  // plan's "input image" line: decoding is not a line here.
  if (o.device == Device::kCpu) {
    req.limit = CpuAddressSpaceLimit(net.store().total_params() * 4);
    req.limit_source = "the address-space limit (ulimit -v)";
  }
  return req;
}

Result<PixelImage> ImageJobRunner::RunPass(size_t pass, const TileSource& src, int64_t h, int64_t w,
                                           const std::string& label) {
  const Network& net = *nets_[pass];
  GPEN_ASSIGN_OR_RETURN(IoSpec io, net.Io(h, w));
  TileRequest want = o_.tiles;
  const std::string pass_name = nets_.size() > 1
                                    ? "pass " + std::to_string(pass + 1) + " of " +
                                          std::to_string(nets_.size()) + " (" + net.Describe() + ")"
                                    : "";
  int64_t replanned = 0;  // a budget re-planned after an allocation failed (0: none)
  for (;;) {
    PlanRequest req = BasePlanRequest(o_, net);
    if (replanned > 0) {
      req.budget = replanned;
      req.budget_measured = true;  // what is free now: a CUDA context is already spent
      req.budget_source = "re-planned after an allocation failed";
    }
    const bool alpha = has_alpha_ && pass + 1 == nets_.size() && o_.outscale <= 0;
    GPEN_ASSIGN_OR_RETURN(TilePlan plan,
                          ChooseTilePlan(net, io, want, req, pass == 0 ? 12 : 3, alpha));
    const std::string text = (pass_name.empty() ? "" : pass_name + ":\n") + plan.Describe();
    if (text != last_plan_) {
      std::fprintf(stderr, "%s", text.c_str());
      EmitPlan(o_.events, "background", plan.Json());
    }
    last_plan_ = text;
    TiledRunOptions ro;
    ro.device = o_.device;
    ro.backend = plan.run.Options(o_.threads);
    if (!o_.save_tiles_dir.empty()) {
      ro.save_tiles_dir = o_.save_tiles_dir;
      if (nets_.size() > 1) ro.save_tiles_dir += "/pass" + std::to_string(pass + 1);
    }
    double last_print = -1;
    ro.progress = [&](const TileProgress& p) {
      EmitProgress(o_.events, "tile", p.done, p.total, p.elapsed_s);
      if (p.total < 2 || (p.done < p.total && p.elapsed_s - last_print < 1.0)) return;
      last_print = p.elapsed_s;
      const double left =
          p.elapsed_s / static_cast<double>(p.done) * static_cast<double>(p.total - p.done);
      std::fprintf(stderr, "%s %stile %lld/%lld, %.1f s, about %.0f s left\n", label.c_str(),
                   pass_name.empty() ? "" : (pass_name + ", ").c_str(),
                   static_cast<long long>(p.done), static_cast<long long>(p.total), p.elapsed_s,
                   left);
    };
    Result<PixelImage> r = Status::Ok();
    try {
      r = RunTiled(nets_[pass], src, plan, ro);
    } catch (const std::bad_alloc&) {
      r = OutOfMemory("out of host memory while running tiles");
    }
    if (r.ok() || r.status().code() != ErrorCode::kOutOfMemory) return r;
    // Plan again for less (ReplanBudget: 70% of what the failed plan needed, at most what
    // is free now), which sizes the tiles, their batch and the workspaces anew; tiles and
    // a batch the user fixed shrink too. The pass runs again from the start: no tile is
    // lost, since the output is assembled anew. Each plan is smaller than the last, so
    // this ends, in a run or in the planner's error naming the budget.
    replanned = ReplanBudget(plan.run, MeasureFree(net));
    if (want.tile > 0 || want.batch > 1) {
      GPEN_ASSIGN_OR_RETURN(want, Smaller(net, io, plan, want, r.status()));
    }
    std::fprintf(stderr, "notice: %s\nnotice: planning again for %s and retrying this pass\n",
                 r.status().message().c_str(), FormatBytes(replanned).c_str());
    EmitNotice(o_.events, "out of memory: " + r.status().message() +
                              "; the engine planned again for " + FormatBytes(replanned) +
                              " and is running this pass again in smaller tiles");
  }
}

int64_t ImageJobRunner::MeasureFree(const Network& net) const {
  if (o_.device == Device::kCuda) {
    auto free_now = CudaFreeMemory();
    return free_now.ok() ? free_now.value() : 0;
  }
  int64_t free_now = AvailableHostMemory();
  const int64_t limit = CpuAddressSpaceLimit(net.store().total_params() * 4);
  if (limit > 0) free_now = std::min(free_now, limit);
  return free_now;
}

Result<PixelImage> ImageJobRunner::Run(Image img, const std::string& label) {
  has_alpha_ = !img.alpha.empty();
  const int64_t h0 = img.height, w0 = img.width;
  const std::vector<float> alpha = std::move(img.alpha);
  PixelImage prev;
  for (size_t p = 0; p < nets_.size(); ++p) {
    const TileSource src = p == 0 ? TileSource(&img) : TileSource(&prev);
    GPEN_ASSIGN_OR_RETURN(PixelImage next, RunPass(p, src, src.height(), src.width(), label));
    if (p == 0) std::vector<float>().swap(img.rgb);  // the input is no longer needed
    prev = std::move(next);
  }
  if (o_.outscale > 0 || o_.hf_suppress) {
    Image f = ToPlanes(prev);
    prev = PixelImage();
    if (o_.outscale > 0) {
      const int64_t ow = std::max<int64_t>(1, std::llround(static_cast<double>(w0) * o_.outscale));
      const int64_t oh = std::max<int64_t>(1, std::llround(static_cast<double>(h0) * o_.outscale));
      if (ow != f.width || oh != f.height) f = ResizeLanczos4(f, ow, oh);
    }
    if (o_.hf_suppress) f = BilateralFilter(f, 5, 75.0, 75.0);
    prev = ToPixels(f);
  }
  if (!alpha.empty()) AddAlpha(&prev, alpha, h0, w0);
  return prev;
}

}  // namespace gpen

// gpen plan: the batch, tiles and planned peak memory of a run, without running it; for
// an image network (RRDBNet) the tile size, pad and tile batch for an image of --size.
//
// Works without a GPU when --vram-budget is given (the CUDA figures are computed on the
// host), so a 2 GB laptop's configuration can be planned anywhere.
#include <cstdio>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/device_select.h"
#include "cli/run_command.h"
#include "net/registry.h"
#include "run_plan.h"

namespace gpen::cli {

Status CmdPlan(int argc, char** argv) {
  Args a("plan");
  a.Flag("-m,--model", true, "converted model file (.safetensors)")
      .Flag("--arch", true, "plan a named architecture instead (see gpen bench --help)")
      .Flag("--size", true, "input image WIDTHxHEIGHT (image networks)", "128x128")
      .Flag("--device", true, "cuda or cpu (cuda without a GPU needs --vram-budget)", "auto")
      .Flag("--vram-budget", true, "plan for this much memory (e.g. 2G) instead of what is free")
      .Flag("--faces", true, "items (faces, images) to run", "1")
      .Flag("--precision", true, "fp32 or fp16", "fp32")
      .Flag("--json", false, "print the plan as one JSON object")
      .Flag("-h,--help", false, "show this help");
  AddTileFlags(a);  // image networks (RRDBNet) run in tiles
  GPEN_TRY(a.Parse(argc, argv));
  if (a.Has("--help")) {
    std::printf("usage: gpen plan (-m MODEL | --arch NAME) [flags]\n\n%s", a.Help().c_str());
    return Status::Ok();
  }
  PlanRequest req;
  GPEN_ASSIGN_OR_RETURN(req.faces, a.GetInt("--faces", 1, 1000000));
  if (a.Has("--vram-budget")) {
    GPEN_ASSIGN_OR_RETURN(req.budget, a.GetBytes("--vram-budget"));
  }
  const std::string dev = a.Get("--device");
  if (dev == "cuda" && req.budget > 0) {
    req.device = Device::kCuda;  // planning only: no GPU needed
  } else {
    GPEN_ASSIGN_OR_RETURN(req.device, ResolveDevice(dev));
  }
  GPEN_ASSIGN_OR_RETURN(req.precision, ResolvePrecision(a.Get("--precision"), req.device));
  GPEN_ASSIGN_OR_RETURN(auto size, a.GetSize("--size"));
  std::shared_ptr<const Network> net;
  if (!a.Get("--model").empty()) {
    GPEN_ASSIGN_OR_RETURN(net, LoadNetwork(a.Get("--model")));
  } else if (!a.Get("--arch").empty()) {
    GPEN_ASSIGN_OR_RETURN(net, NetworkForArch(a.Get("--arch"), 0, /*shapes_only=*/true));
  } else {
    return InvalidArgument("gpen plan: give -m MODEL or --arch NAME", "see gpen plan --help");
  }
  GPEN_ASSIGN_OR_RETURN(IoSpec io, net->Io(size.first, size.second));
  if (net->FullyConvolutional()) {
    TileRequest tiles;
    GPEN_TRY(ParseTileFlags(a, &tiles));
    GPEN_ASSIGN_OR_RETURN(TilePlan plan, ChooseTilePlan(*net, io, tiles, req, 12));
    if (a.Has("--json")) {
      std::printf("%s\n", plan.Json().c_str());
    } else {
      std::printf("model: %s\nimage: %lldx%lld -> %lldx%lld\n%s", net->Describe().c_str(),
                  static_cast<long long>(size.second), static_cast<long long>(size.first),
                  static_cast<long long>(io.valid_w), static_cast<long long>(io.valid_h),
                  plan.Describe().c_str());
    }
    return Status::Ok();
  }
  GPEN_ASSIGN_OR_RETURN(RunPlan plan, ChooseRunPlan(*net, io, req));
  if (a.Has("--json")) {
    std::printf("%s\n", plan.Json().c_str());
  } else {
    std::printf("model: %s\n%s", net->Describe().c_str(), plan.Describe().c_str());
  }
  return Status::Ok();
}

}  // namespace gpen::cli

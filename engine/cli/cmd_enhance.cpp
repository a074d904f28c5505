// gpen enhance: restore aligned face crops, a file or a folder, in batches.
//
// Inputs are never overwritten; each output is written whole or not at all (see
// image/image.h), and an interrupted run removes the temporary file it was writing
// (core/temp_files.h). An image that cannot be read or written is reported and skipped;
// the rest go on and the exit code says that some failed. What cannot work is refused
// before the model is loaded (exit 1): an output folder that does not exist, an
// existing output that is read-only or not a regular file. In an input folder only
// regular files are images: a FIFO named b.png would block the run, so it and anything
// else that is not a regular file is skipped with a notice, and the temporary files of
// an interrupted run (.NAME.tmp.XXXXXX) are never taken for inputs.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <system_error>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/device_select.h"
#include "core/parallel.h"
#include "core/temp_files.h"
#include "face_runner.h"
#include "image/image.h"

namespace gpen::cli {

namespace {

bool IsDir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool Exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}
std::string BaseName(const std::string& p) {
  const size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}
std::string DirName(const std::string& p) {
  const size_t s = p.find_last_of('/');
  return s == std::string::npos ? "." : (s == 0 ? "/" : p.substr(0, s));
}
// Canonical path of a file that may not exist yet (its folder must).
std::string Canonical(const std::string& p) {
  char buf[PATH_MAX];
  if (realpath(p.c_str(), buf)) return buf;
  if (realpath(DirName(p).c_str(), buf)) return std::string(buf) + "/" + BaseName(p);
  return p;
}
// What a file that is not a regular file is, for messages.
std::string KindOf(mode_t m) {
  if (S_ISDIR(m)) return "a folder";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "not a regular file";
}

struct Job {
  std::string in, out;
};

std::string StripSlashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// The folder an output goes to must exist and take new files.
Status CheckOutputFolder(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    return InvalidArgument("--output: the folder " + dir + " does not exist",
                           "create it first, or write to an existing folder");
  }
  if (!S_ISDIR(st.st_mode)) return InvalidArgument("--output: " + dir + " is not a folder");
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return IoError("--output: cannot write in the folder " + dir + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// An existing output is replaced only when it is a regular file we may write: a
// read-only file (no write permission bits, or none for us) is refused, not replaced.
Status CheckOutputTarget(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return IoError("--output " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(
        "--output " + path + " exists and is " + KindOf(st.st_mode) + "; it is not replaced",
        "remove it or choose another output");
  }
  if ((st.st_mode & 0222) == 0 || access(path.c_str(), W_OK) != 0) {
    return InvalidArgument("--output " + path + " exists and is read-only; it is not replaced",
                           "make it writable (chmod u+w), remove it, or choose another output");
  }
  return Status::Ok();
}

// The images of a folder, sorted: regular files with an image extension. Anything else
// with such a name is skipped with a notice; temporary files are counted, not read.
Result<std::vector<std::string>> ListImages(const std::string& in) {
  DIR* d = opendir(in.c_str());
  if (!d) return IoError("--input " + in + ": cannot list folder: " + std::strerror(errno));
  std::vector<std::string> names;
  int temps = 0;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (IsTempFileName(n)) {
      ++temps;
      continue;
    }
    if (n[0] == '.' || !HasImageExtension(n)) continue;
    const std::string p = in + "/" + n;
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) {
      std::fprintf(stderr, "notice: skipped %s: %s\n", p.c_str(), std::strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
      std::fprintf(stderr, "notice: skipped %s: %s, not a regular file\n", p.c_str(),
                   KindOf(st.st_mode).c_str());
    } else {
      names.push_back(n);
    }
  }
  closedir(d);
  if (temps) {
    std::fprintf(stderr,
                 "notice: ignored %d temporary file%s (.NAME.tmp.XXXXXX) in %s: left by an "
                 "interrupted run, not images (they may be removed)\n",
                 temps, temps == 1 ? "" : "s", in.c_str());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<Job>> PlanJobs(const std::string& in_arg, const std::string& out_arg) {
  const std::string in = StripSlashes(in_arg), out = StripSlashes(out_arg);
  std::vector<Job> jobs;
  struct stat in_st {};
  if (stat(in.c_str(), &in_st) != 0) {
    return IoError("--input " + in + ": " + std::strerror(errno));
  }
  if (S_ISDIR(in_st.st_mode)) {
    if (Exists(out) && !IsDir(out)) {
      return InvalidArgument("--output " + out + " is a file, but --input is a folder",
                             "give an output folder (it is created if missing)");
    }
    if (!Exists(out) && mkdir(out.c_str(), 0755) != 0) {
      const int e = errno;
      if (e == ENOENT) {
        return InvalidArgument("--output " + out + ": cannot create it, the folder " +
                                   DirName(out) + " does not exist",
                               "create the parent folder first");
      }
      return IoError("--output " + out + ": cannot create folder: " + std::strerror(e));
    }
    GPEN_TRY(CheckOutputFolder(out));
    if (Canonical(in) == Canonical(out)) {
      return InvalidArgument("--output " + out + " is the input folder",
                             "outputs take the inputs' names and would overwrite them; choose "
                             "another folder");
    }
    GPEN_ASSIGN_OR_RETURN(std::vector<std::string> names, ListImages(in));
    if (names.empty()) {
      return InvalidArgument("--input " + in + ": no .png, .jpg, .jpeg, .bmp or .tga files");
    }
    for (const auto& n : names) jobs.push_back({in + "/" + n, out + "/" + n});
  } else {
    if (!S_ISREG(in_st.st_mode)) {
      return InvalidArgument("--input " + in + " is " + KindOf(in_st.st_mode) +
                             ", not an image file or a folder");
    }
    std::string target = IsDir(out) ? out + "/" + BaseName(in) : out;
    if (!HasImageExtension(target)) {
      return InvalidArgument("--output " + out + ": unknown image extension",
                             "use .png, .jpg, .bmp or .tga");
    }
    GPEN_TRY(CheckOutputFolder(DirName(target)));
    jobs.push_back({in, target});
  }
  for (const Job& j : jobs) {
    if (Canonical(j.in) == Canonical(j.out)) {
      return InvalidArgument("--output " + j.out +
                             " is the input file; inputs are never overwritten");
    }
    GPEN_TRY(CheckOutputTarget(j.out));
  }
  return jobs;
}

// What decoding the largest input holds, from each file's header (ProbeImage reads no
// more); a file whose header is unreadable counts nothing here and is reported, and
// skipped, when its turn comes.
int64_t LargestDecode(const std::vector<Job>& jobs, const ImageLoadOptions& options) {
  int64_t most = 0;
  for (const Job& j : jobs) {
    auto info = ProbeImage(j.in, options);
    if (info.ok()) most = std::max(most, info->peak_bytes);
  }
  return most;
}

std::once_flag g_no_task_thread;

// Runs f on a thread of its own, or, when no thread can be created (a process limit),
// on the caller's thread when its result is asked for: the run goes on, without overlap.
template <typename F>
auto StartTask(const F& f) -> std::future<decltype(f())> {
  try {
    return std::async(std::launch::async, f);
  } catch (const std::system_error&) {
    std::call_once(g_no_task_thread, [] {
      std::fprintf(stderr,
                   "notice: no thread can be started to decode and write images beside the "
                   "run; they take turns with it\n");
    });
    return std::async(std::launch::deferred, f);
  }
}

double Seconds(std::chrono::steady_clock::time_point a) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
}

}  // namespace

Status CmdEnhance(int argc, char** argv, int* failed) {
  *failed = 0;
  Args a("enhance");
  a.Flag("-m,--model", true, "converted model file (.safetensors)")
      .Flag("-i,--input", true, "input image or folder")
      .Flag("-o,--output", true, "output image or folder (created if missing)")
      .Flag("--aligned", false, "inputs are aligned face crops (required for now)")
      .Flag("--device", true, "cpu, cuda or auto", "auto")
      .Flag("--precision", true, "fp32 or fp16 (fp16 on cuda only)", "fp32")
      .Flag("--batch", true, "faces per batch, or auto: the largest that fits the memory budget",
            "auto")
      .Flag("--vram-budget", true,
            "plan for this much memory (e.g. 2G) instead of what is free; bounds RAM on cpu")
      .Flag("--threads", true, "CPU threads (0 = all cores)", "0")
      .Flag("--seed", true, "seed of the noise FullGenerator_SR draws above the encoder size", "0")
      .Flag("--max-pixels", true,
            "the largest input image decoded, in pixels (width x height); larger ones are "
            "refused from their header",
            std::to_string(kDefaultMaxImagePixels))
      .Flag("-h,--help", false, "show this help");
  GPEN_TRY(a.Parse(argc, argv));
  if (a.Has("--help")) {
    std::printf("usage: gpen enhance -m MODEL -i IN -o OUT --aligned [flags]\n\n%s",
                a.Help().c_str());
    return Status::Ok();
  }
  for (const char* req : {"--model", "--input", "--output"}) {
    if (a.Get(req).empty())
      return InvalidArgument(std::string("gpen enhance: ") + req + " is required",
                             "see gpen enhance --help");
  }
  if (!a.Has("--aligned")) {
    return Unavailable("gpen enhance: only aligned face crops are supported so far",
                       "pass --aligned with crops made the way upstream aligns faces; whole "
                       "photos (detection, alignment, paste-back) come in a later version");
  }
  int64_t fixed_batch = 0, budget = 0;
  if (a.Get("--batch") != "auto") {
    GPEN_ASSIGN_OR_RETURN(fixed_batch, a.GetInt("--batch", 1, 256));
  }
  if (a.Has("--vram-budget")) {
    GPEN_ASSIGN_OR_RETURN(budget, a.GetBytes("--vram-budget"));
  }
  GPEN_ASSIGN_OR_RETURN(int64_t threads, a.GetInt("--threads", 0, 1024));
  GPEN_ASSIGN_OR_RETURN(int64_t seed, a.GetInt("--seed", 0, INT64_MAX));
  ImageLoadOptions load_options;
  GPEN_ASSIGN_OR_RETURN(load_options.max_pixels,
                        a.GetInt("--max-pixels", 1, int64_t{1'000'000'000'000}));
  GPEN_ASSIGN_OR_RETURN(Device device, ResolveDevice(a.Get("--device")));
  GPEN_ASSIGN_OR_RETURN(Precision precision, ResolvePrecision(a.Get("--precision"), device));
  GPEN_ASSIGN_OR_RETURN(std::vector<Job> jobs, PlanJobs(a.Get("--input"), a.Get("--output")));
  // Threads and OpenBLAS's buffer before the weights: under an address-space limit
  // they must find room first (core/parallel.h).
  if (device == Device::kCpu) GPEN_TRY(StartCpuThreads(static_cast<int>(threads)));

  GPEN_ASSIGN_OR_RETURN(GpenWeights w, LoadGpenModel(a.Get("--model")));
  auto weights = std::make_shared<const GpenWeights>(std::move(w));
  const GpenArch& arch = weights->arch;
  std::fprintf(stderr, "model: %s\n", arch.ToString().c_str());
  FaceRunnerOptions ro;
  ro.device = device;
  ro.precision = precision;
  ro.threads = static_cast<int>(threads);
  ro.faces = static_cast<int64_t>(jobs.size());
  ro.budget = budget;
  ro.fixed_batch = fixed_batch;
  ro.noise_seed = static_cast<uint64_t>(seed);
  ro.image_batches = 3;  // decoding, running and writing overlap (below)
  ro.decode_bytes = LargestDecode(jobs, load_options);
  GPEN_ASSIGN_OR_RETURN(std::unique_ptr<FaceRunner> runner, FaceRunner::Create(weights, ro));
  const int64_t batch = runner->batch();

  const int64_t in_sz = arch.in_size, out_sz = arch.out_size;
  const int64_t in_px = 3 * in_sz * in_sz, out_px = 3 * out_sz * out_sz;
  const auto t_all = std::chrono::steady_clock::now();
  std::atomic<int> failures{0};

  // A batch as it moves through the pipeline: decoded and resized on a host thread,
  // run on the device, encoded and written on another host thread. Decoding batch k+1
  // and writing batch k-1 overlap the device work on batch k, so the GPU is not left
  // idle while images are converted.
  struct Batch {
    size_t start = 0;
    std::vector<const Job*> jobs;
    std::vector<std::vector<float>> alphas;
    std::vector<float> input, output;
    double seconds = 0;
  };
  auto load = [&](size_t start) {
    Batch b;
    b.start = start;
    const auto t0 = std::chrono::steady_clock::now();
    const size_t end = std::min(jobs.size(), start + static_cast<size_t>(batch));
    for (size_t j = start; j < end; ++j) {
      auto img = LoadImage(jobs[j].in, load_options);
      if (!img.ok()) {
        std::fprintf(stderr, "[%zu/%zu] skipped: %s\n", j + 1, jobs.size(),
                     img.status().ToString().c_str());
        ++failures;
        continue;
      }
      b.input.resize(b.input.size() + static_cast<size_t>(in_px));
      ToModelInput(img.value(), in_sz, b.input.data() + b.input.size() - in_px);
      b.alphas.push_back(img->alpha.empty() ? std::vector<float>()
                                            : ResizeBilinear(img->alpha, 1, img->height, img->width,
                                                             out_sz, out_sz));
      b.jobs.push_back(&jobs[j]);
    }
    b.seconds = Seconds(t0);
    return b;
  };
  auto save = [&](Batch b) {
    // An image's time: its share of decoding and the batch's run, plus its own encoding.
    const double share = b.seconds / static_cast<double>(b.jobs.size());
    for (size_t i = 0; i < b.jobs.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      Image out = FromModelOutput(b.output.data() + i * out_px, out_sz);
      out.alpha = std::move(b.alphas[i]);
      Status st = CheckOutputTarget(b.jobs[i]->out);     // it may have changed since the start
      if (st.ok()) st = SaveImage(b.jobs[i]->out, out);  // whole or absent, even on a signal
      const size_t pos = static_cast<size_t>(b.jobs[i] - jobs.data()) + 1;
      if (!st.ok()) {
        std::fprintf(stderr, "[%zu/%zu] failed: %s\n", pos, jobs.size(), st.ToString().c_str());
        ++failures;
        continue;
      }
      std::fprintf(stderr, "[%zu/%zu] %s -> %s (%lldx%lld, %.2f s)\n", pos, jobs.size(),
                   b.jobs[i]->in.c_str(), b.jobs[i]->out.c_str(), static_cast<long long>(out_sz),
                   static_cast<long long>(out_sz), share + Seconds(t0));
    }
  };

  std::future<Batch> next = StartTask([&load] { return load(0); });
  std::future<void> saving;
  for (size_t start = 0; start < jobs.size(); start += static_cast<size_t>(batch)) {
    Batch b = next.get();
    if (start + static_cast<size_t>(batch) < jobs.size()) {
      const size_t following = start + static_cast<size_t>(batch);
      next = StartTask([&load, following] { return load(following); });
    }
    if (b.jobs.empty()) continue;
    const int64_t n = static_cast<int64_t>(b.jobs.size());
    const auto t0 = std::chrono::steady_clock::now();
    b.output.resize(static_cast<size_t>(n * out_px));
    Status st = runner->Run(b.input.data(), n, b.output.data());
    if (!st.ok()) {
      if (saving.valid()) saving.wait();
      if (next.valid()) next.wait();
      return st;
    }
    b.seconds += Seconds(t0);
    if (saving.valid()) saving.get();
    auto done = std::make_shared<Batch>(std::move(b));
    saving = StartTask([&save, done] { save(std::move(*done)); });
  }
  if (saving.valid()) saving.get();
  *failed = failures.load();
  std::fprintf(stderr, "done: %zu of %zu images in %.1f s%s\n", jobs.size() - *failed, jobs.size(),
               Seconds(t_all), *failed ? " (some failed, see above)" : "");
  return Status::Ok();
}

}  // namespace gpen::cli

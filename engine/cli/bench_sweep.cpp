// gpen bench --sweep (bench_sweep.h): the points, the child processes, the tables.
#include "cli/bench_sweep.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include "cli/bench_point.h"

namespace gpen::cli {

namespace {

const std::map<std::string, std::string>& AxisFlags() {
  static const std::map<std::string, std::string> m = {
      {"arch", "--arch"},           {"device", "--device"},
      {"precision", "--precision"}, {"batch", "--batch"},
      {"size", "--size"},           {"tile", "--tile"},
      {"tile_pad", "--tile-pad"},   {"tile_batch", "--tile-batch"},
      {"budget", "--vram-budget"},  {"threads", "--threads"}};
  return m;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char ch : s) {
    if (ch == sep) {
      out.emplace_back();
    } else {
      out.back() += ch;
    }
  }
  return out;
}

// One point: the value of each axis, in axis order.
using Point = std::vector<std::string>;

std::vector<Point> Product(const std::vector<SweepAxis>& axes) {
  std::vector<Point> points(1);
  for (const SweepAxis& a : axes) {
    std::vector<Point> next;
    for (const Point& p : points) {
      for (const std::string& v : a.values) {
        next.push_back(p);
        next.back().push_back(v);
      }
    }
    points = std::move(next);
  }
  return points;
}

// Runs `args` as a child (this binary) and returns its stdout lines; its stderr is ours.
Result<std::vector<std::string>> RunChild(const std::vector<std::string>& args, int* exit_code) {
  int fds[2];
  if (pipe(fds) != 0) {
    return Status(ErrorCode::kInternal, std::string("cannot create a pipe: ") + strerror(errno));
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    return Status(ErrorCode::kInternal, std::string("cannot fork: ") + strerror(errno));
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::vector<std::string> lines = Split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// The row of one point: the child's, or (it failed before printing one) the axis values
// with valid=no.
PointRow MeasurePoint(const std::vector<SweepAxis>& axes, const Point& p, const SweepOptions& o,
                      bool* ok) {
  std::vector<std::string> args = {"gpen", "bench"};
  args.insert(args.end(), o.base_args.begin(), o.base_args.end());
  for (size_t i = 0; i < axes.size(); ++i) {
    args.push_back(axes[i].flag);
    args.push_back(p[i]);
  }
  args.push_back("--sweep-point");
  int code = 0;
  PointRow row;
  const Result<std::vector<std::string>> lines = RunChild(args, &code);
  if (lines.ok()) {
    for (const std::string& l : lines.value()) {
      if (l.rfind("POINT ", 0) == 0) {
        row = ParseCsvLine(l.substr(6));
      } else {
        std::printf("  | %s\n", l.c_str());
      }
    }
  } else {
    std::fprintf(stderr, "error: %s\n", lines.status().ToString().c_str());
  }
  *ok = lines.ok() && code == 0 && row["valid"] == "yes";
  if (row.empty()) {
    row["impl"] = "gpen";
    for (size_t i = 0; i < axes.size(); ++i) {
      const std::string col = axes[i].name == "budget" ? "budget_mib" : axes[i].name;
      row[col] = p[i];
    }
  }
  if (!*ok) row["valid"] = "no";
  return row;
}

std::string MarkdownTable(const std::vector<PointRow>& rows) {
  std::string s = "|", rule = "|";
  for (const std::string& c : kSweepColumns) {
    s += " " + c + " |";
    rule += " --- |";
  }
  s += "\n" + rule + "\n";
  for (const PointRow& r : rows) {
    s += "|";
    for (const std::string& c : kSweepColumns) {
      const auto it = r.find(c);
      s += " " + (it == r.end() ? std::string() : it->second) + " |";
    }
    s += "\n";
  }
  return s;
}

Status WriteText(const std::string& path, const std::string& text, const char* flag) {
  std::ofstream f(path);
  f << text;
  f.close();
  if (!f) {
    return InvalidArgument("cannot write '" + path + "'",
                           std::string("give ") + flag + " a path in a writable folder");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<SweepAxis>> ParseSweepAxes(const std::vector<std::string>& specs) {
  std::vector<SweepAxis> axes;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    const std::string name = spec.substr(0, eq);
    const auto it = AxisFlags().find(name);
    std::string known;
    for (const auto& [k, v] : AxisFlags()) known += (known.empty() ? "" : ", ") + k;
    if (eq == std::string::npos || it == AxisFlags().end()) {
      return InvalidArgument(
          "--sweep '" + spec + "': expected AXIS=v1,v2,... with AXIS one of " + known,
          "e.g. --sweep size=64x64,128x128 --sweep threads=1,2");
    }
    for (const SweepAxis& a : axes) {
      if (a.name == name) {
        return InvalidArgument("--sweep " + name + " is given twice",
                               "list all its values in one --sweep " + name + "=v1,v2");
      }
    }
    SweepAxis a{name, it->second, Split(spec.substr(eq + 1), ',')};
    for (const std::string& v : a.values) {
      if (v.empty()) {
        return InvalidArgument("--sweep '" + spec + "' has an empty value",
                               "separate values by single commas: --sweep " + name + "=v1,v2");
      }
    }
    axes.push_back(std::move(a));
  }
  return axes;
}

Status WriteTables(const std::vector<PointRow>& rows, const std::string& csv_path,
                   const std::string& md_path) {
  std::string csv = CsvHeader() + "\n";
  for (const PointRow& r : rows) csv += CsvLine(r) + "\n";
  const std::string md = MarkdownTable(rows);
  std::printf("\n%s", md.c_str());
  if (!csv_path.empty()) GPEN_TRY(WriteText(csv_path, csv, "--csv"));
  if (!md_path.empty()) GPEN_TRY(WriteText(md_path, md, "--md"));
  return Status::Ok();
}

Status RunSweep(const std::vector<SweepAxis>& axes, const SweepOptions& o) {
  const std::vector<Point> points = Product(axes);
  std::vector<PointRow> rows;
  size_t failed = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    std::string what;
    for (size_t a = 0; a < axes.size(); ++a) what += " " + axes[a].name + "=" + points[i][a];
    std::printf("sweep point %zu/%zu:%s\n", i + 1, points.size(), what.c_str());
    bool ok = false;
    rows.push_back(MeasurePoint(axes, points[i], o, &ok));
    failed += ok ? 0 : 1;
  }
  GPEN_TRY(WriteTables(rows, o.csv, o.md));
  if (failed > 0) {
    return Status(ErrorCode::kInternal,
                  std::to_string(failed) + " of " + std::to_string(points.size()) +
                      " sweep points failed (valid=no in the table)",
                  "run a failed point alone (its flags without --sweep) to see its error");
  }
  return Status::Ok();
}

}  // namespace gpen::cli

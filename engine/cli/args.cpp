// Args implementation.
#include "cli/args.h"

#include <cmath>
#include <sstream>

namespace gpen::cli {

Args& Args::Flag(const std::string& names, bool takes_value, const std::string& help,
                 const std::string& def) {
  Spec s;
  std::stringstream ss(names);
  std::string n;
  while (std::getline(ss, n, ',')) s.names.push_back(n);
  s.takes_value = takes_value;
  s.help = help;
  s.def = def;
  specs_.push_back(s);
  return *this;
}

std::string Args::Canon(const std::string& name) const {
  for (const Spec& s : specs_)
    for (const std::string& n : s.names)
      if (n == name) return s.names.back();
  return name;
}

Status Args::Parse(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() < 2 || a[0] != '-') {
      positional_.push_back(a);
      continue;
    }
    std::string value;
    bool has_inline = false;
    const size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    const Spec* spec = nullptr;
    for (const Spec& s : specs_)
      for (const std::string& n : s.names)
        if (n == a) spec = &s;
    if (!spec) {
      return InvalidArgument("gpen " + command_ + ": unknown flag '" + a + "'",
                             "accepted flags:\n" + Help());
    }
    if (spec->takes_value) {
      if (!has_inline) {
        if (i + 1 >= argc) {
          return InvalidArgument("gpen " + command_ + ": flag '" + a + "' needs a value (" +
                                 spec->help + ")");
        }
        value = argv[++i];
      }
    } else if (has_inline) {
      return InvalidArgument("gpen " + command_ + ": flag '" + a + "' takes no value");
    }
    values_[spec->names.back()] = value;
  }
  for (const Spec& s : specs_)
    if (!s.def.empty() && !values_.count(s.names.back())) values_[s.names.back()] = s.def;
  return Status::Ok();
}

std::string Args::Get(const std::string& name) const {
  auto it = values_.find(Canon(name));
  return it == values_.end() ? std::string() : it->second;
}

Result<int64_t> Args::GetInt(const std::string& name, int64_t lo, int64_t hi) const {
  const std::string v = Get(name);
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || x < lo || x > hi) {
    return InvalidArgument("gpen " + command_ + ": " + name + " '" + v +
                           "' is not an integer in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]");
  }
  return static_cast<int64_t>(x);
}

Result<int64_t> Args::GetBytes(const std::string& name) const {
  const std::string v = Get(name);
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  std::string unit(end ? end : "");
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double mul = 0;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB") mul = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB") mul = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB") mul = 1024.0 * 1024 * 1024;
  if (v.empty() || mul == 0 || !std::isfinite(x) || x <= 0 || x * mul > 9e18) {
    return InvalidArgument("gpen " + command_ + ": " + name + " '" + v + "' is not a size",
                           "write sizes like 2G, 512M or 1.5GB (binary units)");
  }
  return static_cast<int64_t>(x * mul);
}

std::string Args::Help() const {
  std::ostringstream os;
  for (const Spec& s : specs_) {
    std::string names;
    for (const std::string& n : s.names) names += (names.empty() ? "" : ", ") + n;
    if (s.takes_value) names += " VALUE";
    os << "  " << names;
    if (names.size() < 28) os << std::string(28 - names.size(), ' ');
    else os << "\n" << std::string(30, ' ');
    os << s.help;
    if (!s.def.empty()) os << " (default " << s.def << ")";
    os << "\n";
  }
  return os.str();
}

}  // namespace gpen::cli

// Args implementation: strict parsing, every error names the flag and the command.
#include "cli/args.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

Args& Args::Positional(size_t count, const std::string& what) {
  max_positional_ = count;
  positional_what_ = what;
  return *this;
}

std::string Args::Canon(const std::string& name) const {
  const Spec* s = Find(name);
  return s ? s->names.back() : name;
}

const Args::Spec* Args::Find(const std::string& name) const {
  for (const Spec& s : specs_)
    for (const std::string& n : s.names)
      if (n == name) return &s;
  return nullptr;
}

Status Args::Usage(const std::string& message) const {
  return InvalidArgument("gpen " + command_ + ": " + message, "see gpen " + command_ + " --help");
}

Status Args::Parse(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() < 2 || a[0] != '-') {
      if (positional_.size() >= max_positional_) {
        return Usage(max_positional_ == 0
                         ? "unexpected argument '" + a + "': this command takes only flags"
                         : "unexpected argument '" + a + "': this command takes one " +
                               positional_what_);
      }
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
    const Spec* spec = Find(a);
    if (!spec) {
      return InvalidArgument("gpen " + command_ + ": unknown flag '" + a + "'",
                             "accepted flags:\n" + Help());
    }
    if (spec->takes_value) {
      if (!has_inline) {
        if (i + 1 >= argc) return Usage("flag '" + a + "' needs a value (" + spec->help + ")");
        value = argv[++i];
        if (Find(value)) {
          return Usage("flag '" + a + "' needs a value (" + spec->help + "), got the flag '" +
                       value + "'");
        }
      }
    } else if (has_inline) {
      return Usage("flag '" + a + "' takes no value");
    }
    if (values_.count(spec->names.back()) && !spec->repeatable) {
      return Usage("flag '" + a + "' is given twice; give it once");
    }
    if (!values_.count(spec->names.back())) values_[spec->names.back()] = value;
    all_[spec->names.back()].push_back(value);
  }
  for (const Spec& s : specs_)
    if (!s.def.empty() && !values_.count(s.names.back())) values_[s.names.back()] = s.def;
  return Status::Ok();
}

Args& Args::Repeatable(const std::string& name) {
  for (Spec& s : specs_) {
    for (const std::string& n : s.names) {
      if (n == name) s.repeatable = true;
    }
  }
  return *this;
}

std::vector<std::string> Args::GetAll(const std::string& name) const {
  auto it = all_.find(Canon(name));
  if (it != all_.end()) return it->second;
  const std::string v = Get(name);
  return v.empty() ? std::vector<std::string>() : std::vector<std::string>{v};
}

std::string Args::Get(const std::string& name) const {
  auto it = values_.find(Canon(name));
  return it == values_.end() ? std::string() : it->second;
}

Result<int64_t> Args::GetInt(const std::string& name, int64_t lo, int64_t hi) const {
  const std::string v = Get(name);
  const size_t digits = !v.empty() && v[0] == '-' ? 1 : 0;
  bool ok = v.size() > digits && v.size() - digits <= 19;
  for (size_t i = digits; ok && i < v.size(); ++i)
    ok = std::isdigit(static_cast<unsigned char>(v[i])) != 0;
  long long x = 0;
  if (ok) {
    errno = 0;
    x = std::strtoll(v.c_str(), nullptr, 10);
    ok = errno == 0 && x >= lo && x <= hi;
  }
  if (!ok) {
    return InvalidArgument("gpen " + command_ + ": " + name + " '" + v +
                               "' is not an integer in [" + std::to_string(lo) + ", " +
                               std::to_string(hi) + "]",
                           "see gpen " + command_ + " --help");
  }
  return static_cast<int64_t>(x);
}

Result<double> Args::GetDouble(const std::string& name, double lo, double hi) const {
  const std::string v = Get(name);
  char* end = nullptr;
  const double x = v.empty() || v.size() > 32 ? NAN : std::strtod(v.c_str(), &end);
  if (!(x >= lo && x <= hi) || end == nullptr || *end != '\0') {  // NaN fails too
    char range[64];
    std::snprintf(range, sizeof range, "[%g, %g]", lo, hi);
    return InvalidArgument(
        "gpen " + command_ + ": " + name + " '" + v + "' is not a number in " + range,
        "see gpen " + command_ + " --help");
  }
  return x;
}

Result<int64_t> Args::GetBytes(const std::string& name) const {
  auto r = ParseBytes(name, Get(name));
  if (!r.ok()) return r.status().WithContext("gpen " + command_);
  return r;
}

Result<int64_t> ParseBytes(const std::string& flag, const std::string& v) {
  const std::string hint =
      "write a positive whole number of bytes with an optional binary unit: 1073741824, "
      "512M, 2G, 1.5G (K, M, G; B or iB may follow)";
  auto bad = [&](const std::string& why) {
    return InvalidArgument(flag + " '" + v + "' " + why, hint);
  };
  size_t i = 0;
  unsigned __int128 whole = 0, frac = 0, scale = 1;
  size_t int_digits = 0, frac_digits = 0;
  for (; i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])); ++i, ++int_digits) {
    if (int_digits >= 19) return bad("is too large");
    whole = whole * 10 + static_cast<unsigned>(v[i] - '0');
  }
  if (int_digits == 0) return bad("is not a size");
  if (i < v.size() && v[i] == '.') {
    ++i;
    for (; i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])); ++i, ++frac_digits) {
      if (frac_digits >= 9) return bad("has too many decimals");
      frac = frac * 10 + static_cast<unsigned>(v[i] - '0');
      scale *= 10;
    }
    if (frac_digits == 0) return bad("is not a size");
  }
  std::string unit = v.substr(i);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  unsigned __int128 mul = 0;
  if (unit.empty() || unit == "B")
    mul = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB")
    mul = 1ull << 10;
  else if (unit == "M" || unit == "MB" || unit == "MIB")
    mul = 1ull << 20;
  else if (unit == "G" || unit == "GB" || unit == "GIB")
    mul = 1ull << 30;
  if (mul == 0) return bad("is not a size (unknown unit '" + v.substr(i) + "')");
  const unsigned __int128 scaled = (whole * scale + frac) * mul;
  if (scaled % scale != 0) return bad("is not a whole number of bytes");
  const unsigned __int128 bytes = scaled / scale;
  if (bytes == 0) {
    return InvalidArgument(flag + " '" + v + "' must be positive",
                           "leave " + flag + " out to plan for the memory free now");
  }
  if (bytes > (static_cast<unsigned __int128>(1) << 62)) return bad("is too large");
  return static_cast<int64_t>(bytes);
}

std::string Args::Help() const {
  std::ostringstream os;
  for (const Spec& s : specs_) {
    std::string names;
    for (const std::string& n : s.names) names += (names.empty() ? "" : ", ") + n;
    if (s.takes_value) names += " VALUE";
    os << "  " << names;
    if (names.size() < 28)
      os << std::string(28 - names.size(), ' ');
    else
      os << "\n" << std::string(30, ' ');
    os << s.help;
    if (!s.def.empty()) os << " (default " << s.def << ")";
    os << "\n";
  }
  return os.str();
}

Result<std::pair<int64_t, int64_t>> Args::GetSize(const std::string& name) const {
  const std::string text = Get(name);
  const size_t x = text.find('x');
  auto dim = [](const std::string& t, int64_t* v) {
    if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos)
      return false;
    *v = std::stoll(t);
    return *v >= 1 && *v <= 65536;
  };
  int64_t w = 0, h = 0;
  if (x != std::string::npos && dim(text.substr(0, x), &w) && dim(text.substr(x + 1), &h)) {
    return std::make_pair(h, w);
  }
  return InvalidArgument(name + " '" + text + "' is not WIDTHxHEIGHT (each 1..65536)",
                         "for example " + name + " 256x192");
}

}  // namespace gpen::cli

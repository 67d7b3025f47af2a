#include "quantizer/recipe.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "quantizer/codebooks/codebooks.h"
#include "base/error.h"

namespace sop {

const char* select_bit_placement_name(SelectBitPlacement p) {
  switch (p) {
    case SelectBitPlacement::None: return "none";
    case SelectBitPlacement::Stolen: return "stolen";
    case SelectBitPlacement::Beside: return "beside";
  }
  return "none";
}

namespace {

// s or U, then E<e>M<m>: the scale grammar of the SOP layouts.
bool parse_scale_format(const std::string& s, bool* is_signed, int* exp_bits, int* man_bits) {
  if (s.size() != 5 || (s[0] != 's' && s[0] != 'U') || s[1] != 'E' || s[3] != 'M') return false;
  if (!std::isdigit(static_cast<unsigned char>(s[2])) || !std::isdigit(static_cast<unsigned char>(s[4]))) return false;
  *is_signed = s[0] == 's';
  *exp_bits = s[2] - '0';
  *man_bits = s[4] - '0';
  return *exp_bits >= 1 && *exp_bits <= 8 && *man_bits <= 7;
}

bool is_bof(const std::string& codebook) { return codebook.rfind("BOF4", 0) == 0; }

}  // namespace

int RecipeOption::code_bits() const {
  for (const auto& c : codebooks) {
    if (c == "E2M3" || c == "E3M2") return 6;
  }
  return 4;
}

int RecipeOption::scale_bits() const {
  bool is_signed = false;
  int e = 0;
  int m = 0;
  if (!parse_scale_format(scale_format, &is_signed, &e, &m)) return 0;
  return (is_signed ? 1 : 0) + e + m;
}

double RecipeOption::nominal_bpw() const {
  const int select = select_bit == SelectBitPlacement::None ? 0 : 1;
  return code_bits() + static_cast<double>(scale_bits() + select) / block;
}

std::string RecipeOption::layout_name() const {
  std::string name = "g" + std::to_string(block) + " ";
  if (code_bits() == 6) {
    for (std::size_t i = 0; i < codebooks.size(); ++i) name += (i ? "/" : "") + codebooks[i];
    name += " ";
  }
  name += scale_format;
  if (select_bit == SelectBitPlacement::Stolen) name += "|sel";
  if (select_bit == SelectBitPlacement::Beside) name += "+sel";
  return name;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Reads one recipe file's YAML tree, turning every yaml-cpp conversion failure into a sop::Error that
// names the file and the dotted key (yaml-cpp's own "bad conversion" names neither).
class RecipeReader {
 public:
  explicit RecipeReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& key, const YAML::Node& at, const std::string& message) const {
    std::string where_in_file;
    if (at.IsDefined() && at.Mark().line >= 0) where_in_file = " (line " + std::to_string(at.Mark().line + 1) + ")";
    throw Error(file_, key, message + where_in_file);
  }

  // Rejects keys the schema does not know: a misspelt key must not silently fall back to a default.
  void check_keys(const YAML::Node& map, const std::string& prefix,
                  std::initializer_list<const char*> allowed) const {
    if (!map.IsMap()) fail(prefix.empty() ? "<top level>" : prefix, map, "expected a mapping of keys");
    for (const auto& entry : map) {
      std::string key;
      try {
        key = entry.first.as<std::string>();
      } catch (const YAML::Exception&) {
        fail(prefix, entry.first, "a key is not a plain string");
      }
      const bool known = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
      if (!known) {
        std::vector<std::string> names(allowed.begin(), allowed.end());
        fail(dotted(prefix, key), entry.first, "unknown key (known here: " + join(names) + ")");
      }
    }
  }

  static std::string dotted(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : prefix + "." + key;
  }

  template <class T>
  T scalar(const YAML::Node& node, const std::string& key, const char* type_name) const {
    if (!node.IsScalar()) fail(key, node, std::string("expected ") + type_name);
    try {
      return node.as<T>();
    } catch (const YAML::Exception&) {
      fail(key, node, std::string("expected ") + type_name + ", got '" + node.Scalar() + "'");
    }
  }

  std::string string_value(const YAML::Node& node, const std::string& key) const {
    return scalar<std::string>(node, key, "a string");
  }

  int int_value(const YAML::Node& node, const std::string& key) const {
    return scalar<int>(node, key, "an integer");
  }

  double number_value(const YAML::Node& node, const std::string& key) const {
    const double v = scalar<double>(node, key, "a number");
    if (!std::isfinite(v)) fail(key, node, "expected a finite number");
    return v;
  }

  bool bool_value(const YAML::Node& node, const std::string& key) const {
    return scalar<bool>(node, key, "true or false");
  }

  std::vector<std::string> string_list(const YAML::Node& node, const std::string& key) const {
    if (!node.IsSequence()) fail(key, node, "expected a list of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < node.size(); ++i) {
      out.push_back(string_value(node[i], key + "[" + std::to_string(i) + "]"));
    }
    return out;
  }

  std::vector<int> int_list(const YAML::Node& node, const std::string& key) const {
    if (!node.IsSequence()) fail(key, node, "expected a list of integers");
    std::vector<int> out;
    for (std::size_t i = 0; i < node.size(); ++i) {
      out.push_back(int_value(node[i], key + "[" + std::to_string(i) + "]"));
    }
    return out;
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

bool is_power_of_two(int v) { return v > 0 && (v & (v - 1)) == 0; }

void read_option(const RecipeReader& in, const YAML::Node& node, const std::string& key, RecipeOption& o) {
  in.check_keys(node, key, {"block", "scale_format", "select_bit", "codebooks", "fitted"});
  const std::string block_key = key + ".block";
  if (!node["block"]) in.fail(block_key, node, "missing (the block size, e.g. 16)");
  o.block = in.int_value(node["block"], block_key);
  if (o.block < RecipeLimits::kMinBlock || o.block > RecipeLimits::kMaxBlock || !is_power_of_two(o.block)) {
    in.fail(block_key, node["block"], "block size " + std::to_string(o.block) + " out of range (a power of two from " +
                                          std::to_string(RecipeLimits::kMinBlock) + " to " +
                                          std::to_string(RecipeLimits::kMaxBlock) + ")");
  }

  const std::string scale_key = key + ".scale_format";
  if (!node["scale_format"]) in.fail(scale_key, node, "missing (e.g. sE3M3 or UE4M4)");
  o.scale_format = in.string_value(node["scale_format"], scale_key);
  bool is_signed = false;
  int e = 0;
  int m = 0;
  if (!parse_scale_format(o.scale_format, &is_signed, &e, &m)) {
    in.fail(scale_key, node["scale_format"], "expected s (signed) or U (unsigned) then E<1-8>M<0-7>, e.g. sE3M3 or UE4M4; got '" + o.scale_format + "'");
  }
  if (o.scale_bits() > 16) in.fail(scale_key, node["scale_format"], "wider than 16 bits");

  const std::string select_key = key + ".select_bit";
  if (node["select_bit"]) {
    const std::string p = lower(in.string_value(node["select_bit"], select_key));
    if (p == "none") o.select_bit = SelectBitPlacement::None;
    else if (p == "stolen") o.select_bit = SelectBitPlacement::Stolen;
    else if (p == "beside") o.select_bit = SelectBitPlacement::Beside;
    else in.fail(select_key, node["select_bit"], "expected none, stolen or beside, got '" + p + "'");
  }

  const std::string codebooks_key = key + ".codebooks";
  if (node["codebooks"]) {
    const auto names = in.string_list(node["codebooks"], codebooks_key);
    for (std::size_t i = 0; i < names.size(); ++i) {
      std::string canonical;
      try {
        canonical = fixed_codebook(names[i], o.block).name;
      } catch (const std::exception&) {
        in.fail(codebooks_key + "[" + std::to_string(i) + "]", node["codebooks"][i],
                "unknown codebook '" + names[i] + "' (NF4, BOF4, BOF4-S, Split87, SH4, E2M1, IQ4_NL, E2M3, E3M2)");
      }
      // Generated tables carry their block in the name ("BOF4-S@g16"); the option's block decides.
      if (is_bof(canonical)) canonical = canonical.substr(0, canonical.find('@'));
      o.codebooks.push_back(canonical);
    }
  }
  const bool six_bit = o.code_bits() == 6;
  o.fitted = !six_bit && is_signed;
  if (node["fitted"]) o.fitted = in.bool_value(node["fitted"], key + ".fitted");
  if (six_bit) {
    for (std::size_t i = 0; i < o.codebooks.size(); ++i) {
      if (o.codebooks[i] != "E2M3" && o.codebooks[i] != "E3M2") {
        in.fail(codebooks_key, node["codebooks"], "mixes 64-entry atoms (E2M3, E3M2) with 16-entry tables ('" +
                                                      o.codebooks[i] + "'): use separate options");
      }
    }
    if (o.fitted) in.fail(key + ".fitted", node["fitted"] ? node["fitted"] : node, "fitted (DD4) tables are 16-entry: not with 6-bit atoms");
    if (o.codebooks.size() > 2) in.fail(codebooks_key, node["codebooks"], "at most two atom tables (a pair)");
    if ((o.codebooks.size() == 2) != (o.select_bit != SelectBitPlacement::None)) {
      in.fail(select_key, node, "two atom tables need a select bit, one atom table none");
    }
  } else {
    if (o.fitted && !is_signed) in.fail(key + ".fitted", node, "fitted (DD4) tables need a signed scale (s...)");
    const std::size_t tables = o.codebooks.size() + (o.fitted ? 2 : 0);
    if (tables == 0) in.fail(codebooks_key, node, "offers no codebook: list codebooks or set fitted: true");
    if (o.select_bit != SelectBitPlacement::None && tables < 2) {
      in.fail(select_key, node, "a selection bit needs two codebooks to choose between; set select_bit: none or offer more");
    }
  }
}

}  // namespace

Recipe parse_recipe(const std::string& yaml_text, const std::string& source_name) {
  const RecipeReader in(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw Error(source_name, "", std::string("not valid YAML: ") + e.what());
  }
  if (!root.IsDefined() || root.IsNull()) throw Error(source_name, "", "empty recipe");
  in.check_keys(root, "", {"recipe", "name", "description", "budget", "options", "lut_format", "sparse_residual",
                           "activation_stats", "keep_full_precision", "scale_steps", "threads"});

  Recipe r;
  r.path = source_name;
  r.text = yaml_text;
  if (!root["recipe"]) in.fail("recipe", root, "missing (the schema version: recipe: 1)");
  r.schema = in.int_value(root["recipe"], "recipe");
  if (r.schema != 1) in.fail("recipe", root["recipe"], "unsupported schema version " + std::to_string(r.schema) + " (this build reads 1)");
  if (!root["name"]) in.fail("name", root, "missing");
  r.name = in.string_value(root["name"], "name");
  if (r.name.empty()) in.fail("name", root["name"], "must not be empty");
  if (root["description"]) r.description = in.string_value(root["description"], "description");

  if (root["budget"]) {
    const YAML::Node budget = root["budget"];
    in.check_keys(budget, "budget", {"target_bpw"});
    if (!budget["target_bpw"]) in.fail("budget.target_bpw", budget, "missing");
    r.target_bpw = in.number_value(budget["target_bpw"], "budget.target_bpw");
    if (r.target_bpw < RecipeLimits::kMinBpw || r.target_bpw > RecipeLimits::kMaxBpw) {
      std::ostringstream msg;
      msg << "target " << r.target_bpw << " bpw out of range (" << RecipeLimits::kMinBpw << " to "
          << RecipeLimits::kMaxBpw << ")";
      in.fail("budget.target_bpw", budget["target_bpw"], msg.str());
    }
  }

  if (!root["options"]) in.fail("options", root, "missing (a list of block/scale/codebook options)");
  const YAML::Node options = root["options"];
  if (!options.IsSequence() || options.size() == 0) in.fail("options", options, "expected a non-empty list");
  for (std::size_t i = 0; i < options.size(); ++i) {
    RecipeOption o;
    read_option(in, options[i], "options[" + std::to_string(i) + "]", o);
    r.options.push_back(std::move(o));
  }
  if (r.target_bpw == 0 && r.options.size() > 1) {
    in.fail("options", options, "several options need budget.target_bpw to choose between them");
  }
  if (r.target_bpw > 0) {
    double cheapest = 1e9;
    for (const auto& o : r.options) cheapest = std::min(cheapest, o.nominal_bpw());
    if (r.target_bpw < cheapest) {
      std::ostringstream msg;
      msg << "target " << r.target_bpw << " bpw is below the cheapest option this recipe offers (" << cheapest
          << " bpw)";
      in.fail("budget.target_bpw", root["budget"]["target_bpw"], msg.str());
    }
  }

  if (root["lut_format"]) {
    const std::string f = in.string_value(root["lut_format"], "lut_format");
    std::string upper = f;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    if (upper != "HIF" && upper != "FP16") in.fail("lut_format", root["lut_format"], "expected HIF or FP16, got '" + f + "'");
    r.lut_format = upper;
  }

  if (root["sparse_residual"]) {
    const YAML::Node sparse = root["sparse_residual"];
    in.check_keys(sparse, "sparse_residual", {"fractions"});
    if (!sparse["fractions"]) in.fail("sparse_residual.fractions", sparse, "missing");
    const YAML::Node list = sparse["fractions"];
    if (!list.IsSequence()) in.fail("sparse_residual.fractions", list, "expected a list of numbers");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string key = "sparse_residual.fractions[" + std::to_string(i) + "]";
      const double f = in.number_value(list[i], key);
      if (f <= 0 || f > RecipeLimits::kMaxSparseFraction) {
        std::ostringstream msg;
        msg << "fraction " << f << " out of range (above 0, at most " << RecipeLimits::kMaxSparseFraction << ")";
        in.fail(key, list[i], msg.str());
      }
      r.sparse_fractions.push_back(f);
    }
    if (r.target_bpw == 0 && r.sparse_fractions.size() > 1) {
      in.fail("sparse_residual.fractions", list, "without a budget at most one fraction (applied to every layer)");
    }
  }

  if (root["activation_stats"] && !root["activation_stats"].IsNull()) {
    r.activation_stats = in.string_value(root["activation_stats"], "activation_stats");
    if (!r.activation_stats.empty() && r.activation_stats.front() != '/') {
      r.activation_stats = directory_of(source_name) + r.activation_stats;
    }
  }
  if (root["keep_full_precision"]) {
    r.keep_full_precision = in.string_list(root["keep_full_precision"], "keep_full_precision");
  }
  if (root["scale_steps"]) {
    r.scale_steps = in.int_value(root["scale_steps"], "scale_steps");
    if (r.scale_steps < 0 || r.scale_steps > RecipeLimits::kMaxScaleSteps) {
      in.fail("scale_steps", root["scale_steps"], "out of range (0 to " + std::to_string(RecipeLimits::kMaxScaleSteps) + ")");
    }
  }
  if (root["threads"]) {
    r.threads = in.int_value(root["threads"], "threads");
    if (r.threads < 0 || r.threads > RecipeLimits::kMaxThreads) {
      in.fail("threads", root["threads"], "out of range (0 for all cores, up to " +
                                               std::to_string(RecipeLimits::kMaxThreads) + ")");
    }
  }
  return r;
}

Recipe load_recipe(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(path, "", "cannot open recipe file");
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw Error(path, "", "cannot read recipe file");
  return parse_recipe(text.str(), path);
}

}  // namespace sop

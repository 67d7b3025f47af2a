#include "quantizer/recipe.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "quantizer/error.h"
#include "quantizer/formats.h"

namespace sop {

const char* select_bit_placement_name(SelectBitPlacement p) {
  switch (p) {
    case SelectBitPlacement::None: return "none";
    case SelectBitPlacement::Stolen: return "stolen";
    case SelectBitPlacement::Beside: return "beside";
  }
  return "none";
}

const std::vector<std::string>& known_codebook_names() {
  // What quantizer/codebooks offers: 16-entry tables (4-bit codes) and the 64-entry atom tables of
  // the 6-bit float formats (6-bit codes).
  static const std::vector<std::string> names = {"nf4",  "bof4", "bof4-s", "split87", "sh4",
                                                 "e2m1", "iq4_nl", "e2m3", "e3m2"};
  return names;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

int code_bits_of_codebook(const std::string& name) { return name == "e2m3" || name == "e3m2" ? 6 : 4; }

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

void read_blocks(const RecipeReader& in, const YAML::Node& blocks, Recipe& r) {
  in.check_keys(blocks, "blocks", {"sizes", "scale_format", "select_bit"});
  if (!blocks["sizes"]) in.fail("blocks.sizes", blocks, "missing (a list of block sizes, e.g. [16])");
  r.block_sizes = in.int_list(blocks["sizes"], "blocks.sizes");
  if (r.block_sizes.empty()) in.fail("blocks.sizes", blocks["sizes"], "needs at least one block size");
  for (std::size_t i = 0; i < r.block_sizes.size(); ++i) {
    const int g = r.block_sizes[i];
    if (g < RecipeLimits::kMinBlock || g > RecipeLimits::kMaxBlock || !is_power_of_two(g)) {
      in.fail("blocks.sizes[" + std::to_string(i) + "]", blocks["sizes"][i],
              "block size " + std::to_string(g) + " out of range (a power of two from " +
                  std::to_string(RecipeLimits::kMinBlock) + " to " + std::to_string(RecipeLimits::kMaxBlock) + ")");
    }
  }
  if (!blocks["scale_format"]) in.fail("blocks.scale_format", blocks, "missing (a number format, e.g. UE4M4)");
  const std::string scale = in.string_value(blocks["scale_format"], "blocks.scale_format");
  try {
    r.scale_format = number_format(scale).name;
  } catch (const std::exception&) {
    in.fail("blocks.scale_format", blocks["scale_format"], "unknown number format '" + scale + "'");
  }
  if (blocks["select_bit"]) {
    const std::string p = lower(in.string_value(blocks["select_bit"], "blocks.select_bit"));
    if (p == "none") r.select_bit = SelectBitPlacement::None;
    else if (p == "stolen") r.select_bit = SelectBitPlacement::Stolen;
    else if (p == "beside") r.select_bit = SelectBitPlacement::Beside;
    else in.fail("blocks.select_bit", blocks["select_bit"], "expected none, stolen or beside, got '" + p + "'");
  }
}

void read_codebooks(const RecipeReader& in, const YAML::Node& codebooks, Recipe& r) {
  in.check_keys(codebooks, "codebooks", {"fixed", "fitted", "lut_format"});
  if (codebooks["fixed"]) {
    const auto names = in.string_list(codebooks["fixed"], "codebooks.fixed");
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string name = lower(names[i]);
      const auto& known = known_codebook_names();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        in.fail("codebooks.fixed[" + std::to_string(i) + "]", codebooks["fixed"][i],
                "unknown codebook '" + names[i] + "' (known: " + join(known) + ")");
      }
      r.fixed_codebooks.push_back(name);
    }
  }
  if (codebooks["fitted"]) r.fitted_codebooks = in.bool_value(codebooks["fitted"], "codebooks.fitted");
  if (codebooks["lut_format"]) {
    const std::string f = in.string_value(codebooks["lut_format"], "codebooks.lut_format");
    std::string upper = f;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    if (upper != "HIF" && upper != "FP16" && upper != "BF16") {
      in.fail("codebooks.lut_format", codebooks["lut_format"], "expected HIF, FP16 or BF16, got '" + f + "'");
    }
    r.lut_format = upper;
  }
  if (r.fixed_codebooks.empty() && !r.fitted_codebooks) {
    in.fail("codebooks", codebooks, "offers no codebook: list codebooks.fixed or set codebooks.fitted: true");
  }
}

// The cheapest bits per weight any option of the recipe reaches (largest block, narrowest codes, no
// residuals), so an unreachable budget is refused up front rather than after a long search.
double cheapest_bpw(const Recipe& r) {
  int code_bits = r.fitted_codebooks ? 4 : 64;
  for (const auto& c : r.fixed_codebooks) code_bits = std::min(code_bits, code_bits_of_codebook(c));
  const int largest_block = *std::max_element(r.block_sizes.begin(), r.block_sizes.end());
  int scale_bits = number_format(r.scale_format).bits();
  if (r.select_bit == SelectBitPlacement::Beside) scale_bits += 1;
  return code_bits + static_cast<double>(scale_bits) / largest_block;
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
  in.check_keys(root, "", {"recipe", "name", "description", "budget", "blocks", "codebooks", "sparse_residual",
                           "activation_stats", "keep_full_precision", "threads"});

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

  if (!root["blocks"]) in.fail("blocks", root, "missing (blocks: sizes, scale_format, select_bit)");
  read_blocks(in, root["blocks"], r);
  if (!root["codebooks"]) in.fail("codebooks", root, "missing (codebooks: fixed, fitted, lut_format)");
  read_codebooks(in, root["codebooks"], r);

  const int codebook_count = static_cast<int>(r.fixed_codebooks.size()) + (r.fitted_codebooks ? 2 : 0);
  if (r.select_bit != SelectBitPlacement::None && codebook_count < 2) {
    in.fail("blocks.select_bit", root["blocks"],
            "a selection bit needs two codebooks to choose between; set select_bit: none or offer more codebooks");
  }
  if (r.block_sizes.size() > 1 && r.target_bpw == 0) {
    in.fail("blocks.sizes", root["blocks"]["sizes"],
            "several block sizes need budget.target_bpw to choose between them");
  }
  if (r.target_bpw > 0) {
    const double floor_bpw = cheapest_bpw(r);
    if (r.target_bpw < floor_bpw) {
      std::ostringstream msg;
      msg << "target " << r.target_bpw << " bpw is below the cheapest option this recipe allows (" << floor_bpw
          << " bpw)";
      in.fail("budget.target_bpw", root["budget"]["target_bpw"], msg.str());
    }
  }

  if (root["sparse_residual"]) {
    const YAML::Node sparse = root["sparse_residual"];
    in.check_keys(sparse, "sparse_residual", {"max_fraction"});
    if (!sparse["max_fraction"]) in.fail("sparse_residual.max_fraction", sparse, "missing");
    r.sparse_max_fraction = in.number_value(sparse["max_fraction"], "sparse_residual.max_fraction");
    if (r.sparse_max_fraction < 0 || r.sparse_max_fraction > RecipeLimits::kMaxSparseFraction) {
      std::ostringstream msg;
      msg << "fraction " << r.sparse_max_fraction << " out of range (0 to " << RecipeLimits::kMaxSparseFraction << ")";
      in.fail("sparse_residual.max_fraction", sparse["max_fraction"], msg.str());
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

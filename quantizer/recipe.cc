#include "quantizer/recipe.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "base/error.h"
#include "base/yaml_reader.h"
#include "quantizer/codebooks/codebooks.h"

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

int RecipeOption::select_bits() const {
  if (select_bit == SelectBitPlacement::None) return 0;
  int bits = 0;
  while ((1 << bits) < tables) ++bits;
  return bits;
}

double RecipeOption::nominal_bpw() const {
  return code_bits() + static_cast<double>(scale_bits() + select_bits()) / block;
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
  if (select_bits() > 1) name += std::to_string(select_bits());
  if (rows_per_table > 0) name += " rows" + std::to_string(rows_per_table);
  if (share_tables > 1) name += " shared" + std::to_string(share_tables);
  return name;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A list of strings that must be written as a YAML list: a lone scalar (`codebooks: NF4`) is refused
// rather than read as a list of one, so a forgotten bracket is reported, not guessed at.
std::vector<std::string> string_list(const YamlReader& in, const YAML::Node& node, const std::string& key) {
  if (!node.IsSequence()) in.fail(key, node, "expected a list of strings");
  return in.string_list(node, key);
}

// Recipe numbers go through their own range checks (whose messages say what the range means); the
// reader's range only bounds an int.
int int_value(const YamlReader& in, const YAML::Node& node, const std::string& key) {
  return static_cast<int>(in.integer_value(node, key, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

double number_value(const YamlReader& in, const YAML::Node& node, const std::string& key) {
  return in.number_value(node, key, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
}

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

bool is_power_of_two(int v) { return v > 0 && (v & (v - 1)) == 0; }

void read_option(const YamlReader& in, const YAML::Node& node, const std::string& key, RecipeOption& o) {
  in.only_keys(node, key, {"block", "scale_format", "select_bit", "codebooks", "fitted", "tables", "rows_per_table",
                           "share_tables"});
  const std::string block_key = key + ".block";
  if (!node["block"]) in.fail(block_key, node, "missing (the block size, e.g. 16)");
  o.block = int_value(in, node["block"], block_key);
  // Any multiple of 4: the decode unit packs blocks back to back in its beats (rtl/sop_decode_unit.sv),
  // so g12, g20 and g24 run on 8 lanes as g16 does; they tile rows of 120 or 172 weights that g16
  // leaves with a short last block.
  if (o.block < RecipeLimits::kMinBlock || o.block > RecipeLimits::kMaxBlock || o.block % 4 != 0) {
    in.fail(block_key, node["block"], "block size " + std::to_string(o.block) + " out of range (a multiple of 4 from " +
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
    const auto names = string_list(in, node["codebooks"], codebooks_key);
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
  if (node["fitted"]) o.fitted = in.boolean_value(node["fitted"], key + ".fitted");
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
  if (o.select_bit == SelectBitPlacement::None) o.tables = 1;
  if (node["tables"]) {
    const std::string tables_key = key + ".tables";
    o.tables = int_value(in, node["tables"], tables_key);
    if (o.select_bit == SelectBitPlacement::None) {
      if (o.tables != 1) in.fail(tables_key, node["tables"], "more than one table needs a selector (select_bit: stolen or beside)");
    } else if (o.tables < 2 || o.tables > RecipeLimits::kMaxTables || !is_power_of_two(o.tables)) {
      in.fail(tables_key, node["tables"], "expected 2, 4, 8 or 16 tables per layer (a 1- to 4-bit selector), got " +
                                              std::to_string(o.tables));
    }
    if (o.tables > 2 && !o.fitted) {
      in.fail(tables_key, node["tables"], "more than two tables are fitted per layer: a 4-bit option with fitted: true");
    }
  }
  if (node["rows_per_table"]) {
    const std::string rows_key = key + ".rows_per_table";
    o.rows_per_table = in.integer_value(node["rows_per_table"], rows_key, 1, int64_t{1} << 30);
    if (o.select_bit != SelectBitPlacement::None) {
      in.fail(rows_key, node["rows_per_table"], "row-group tables take no selector: set select_bit: none");
    }
    if (!o.fitted) in.fail(rows_key, node["rows_per_table"], "row-group tables are fitted: a 4-bit option with fitted: true");
  }
  if (node["share_tables"]) {
    const std::string share_key = key + ".share_tables";
    o.share_tables = static_cast<int>(in.integer_value(node["share_tables"], share_key, 1, RecipeLimits::kMaxShareTables));
    if (!o.fitted || six_bit) {
      in.fail(share_key, node["share_tables"], "shared tables are fitted tables: a 4-bit option with fitted: true");
    }
    if (o.rows_per_table > 0) {
      in.fail(share_key, node["share_tables"], "row-group tables belong to their matrix's rows: not shared with rows_per_table");
    }
    if (o.share_tables == 1) o.share_tables = 0;  // a group of one is a private table set
  }
}

}  // namespace

Recipe parse_recipe(const std::string& yaml_text, const std::string& source_name) {
  const YamlReader in(source_name);
  const YAML::Node root = in.parse(yaml_text);
  if (root.IsMap() && root.size() == 0) throw Error(source_name, "", "empty recipe");
  in.only_keys(root, "", {"schema_version", "recipe", "name", "description", "budget", "options", "lut_format", "lut_sram_bytes",
                           "sparse_residual", "activation_stats", "keep_full_precision", "scale_steps", "threads"});
  in.check_schema_version(root);

  Recipe r;
  r.path = source_name;
  r.text = yaml_text;
  if (!root["recipe"]) in.fail("recipe", root, "missing (the schema version: recipe: 1)");
  r.schema = int_value(in, root["recipe"], "recipe");
  if (r.schema != 1) in.fail("recipe", root["recipe"], "unsupported schema version " + std::to_string(r.schema) + " (this build reads 1)");
  if (!root["name"]) in.fail("name", root, "missing");
  r.name = in.string_value(root["name"], "name");
  if (r.name.empty()) in.fail("name", root["name"], "must not be empty");
  if (root["description"]) r.description = in.string_value(root["description"], "description");

  if (root["budget"]) {
    const YAML::Node budget = root["budget"];
    in.only_keys(budget, "budget", {"target_bpw"});
    if (!budget["target_bpw"]) in.fail("budget.target_bpw", budget, "missing");
    r.target_bpw = number_value(in, budget["target_bpw"], "budget.target_bpw");
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

  if (root["lut_sram_bytes"] && !root["lut_sram_bytes"].IsNull()) {
    r.lut_sram_bytes = in.integer_value(root["lut_sram_bytes"], "lut_sram_bytes", 0, RecipeLimits::kMaxLutSramBytes);
  }

  if (root["sparse_residual"]) {
    const YAML::Node sparse = root["sparse_residual"];
    in.only_keys(sparse, "sparse_residual", {"fractions"});
    if (!sparse["fractions"]) in.fail("sparse_residual.fractions", sparse, "missing");
    const YAML::Node list = sparse["fractions"];
    if (!list.IsSequence()) in.fail("sparse_residual.fractions", list, "expected a list of numbers");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string key = "sparse_residual.fractions[" + std::to_string(i) + "]";
      const double f = number_value(in, list[i], key);
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
    r.keep_full_precision = string_list(in, root["keep_full_precision"], "keep_full_precision");
  }
  if (root["scale_steps"]) {
    r.scale_steps = int_value(in, root["scale_steps"], "scale_steps");
    if (r.scale_steps < 0 || r.scale_steps > RecipeLimits::kMaxScaleSteps) {
      in.fail("scale_steps", root["scale_steps"], "out of range (0 to " + std::to_string(RecipeLimits::kMaxScaleSteps) + ")");
    }
  }
  if (root["threads"]) {
    r.threads = int_value(in, root["threads"], "threads");
    if (r.threads < 0 || r.threads > RecipeLimits::kMaxThreads) {
      in.fail("threads", root["threads"], "out of range (0 for all cores, up to " +
                                               std::to_string(RecipeLimits::kMaxThreads) + ")");
    }
  }
  return r;
}

Recipe load_recipe(const std::string& path) {
  return parse_recipe(read_text_file(path, "recipe file"), path);
}

}  // namespace sop

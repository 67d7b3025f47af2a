#include "sim/node_scaling.h"

#include <array>

#include "base/error.h"

namespace sop::sim {
namespace {

// The paper's coefficient tables (delay, energy and power fits per device model), as published with
// the authors' correction; tests/estimate checks them against the paper's worked example.
const std::vector<ScalingModel>& models() {
  static const std::vector<ScalingModel> kModels = {
      {"180", 180, {0, 97.09, -356.7, 406.5}, {0, 24.64, -17.98}, {0, 101000, -79720}},
      {"130", 130, {-76.65, 334.9, -493.4, 275.8}, {7.171, -6.709, 2.904}, {27020, -15450, 5630}},
      {"90", 90, {-60.34, 262.5, -384.2, 210.9}, {4.762, -4.781, 2.092}, {17320, -11230, 4328}},
      {"65", 65, {-53.3, 230.4, -333.9, 178.6}, {3.755, -4.398, 1.975}, {12890, -10510, 4362}},
      {"HP45", 45, {-501.6, 1567, -1619, 566.1}, {1.018, -0.3107, 0.1539}, {5462, -1760, 522.4}},
      {"HP32", 32, {-1047, 2982, -2797, 873.5}, {0.8367, -0.4341, 0.1701}, {4001, -1733, 533.6}},
      {"LP45", 45, {-285.7, 1239, -1795, 898.8}, {1.103, -0.362, 0.2767}, {6297, -3009, 1124}},
      {"LP32", 32, {-325.9, 1374, -1922, 913.2}, {0.9559, -0.7823, 0.471}, {4557, -3037, 1323}},
      {"HP20", 20, {0, 34.63, -66.37, 41.15}, {0.373, -0.1582, 0.04104}, {2922, -1286, 299.9}},
      {"HP16", 16, {0, 24.8, -47.52, 28.87}, {0.2958, -0.1241, 0.03024}, {2133, -882.6, 197.7}},
      {"HP14", 14, {-40.66, 109.2, -100.6, 35.92}, {0.2363, -0.09675, 0.02239}, {1675, -711, 159}},
      {"HP10", 10, {-34.95, 93.65, -85.99, 30.4}, {0.2068, -0.09311, 0.02375}, {1456, -621.6, 143.8}},
      {"HP7", 7, {-28.58, 76.6, -70.26, 24.69}, {0.1776, -0.09097, 0.02447}, {1179, -515.7, 123.4}},
      {"LP20", 20, {-160.5, 514.1, -558.6, 217.5}, {0.2632, -0.14, 0.06841}, {2096, -962.4, 287.1}},
      {"LP16", 16, {-114.6, 366.7, -397.4, 153.6}, {0.2139, -0.1187, 0.05639}, {1609, -715.5, 205.7}},
      {"LP14", 14, {-85.37, 271.6, -292.2, 111.4}, {0.1556, -0.06472, 0.03066}, {1259, -554.1, 152.3}},
      {"LP10", 10, {-71.76, 228.6, -246.3, 93.91}, {0.1261, -0.0518, 0.02769}, {1046, -422.7, 118.9}},
      {"LP7", 7, {-61.79, 196.1, -210.3, 79.55}, {0.09365, -0.03409, 0.02043}, {815.2, -307.3, 87.54}},
  };
  return kModels;
}

constexpr std::array<int, 11> kAreaNodes = {180, 130, 90, 65, 45, 32, 20, 16, 14, 10, 7};
// The paper's area table: kAreaRatio[a][b] = area at node b / area at node a (rows and columns in
// kAreaNodes order). Published to two significant figures, so a ratio and the inverse of its transpose
// differ by up to a few percent; a scaling always reads the row of the node it starts from.
constexpr double kAreaRatio[11][11] = {
    {1, 0.34, 0.15, 0.08, 0.053, 0.025, 0.011, 0.01, 0.0093, 0.0055, 0.0032},
    {2.9, 1, 0.44, 0.23, 0.16, 0.072, 0.033, 0.03, 0.027, 0.016, 0.0092},
    {6.6, 2.3, 1, 0.53, 0.35, 0.16, 0.075, 0.067, 0.061, 0.036, 0.021},
    {12, 4.3, 1.9, 1, 0.66, 0.31, 0.14, 0.13, 0.12, 0.068, 0.039},
    {19, 6.4, 2.8, 1.5, 1, 0.46, 0.21, 0.19, 0.17, 0.1, 0.059},
    {40, 14, 6.1, 3.3, 2.2, 1, 0.46, 0.41, 0.38, 0.22, 0.13},
    {88, 30, 13, 7.1, 4.7, 2.2, 1, 0.89, 0.82, 0.48, 0.28},
    {99, 34, 15, 7.9, 5.3, 2.4, 1.1, 1, 0.91, 0.54, 0.31},
    {110, 37, 16, 8.7, 5.8, 2.7, 1.2, 1.1, 1, 0.59, 0.34},
    {180, 63, 28, 15, 9.8, 4.5, 2.1, 1.9, 1.7, 1, 0.58},
    {320, 110, 48, 25, 17, 7.8, 3.6, 3.2, 2.9, 1.7, 1},
};

int area_index(int node_nm) {
  for (std::size_t i = 0; i < kAreaNodes.size(); ++i) {
    if (kAreaNodes[i] == node_nm) return static_cast<int>(i);
  }
  throw Error("", "node_nm",
              std::to_string(node_nm) + " nm is not a node of the Stillmaker-Baas area table (180, 130, 90, 65, 45, "
                                        "32, 20, 16, 14, 10, 7)");
}

}  // namespace

const std::vector<ScalingModel>& scaling_models() { return models(); }

const ScalingModel& scaling_model(const std::string& name, const std::string& source, const std::string& key) {
  std::string known;
  for (const ScalingModel& m : models()) {
    if (name == m.name) return m;
    known += (known.empty() ? "" : ", ") + std::string(m.name);
  }
  throw Error(source, key, "'" + name + "' is not a Stillmaker-Baas device model (one of " + known + ")");
}

double delay_factor(const ScalingModel& m, double v) {
  return ((m.delay[0] * v + m.delay[1]) * v + m.delay[2]) * v + m.delay[3];
}

double energy_factor(const ScalingModel& m, double v) { return (m.energy[0] * v + m.energy[1]) * v + m.energy[2]; }

double power_factor(const ScalingModel& m, double v) { return (m.power[0] * v + m.power[1]) * v + m.power[2]; }

double area_ratio(int from_nm, int to_nm) { return kAreaRatio[area_index(from_nm)][area_index(to_nm)]; }

NodeScale node_scale(const ScalingModel& from, double from_v, const ScalingModel& to, double to_v) {
  NodeScale s;
  s.delay = delay_factor(to, to_v) / delay_factor(from, from_v);
  s.energy = energy_factor(to, to_v) / energy_factor(from, from_v);
  s.power = power_factor(to, to_v) / power_factor(from, from_v);
  s.area = area_ratio(from.node_nm, to.node_nm);
  return s;
}

}  // namespace sop::sim

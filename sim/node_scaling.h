// Technology scaling between CMOS nodes with the published fits of A. Stillmaker and B. Baas, "Scaling
// equations for the accurate prediction of CMOS device performance from 180 nm to 7 nm", Integration,
// the VLSI Journal 58 (2017) 74-81 (with the authors' correction of the example in section 4.2.1).
//
// The paper fits HSpice results of the Predictive Technology Model (180-65 nm bulk; 45-32 nm high
// performance "HP" and low power "LP"; 20-7 nm HP and LP FinFET models after ITRS) as polynomials in
// the supply voltage: a delay factor (third order), an energy factor and a power factor (second order),
// and gives a table of area factors between every pair of nodes. A quantity measured at node A and
// voltage Va scales to node B at Vb by factor_B(Vb) / factor_A(Va). The paper reports R^2 > 0.95 for
// every fit against its PTM/ITRS data; that is the stated accuracy of the fit, not of silicon, and it
// holds only inside each model's fitted voltage range (docs/estimate.md "Node scaling").
#pragma once

#include <string>
#include <vector>

namespace sop::sim {

// One device model of the paper: its name ("180", "130", "90", "65", "HP45", "LP45", ..., "HP7",
// "LP7"), its node in nm, and the polynomial coefficients, highest power first.
struct ScalingModel {
  const char* name;
  int node_nm;
  double delay[4];   // d(V) = delay[0] V^3 + delay[1] V^2 + delay[2] V + delay[3]
  double energy[3];  // e(V) = energy[0] V^2 + energy[1] V + energy[2]
  double power[3];   // p(V) = power[0] V^2 + power[1] V + power[2]
};

// The paper's models, in its order. The model names are what tech tables give as `node_scaling.model`.
const std::vector<ScalingModel>& scaling_models();
// Throws sop::Error(source, key, ...) naming the models that exist when `name` is not one of them.
const ScalingModel& scaling_model(const std::string& name, const std::string& source, const std::string& key);

double delay_factor(const ScalingModel& m, double voltage_v);
double energy_factor(const ScalingModel& m, double voltage_v);
double power_factor(const ScalingModel& m, double voltage_v);
// Area at node `to_nm` / area at node `from_nm` of the same design (the paper's area table; both nodes
// among 180, 130, 90, 65, 45, 32, 20, 16, 14, 10, 7; throws sop::Error otherwise).
double area_ratio(int from_nm, int to_nm);

// Multipliers taking a quantity measured at (from, from_v) to (to, to_v).
struct NodeScale {
  double delay = 1;
  double energy = 1;
  double power = 1;
  double area = 1;
};
NodeScale node_scale(const ScalingModel& from, double from_v, const ScalingModel& to, double to_v);

}  // namespace sop::sim

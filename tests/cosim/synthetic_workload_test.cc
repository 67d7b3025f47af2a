// The two synthetic generators must not drift apart: `sop simulate --shapes SHAPE` (the decode unit's
// workload, model/tlm/workload.cc) and `synthetic:KIND` (the quantizer's weights, quantizer/synthetic.cc)
// list the same matrices from the one shapes table, refuse a bad spec with the same message, and the
// workload's draws stay pinned, since the simulated cycles come from them.
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "model/tlm/workload.h"
#include "quantizer/synthetic.h"

namespace sop {
namespace {

struct Matrix {
  std::string name;
  int64_t rows;
  int64_t cols;
  bool operator==(const Matrix& o) const { return name == o.name && rows == o.rows && cols == o.cols; }
};

std::ostream& operator<<(std::ostream& os, const Matrix& m) {
  return os << m.name << " [" << m.rows << ", " << m.cols << "]";
}

std::vector<Matrix> workload_matrices(const std::string& shapes) {
  std::vector<Matrix> out;
  const sysc::Workload workload = sysc::Workload::synthetic(shapes, sysc::UnitFormats{});
  for (const auto& layer : workload.layers()) {
    out.push_back({layer->name(), layer->rows(), layer->cols()});
  }
  return out;
}

std::vector<Matrix> quantizer_matrices(const std::string& spec) {
  std::vector<Matrix> out;
  const auto model = open_synthetic(spec);
  for (const TensorInfo& t : model->tensors()) out.push_back({t.name, t.shape.at(0), t.shape.at(1)});
  return out;
}

// The message of the sop::Error `action` throws, without the spec it names first.
std::string message_after_spec(const std::function<void()>& action, const std::string& spec) {
  try {
    action();
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(spec + ": ", 0), 0u) << what;
    return what.substr(spec.size() + 2);
  }
  ADD_FAILURE() << "nothing thrown for " << spec;
  return "";
}

TEST(SyntheticWorkload, SameMatricesAsTheQuantizersGenerator) {
  EXPECT_EQ(workload_matrices("llama2-7b?layers=2&lm_head=0"), quantizer_matrices("synthetic:7b?layers=2"));
  EXPECT_EQ(workload_matrices("llama2-7b?lm_head=0"), quantizer_matrices("synthetic:7b"));
  EXPECT_EQ(workload_matrices("llama-small"), quantizer_matrices("synthetic:llm"));
}

TEST(SyntheticWorkload, WholeSevenBPass) {
  // 32 layers x 7 matrices + lm_head; 32 x 202,375,168 + 32000 x 4096 weights (worked out by hand).
  const sysc::Workload w = sysc::Workload::synthetic("llama2-7b", sysc::UnitFormats{});
  ASSERT_EQ(w.layers().size(), 225u);
  EXPECT_EQ(w.weights(), 6607077376u);
  EXPECT_EQ(w.layers().back()->name(), "lm_head.weight");
  EXPECT_EQ(sysc::Workload::synthetic("llama2-7b?layers=1", sysc::UnitFormats{}).layers().size(), 7u);  // no head
}

TEST(SyntheticWorkload, SameErrorsAsTheQuantizersGenerator) {
  const sysc::UnitFormats unit;
  for (const std::string query : {"layers=abc", "layers=-1", "seed=x", "seed=1&seed=2", "layers"}) {
    const std::string shapes = "llama2-7b?" + query;
    const std::string spec = "synthetic:7b?" + query;
    const std::string from_workload = message_after_spec([&] { sysc::Workload::synthetic(shapes, unit); }, shapes);
    const std::string from_quantizer = message_after_spec([&] { open_synthetic(spec); }, spec);
    // The ranges differ (a shape list has up to its own layer count, the quantizer up to 4096).
    EXPECT_EQ(from_workload.substr(0, from_workload.find(" [")), from_quantizer.substr(0, from_quantizer.find(" [")))
        << query;
  }
  EXPECT_NE(message_after_spec([&] { sysc::Workload::synthetic("llama2-7b?colour=red", unit); }, "llama2-7b?colour=red")
                .find("colour: unknown key"),
            std::string::npos);
  EXPECT_NE(message_after_spec([&] { sysc::Workload::synthetic("llama-small?lm_head=1", unit); },
                               "llama-small?lm_head=1")
                .find("lm_head"),
            std::string::npos);
}

TEST(SyntheticWorkload, DrawsArePinned) {
  // Layer 0, row 0, seed 1: the first 64-bit draw of CounterRandom::for_row(1, 0, 0) is
  // 0x44e5b98100c67fb0 (tests/io/synthetic_spec_test.cc); 4-bit codes take its nibbles, low first.
  const sysc::Workload w = sysc::Workload::synthetic("llama2-7b?layers=1&lm_head=0", sysc::UnitFormats{});
  sysc::RowsData rows;
  w.layers().front()->read_rows(0, 1, rows);
  const std::vector<uint8_t> expected = {0x0, 0xb, 0xf, 0x7, 0x6, 0xc, 0x0, 0x0,
                                         0x1, 0x8, 0x9, 0xb, 0x5, 0xe, 0x4, 0x4};
  ASSERT_GE(rows.codes.size(), expected.size());
  EXPECT_EQ(std::vector<uint8_t>(rows.codes.begin(), rows.codes.begin() + 16), expected);
  // sparse=0.002 of 4096 columns: llround(8.192) = 8 residuals per row.
  EXPECT_EQ(rows.residuals.size(), 8u);
}

}  // namespace
}  // namespace sop

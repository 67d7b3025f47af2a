#include "model/tlm/scoreboard.h"

#include <string>

namespace sop::sysc {
namespace {

bool same_product_format(const golden::DecodeConfig& a, const golden::DecodeConfig& b) {
  return a.entry_format == b.entry_format && a.hif.bits() == b.hif.bits() && a.hif.bias == b.hif.bias &&
         a.scale == b.scale;
}

}  // namespace

void Scoreboard::expect_from(int64_t layer) {
  next_layer_ = layer;
  next_chunk_ = 0;
  for (; next_layer_ < static_cast<int64_t>(layers_.size()); ++next_layer_) {
    const auto [first, end] = unit_chunk_range(layers_[static_cast<std::size_t>(next_layer_)].chunk_count(),
                                               config_.unit_index, config_.units);
    if (first < end) {
      next_chunk_ = first;
      return;
    }
  }
}

Scoreboard::Scoreboard(const std::vector<PreparedLayer>& layers, const ScoreboardConfig& config)
    : layers_(layers), config_(config) {
  expect_from(0);
  // Errors are counted and displayed, not thrown: one run reports all of them.
  for (const char* id : {kReportMismatch, kReportOrder, kReportIncomplete}) {
    sc_core::sc_report_handler::set_actions(id, sc_core::SC_ERROR, sc_core::SC_DISPLAY | sc_core::SC_LOG);
  }
}

void Scoreboard::observe(const OutputChunk& out) {
  if (out.layer != next_layer_ || out.chunk != next_chunk_) {
    ++order_errors_;
    const std::string msg = "expected layer " + std::to_string(next_layer_) + " chunk " + std::to_string(next_chunk_) +
                            ", got layer " + std::to_string(out.layer) + " chunk " + std::to_string(out.chunk);
    SC_REPORT_ERROR(kReportOrder, msg.c_str());
    next_layer_ = out.layer;
    next_chunk_ = out.chunk;
  }
  if (next_layer_ >= 0 && next_layer_ < static_cast<int64_t>(layers_.size())) {
    const int64_t chunks = layers_[static_cast<std::size_t>(next_layer_)].chunk_count();
    if (++next_chunk_ >= unit_chunk_range(chunks, config_.unit_index, config_.units).second) expect_from(next_layer_ + 1);
  }
  if (!config_.check_values || out.values == nullptr || out.products == nullptr) return;

  const PreparedLayer& layer = layers_[static_cast<std::size_t>(out.layer)];
  const LayerSource& src = layer.source();
  const ChunkValues& v = *out.values;
  expected_ = golden::decode_stream(src.decode(), src.tables(), v.layer_blocks, v.rows.residuals);
  const bool bitwise = same_product_format(src.decode(), config_.unit);
  const auto& got = *out.products;
  std::size_t real = 0;
  for (std::size_t b = 0; b < v.layer_blocks.size(); ++b) {
    const std::size_t len = v.layer_blocks[b].codes.size();
    for (std::size_t i = 0; i < len; ++i, ++real) {
      const golden::Product& want = expected_[real];
      const golden::Product& have = got[v.block_offset[b] + i];
      ++checked_;
      const bool ok = bitwise ? have == want : golden::to_double(have) == golden::to_double(want);
      if (ok) continue;
      if (++mismatches_ <= static_cast<uint64_t>(config_.max_displayed)) {
        const std::string msg = src.name() + " chunk " + std::to_string(out.chunk) + " weight " + std::to_string(real) +
                                ": got mant " + std::to_string(have.mant) + " exp " + std::to_string(have.exp) +
                                ", golden mant " + std::to_string(want.mant) + " exp " + std::to_string(want.exp);
        SC_REPORT_ERROR(kReportMismatch, msg.c_str());
      }
    }
  }
}

void Scoreboard::finish() {
  if (!complete()) {
    const std::string msg = "the run ended at layer " + std::to_string(next_layer_) + " chunk " +
                            std::to_string(next_chunk_) + " of " + std::to_string(layers_.size()) + " layers";
    SC_REPORT_ERROR(kReportIncomplete, msg.c_str());
  }
}

}  // namespace sop::sysc

// Parsing JSON from files the tool did not write itself (checkpoint headers, pack sections,
// activation statistics, sweep records, tech tables). nlohmann's dump, copy and comparison recurse
// once per nesting level, so a hostile file nesting tens of thousands of levels overflows the stack;
// the parse here stops at kMaxJsonDepth before any such walk, and messages quote only an excerpt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace sop {

// Far deeper than any file the project reads (sweep records nest about 5 levels), far shallower than
// what overflows the stack.
constexpr int kMaxJsonDepth = 64;

// The longest excerpt of untrusted text (a JSON value, a parser message) an error message quotes.
constexpr std::size_t kMaxQuotedChars = 120;

// `text` cut to kMaxQuotedChars, marked when cut.
inline std::string quoted_excerpt(const std::string& text) {
  if (text.size() <= kMaxQuotedChars) return text;
  return text.substr(0, kMaxQuotedChars) + "... (" + std::to_string(text.size()) + " chars)";
}

// A value's JSON text for a message, cut to kMaxQuotedChars. Safe on values parsed here (bounded depth).
template <class Json>
std::string json_excerpt(const Json& value) {
  return quoted_excerpt(value.dump());
}

// A JSON value that must be an integer in [min, max] (max >= 0). nlohmann's get<int>() on 1e300 is
// a float-to-int overflow (undefined behaviour) and on 2^40 a silent wrap, so the stored type and the
// range are checked before converting. Throws sop::Error(file, field, ...) naming the range.
template <class Json>
int64_t json_integer(const Json& value, int64_t min, int64_t max, const std::string& file, const std::string& field) {
  const auto refuse = [&]() -> int64_t {
    throw Error(file, field,
                "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], not " +
                    json_excerpt(value));
  };
  if (value.is_number_unsigned()) {
    const uint64_t v = value.template get<uint64_t>();
    return v > static_cast<uint64_t>(max) ? refuse() : static_cast<int64_t>(v);
  }
  if (value.is_number_integer()) {
    const int64_t v = value.template get<int64_t>();
    return v < min || v > max ? refuse() : v;
  }
  return refuse();
}

// Parses [begin, end) as JSON of at most kMaxJsonDepth nested arrays/objects. On malformed or too
// deep input throws sop::Error(file, field, "<what> ...") quoting at most an excerpt of the parser's message.
template <class Json = nlohmann::json, class Iterator>
Json parse_untrusted_json(Iterator begin, Iterator end, const std::string& file, const std::string& field,
                          const std::string& what) {
  struct TooDeep {};
  // depth counts the containers enclosing the one starting: the top-level value starts at 0.
  const auto depth_limit = [](int depth, nlohmann::json::parse_event_t event, Json&) {
    const bool opens = event == nlohmann::json::parse_event_t::object_start ||
                       event == nlohmann::json::parse_event_t::array_start;
    if (opens && depth >= kMaxJsonDepth) throw TooDeep{};
    return true;
  };
  try {
    return Json::parse(begin, end, depth_limit);
  } catch (const TooDeep&) {
    throw Error(file, field, what + " nests arrays/objects deeper than the limit of " + std::to_string(kMaxJsonDepth) +
                                 " levels");
  } catch (const typename Json::exception& e) {
    throw Error(file, field, what + " is not valid JSON: " + quoted_excerpt(e.what()));
  }
}

template <class Json = nlohmann::json>
Json parse_untrusted_json(const std::string& text, const std::string& file, const std::string& field,
                          const std::string& what) {
  return parse_untrusted_json<Json>(text.begin(), text.end(), file, field, what);
}

}  // namespace sop

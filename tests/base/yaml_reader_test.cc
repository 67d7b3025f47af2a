// The one YAML reader: every error names the file, the key path and the line; numbers are finite;
// unknown and non-string keys are refused; the schema version is checked.
#include "base/yaml_reader.h"

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "base/error.h"
#include "tests/test_support.h"

namespace sop {
namespace {

using ::sop::testing::error_of;

TEST(YamlReader, TypedReadsAndDefaults) {
  const YamlReader r("cfg.yaml");
  const YAML::Node root = r.parse("a: 3\nb: 2.5\nc: true\nd: text\nlist: [1, 2, 3]\n");
  EXPECT_EQ(r.integer(root, "", "a", 0, 0, 10), 3);
  EXPECT_EQ(r.integer(root, "", "missing", 7, 0, 10), 7);
  EXPECT_DOUBLE_EQ(r.number(root, "", "b", 0, 0, 10), 2.5);
  EXPECT_TRUE(r.boolean(root, "", "c", false));
  EXPECT_EQ(r.string(root, "", "d", ""), "text");
  EXPECT_EQ(r.integer_list(root["list"], "list", 0, 9), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(r.number_list(root["b"], "b", 0, 9), (std::vector<double>{2.5}));  // a scalar is a list of one
}

TEST(YamlReader, ErrorsNameFileKeyAndLine) {
  const YamlReader r("hw.yaml");
  const YAML::Node root = r.parse("name: x\nunit:\n  lanes: 300\n  rate: abc\n");
  EXPECT_EQ(error_of([&] { r.integer(root["unit"], "unit", "lanes", 0, 1, 64); }),
            "hw.yaml: unit.lanes: 300 is out of range [1, 64] (line 3)");
  EXPECT_EQ(error_of([&] { r.number(root["unit"], "unit", "rate", 0, 0, 1); }),
            "hw.yaml: unit.rate: expected a number, got 'abc' (line 4)");
  EXPECT_EQ(error_of([&] { r.only_keys(root["unit"], "unit", {"lanes"}); }),
            "hw.yaml: unit.rate: unknown key (known here: lanes) (line 4)");
  EXPECT_EQ(error_of([&] { r.require_map(root["name"], ""); }),
            "hw.yaml: <top level>: expected a mapping of keys (line 1)");
}

TEST(YamlReader, RefusesNonFiniteNumbers) {
  const YamlReader r("t.yaml");
  const YAML::Node root = r.parse("clock: .inf\nnan: .nan\n");
  EXPECT_EQ(error_of([&] { r.number(root, "", "clock", 0, 0, 1e300); }),
            "t.yaml: clock: must be a finite number, got '.inf' (line 1)");
  EXPECT_NE(error_of([&] { r.number(root, "", "nan", 0, -1e300, 1e300); }).find("finite"), std::string::npos);
}

TEST(YamlReader, RefusesNonScalarKeysAndBadSyntax) {
  const YamlReader r("k.yaml");
  const YAML::Node root = r.parse("? [a, b]\n: 1\n");
  EXPECT_EQ(error_of([&] { r.only_keys(root, "", {"a"}); }), "k.yaml: <top level>: a key is not a plain string (line 1)");
  EXPECT_EQ(error_of([&] { r.parse("a: [1, 2\n"); }).rfind("k.yaml: not valid YAML: ", 0), 0u);
  EXPECT_TRUE(r.parse("").IsMap());  // an empty document is an empty mapping
}

TEST(YamlReader, SchemaVersion) {
  const YamlReader r("s.yaml");
  EXPECT_EQ(error_of([&] { r.check_schema_version(r.parse("schema_version: 1\n")); }), "");
  EXPECT_EQ(error_of([&] { r.check_schema_version(r.parse("x: 1\n")); }), "");
  EXPECT_EQ(error_of([&] { r.check_schema_version(r.parse("schema_version: 2\n")); }),
            "s.yaml: schema_version: version 2 is not supported (this sop reads version 1) (line 1)");
}

TEST(ReadTextFile, BoundedAndNamed) {
  const std::string path = ::testing::TempDir() + "/read_text_file.txt";
  {
    std::ofstream out(path, std::ios::binary);
    out << "0123456789";
  }
  EXPECT_EQ(read_text_file(path, "config"), "0123456789");
  EXPECT_EQ(error_of([&] { read_text_file(path, "config", 4); }),
            path + ": the config is 10 bytes, more than the 4 a file of this kind may have");
  EXPECT_EQ(error_of([&] { read_text_file(path + ".missing", "config"); }), path + ".missing: cannot open the config");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace sop

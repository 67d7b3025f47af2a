// Every YAML file the project ships carries `schema_version: 1`, and the base reader accepts it.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "base/text_file.h"
#include "base/yaml_reader.h"

namespace sop {
namespace {

TEST(ShippedConfigs, EveryYamlCarriesTheSchemaVersion) {
  namespace fs = std::filesystem;
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(SOP_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string path = entry.path().string();
    const YamlReader reader(path);
    const YAML::Node root = reader.parse(read_text_file(path, "config"));
    ASSERT_TRUE(root["schema_version"]) << path;
    EXPECT_EQ(reader.integer(root, "", "schema_version", 0, 0, 100), kYamlSchemaVersion) << path;
    EXPECT_NO_THROW(reader.check_schema_version(root)) << path;
    ++files;
  }
  EXPECT_GE(files, 12);  // 5 hw, 4 recipes, 1 tech, 3 sweeps at least
}

}  // namespace
}  // namespace sop

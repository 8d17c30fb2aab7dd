// Import of the reference's PyTorch checkpoints: the imported model's output equals the
// reference's own (computed by PyTorch when the fixtures were made) within 1e-4.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "ddpm/import.h"
#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/io/safetensors.h"
#include "ddpm/tensor_bytes.h"

namespace fs = std::filesystem;

namespace {

const std::string kFixtures = DDPM_SOURCE_DIR "/tests/fixtures/reference/";

std::map<std::string, torch::Tensor> read_io(const std::string& path) {
  const auto bytes = ddpm::io::read_file(path, 1 << 30);
  return ddpm::decode_tensors(ddpm::io::parse_safetensors(bytes.data(), bytes.size(), path), path);
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

void check_equivalence(const std::string& pt, const std::string& io, int image_size) {
  ddpm::ImportOptions o;
  o.image_size = image_size;
  ddpm::Model m = ddpm::import_reference_checkpoint(pt, o);
  const auto ref = read_io(io);
  torch::NoGradGuard ng;
  if (ref.count("y")) {
    EXPECT_LT(max_diff(m.unet->forward(ref.at("x"), ref.at("t"), ref.at("y")), ref.at("out")), 1e-4) << pt;
    EXPECT_LT(max_diff(m.unet->forward(ref.at("x"), ref.at("t")), ref.at("out_uncond")), 1e-4) << pt;
  } else {
    EXPECT_LT(max_diff(m.unet->forward(ref.at("x"), ref.at("t")), ref.at("out")), 1e-4) << pt;
  }
}

TEST(Import, ConditionalZipCheckpointMatchesPyTorch) {
  check_equivalence(kFixtures + "ref_w4_cond.pt", kFixtures + "ref_w4_cond_io.safetensors", 16);
  ddpm::ImportOptions o;
  o.image_size = 16;
  const ddpm::Model m = ddpm::import_reference_checkpoint(kFixtures + "ref_w4_cond.pt", o);
  EXPECT_EQ(m.info.unet.num_classes, 3);
  EXPECT_EQ(m.info.unet.base_channels, 4);
  EXPECT_EQ(m.info.class_names, (std::vector<std::string>{"class_0", "class_1", "class_2"}));
}

TEST(Import, UnconditionalZipCheckpointMatchesPyTorch) {
  check_equivalence(kFixtures + "ref_w4_uncond.pt", kFixtures + "ref_w4_uncond_io.safetensors", 16);
}

TEST(Import, LegacyCheckpointMatchesPyTorch) {
  check_equivalence(kFixtures + "ref_w4_cond_legacy.pt", kFixtures + "ref_w4_cond_legacy_io.safetensors", 16);
}

TEST(Import, WritesAModelFileThatLoadsToTheSameNetwork) {
  const fs::path out = fs::temp_directory_path() / ("ddpm_import_" + std::to_string(::getpid()) + ".safetensors");
  ddpm::ImportOptions o;
  o.image_size = 16;
  o.class_names = {"cats", "dogs", "birds"};
  ddpm::import_to_model_file(kFixtures + "ref_w4_cond.pt", out.string(), o);
  // load_model reads both formats: the model file and the .pt itself.
  ddpm::Model a = ddpm::load_model(out.string());
  EXPECT_EQ(a.info.class_names, o.class_names);
  const auto ref = read_io(kFixtures + "ref_w4_cond_io.safetensors");
  torch::NoGradGuard ng;
  EXPECT_LT(max_diff(a.unet->forward(ref.at("x"), ref.at("t"), ref.at("y")), ref.at("out")), 1e-4);
  o.class_names = {"only", "two"};
  try {
    ddpm::import_to_model_file(kFixtures + "ref_w4_cond.pt", out.string(), o);
    FAIL();
  } catch (const ddpm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 classes but 2 class names"), std::string::npos) << e.what();
  }
  fs::remove(out);
}

// The full-size seed64, generated on the fly where Debian's python3-torch is installed.
TEST(Import, FullSizeSeed64MatchesPyTorch) {
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3-torch is not installed";
  }
  const fs::path dir = fs::temp_directory_path() / ("ddpm_seed64_" + std::to_string(::getpid()));
  const std::string cmd = "cd " DDPM_SOURCE_DIR "/tests/fixtures && /usr/bin/python3 make_reference_fixtures.py " +
                          dir.string() + " --full > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  check_equivalence((dir / "seed64_cond.pt").string(), (dir / "seed64_cond_io.safetensors").string(), 64);
  check_equivalence((dir / "seed64_uncond.pt").string(), (dir / "seed64_uncond_io.safetensors").string(), 64);
  fs::remove_all(dir);
}

}  // namespace

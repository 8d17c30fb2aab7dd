// Model files: round trips in float32 and float16, the description, and bad files refused
// with messages naming the file and the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/io/png.h"
#include "ddpm/model_file.h"
#include "ddpm/tensor_bytes.h"

namespace fs = std::filesystem;

namespace {

ddpm::io::ModelInfo small_info() {
  ddpm::io::ModelInfo info;
  ddpm::UNetConfig& c = info.unet;
  c = ddpm::preset_sprite32(2);
  c.image_size = 16;
  c.base_channels = 8;
  c.channel_mult = {1, 2};
  c.attention_resolutions = {8};
  c.time_dim = 16;
  info.class_names = {"coins", "gems"};
  info.schedule.kind = ddpm::ScheduleKind::Cosine;
  info.schedule.timesteps = 500;
  info.variance = ddpm::Variance::PosteriorBeta;
  info.guidance = 4.5f;
  info.training_step = 1234;
  return info;
}

struct ModelFile : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / ("ddpm_model_" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  std::string load_error(const std::string& p) const {
    try {
      ddpm::load_model(p);
    } catch (const ddpm::Error& e) {
      return e.what();
    }
    return "loaded";
  }
};

torch::Tensor run(ddpm::Model& m) {
  torch::manual_seed(1);
  torch::NoGradGuard ng;
  const auto& c = m.info.unet;
  return m.unet->forward(torch::randn({2, c.in_channels, c.image_size, c.image_size}),
                         torch::tensor({3, 400}), torch::tensor({1, -1}));
}

TEST_F(ModelFile, Float32RoundTripIsBitIdentical) {
  torch::manual_seed(2);
  ddpm::Model m = ddpm::make_model(small_info());
  ddpm::save_model(path("m.safetensors"), m.unet, m.info);
  ddpm::Model back = ddpm::load_model(path("m.safetensors"));
  EXPECT_TRUE(torch::equal(run(m), run(back)));
  EXPECT_EQ(ddpm::io::to_json(back.info), ddpm::io::to_json(m.info));
  EXPECT_EQ(back.info.class_names, (std::vector<std::string>{"coins", "gems"}));
  EXPECT_EQ(back.schedule.timesteps(), 500);
  EXPECT_EQ(back.info.schedule.kind, ddpm::ScheduleKind::Cosine);
}

TEST_F(ModelFile, AlphaCutoffRoundTripsAndOlderFilesHaveNone) {
  ddpm::Model m = ddpm::make_model(small_info());
  EXPECT_EQ(ddpm::io::to_json(m.info).find("alpha_cutoff"), std::string::npos);  // older builds read it alike
  m.info.alpha_cutoff = 0.05f;
  ddpm::save_model(path("cut.safetensors"), m.unet, m.info);
  EXPECT_FLOAT_EQ(ddpm::load_model(path("cut.safetensors")).info.alpha_cutoff, 0.05f);

  ddpm::io::ModelInfo bad = m.info;
  bad.alpha_cutoff = 1.5f;
  EXPECT_THROW(bad.validate(), ddpm::Error);
  bad = m.info;
  bad.unet.in_channels = bad.unet.out_channels = 3;  // no alpha to cut
  try {
    bad.validate();
    ADD_FAILURE() << "a cutoff on a 3-channel model was accepted";
  } catch (const ddpm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("alpha_cutoff"), std::string::npos) << e.what();
  }
}

TEST_F(ModelFile, Float16HalvesTheFileWithinRounding) {
  torch::manual_seed(3);
  ddpm::Model m = ddpm::make_model(small_info());
  ddpm::save_model(path("f32.safetensors"), m.unet, m.info);
  ddpm::save_model(path("f16.safetensors"), m.unet, m.info, ddpm::WeightFormat::F16);
  const double ratio = double(fs::file_size(path("f16.safetensors"))) / fs::file_size(path("f32.safetensors"));
  EXPECT_GT(ratio, 0.45);
  EXPECT_LT(ratio, 0.6);
  ddpm::Model half = ddpm::load_model(path("f16.safetensors"));
  for (const auto& [name, w] : ddpm::state_dict(*m.unet)) {
    const auto h = ddpm::state_dict(*half.unet).at(name);
    EXPECT_TRUE(torch::allclose(h, w, /*rtol=*/1e-3, /*atol=*/1e-4)) << name;  // fp16: 11 bits
  }
  const torch::Tensor a = run(m), b = run(half);
  EXPECT_LT((a - b).abs().max().item<double>(), 2e-2 * a.abs().max().item<double>());
}

TEST_F(ModelFile, OverwriteIsAtomic) {
  ddpm::Model m = ddpm::make_model(small_info());
  const std::string p = path("m.safetensors");
  ddpm::save_model(p, m.unet, m.info);
  const auto before = ddpm::io::read_file(p, 1 << 30);
  // Saving with a description that does not fit the network fails and leaves the file alone.
  ddpm::io::ModelInfo wrong = m.info;
  wrong.unet.num_classes = 3;
  wrong.class_names.push_back("extra");
  EXPECT_THROW(ddpm::save_model(p, m.unet, wrong), ddpm::Error);
  EXPECT_EQ(ddpm::io::read_file(p, 1 << 30), before);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST_F(ModelFile, BadFilesNameTheFileAndTheProblem) {
  EXPECT_NE(load_error(path("nope.safetensors")).find("nope.safetensors"), std::string::npos)
      << load_error(path("nope.safetensors"));
  EXPECT_NE(load_error(dir.string()).find(dir.string()), std::string::npos) << load_error(dir.string());

  // A PNG renamed to .safetensors.
  ddpm::io::write_png(path("image.safetensors"), ddpm::io::Image(4, 4, 4));
  const std::string png = load_error(path("image.safetensors"));
  EXPECT_NE(png.find("not a model file"), std::string::npos) << png;

  // A valid safetensors file without a model description.
  const torch::Tensor w = torch::ones({2});
  ddpm::io::write_file_atomic(path("plain.safetensors"), ddpm::encode_tensors({{"w", w}}, {}));
  const std::string plain = load_error(path("plain.safetensors"));
  EXPECT_NE(plain.find("without a model description"), std::string::npos) << plain;

  // A description whose class count disagrees with its class names.
  ddpm::Model m = ddpm::make_model(small_info());
  std::vector<ddpm::TensorBytes> tensors;
  for (const auto& [name, v] : ddpm::state_dict(*m.unet)) tensors.emplace_back(name, v);
  ddpm::io::ModelInfo lying = m.info;
  lying.class_names.push_back("third");
  std::map<std::string, std::string> meta = {{ddpm::io::kModelKey, ddpm::io::to_json(lying)}};
  ddpm::io::write_file_atomic(path("lying.safetensors"), ddpm::encode_tensors(tensors, meta));
  const std::string lie = load_error(path("lying.safetensors"));
  EXPECT_NE(lie.find("class_names"), std::string::npos) << lie;
  EXPECT_NE(lie.find("lying.safetensors"), std::string::npos) << lie;

  // A description that is not JSON, and one with a missing field.
  meta[ddpm::io::kModelKey] = "{not json";
  ddpm::io::write_file_atomic(path("garbled.safetensors"), ddpm::encode_tensors(tensors, meta));
  EXPECT_NE(load_error(path("garbled.safetensors")).find("not valid JSON"), std::string::npos);
  meta[ddpm::io::kModelKey] = R"({"format_version": 1})";
  ddpm::io::write_file_atomic(path("partial.safetensors"), ddpm::encode_tensors(tensors, meta));
  EXPECT_NE(load_error(path("partial.safetensors")).find("field 'unet' is missing"), std::string::npos)
      << load_error(path("partial.safetensors"));

  // Weights that do not fit the description: a missing tensor, a wrong shape.
  meta[ddpm::io::kModelKey] = ddpm::io::to_json(m.info);
  auto fewer = tensors;
  fewer.pop_back();
  ddpm::io::write_file_atomic(path("fewer.safetensors"), ddpm::encode_tensors(fewer, meta));
  EXPECT_NE(load_error(path("fewer.safetensors")).find("lacks tensors"), std::string::npos);
  auto reshaped = tensors;
  reshaped[0].tensor = torch::zeros({1});
  ddpm::io::write_file_atomic(path("shape.safetensors"), ddpm::encode_tensors(reshaped, meta));
  EXPECT_NE(load_error(path("shape.safetensors")).find("has shape [1]"), std::string::npos)
      << load_error(path("shape.safetensors"));
}

}  // namespace

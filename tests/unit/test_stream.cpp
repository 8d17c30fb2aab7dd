// The stream batch against the batch sampler on a trained model: every finished image equals
// sample() for its seed, class and guidance (all four samplers, classes changing mid-stream,
// seed walks, image-to-image), steering of in-flight images, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "error_of.h"

#include "ddpm/sampler.h"
#include "ddpm/stream.h"
#include "trained_model.h"

namespace {

using ddpm::SamplerKind;

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Float32 kernels are not batch-invariant: oneDNN's convolutions and BLAS pick kernels by batch
// size (measured: a 3x3 convolution moves by 1.3e-6 between batch 1 and 5; an M=1 matrix
// product is a gemv), and a sampler's first steps amplify that by up to 1/sqrt(alpha_bar).
// The stream runs other batch sizes than a one-image sampler, so each frame's distance to
// sample() at batch 1 is compared with the sampler's own distance between batch 1 and the same
// image inside a batch of 8: the stream must be as close as the sampler is to itself.
ddpm::SampleOptions reference_options(const ddpm::StreamOptions& so, const ddpm::StreamEntry& e) {
  ddpm::SampleOptions o;
  o.batch = 1;
  o.sampler = so.sampler;
  o.steps = so.steps;
  o.spacing = so.spacing;
  o.eta = so.eta;
  o.clip_x0 = so.clip_x0;
  o.alpha_cutoff = so.alpha_cutoff;
  o.guidance_interval = so.guidance_interval;
  o.guidance = e.guidance;
  o.classes = {e.class_index};
  o.seed = e.seed;
  o.variation_seed = e.variation_seed;
  o.variation_strength = e.variation_strength;
  if (so.image_input) {
    o.init_image = e.init_image.unsqueeze(0);
    o.strength = so.strength;
  }
  return o;
}

// Runs `calls` calls with entry j from make_entry(j) and checks every finished image against
// sample() with the same settings. Returns the number of frames checked.
int check_against_sampler(ddpm::Model& m, const ddpm::StreamOptions& so, int calls,
                          const std::function<ddpm::StreamEntry(int)>& make_entry) {
  ddpm::Stream stream(m.unet, m.schedule, so);
  std::vector<ddpm::StreamEntry> entries;
  int checked = 0;
  double worst = 0, floor = 0;
  for (int j = 0; j < calls; ++j) {
    entries.push_back(make_entry(j));
    const auto f = stream.advance(entries.back());
    const bool expect_frame = j + 1 >= stream.latency();
    EXPECT_EQ(f.has_value(), expect_frame) << "call " << j + 1;
    if (!f) continue;
    const ddpm::StreamEntry& e = entries[static_cast<size_t>(f->entered_call - 1)];
    EXPECT_EQ(f->call - f->entered_call + 1, stream.latency());
    EXPECT_EQ(f->entry.class_index, e.class_index);
    ddpm::SampleOptions o = reference_options(so, e);
    const torch::Tensor alone = ddpm::sample(m.unet, m.schedule, o).images;
    o.batch = 8;
    o.seeds = {e.seed, 901, 902, 903, 904, 905, 906, 907};
    const torch::Tensor in_batch = ddpm::sample(m.unet, m.schedule, o).images.narrow(0, 0, 1);
    floor = std::max(floor, max_diff(alone, in_batch));
    worst = std::max(worst, max_diff(f->image, alone));
    ++checked;
  }
  EXPECT_LT(worst, 1e-5 + 3 * floor) << ddpm::to_string(so.sampler) << ": the sampler's own batch 1 vs 8 distance is "
                                     << floor;
  std::printf("%s: stream vs sample() %.2e, sample() batch 1 vs 8 %.2e\n", ddpm::to_string(so.sampler).c_str(),
              worst, floor);
  return checked;
}

TEST(Stream, EveryFinishedImageEqualsTheBatchSampler) {
  ddpm::Model m = ddpm::testing::trained_sample_model();
  for (SamplerKind kind : {SamplerKind::DDIM, SamplerKind::DPMSolverPP2M, SamplerKind::DDPM,
                           SamplerKind::EulerAncestral, SamplerKind::DPMSolverPP2MSDE}) {
    ddpm::StreamOptions so;
    so.sampler = kind;
    so.steps = 5;
    so.clip_x0 = true;
    // New seed per entry; the class switches from 0 to 2 at entry 4, guidance varies.
    const int checked = check_against_sampler(m, so, 11, [](int j) {
      ddpm::StreamEntry e;
      e.seed = 100 + static_cast<uint64_t>(j);
      e.class_index = j < 4 ? 0 : 2;
      e.guidance = j % 3 == 0 ? 1.0f : 2.5f;  // both batch shapes: with and without twins
      return e;
    });
    EXPECT_EQ(checked, 7);
  }
}

// Each stage gets the guidance of its own noise level: the batch mixes guided images with twins
// and conditional-only ones, and every frame is still the batch sampler's image.
TEST(Stream, GuidanceIntervalFollowsEachStage) {
  ddpm::Model m = ddpm::testing::trained_sample_model();
  ddpm::StreamOptions so;
  so.sampler = SamplerKind::DPMSolverPP2MSDE;
  so.steps = 6;
  so.clip_x0 = true;
  so.guidance_interval = {0.5f, 20.0f};
  const int checked = check_against_sampler(m, so, 9, [](int j) {
    ddpm::StreamEntry e;
    e.seed = 300 + static_cast<uint64_t>(j);
    e.class_index = j % 3;
    e.guidance = 3.0f;
    return e;
  });
  EXPECT_EQ(checked, 4);
}

TEST(Stream, SeedWalkAndUnconditionalEntriesMatchVariations) {
  ddpm::Model m = ddpm::testing::trained_sample_model();
  ddpm::StreamOptions so;
  so.steps = 4;
  const auto walk = [](int j) {
    ddpm::StreamEntry e;
    e.seed = 7;
    e.variation_seed = 8;
    e.variation_strength = static_cast<float>(j) / 8;
    e.class_index = j % 2 == 0 ? -1 : 1;
    return e;
  };
  EXPECT_EQ(check_against_sampler(m, so, 8, walk), 5);
  so.sampler = SamplerKind::DPMSolverPP2MSDE;  // the stream's default in the plugin
  EXPECT_EQ(check_against_sampler(m, so, 8, walk), 5);
}

TEST(Stream, ImageInputWithAFixedSeedGivesAFixedOutput) {
  ddpm::Model m = ddpm::testing::trained_sample_model();
  const torch::Tensor input = ddpm::testing::sample_assets_16().first[0];
  ddpm::StreamOptions so;
  so.steps = 10;
  so.image_input = true;
  so.strength = 0.4f;
  ddpm::Stream stream(m.unet, m.schedule, so);
  EXPECT_EQ(stream.latency(), 4);
  ddpm::StreamEntry e;
  e.seed = 3;
  e.class_index = 1;
  e.init_image = input;
  torch::Tensor first;
  for (int j = 0; j < 9; ++j) {
    const auto f = stream.advance(e);
    if (!f) continue;
    if (!first.defined()) {
      first = f->image;
      const auto r = ddpm::sample(m.unet, m.schedule, reference_options(so, e));
      EXPECT_LT(max_diff(first, r.images), 1e-5);
      EXPECT_GT(max_diff(first, input.unsqueeze(0)), 0.01) << "denoising changed nothing";
    } else {
      // Not bit-identical: the first frame ran in smaller batches during the warm-up (measured
      // 2.6e-6 apart, far below one 8-bit level).
      EXPECT_LT(max_diff(f->image, first), 1e-5) << "frame " << f->number;
    }
  }
}

TEST(Stream, InFlightSteeringReachesTheNextFrame) {
  ddpm::Model m = ddpm::testing::trained_sample_model();
  ddpm::StreamOptions so;
  so.steps = 6;
  const auto run = [&](bool apply) {
    ddpm::Stream stream(m.unet, m.schedule, so);
    ddpm::StreamEntry e;
    e.class_index = 0;
    std::optional<ddpm::StreamFrame> f;
    for (int j = 0; j < 8; ++j) {
      e.seed = static_cast<uint64_t>(j);
      if (j == 5) {
        e.class_index = 2;
        if (apply) stream.set_in_flight_class(2);
      }
      f = stream.advance(e);
    }
    return *f;  // frame 3, entered at call 3, before the change
  };
  const ddpm::StreamFrame kept = run(false), steered = run(true);
  EXPECT_EQ(kept.entered_call, 3);
  EXPECT_EQ(kept.entry.class_index, 0);
  EXPECT_EQ(steered.entry.class_index, 2);
  EXPECT_GT(max_diff(kept.image, steered.image), 1e-3);
}

TEST(Stream, BlendMixesThePreviousOutput) {
  ddpm::Model m = ddpm::testing::trained_sample_model();
  ddpm::StreamOptions so;
  so.steps = 2;
  so.blend = 0.75f;
  ddpm::Stream stream(m.unet, m.schedule, so);
  ddpm::StreamEntry e;
  e.class_index = 1;
  std::vector<ddpm::StreamFrame> frames;
  for (int j = 0; j < 4; ++j) {
    e.seed = static_cast<uint64_t>(j);
    if (auto f = stream.advance(e)) frames.push_back(*f);
  }
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_LT(max_diff(frames[0].output, frames[0].image), 1e-7);
  EXPECT_LT(max_diff(frames[1].output, 0.75 * frames[0].output + 0.25 * frames[1].image), 1e-6);
  EXPECT_LT(max_diff(frames[2].output, 0.75 * frames[1].output + 0.25 * frames[2].image), 1e-6);
}

TEST(Stream, FinishedFramesClearFaintAlphaAsJobsDo) {
  ddpm::Model m = ddpm::testing::trained_sample_model();
  ddpm::StreamOptions so;
  so.steps = 2;  // two stages: a rough image with alpha at every level
  so.alpha_cutoff = 0.5f;
  ddpm::Stream stream(m.unet, m.schedule, so);
  ddpm::StreamEntry e;
  int64_t cleared = 0;
  for (int j = 0; j < 6; ++j) {
    e.seed = static_cast<uint64_t>(j);
    const auto f = stream.advance(e);
    if (!f) continue;
    const torch::Tensor alpha = f->image.select(1, 3);
    const torch::Tensor clear = alpha.eq(-1).unsqueeze(1).expand_as(f->image);
    EXPECT_FALSE(torch::any(alpha.lt(0) & alpha.ne(-1)).item<bool>()) << "frame " << f->number;
    EXPECT_TRUE(torch::all(f->image.masked_select(clear) == -1).item<bool>());  // colour too
    cleared += clear.sum().item<int64_t>();
  }
  EXPECT_GT(cleared, 0);
}

TEST(Stream, BadInputIsRefusedByName) {
  using ddpm::testing::error_of;
  ddpm::Model m = ddpm::testing::trained_sample_model();
  ddpm::StreamOptions so;
  so.steps = 0;
  EXPECT_NE(error_of([&] { ddpm::Stream(m.unet, m.schedule, so); }).find("stream steps 0 is invalid"), std::string::npos);
  so.steps = 4;
  so.image_input = true;
  so.strength = 0;
  EXPECT_NE(error_of([&] { ddpm::Stream(m.unet, m.schedule, so); }).find("stream strength 0 is invalid"), std::string::npos);
  so.strength = 0.5f;
  so.blend = 2;
  EXPECT_NE(error_of([&] { ddpm::Stream(m.unet, m.schedule, so); }).find("blend 2 is invalid"), std::string::npos);
  so.blend = 0;
  ddpm::Stream stream(m.unet, m.schedule, so);
  ddpm::StreamEntry e;
  EXPECT_NE(error_of([&] { stream.advance(e); }).find("no input image"), std::string::npos);
  e.init_image = torch::zeros({4, 8, 8});
  EXPECT_NE(error_of([&] { stream.advance(e); }).find("expected [4, 16, 16]"), std::string::npos);
  e.init_image = torch::zeros({4, 16, 16});
  e.class_index = 3;
  EXPECT_NE(error_of([&] { stream.advance(e); }).find("class 3 is out of range: allowed -1 (none) to 2"), std::string::npos);
  e.class_index = 0;
  e.guidance = -1;
  EXPECT_NE(error_of([&] { stream.advance(e); }).find("guidance scale -1 is invalid"), std::string::npos);
  EXPECT_EQ(stream.calls(), 0) << "a refused entry must not count as a call";
  EXPECT_NE(error_of([&] { stream.set_in_flight_class(7); }).find("class 7 is out of range"), std::string::npos);
}

}  // namespace

#pragma once
// A stream batch: n images in flight, each at its own stage of a fast sampler's schedule. One
// call enters a new image, advances every image by one stage in ONE batched forward (guided
// images carry their unconditional twins in the same batch), and the image that made its last
// stage leaves. After a warm-up of n calls every call finishes one image, and each finished
// image equals what sample() gives for the same seed, class, guidance and steps: every slot
// keeps its own noise generator (drawn at the same points as the batch sampler) and its own
// DPM-Solver++ history, and the update is the same steps::denoise.
#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "ddpm/noise.h"
#include "ddpm/sampler.h"
#include "ddpm/sampler_steps.h"
#include "ddpm/schedule.h"
#include "ddpm/unet.h"

namespace ddpm {

struct StreamOptions {
  SamplerKind sampler = SamplerKind::DDIM;
  int steps = 8;  // the schedule's stages (the batch sampler's `steps`)
  Spacing spacing = Spacing::Trailing;
  float eta = 0.0f;
  Variance variance = Variance::Beta;
  float guidance_rescale = 0.0f;
  GuidanceInterval guidance_interval;  // as SampleOptions::guidance_interval, per stage
  bool clip_x0 = false;
  bool first_order = false;  // as SampleOptions::first_order
  bool tiling = false;
  // Image-to-image: every entry brings an init image and runs only the last
  // round(strength * steps) stages (at least 1), as sample() does with init_image.
  bool image_input = false;
  float strength = 1.0f;
  float blend = 0.0f;  // output = blend * previous output + (1 - blend) * finished image
  float alpha_cutoff = -1.0f;  // as SampleOptions::alpha_cutoff, on each finished image
};

// What an entering image gets: its starting noise is
// slerp(noise(seed), noise(variation_seed), variation_strength), as in SampleOptions.
struct StreamEntry {
  int64_t class_index = -1;
  float guidance = 3.0f;
  uint64_t seed = 0;
  uint64_t variation_seed = 0;
  float variation_strength = 0.0f;
  torch::Tensor init_image;  // image-input streams: [C, H, W] or [1, C, H, W] in [-1, 1]
};

struct StreamFrame {
  torch::Tensor image;    // [1, C, H, W] the finished image, about [-1, 1]
  torch::Tensor output;   // the same blended over the previous output
  int64_t number = 0;     // 1-based count of finished images
  int64_t call = 0;       // the call (1-based) that finished it
  int64_t entered_call = 0;
  StreamEntry entry;      // as it finished (class and guidance may have been changed in flight)
};

struct StreamSlot {
  int stage;            // stages done
  int64_t t;            // the timestep it is at now
  int64_t class_index;
  torch::Tensor x0;     // the latest clean-image estimate ([1, C, H, W]; undefined before)
};

class Stream {
 public:
  // Throws ddpm::Error naming the bad option.
  Stream(UNet model, NoiseSchedule schedule, StreamOptions options);

  const StreamOptions& options() const { return options_; }
  // Calls from an image's entry to its output: the stages each image runs.
  int latency() const { return stages_; }
  int in_flight() const { return static_cast<int>(slots_.size()); }
  int64_t calls() const { return calls_; }
  int64_t frames() const { return frames_; }

  // Enters `entry`, advances all in flight by one stage; returns the image that finished.
  // Throws ddpm::Error on a bad entry (class out of range, negative guidance, missing init image).
  std::optional<StreamFrame> advance(const StreamEntry& entry);

  // Steering of the images already in flight (from their next stage on).
  void set_in_flight_class(int64_t class_index);
  void set_in_flight_guidance(float guidance);
  void set_blend(float blend);

  // The images in flight, most advanced first.
  std::vector<StreamSlot> slots() const;

 private:
  void check_entry(const StreamEntry& entry) const;

  struct Slot {
    int stage = 0;  // stages done; the next stage uses timestep index first_ - stage
    StreamEntry entry;
    NoiseSource noise;
    steps::DpmSolverPP2M dpm;
    torch::Tensor x, x0;
    int64_t entered_call = 0;
  };
  double ab_at(int i) const { return i < 0 ? 1.0 : ab_[static_cast<size_t>(i)]; }

  UNet model_;
  NoiseSchedule schedule_;
  StreamOptions options_;
  steps::Rule rule_;
  std::vector<int64_t> ts_;  // visited timesteps, increasing
  std::vector<double> ab_;   // alpha_bar at each visited timestep
  int first_ = 0;            // index into ts_ of an entering image's first stage
  int stages_ = 0;
  std::vector<int64_t> shape_;  // [C, H, W]
  torch::Device device_;
  std::vector<Slot> slots_;     // oldest (most advanced) first
  torch::Tensor previous_output_;
  int64_t calls_ = 0, frames_ = 0;
};

}  // namespace ddpm

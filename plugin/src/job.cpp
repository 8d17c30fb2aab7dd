// Generation jobs: parameters to ddpm::SampleOptions, one worker thread per job.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "ddpm/guidance.h"
#include "ddpm/io/error.h"
#include "ddpm/model_sampling.h"
#include "ddpm/runtime.h"
#include "ddpm/sampler.h"
#include "convert.h"
#include "internal.h"

struct ddpm_job : ddpm_plugin::WorkerJob {
  std::shared_ptr<const ddpm::Model> model;  // keeps the model alive while the job exists
  ddpm::SampleOptions options;
  ddpm_step_fn callback = nullptr;
  void* user_data = nullptr;
  int preview_every = 1;
  bool preview_x0 = false;
  int threads = 0;  // intra-op threads of the worker (0: the process-wide count)
  int width = 0, height = 0, channels = 0, batch = 0, total = 0;

  // Guarded by `mutex`:
  std::vector<float> frame;  // latest preview, BHWC in [0, 1]
  int frame_step = 0;
  int steps_done = 0;
  torch::Tensor result;  // [B, C, H, W] in [-1, 1], CPU, when finished with OK
};

namespace ddpm_plugin {
namespace {

// The first published ddpm_generate_params ended before the init image fields; smaller
// structs are rejected, larger ones (from newer headers) accepted up to kMaxParamsStructSize.
constexpr size_t kMinParamsSize = offsetof(ddpm_generate_params, init_image_f32);

// The library's defaults, struct_size = the library's sizeof.
void fill_generate_defaults(ddpm_generate_params& p) {
  std::memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.batch = 1;
  p.class_index = -1;
  p.guidance = 3.0f;
  p.sampler = DDPM_SAMPLER_AUTO;  // a distilled model's own, else DPM-Solver++ 2M SDE
  p.steps = 0;  // the model's: its distilled step count, else the sampler's default_steps
  p.eta = 0.0f;
  p.seed = 0;
  p.preview_every = 1;
  p.strength = 0.75f;
  p.clip_x0 = 1;
  p.guidance_min_sigma = -1.0f;  // the sampler's (default_guidance_interval)
  p.guidance_max_sigma = -1.0f;
  p.alpha_cutoff = -1.0f;  // the model's (ddpm_model_info_json "alpha_cutoff")
}

// Builds the options; returns OK or a status with its message set.
ddpm_status make_options(const ddpm::Model& model, const ddpm_generate_params& p,
                         ddpm::SampleOptions& o) {
  const auto& cfg = model.info.unet;
  const int T = model.info.schedule.timesteps;
  if (p.batch < 1 || p.batch > 4096) {
    return fail(DDPM_ERR_OUT_OF_RANGE,
                "batch " + std::to_string(p.batch) + " is out of range: allowed 1 to 4096");
  }
  o.batch = p.batch;
  if (p.classes) {
    if (p.class_count != 1 && p.class_count != size_t(p.batch)) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, std::to_string(p.class_count) +
                                                 " classes given for a batch of " +
                                                 std::to_string(p.batch) + ": give 1 or one per image");
    }
    o.classes.assign(p.classes, p.classes + p.class_count);
  } else if (p.class_count != 0) {
    return fail(DDPM_ERR_INVALID_ARGUMENT, "class_count is " + std::to_string(p.class_count) +
                                               " but classes is NULL");
  } else if (p.class_index != -1) {
    o.classes = {p.class_index};
  }
  for (int64_t c : o.classes) {
    if (const ddpm_status st = check_class_index(c, cfg.num_classes); st != DDPM_OK) return st;
  }
  o.guidance = p.guidance;
  // The default, measured best on the default model (tests/bench/NOTES.md, "The logsnr
  // timestep grid"): DPM-Solver++ 2M SDE on the logsnr grid beat 20 trailing steps, and DDIM's
  // 25, in accuracy and distance; its count (default_steps) is 10 since "Ten steps".
  o.sampler = sampler_kind(p.sampler, p.sampler_name, model.info, ddpm::SamplerKind::DPMSolverPP2MSDE);
  if (p.steps < 0 || p.steps > T) {
    return fail(DDPM_ERR_OUT_OF_RANGE, "steps " + std::to_string(p.steps) +
                                           " is out of range: allowed 1 to " + std::to_string(T) +
                                           ", or 0 for the model's default");
  }
  o.steps = p.steps == 0 && !model.info.distilled() ? ddpm::default_steps(o.sampler, T) : p.steps;
  o.eta = p.eta;
  o.seed = p.seed;
  o.tiling = p.tiling != 0;
  o.variance = model.info.variance;
  if (p.preview_every < 0) {
    return fail(DDPM_ERR_OUT_OF_RANGE, "preview_every " + std::to_string(p.preview_every) +
                                           " is out of range: allowed 0 (none) or more");
  }
  if (p.struct_size > kMinParamsSize && !(p.strength >= 0 && p.strength <= 1)) {
    return fail(DDPM_ERR_OUT_OF_RANGE,
                "strength " + ddpm::number_text(p.strength) + " is out of range: allowed 0 to 1");
  }
  if (p.struct_size > kMinParamsSize) {  // the image-to-image extension
    if (p.init_image_f32 && p.init_image_rgba8) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, "give init_image_f32 or init_image_rgba8, not both");
    }
    const bool has_init = p.init_image_f32 || p.init_image_rgba8;
    if (p.mask && !has_init) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, "an inpainting mask needs an init image");
    }
    if (has_init) {
      if (p.init_width < 1 || p.init_height < 1 || p.init_width > 16384 || p.init_height > 16384) {
        return fail(DDPM_ERR_OUT_OF_RANGE,
                    "init image size " + std::to_string(p.init_width) + "x" +
                        std::to_string(p.init_height) + " is out of range: allowed 1 to 16384");
      }
      const int64_t w = p.init_width, h = p.init_height;
      o.init_image = rgba_input(p.init_image_f32, p.init_image_rgba8, w, h, cfg.in_channels);
      o.strength = p.strength;
      if (p.mask) {
        o.mask = torch::from_blob(const_cast<uint8_t*>(p.mask), {1, 1, h, w}, torch::kUInt8)
                     .to(torch::kFloat32)
                     .div(255);
      }
    }
  }
  // Fields past the caller's struct_size hold their defaults (copied over by the caller).
  o.variation_seed = p.variation_seed;
  o.variation_strength = p.variation_strength;
  o.guidance_rescale = p.guidance_rescale;
  o.guidance_interval = guidance_interval(p.guidance_min_sigma, p.guidance_max_sigma, o.sampler);
  o.clip_x0 = p.clip_x0 != 0;
  o.alpha_cutoff = p.alpha_cutoff;
  // NULL: the measured best for the sampler and step count (fit_to_model warns when a named
  // one does not suit a distilled model).
  o.spacing = p.spacing ? ddpm::spacing_from_string(p.spacing)
                        : ddpm::default_spacing(model.info, o.sampler, o.steps);
  if (const ddpm_status t = check_threads(p.threads); t != DDPM_OK) return t;
  // A distilled model's sampler and steps, a guidance-input model's range (throws on a bad scale).
  for (const auto& w : ddpm::fit_to_model(o, model.info)) log(DDPM_LOG_WARN, w);
  ddpm::validate(o, cfg, T);  // the core's checks; throws ddpm::Error -> INVALID_ARGUMENT
  return DDPM_OK;
}

void run_job(ddpm_job* job) noexcept {
  { std::lock_guard<std::mutex> lock(job->mutex); }  // until the starter set worker_id
  ddpm_status status = DDPM_OK;
  std::string message;
  torch::Tensor result;
  try {
    if (job->cancel.load()) {
      status = DDPM_ERR_CANCELLED;
      message = "job cancelled before it started";
    } else {
      // The job's cores go to its forwards; its own arithmetic runs on one thread (runtime.h).
      const int budget = ddpm::set_worker_threads(job->threads);
      log(DDPM_LOG_DEBUG, "job: up to " + std::to_string(budget) + " CPU thread" + (budget == 1 ? "" : "s"));
      const ddpm::Model& model = *job->model;
      auto& unet = const_cast<ddpm::UNet&>(model.unet);  // forward only: reentrant
      const auto& o = job->options;
      const ddpm::NoisePredictor predict = ddpm::guided_predictor(unet, model.schedule, o);
      std::vector<float> frame;
      const ddpm::StepObserver observer = [&](const ddpm::StepView& v) {
        const bool preview = job->preview_every > 0 &&
                             (v.step % job->preview_every == 0 || v.step == v.total);
        if (preview) frame = to_frame(job->preview_x0 ? v.x0 : v.x);
        {
          std::lock_guard<std::mutex> lock(job->mutex);
          job->steps_done = v.step;
          job->total = v.total;
          if (preview) {
            job->frame = frame;
            job->frame_step = v.step;
          }
        }
        if (job->callback) {
          job->callback(job, v.step, v.total, preview ? frame.data() : nullptr, job->width,
                        job->height, job->channels, job->batch, job->user_data);
        }
      };
      const auto& cfg = model.info.unet;
      ddpm::SampleResult r =
          ddpm::sample(predict, model.schedule, o, {cfg.in_channels, cfg.image_size, cfg.image_size},
                       model_device(model), observer, &job->cancel);
      for (const auto& w : r.warnings) log(DDPM_LOG_WARN, w);
      if (r.cancelled) {
        status = DDPM_ERR_CANCELLED;
        message = "job cancelled after " + std::to_string(r.steps_done) + " steps";
      } else {
        result = r.images.detach().to(torch::kCPU, torch::kFloat32).contiguous();
      }
    }
  } catch (...) {
    status = status_from_exception(DDPM_ERR_INVALID_ARGUMENT, &message);
    log(DDPM_LOG_ERROR, message);
  }
  std::unique_lock<std::mutex> lock(job->mutex);
  job->result = std::move(result);
  job->finish(lock, status, std::move(message));
}

// OK when the job finished successfully; else its status with the message set.
ddpm_status finished_status(ddpm_job* job, std::unique_lock<std::mutex>&) {
  if (!job->finished) return fail(DDPM_ERR_NOT_READY, "the job has not finished yet");
  if (job->status != DDPM_OK) return fail(job->status, job->message);
  return DDPM_OK;
}

}  // namespace
}  // namespace ddpm_plugin

using namespace ddpm_plugin;

extern "C" {

DDPM_API ddpm_status ddpm_generate_params_init(ddpm_generate_params* params, size_t struct_size) {
  return init_params(params, struct_size, kMinParamsSize, "ddpm_generate_params_init",
                     fill_generate_defaults);
}

DDPM_API ddpm_status ddpm_generate_start(ddpm_model* model, const ddpm_generate_params* params,
                                         ddpm_step_fn callback, void* user_data, ddpm_job** out) {
  if (out) *out = nullptr;
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (!model) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_generate_start: model is NULL");
    if (!params) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_generate_start: params is NULL");
    if (!out) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_generate_start: out is NULL");
    ddpm_generate_params p;
    const ddpm_status read = read_params(*params, kMinParamsSize, "ddpm_generate_params_init", fill_generate_defaults, p);
    if (read != DDPM_OK) return read;

    auto job = std::make_unique<ddpm_job>();
    job->model = model->model;
    const ddpm_status s = make_options(*job->model, p, job->options);
    if (s != DDPM_OK) return s;
    const auto& cfg = job->model->info.unet;
    job->callback = callback;
    job->user_data = user_data;
    job->preview_every = p.preview_every;
    job->preview_x0 = p.preview_x0 != 0;
    job->threads = p.threads != 0 ? p.threads : model->threads;
    job->width = job->height = cfg.image_size;
    job->channels = cfg.in_channels;
    job->batch = p.batch;
    job->total = job->options.init_image.defined() && !job->options.mask.defined()
                     ? std::max(0, int(std::lround(job->options.strength * p.steps)))
                     : p.steps;
    ddpm_job* raw = job.get();
    {
      std::lock_guard<std::mutex> lock(job->mutex);  // the worker waits for worker_id
      job->worker = std::thread(run_job, raw);
      job->worker_id = job->worker.get_id();
    }
    *out = job.release();
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_job_get_shape(const ddpm_job* job, int* width, int* height,
                                        int* channels, int* batch) {
  clear_error();
  if (!job) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_job_get_shape: job is NULL");
  if (width) *width = job->width;
  if (height) *height = job->height;
  if (channels) *channels = job->channels;
  if (batch) *batch = job->batch;
  return DDPM_OK;
}

DDPM_API ddpm_status ddpm_job_poll(ddpm_job* job, float* buffer, size_t buffer_floats, int* step,
                                   int* total) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (!job) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_job_poll: job is NULL");
    std::lock_guard<std::mutex> lock(job->mutex);
    if (step) *step = job->frame_step;
    if (total) *total = job->total;
    if (buffer) {
      const size_t need = size_t(job->batch) * job->width * job->height * job->channels;
      if (buffer_floats < need) {
        return fail(DDPM_ERR_BUFFER_TOO_SMALL, "poll buffer holds " + std::to_string(buffer_floats) +
                                                   " floats: need " + std::to_string(need));
      }
      if (job->frame.empty()) {
        std::fill(buffer, buffer + need, 0.0f);
      } else {
        std::copy(job->frame.begin(), job->frame.end(), buffer);
      }
    }
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_job_cancel(ddpm_job* job) {
  clear_error();
  if (!job) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_job_cancel: job is NULL");
  job->cancel.store(true);
  return DDPM_OK;
}

DDPM_API ddpm_status ddpm_job_wait(ddpm_job* job, int timeout_ms) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (!job) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_job_wait: job is NULL");
    std::unique_lock<std::mutex> lock(job->mutex);
    const ddpm_status waited = job->wait(lock, timeout_ms, "ddpm_job_wait");
    return waited != DDPM_OK ? waited : finished_status(job, lock);
  });
}

DDPM_API ddpm_status ddpm_job_result_rgba8(ddpm_job* job, uint8_t* buffer, size_t buffer_bytes) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (!job) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_job_result_rgba8: job is NULL");
    if (!buffer) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_job_result_rgba8: buffer is NULL");
    std::unique_lock<std::mutex> lock(job->mutex);
    const ddpm_status s = finished_status(job, lock);
    if (s != DDPM_OK) return s;
    const size_t need = size_t(job->batch) * job->width * job->height * 4;
    if (buffer_bytes < need) {
      return fail(DDPM_ERR_BUFFER_TOO_SMALL, "result buffer holds " + std::to_string(buffer_bytes) +
                                                 " bytes: need " + std::to_string(need));
    }
    const std::vector<uint8_t> bytes = to_rgba8(job->result);
    std::memcpy(buffer, bytes.data(), need);
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_job_result_f32(ddpm_job* job, float* buffer, size_t buffer_floats) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (!job) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_job_result_f32: job is NULL");
    if (!buffer) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_job_result_f32: buffer is NULL");
    std::unique_lock<std::mutex> lock(job->mutex);
    const ddpm_status s = finished_status(job, lock);
    if (s != DDPM_OK) return s;
    const size_t need = size_t(job->batch) * job->width * job->height * job->channels;
    if (buffer_floats < need) {
      return fail(DDPM_ERR_BUFFER_TOO_SMALL, "result buffer holds " + std::to_string(buffer_floats) +
                                                 " floats: need " + std::to_string(need));
    }
    const std::vector<float> f = to_frame(job->result);
    std::copy(f.begin(), f.end(), buffer);
    return DDPM_OK;
  });
}

DDPM_API void ddpm_job_free(ddpm_job* job) {
  if (job && job->stop("ddpm_job_free")) delete job;
}

}  // extern "C"

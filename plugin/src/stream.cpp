// Live streams: ddpm::Stream behind the C ABI, with steering that never waits for a network
// call (values are handed over under a small lock and applied at the start of the next call).
// Every network call of a stream runs on the stream's own thread, also those asked for with
// ddpm_stream_advance, so the OpenMP team that serves it stays the same and warm whatever
// thread the engine calls from. Measured while another process kept one of the two cores busy:
// calls made directly on a Python main thread took 1.3 s against 62 ms from a second thread of
// the same process (emoji32, 4 stages); through the stream's thread, 59 ms from either.
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <optional>
#include <unordered_set>
#include <utility>

#include "convert.h"
#include "ddpm/io/error.h"
#include "ddpm/model_sampling.h"
#include "ddpm/runtime.h"
#include "ddpm/stream.h"
#include "internal.h"

using Clock = std::chrono::steady_clock;

struct ddpm_stream {
  std::shared_ptr<const ddpm::Model> model;
  int size = 0, channels = 0;
  bool image_input = false;
  bool resize_said = false;  // the input size warning is given once per stream

  std::mutex advance_mutex;  // one advance at a time; guards `core`
  std::unique_ptr<ddpm::Stream> core;

  std::mutex control_mutex;  // guards the steering values below
  int64_t class_index = -1;
  float guidance = 3.0f;
  int seed_path = DDPM_SEED_WALK;
  uint64_t seed = 0;
  int period = 32;
  int64_t path_entries = 0;  // entries since the seed path was set
  torch::Tensor input;       // image-input streams: [C, H, W] in [-1, 1]
  std::optional<int64_t> inflight_class;
  std::optional<float> inflight_guidance, blend;

  std::mutex frame_mutex;  // guards the published results below
  torch::Tensor output;    // latest output frame [1, C, H, W]
  ddpm_stream_frame info{};
  std::vector<torch::Tensor> slots;
  int64_t calls = 0, frames = 0;
  int in_flight = 0;
  double last_call_ms = 0;
  std::deque<Clock::time_point> call_times;  // the last second's calls

  std::mutex worker_mutex;  // guards the worker's state below
  std::condition_variable worker_cv;  // wakes the worker
  std::condition_variable done_cv;    // wakes callers waiting for it
  std::thread worker;
  int threads = 0;  // its intra-op threads (0: the process-wide count)
  bool stop = false;      // close: the worker ends
  bool running = false;   // ddpm_stream_run: the worker advances by itself
  bool busy = false;      // a call of the worker is in progress
  float target_fps = 0;
  ddpm_status worker_status = DDPM_OK;  // why the running worker stopped on its own
  std::string worker_message;
  // One ddpm_stream_advance handed to the worker.
  bool request = false, request_done = false, request_ready = false;
  ddpm_status request_status = DDPM_OK;
  std::string request_message;
};

namespace ddpm_plugin {
namespace {

// The first published ddpm_stream_params ended before `threads`; smaller structs are rejected,
// larger ones (from newer headers) accepted up to kMaxParamsStructSize.
constexpr size_t kMinStreamParamsSize = offsetof(ddpm_stream_params, threads);

// The open streams: a call on a closed one (or on any other pointer) is refused by name instead
// of touching freed memory, and closing twice is harmless.
std::mutex g_streams_mutex;
std::unordered_set<const ddpm_stream*> g_streams;

ddpm_status check_stream(const ddpm_stream* s, const char* what) {
  if (!s) return fail(DDPM_ERR_INVALID_ARGUMENT, std::string(what) + ": stream is NULL");
  std::lock_guard<std::mutex> lock(g_streams_mutex);
  if (!g_streams.count(s)) {
    return fail(DDPM_ERR_INVALID_ARGUMENT,
                std::string(what) + ": the stream is not open (closed already, or not from ddpm_stream_open)");
  }
  return DDPM_OK;
}
constexpr int kMaxStreamSteps = 256;

void fill_stream_defaults(ddpm_stream_params& p) {
  std::memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.sampler = DDPM_SAMPLER_AUTO;  // a distilled model's own, else DPM-Solver++ 2M SDE
  p.steps = 0;  // the model's: its distilled step count, else 8
  p.class_index = -1;
  p.guidance = 3.0f;
  p.seed_path = DDPM_SEED_WALK;
  p.seed_period = 32;
  p.strength = 0.5f;
  p.clip_x0 = 1;
  p.guidance_min_sigma = -1.0f;  // the sampler's (default_guidance_interval)
  p.guidance_max_sigma = -1.0f;
}

ddpm_status check_class(const ddpm_stream* s, int64_t c) {
  return check_class_index(c, s->model->info.unet.num_classes);
}

ddpm_status check_seed_path(int path, int period) {
  if (path < DDPM_SEED_FIXED || path > DDPM_SEED_NEW) {
    return fail(DDPM_ERR_INVALID_ARGUMENT, "seed path " + std::to_string(path) +
                                               " is unknown: allowed 0 (fixed), 1 (walk), 2 (new)");
  }
  if (period < 1) {
    return fail(DDPM_ERR_OUT_OF_RANGE,
                "seed period " + std::to_string(period) + " is out of range: allowed 1 or more");
  }
  return DDPM_OK;
}

// The entry of the next image and the in-flight changes to apply, taken under the control lock.
ddpm_status take_entry(ddpm_stream* s, ddpm::StreamEntry& e, std::optional<int64_t>& cls,
                       std::optional<float>& guidance, std::optional<float>& blend) {
  std::lock_guard<std::mutex> lock(s->control_mutex);
  if (s->image_input && !s->input.defined()) {
    return fail(DDPM_ERR_NOT_READY, "this image-to-image stream has no input yet: call ddpm_stream_push_input first");
  }
  e.class_index = s->class_index;
  e.guidance = s->guidance;
  e.init_image = s->input;
  const uint64_t j = static_cast<uint64_t>(s->path_entries++);
  switch (s->seed_path) {
    case DDPM_SEED_FIXED: e.seed = s->seed; break;
    case DDPM_SEED_NEW: e.seed = s->seed + j; break;
    default: {  // walk: from keyframe seed + k towards seed + k + 1
      const uint64_t p = static_cast<uint64_t>(s->period);
      e.seed = s->seed + j / p;
      e.variation_seed = e.seed + 1;
      e.variation_strength = static_cast<float>(j % p) / static_cast<float>(p);
    }
  }
  cls.swap(s->inflight_class);
  guidance.swap(s->inflight_guidance);
  blend.swap(s->blend);
  return DDPM_OK;
}

// One call of the stream; publishes the frame and the slots.
ddpm_status advance_once(ddpm_stream* s, bool* frame_ready) {
  ddpm::StreamEntry entry;
  std::optional<int64_t> cls;
  std::optional<float> guidance, blend;
  const ddpm_status taken = take_entry(s, entry, cls, guidance, blend);
  if (taken != DDPM_OK) return taken;
  std::lock_guard<std::mutex> lock(s->advance_mutex);
  const auto start = Clock::now();
  if (cls) s->core->set_in_flight_class(*cls);
  if (guidance) s->core->set_in_flight_guidance(*guidance);
  if (blend) s->core->set_blend(*blend);
  std::optional<ddpm::StreamFrame> f = s->core->advance(entry);
  std::vector<torch::Tensor> slots;
  for (const auto& slot : s->core->slots()) slots.push_back(slot.x0);
  const auto end = Clock::now();

  std::lock_guard<std::mutex> out(s->frame_mutex);
  s->calls = s->core->calls();
  s->frames = s->core->frames();
  s->in_flight = s->core->in_flight();
  s->last_call_ms = std::chrono::duration<double, std::milli>(end - start).count();
  s->call_times.push_back(end);
  while (!s->call_times.empty() && end - s->call_times.front() > std::chrono::seconds(1)) {
    s->call_times.pop_front();
  }
  s->slots = std::move(slots);
  if (frame_ready) *frame_ready = f.has_value();
  if (f) {
    s->output = f->output;
    ddpm_stream_frame& i = s->info;
    i.struct_size = sizeof i;
    i.number = f->number;
    i.call = f->call;
    i.entered_call = f->entered_call;
    i.latency_calls = static_cast<int>(f->call - f->entered_call + 1);
    i.class_index = static_cast<int>(f->entry.class_index);
    i.guidance = f->entry.guidance;
    i.seed = f->entry.seed;
  }
  return DDPM_OK;
}

// One call on the worker thread: its status, and the message of a failure.
ddpm_status worker_call(ddpm_stream* s, bool* ready, std::string& message) noexcept {
  try {
    const ddpm_status status = advance_once(s, ready);
    if (status != DDPM_OK) message = ddpm_last_error();
    return status;
  } catch (...) {
    return status_from_exception(DDPM_ERR_INVALID_ARGUMENT, &message);
  }
}

// The stream's thread: serves ddpm_stream_advance requests, and while running advances by
// itself as fast as it can or on the schedule of target_fps.
void run_worker(ddpm_stream* s) noexcept {
  try {
    // The stream's cores go to its forwards; its own arithmetic runs on one thread (runtime.h).
    const int budget = ddpm::set_worker_threads(s->threads);
    log(DDPM_LOG_DEBUG, "stream: up to " + std::to_string(budget) + " CPU thread" + (budget == 1 ? "" : "s"));
  } catch (...) {
    log(DDPM_LOG_WARN, "stream worker: could not set its thread count");
  }
  std::unique_lock<std::mutex> lock(s->worker_mutex);
  int64_t done = 0;
  auto started = Clock::now();
  float fps = -1;
  for (;;) {
    if (s->running && s->target_fps != fps) {  // a new rate restarts the schedule
      fps = s->target_fps;
      started = Clock::now();
      done = 0;
    }
    const auto due = started + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(fps > 0 ? done / double(fps) : 0.0));
    const auto wake = [&] {
      return s->stop || s->request || (s->running && (s->target_fps != fps || Clock::now() >= due));
    };
    if (s->running && fps > 0) {
      s->worker_cv.wait_until(lock, due, wake);
    } else {
      s->worker_cv.wait(lock, wake);
    }
    if (s->stop) break;
    if (s->request) {
      s->busy = true;
      lock.unlock();
      bool ready = false;
      std::string message;
      const ddpm_status status = worker_call(s, &ready, message);
      lock.lock();
      s->busy = false;
      s->request = false;
      s->request_done = true;
      s->request_ready = ready;
      s->request_status = status;
      s->request_message = std::move(message);
      s->done_cv.notify_all();
      continue;
    }
    if (!s->running || s->target_fps != fps || Clock::now() < due) continue;
    s->busy = true;
    lock.unlock();
    std::string message;
    const ddpm_status status = worker_call(s, nullptr, message);
    lock.lock();
    s->busy = false;
    if (status == DDPM_ERR_NOT_READY) {  // an image stream waiting for its first input
      s->done_cv.notify_all();
      s->worker_cv.wait_for(lock, std::chrono::milliseconds(5), [&] { return s->stop || s->request || !s->running; });
      continue;
    }
    if (status != DDPM_OK) {
      log(DDPM_LOG_ERROR, "stream worker stopped: " + message);
      s->worker_status = status;
      s->worker_message = message;
      s->running = false;
    }
    ++done;
    s->done_cv.notify_all();
  }
}

// Stops the running worker after its current call; its failure status (and message) if it
// stopped on one.
ddpm_status pause_worker(ddpm_stream* s) {
  std::unique_lock<std::mutex> lock(s->worker_mutex);
  s->running = false;
  s->worker_cv.notify_all();
  s->done_cv.wait(lock, [&] { return !s->busy || s->request; });
  const ddpm_status status = s->worker_status;
  if (status != DDPM_OK) set_error(s->worker_message);
  s->worker_status = DDPM_OK;
  s->worker_message.clear();
  return status;
}

// Writes `from` into a caller's versioned output struct: only the struct_size bytes it has.
template <class T>
ddpm_status write_out(T* to, const T& from, const char* what) {
  if (!to) return DDPM_OK;
  const size_t n = to->struct_size;
  if (n < sizeof(size_t) + sizeof(int64_t) || n > kMaxParamsStructSize) {
    return fail(DDPM_ERR_INVALID_ARGUMENT, std::string(what) + ": struct_size " + std::to_string(n) +
                                               " is invalid: set it to sizeof the struct");
  }
  T copy = from;
  copy.struct_size = n;
  std::memcpy(to, &copy, std::min(n, sizeof copy));
  return DDPM_OK;
}

// The latest frame under the frame lock: NOT_READY before the first.
template <class Fill>
ddpm_status read_frame(ddpm_stream* s, ddpm_stream_frame* info, const char* what, Fill fill) {
  if (const ddpm_status st = check_stream(s, what); st != DDPM_OK) return st;
  std::lock_guard<std::mutex> lock(s->frame_mutex);
  if (!s->output.defined()) {
    return fail(DDPM_ERR_NOT_READY, "no frame yet: the stream finishes its first after " +
                                        std::to_string(s->core->latency()) + " calls");
  }
  const ddpm_status filled = fill();
  if (filled != DDPM_OK) return filled;
  return write_out(info, s->info, what);
}

ddpm_status buffer_check(size_t have, size_t need, const char* unit) {
  if (have < need) {
    return fail(DDPM_ERR_BUFFER_TOO_SMALL, "frame buffer holds " + std::to_string(have) + " " + unit +
                                               ": need " + std::to_string(need));
  }
  return DDPM_OK;
}

}  // namespace
}  // namespace ddpm_plugin

using namespace ddpm_plugin;

extern "C" {

DDPM_API ddpm_status ddpm_stream_params_init(ddpm_stream_params* params, size_t struct_size) {
  return init_params(params, struct_size, kMinStreamParamsSize, "ddpm_stream_params_init",
                     fill_stream_defaults);
}

DDPM_API ddpm_status ddpm_stream_open(ddpm_model* model, const ddpm_stream_params* params,
                                      ddpm_stream** out) {
  if (out) *out = nullptr;
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (!model) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_stream_open: model is NULL");
    if (!params) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_stream_open: params is NULL");
    if (!out) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_stream_open: out is NULL");
    ddpm_stream_params p;
    const ddpm_status read = read_params(*params, kMinStreamParamsSize, "ddpm_stream_params_init", fill_stream_defaults, p);
    if (read != DDPM_OK) return read;
    if (const ddpm_status t = check_threads(p.threads); t != DDPM_OK) return t;
    auto s = std::make_unique<ddpm_stream>();
    s->model = model->model;
    const ddpm::Model& m = *s->model;
    const int T = m.info.schedule.timesteps;
    if (p.steps < 0 || p.steps > std::min(T, kMaxStreamSteps)) {
      return fail(DDPM_ERR_OUT_OF_RANGE, "steps " + std::to_string(p.steps) +
                                             " is out of range: allowed 1 to " +
                                             std::to_string(std::min(T, kMaxStreamSteps)) +
                                             ", or 0 for the model's default");
    }
    ddpm_status st = check_class(s.get(), p.class_index);
    if (st == DDPM_OK) st = check_seed_path(p.seed_path, p.seed_period);
    if (st != DDPM_OK) return st;
    ddpm::check_guidance(p.guidance, m.info);  // throws: INVALID_ARGUMENT
    ddpm::StreamOptions o;
    // DPM-Solver++ 2M SDE unless named: at the stream's 8 stages the deterministic samplers'
    // images score far worse on the quality bench (DDIM accuracy 0.55 / distance 20 against
    // 0.91 / 1.4, tests/bench/NOTES.md), and seed walks stay smooth since variations
    // interpolate the step noise too (NoiseSource::vary).
    o.sampler = sampler_kind(p.sampler, p.sampler_name, m.info, ddpm::SamplerKind::DPMSolverPP2MSDE);
    o.steps = p.steps;
    o.eta = p.eta;
    o.variance = m.info.variance;
    o.guidance_rescale = p.guidance_rescale;
    o.guidance_interval = guidance_interval(p.guidance_min_sigma, p.guidance_max_sigma, o.sampler);
    o.clip_x0 = p.clip_x0 != 0;
    o.tiling = p.tiling != 0;
    o.image_input = p.image_input != 0;
    o.strength = p.strength;
    o.blend = p.blend;
    // Steps 0: the model's; the grid a job of the same sampler and steps takes when it names
    // none, so that a frame stays the image a job gives for its seed.
    for (const auto& w : ddpm::fit_to_model(o, m.info)) log(DDPM_LOG_WARN, w);
    ensure_runtime();
    auto& unet = const_cast<ddpm::UNet&>(m.unet);  // forward only: reentrant
    s->core = std::make_unique<ddpm::Stream>(unet, m.schedule, o);  // throws on bad values
    s->size = m.info.unet.image_size;
    s->channels = m.info.unet.in_channels;
    s->image_input = o.image_input;
    s->class_index = p.class_index;
    s->guidance = p.guidance;
    s->seed_path = p.seed_path;
    s->seed = p.seed;
    s->period = p.seed_period;
    s->threads = p.threads != 0 ? p.threads : model->threads;
    s->worker = std::thread(run_worker, s.get());
    {
      std::lock_guard<std::mutex> lock(g_streams_mutex);
      g_streams.insert(s.get());
    }
    *out = s.release();
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_stream_push_input(ddpm_stream* s, const float* rgba_f32,
                                            const uint8_t* rgba8, int width, int height) {
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (const ddpm_status st = check_stream(s, "ddpm_stream_push_input"); st != DDPM_OK) return st;
    if (!s->image_input) {
      return fail(DDPM_ERR_INVALID_ARGUMENT,
                  "this stream takes no input image: open it with image_input = 1");
    }
    if (!rgba_f32 == !rgba8) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, "give rgba_f32 or rgba8, exactly one of them");
    }
    if (width < 1 || height < 1 || width > 16384 || height > 16384) {
      return fail(DDPM_ERR_OUT_OF_RANGE, "input image size " + std::to_string(width) + "x" +
                                             std::to_string(height) +
                                             " is out of range: allowed 1 to 16384");
    }
    torch::Tensor x = rgba_input(rgba_f32, rgba8, width, height, s->channels);
    if (width != s->size || height != s->size) {
      std::unique_lock<std::mutex> lock(s->control_mutex);
      if (!std::exchange(s->resize_said, true)) {
        lock.unlock();
        log(DDPM_LOG_WARN, "stream input resized from " + std::to_string(width) + "x" + std::to_string(height) +
                               " to the model's " + std::to_string(s->size) + "x" + std::to_string(s->size) +
                               " (said once per stream)");
      }
      x = torch::nn::functional::interpolate(
          x, torch::nn::functional::InterpolateFuncOptions()
                 .size(std::vector<int64_t>{s->size, s->size})
                 .mode(torch::kBilinear)
                 .align_corners(false));
    }
    std::lock_guard<std::mutex> lock(s->control_mutex);
    s->input = x.squeeze(0).contiguous();
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_stream_set_class(ddpm_stream* s, int class_index, int apply_to_inflight) {
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (const ddpm_status st = check_stream(s, "ddpm_stream_set_class"); st != DDPM_OK) return st;
    const ddpm_status st = check_class(s, class_index);
    if (st != DDPM_OK) return st;
    std::lock_guard<std::mutex> lock(s->control_mutex);
    s->class_index = class_index;
    if (apply_to_inflight) s->inflight_class = class_index;
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_stream_set_guidance(ddpm_stream* s, float guidance, int apply_to_inflight) {
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (const ddpm_status st = check_stream(s, "ddpm_stream_set_guidance"); st != DDPM_OK) return st;
    ddpm::check_guidance(guidance, s->model->info);  // throws: INVALID_ARGUMENT
    std::lock_guard<std::mutex> lock(s->control_mutex);
    s->guidance = guidance;
    if (apply_to_inflight) s->inflight_guidance = guidance;
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_stream_set_seed_path(ddpm_stream* s, int seed_path, uint64_t seed, int period) {
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (const ddpm_status st = check_stream(s, "ddpm_stream_set_seed_path"); st != DDPM_OK) return st;
    const ddpm_status st = check_seed_path(seed_path, period);
    if (st != DDPM_OK) return st;
    std::lock_guard<std::mutex> lock(s->control_mutex);
    s->seed_path = seed_path;
    s->seed = seed;
    s->period = period;
    s->path_entries = 0;
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_stream_set_blend(ddpm_stream* s, float blend) {
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (const ddpm_status st = check_stream(s, "ddpm_stream_set_blend"); st != DDPM_OK) return st;
    if (!(blend >= 0 && blend <= 1)) {
      return fail(DDPM_ERR_OUT_OF_RANGE, "blend " + ddpm::number_text(blend) + " is out of range: allowed 0 to 1");
    }
    std::lock_guard<std::mutex> lock(s->control_mutex);
    s->blend = blend;
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_stream_advance(ddpm_stream* s, int* frame_ready) {
  if (frame_ready) *frame_ready = 0;
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (const ddpm_status st = check_stream(s, "ddpm_stream_advance"); st != DDPM_OK) return st;
    std::unique_lock<std::mutex> lock(s->worker_mutex);
    if (s->running) {
      return fail(DDPM_ERR_INVALID_ARGUMENT,
                  "ddpm_stream_advance: the stream's worker is running (ddpm_stream_pause first)");
    }
    if (s->request) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_stream_advance: another thread's advance is in progress");
    }
    s->request = true;
    s->request_done = false;
    s->worker_cv.notify_all();
    s->done_cv.wait(lock, [&] { return s->request_done; });
    if (frame_ready) *frame_ready = s->request_ready ? 1 : 0;
    if (s->request_status != DDPM_OK) return fail(s->request_status, s->request_message);
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_stream_run(ddpm_stream* s, float target_fps) {
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (const ddpm_status st = check_stream(s, "ddpm_stream_run"); st != DDPM_OK) return st;
    if (!(target_fps >= 0) || !std::isfinite(target_fps)) {
      return fail(DDPM_ERR_OUT_OF_RANGE, "target fps " + ddpm::number_text(target_fps) +
                                             " is out of range: allowed 0 (as fast as possible) or more");
    }
    std::lock_guard<std::mutex> lock(s->worker_mutex);
    s->target_fps = target_fps;
    if (!s->running) s->worker_status = DDPM_OK;
    s->running = true;
    s->worker_cv.notify_all();
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_stream_pause(ddpm_stream* s) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (const ddpm_status st = check_stream(s, "ddpm_stream_pause"); st != DDPM_OK) return st;
    return pause_worker(s);
  });
}

DDPM_API ddpm_status ddpm_stream_read_frame(ddpm_stream* s, float* buffer, size_t buffer_floats,
                                            ddpm_stream_frame* info) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (!buffer) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_stream_read_frame: buffer is NULL");
    return read_frame(s, info, "ddpm_stream_read_frame", [&] {
      const std::vector<float> f = to_frame(s->output);
      const ddpm_status st = buffer_check(buffer_floats, f.size(), "floats");
      if (st == DDPM_OK) std::copy(f.begin(), f.end(), buffer);
      return st;
    });
  });
}

DDPM_API ddpm_status ddpm_stream_read_frame_rgba8(ddpm_stream* s, uint8_t* buffer,
                                                  size_t buffer_bytes, ddpm_stream_frame* info) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (!buffer) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_stream_read_frame_rgba8: buffer is NULL");
    return read_frame(s, info, "ddpm_stream_read_frame_rgba8", [&] {
      const std::vector<uint8_t> b = to_rgba8(s->output);
      const ddpm_status st = buffer_check(buffer_bytes, b.size(), "bytes");
      if (st == DDPM_OK) std::copy(b.begin(), b.end(), buffer);
      return st;
    });
  });
}

DDPM_API ddpm_status ddpm_stream_read_slots(ddpm_stream* s, float* buffer, size_t buffer_floats,
                                            int* count) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (const ddpm_status st = check_stream(s, "ddpm_stream_read_slots"); st != DDPM_OK) return st;
    std::lock_guard<std::mutex> lock(s->frame_mutex);
    if (count) *count = static_cast<int>(s->slots.size());
    if (!buffer || s->slots.empty()) return DDPM_OK;
    std::vector<float> f;  // slot by slot: no LibTorch operation on the caller's thread (convert.h)
    for (const torch::Tensor& slot : s->slots) {
      const std::vector<float> one = to_frame(slot);
      f.insert(f.end(), one.begin(), one.end());
    }
    const ddpm_status st = buffer_check(buffer_floats, f.size(), "floats");
    if (st == DDPM_OK) std::copy(f.begin(), f.end(), buffer);
    return st;
  });
}

DDPM_API ddpm_status ddpm_stream_get_stats(ddpm_stream* s, ddpm_stream_stats* stats) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (const ddpm_status st = check_stream(s, "ddpm_stream_get_stats"); st != DDPM_OK) return st;
    if (!stats) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_stream_get_stats: stats is NULL");
    ddpm_stream_stats out{};
    out.struct_size = sizeof out;
    {
      std::lock_guard<std::mutex> lock(s->frame_mutex);
      out.calls = s->calls;
      out.frames = s->frames;
      out.in_flight = s->in_flight;
      out.latency = s->core->latency();
      out.last_call_ms = s->last_call_ms;
      const auto now = Clock::now();
      int64_t recent = 0;
      for (const auto& t : s->call_times) recent += now - t <= std::chrono::seconds(1);
      out.calls_per_second = static_cast<double>(recent);
    }
    {
      std::lock_guard<std::mutex> lock(s->worker_mutex);
      out.running = s->running ? 1 : 0;
    }
    return write_out(stats, out, "ddpm_stream_get_stats");
  });
}

DDPM_API void ddpm_stream_close(ddpm_stream* s) {
  if (!s) return;
  {
    std::lock_guard<std::mutex> lock(g_streams_mutex);
    if (!g_streams.erase(s)) {
      log(DDPM_LOG_ERROR, "ddpm_stream_close: the stream is not open (closed twice?); ignored");
      return;
    }
  }
  {
    std::lock_guard<std::mutex> lock(s->worker_mutex);
    s->stop = true;
    s->running = false;
  }
  s->worker_cv.notify_all();
  if (s->worker.joinable()) s->worker.join();
  delete s;
}

}  // extern "C"

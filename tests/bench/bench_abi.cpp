// Speed users get: generation jobs and streams through the C ABI (a worker thread per job,
// callbacks on, a preview every step), next to bare forwards of the same model on the main
// thread and on a fresh thread, in one run, with and without a busy engine thread beside it.
// Every figure comes with its physical floor (the forward's FLOPs over the better of the sgemm
// and the convolution peak measured by this same program). Usage: ddpm_bench_abi [out.json] (DDPM_MODEL names the model;
// DDPM_STUDENT a guidance-distilled student of it, whose few-step images and streams are timed
// beside the model's own: the images per second an engine gets at display rate; DDPM_DEVICE=cuda
// instead times the GPU: its peaks, and the same jobs and streams with both loaded there through
// ddpm_model_load_ex). Last, a fine-tune as a train job and as the core's train() on the main
// thread.
#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "bench_common.h"
#include "bench_jobs.h"
#include "ddpm/guidance.h"
#include "ddpm/model_file.h"
#include "ddpm/precision.h"
#include "ddpm/sampler.h"
#include "ddpm/trainer.h"

using bench::Row;
using bench::time_it;

namespace {

void check(ddpm_status s, const char* what) {
  if (s != DDPM_OK) {
    std::fprintf(stderr, "%s: %s: %s\n", what, ddpm_status_string(s), ddpm_last_error());
    std::exit(1);
  }
}

// What an engine's callback does with a preview: touch every value (a texture upload).
void on_step(ddpm_job*, int, int, const float* frame, int w, int h, int c, int b, void* user) {
  if (!frame) return;
  float sum = 0;
  for (int i = 0, n = w * h * c * b; i < n; ++i) sum += frame[i];
  *static_cast<float*>(user) += sum;
}

// Runs `f` on a thread that ends with it: LibTorch's OpenMP keeps a team for every thread that
// ran parallel work, and the bench's own main thread must not hold one while jobs are timed
// (that is a measured slowdown of its own, shown in its own row).
template <class F>
void on_fresh_thread(F&& f) {
  std::thread(std::forward<F>(f)).join();
}

// Median seconds of a guided job of class 1 (callback on, a preview every step).
double median_job(ddpm_model* model, int sampler, int steps, int reps, int threads, int batch = 1) {
  ddpm_generate_params p;
  check(ddpm_generate_default_params(&p), "params");
  p.batch = batch;
  p.threads = threads;
  p.sampler = sampler;
  p.steps = steps;
  p.class_index = 1;
  float sink = 0;
  return bench::median_job_seconds(model, p, reps, on_step, &sink);
}

// Frames per second of a stream of `stages` run by its own worker, over about `seconds`.
double stream_fps(ddpm_model* model, int stages, double seconds, int threads) {
  ddpm_stream_params p;
  check(ddpm_stream_default_params(&p), "stream params");
  p.threads = threads;
  p.steps = stages;
  p.class_index = 1;
  ddpm_stream* stream = nullptr;
  check(ddpm_stream_open(model, &p, &stream), "ddpm_stream_open");
  for (int i = 0; i < stages + 2; ++i) check(ddpm_stream_advance(stream, nullptr), "advance");
  ddpm_stream_stats before{sizeof(ddpm_stream_stats)}, after{sizeof(ddpm_stream_stats)};
  check(ddpm_stream_get_stats(stream, &before), "stats");
  const auto start = std::chrono::steady_clock::now();
  check(ddpm_stream_run(stream, 0), "ddpm_stream_run");
  std::vector<float> frame(size_t(4) * 64 * 64 * 4);
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(16));  // an engine's frame
    ddpm_stream_read_frame(stream, frame.data(), frame.size(), nullptr);
  }
  check(ddpm_stream_pause(stream), "ddpm_stream_pause");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  check(ddpm_stream_get_stats(stream, &after), "stats");
  ddpm_stream_close(stream);
  return double(after.frames - before.frames) / s;
}

// DDPM_DEVICE=cuda: the model (and DDPM_STUDENT's student) loaded on the GPU through
// ddpm_model_load_ex, timed through the same jobs and streams as the CPU rows.
void device_rows(const std::string& path, std::vector<Row>& rows) {
  const std::string device = bench::device().str();
  ddpm_model_params params;
  check(ddpm_model_default_params(&params), "ddpm_model_params_init");
  params.device = device.c_str();
  const auto load_on = [&](const char* file) {
    ddpm_model* m = nullptr;
    check(ddpm_model_load_ex(file, &params, &m), "ddpm_model_load_ex (DDPM_DEVICE)");
    return m;
  };
  const std::string tag = "on " + device;
  ddpm_model* model = load_on(path.c_str());
  rows.push_back({"job DDIM-50 guided, " + tag, 50 / median_job(model, DDPM_SAMPLER_DDIM, 50, 5, 0), "steps/s"});
  rows.push_back({"job DDIM-50 guided, batch 8, " + tag, 8 * 50 / median_job(model, DDPM_SAMPLER_DDIM, 50, 5, 0, 8),
                  "images x steps/s"});
  rows.push_back({"job DPM++2M SDE-20 image, " + tag, median_job(model, DDPM_SAMPLER_DPMPP2M_SDE, 20, 5, 0), "s"});
  rows.push_back({"job image, nothing named, " + tag, median_job(model, DDPM_SAMPLER_AUTO, 0, 9, 0), "s"});
  rows.push_back({"stream 8 stages, " + tag, stream_fps(model, 8, 2.0, 0), "frames/s"});
  ddpm_model_free(model);
  if (const char* student_path = std::getenv("DDPM_STUDENT")) {
    ddpm_model* student = load_on(student_path);
    rows.push_back({"job DPM++2M SDE-4 image, student, " + tag,
                    1 / median_job(student, DDPM_SAMPLER_DPMPP2M_SDE, 4, 9, 0), "images/s"});
    rows.push_back({"stream 8 stages, student, " + tag, stream_fps(student, 8, 2.0, 0), "frames/s"});
    ddpm_model_free(student);
  }
}

// An engine's own thread, busy with arithmetic while the plugin works; `rounds` counts its work,
// so that what the plugin leaves it shows too.
struct BusyThread {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> rounds{0};
  std::thread thread;
  BusyThread() {
    thread = std::thread([this] {
      volatile double x = 1;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 10000; ++i) x = x * 1.0000001 + 1e-9;
        rounds.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // Rounds a second over `f`.
  template <class F>
  double rate_during(F&& f) {
    const uint64_t before = rounds.load();
    const auto start = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return double(rounds.load() - before) / s;
  }
  ~BusyThread() {
    stop = true;
    thread.join();
  }
};

// Images a second and page faults a step of a training run between two of its steps, read
// from its per-step callbacks (the first steps load the folder and warm up).
struct TrainClock {
  int64_t from = 10, to = 40;
  int batch = 0;
  std::chrono::steady_clock::time_point t0, t1;
  long faults0 = 0, faults1 = 0;
  static long minor_faults() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
  }
  void at(int64_t step) {
    if (step == from) t0 = std::chrono::steady_clock::now(), faults0 = minor_faults();
    if (step == to) t1 = std::chrono::steady_clock::now(), faults1 = minor_faults();
  }
  double images_per_second() const {
    return double((to - from) * batch) / std::chrono::duration<double>(t1 - t0).count();
  }
  double faults_per_step() const { return double(faults1 - faults0) / double(to - from); }
};

// The fine-tune both training rows time: `model_path` with the automatic recipe on the
// repository's sample folder (60 images of three of the default model's classes).
ddpm::TrainOptions fine_tune(const std::string& model_path, const std::string& out) {
  ddpm::TrainOptions o;
  o.assets = DDPM_SOURCE_DIR "/assets/samples";
  o.init_model = model_path;
  o.out_model = out;
  o.steps = TrainClock{}.to;
  return o;
}

// `o` as an engine starts it: a train job through the C ABI, on the job's own worker thread.
TrainClock train_job(const ddpm::TrainOptions& o) {
  TrainClock clock;
  clock.batch = ddpm::resolved(o).batch;
  ddpm_train_params p;
  check(ddpm_train_default_params(&p), "train params");
  p.assets = o.assets.c_str();
  p.init_model = o.init_model.c_str();
  p.out_model = o.out_model.c_str();
  p.steps = o.steps;
  ddpm_train_job* job = nullptr;
  const auto on_step = [](ddpm_train_job*, int64_t step, int64_t, double, double, double, const char* message,
                          void* user) {
    if (!message) static_cast<TrainClock*>(user)->at(step);
  };
  check(ddpm_train_start(&p, on_step, &clock, &job), "ddpm_train_start");
  check(ddpm_train_wait(job, -1), "ddpm_train_wait");
  ddpm_train_free(job);
  return clock;
}

// `o` through the core's train() on the calling (main) thread.
TrainClock train_here(const ddpm::TrainOptions& o) {
  TrainClock clock;
  clock.batch = ddpm::resolved(o).batch;
  ddpm::train(o, [&](const ddpm::TrainProgress& progress) {
    if (progress.message.empty() && progress.sample_grid.empty()) clock.at(progress.step);
  });
  return clock;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  bench::init(argc, argv, json_path, "out/bench_abi.json");
  const char* env_model = std::getenv("DDPM_MODEL");
  const std::string path = env_model ? env_model : DDPM_SOURCE_DIR "/assets/emoji32/model.safetensors";
  std::vector<Row> rows;
  double sgemm = 0, conv = 0, conv_bf16 = 0;
  const bool native_bf16 = ddpm::bf16_native();
  on_fresh_thread([&] {
    sgemm = bench::sgemm_peak();
    conv = bench::conv_peak();
    if (native_bf16) conv_bf16 = bench::conv_peak(torch::kBFloat16);
  });
  rows.push_back({"sgemm peak (2048^3)", sgemm, "GFLOP/s"});
  rows.push_back({"conv 3x3 peak (128 ch, 32x32, batch 8)", conv, "GFLOP/s"});
  if (native_bf16) rows.push_back({"conv 3x3 peak, bf16", conv_bf16, "GFLOP/s"});
  if (bench::device().is_cuda()) {  // the peaks above are the GPU's; the CPU rows belong to CPU runs
    device_rows(path, rows);
    bench::report(rows, json_path);
    return 0;
  }
  const double peak = std::max(sgemm, conv);
  // bf16 inference's floor: every FLOP at the bf16 convolution peak (norms, attention and
  // the sampler stay float32, so this floor flatters it).
  const double peak_bf16 = std::max(peak, conv_bf16);

  // Bare forwards through the core, as tests/bench/bench_sampling.cpp times them, each on a
  // thread of its own; then one while another thread holds an idle OpenMP team.
  ddpm::Model core_model;
  on_fresh_thread([&] {
    core_model = ddpm::load_model(path);
    core_model.unet->eval();
  });
  ddpm::UNet& unet = core_model.unet;
  const auto& cfg = core_model.info.unet;
  const double guided_flops = cfg.forward_flops(2);
  rows.push_back({"floor: guided steps/s at the peak", peak * 1e9 / guided_flops, "steps/s"});
  const auto bare_step = [&] {
    c10::InferenceMode inference;
    const torch::Tensor x = torch::randn({1, cfg.in_channels, cfg.image_size, cfg.image_size});
    const torch::Tensor t = torch::full({1}, 500, torch::kLong);
    return 1.0 / time_it(30, [&] { ddpm::predict_noise(unet, x, t, {1}, {3.0f}); });
  };
  double v = 0;
  on_fresh_thread([&] { v = bare_step(); });
  rows.push_back({"bare guided step, the only OpenMP team", v, "steps/s"});
  {
    std::mutex m;
    std::condition_variable cv;
    bool warm = false, done = false;
    std::thread holder([&] {  // runs parallel work once, then waits: its team stays
      bench::sgemm_peak();
      std::unique_lock<std::mutex> lock(m);
      warm = true;
      cv.notify_all();
      cv.wait(lock, [&] { return done; });
    });
    {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return warm; });
    }
    on_fresh_thread([&] { v = bare_step(); });
    {
      std::lock_guard<std::mutex> lock(m);
      done = true;
    }
    cv.notify_all();
    holder.join();
    rows.push_back({"bare guided step, beside an idle team", v, "steps/s"});
  }

  ddpm_model* model = nullptr;
  check(ddpm_model_load(path.c_str(), &model), "ddpm_model_load");
  const auto product_path = [&](int threads, const std::string& tag) {
    rows.push_back({"job DDIM-50 guided, " + tag,
                    50 / median_job(model, DDPM_SAMPLER_DDIM, 50, 5, threads), "steps/s"});
    rows.push_back({"job DPM++2M SDE-20 image, " + tag,
                    median_job(model, DDPM_SAMPLER_DPMPP2M_SDE, 20, 5, threads), "s"});
    rows.push_back({"stream 8 stages, " + tag, stream_fps(model, 8, 2.0, threads), "frames/s"});
  };
  // The default stream's network images a frame: 8 stages of DPM-Solver++ 2M SDE, a twin for
  // each stage inside the default guidance interval.
  int stream_images = 0;
  {
    const auto sde = ddpm::SamplerKind::DPMSolverPP2MSDE;
    const torch::Tensor ab = core_model.schedule.alpha_bars.to(torch::kCPU, torch::kFloat64);
    for (int64_t t : ddpm::visited_timesteps(core_model.schedule, 8, ddpm::default_spacing(sde, 8))) {
      const double a = ab[t].item<double>();
      stream_images += ddpm::guidance_at(3.0f, a, ddpm::default_guidance_interval(sde), cfg) > 1 ? 2 : 1;
    }
  }
  rows.push_back({"8-stage stream: network images a frame", double(stream_images), "images"});
  const double stream_flops = cfg.forward_flops(stream_images);
  rows.push_back({"floor: 8-stage stream at the peak", peak * 1e9 / stream_flops, "frames/s"});
  if (native_bf16) {
    rows.push_back({"floor: guided steps/s at the bf16 peak", peak_bf16 * 1e9 / guided_flops, "steps/s"});
    rows.push_back({"floor: 8-stage stream at the bf16 peak", peak_bf16 * 1e9 / stream_flops, "frames/s"});
  }
  // The default precision is "auto": bf16 where this CPU multiplies bfloat16 natively, and then
  // float32 is timed beside it (what a caller that pins it gets).
  const std::string automatic = ddpm_get_precision();
  const bool bf16 = automatic == "bf16";
  product_path(0, "default (" + automatic + ")");
  // What an engine that names no sampler or steps gets (DPM-Solver++ 2M SDE, 10 logsnr steps).
  rows.push_back({"job image, nothing named (SDE 10 logsnr)", median_job(model, DDPM_SAMPLER_AUTO, 0, 9, 0), "s"});
  if (bf16) {
    check(ddpm_set_precision("float32"), "ddpm_set_precision");
    product_path(0, "float32");
    rows.push_back({"job image, nothing named, float32", median_job(model, DDPM_SAMPLER_AUTO, 0, 9, 0), "s"});
    check(ddpm_set_precision("auto"), "ddpm_set_precision");
  }
  // Beside an engine thread that keeps a core busy: the automatic count (which measures how
  // much of the cores its parts get, core_share.h) against each fixed count.
  // The engine thread's own speed beside each, as a share of its speed alone, is the other half.
  double engine_alone = 0;
  {
    BusyThread busy;
    engine_alone = busy.rate_during([] { std::this_thread::sleep_for(std::chrono::milliseconds(500)); });
  }
  for (int threads : {0, 1, 2}) {
    const std::string tag = threads == 0 ? std::string("default") : std::to_string(threads) + " thr";
    if (threads > 0) product_path(threads, tag);
    BusyThread busy;
    const double engine = busy.rate_during([&] { product_path(threads, tag + ", busy engine thread"); });
    rows.push_back({"engine thread's speed beside the " + tag + " rows", engine / engine_alone, "of alone"});
  }
  if (const char* student_path = std::getenv("DDPM_STUDENT")) {
    ddpm_model* student = nullptr;
    check(ddpm_model_load(student_path, &student), "ddpm_model_load (DDPM_STUDENT)");
    rows.push_back({"floor: 4-step student image at the peak", peak * 1e9 / (4 * cfg.forward_flops(1)), "images/s"});
    rows.push_back({"job DPM++2M SDE-4 image, the model, default", 1 / median_job(model, DDPM_SAMPLER_DPMPP2M_SDE, 4, 9, 0),
                    "images/s"});
    rows.push_back({"job DPM++2M SDE-4 image, student, default", 1 / median_job(student, DDPM_SAMPLER_DPMPP2M_SDE, 4, 9, 0),
                    "images/s"});
    rows.push_back({"job DPM++2M SDE-4 image, student, 1 thr", 1 / median_job(student, DDPM_SAMPLER_DPMPP2M_SDE, 4, 9, 1),
                    "images/s"});
    rows.push_back({"job DPM++2M SDE-8 image, student, default", 1 / median_job(student, DDPM_SAMPLER_DPMPP2M_SDE, 8, 9, 0),
                    "images/s"});
    // A student's stage is one network image (no twin), so its 8-stage stream does 8 a frame
    // where the model's does stream_images.
    for (int stages : {4, 8}) {
      const std::string tag = std::to_string(stages) + "-stage student stream";
      rows.push_back({"floor: " + tag + " at the peak", peak * 1e9 / cfg.forward_flops(stages), "frames/s"});
      if (native_bf16) {
        rows.push_back({"floor: " + tag + " at the bf16 peak", peak_bf16 * 1e9 / cfg.forward_flops(stages), "frames/s"});
      }
      rows.push_back({"stream " + std::to_string(stages) + " stages, student, default", stream_fps(student, stages, 2.0, 0),
                      "frames/s"});
    }
    if (bf16) {
      check(ddpm_set_precision("float32"), "ddpm_set_precision");
      rows.push_back({"job DPM++2M SDE-4 image, student, float32",
                      1 / median_job(student, DDPM_SAMPLER_DPMPP2M_SDE, 4, 9, 0), "images/s"});
      rows.push_back({"stream 4 stages, student, float32", stream_fps(student, 4, 2.0, 0), "frames/s"});
      check(ddpm_set_precision("auto"), "ddpm_set_precision");
    }
    ddpm_model_free(student);
  }
  // Training last: train() on this main thread leaves it an OpenMP team.
  const std::string out = (std::filesystem::temp_directory_path() / "ddpm_bench_abi_train.safetensors").string();
  const ddpm::TrainOptions tune = fine_tune(path, out);
  const TrainClock job = train_job(tune), here = train_here(tune);
  std::filesystem::remove(out);
  rows.push_back({"fine-tune, train job (worker thread)", job.images_per_second(), "images/s"});
  rows.push_back({"fine-tune, train job: page faults a step", job.faults_per_step(), "faults"});
  rows.push_back({"fine-tune, train() on the main thread", here.images_per_second(), "images/s"});
  rows.push_back({"fine-tune, main thread: page faults a step", here.faults_per_step(), "faults"});
  ddpm_model_free(model);
  bench::report(rows, json_path);
  return 0;
}

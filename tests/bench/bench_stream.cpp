// Stream benchmark: finished images per second and latency in calls of a live stream of the
// default model (32x32, guidance 3, a class per image) at 4, 8 and 20 stages, against ordinary
// batch-1 sampling with the same sampler and steps, measured in the same run.
//   ddpm_bench_stream [OUT.json] [MODEL]   (default out/bench_stream.json, the bundled model)
#include "bench_common.h"
#include "ddpm/model_file.h"
#include "ddpm/sampler.h"
#include "ddpm/stream.h"

using bench::Row;

int main(int argc, char** argv) {
  std::string json_path;
  bench::init(argc, argv, json_path, "out/bench_stream.json");
  const std::string model_path = argc > 2 ? argv[2] : "assets/emoji32/model.safetensors";
  ddpm::Model m = ddpm::load_model(model_path, bench::device());
  const int classes = std::max(1, m.info.unet.num_classes);
  std::vector<Row> rows;
  rows.push_back({"sgemm peak (2048^3)", bench::sgemm_peak(), "GFLOP/s"});

  for (auto kind : {ddpm::SamplerKind::DPMSolverPP2M, ddpm::SamplerKind::DDIM}) {
    for (int stages : {4, 8, 20}) {
      const std::string tag = ddpm::to_string(kind) + " " + std::to_string(stages) + " steps";
      ddpm::StreamOptions so;
      so.sampler = kind;
      so.steps = stages;
      so.clip_x0 = true;
      ddpm::Stream stream(m.unet, m.schedule, so);
      ddpm::StreamEntry e;
      e.guidance = 3.0f;
      int64_t entered = 0;
      const auto enter = [&] {
        e.seed = static_cast<uint64_t>(entered);
        e.class_index = classes > 1 ? entered % classes : -1;
        ++entered;
        return stream.advance(e);
      };
      for (int i = 0; i < stages; ++i) enter();  // warm-up: the pipeline is full after this
      const int frames = std::max(3 * stages, 24);
      const auto start = std::chrono::steady_clock::now();
      int finished = 0;
      for (int i = 0; i < frames; ++i) finished += enter().has_value() ? 1 : 0;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double stream_ips = finished / s;

      ddpm::SampleOptions o;
      o.sampler = kind;
      o.steps = stages;
      o.clip_x0 = true;
      o.guidance = 3.0f;
      o.classes = {1 % classes};
      const double one = bench::time_it(3, [&] { ddpm::sample(m.unet, m.schedule, o); });
      rows.push_back({"stream " + tag + ": images/s", stream_ips, "images/s"});
      rows.push_back({"stream " + tag + ": latency", static_cast<double>(stream.latency()), "calls"});
      rows.push_back({"stream " + tag + ": latency", stream.latency() / stream_ips * 1e3, "ms"});
      rows.push_back({"batch-1 " + tag + ": images/s", 1.0 / one, "images/s"});
      rows.push_back({"stream / batch-1 " + tag, stream_ips * one, "x"});
    }
  }
  bench::report(rows, json_path);
  return 0;
}

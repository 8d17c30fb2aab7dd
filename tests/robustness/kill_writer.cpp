// The writer and the checker of the kill test (kill_test.sh). Torch-free: it saves real
// model-sized files through the same code the core's save_model and save_training_checkpoint
// use (encode_safetensors, then io::write_file_atomic), so that a SIGKILL at any moment hits
// the same sequence of open, write, fsync, rename.
//
//   kill_writer write <dir> <model.safetensors> [generations]
//       loops over generations 1, 2, ... (forever unless a count is given), writing
//       <dir>/model.safetensors (the real model's tensors, its description with
//       training_step = generation) and <dir>/checkpoint.safetensors (a training checkpoint of
//       that model: model.*, ema.*, optim.* moments, rng.cpu, kind/optimizer/trainer metadata).
//       Starts at the generation after the one found in <dir>/model.safetensors.
//   kill_writer check <dir> <model.safetensors> <min model gen> <min checkpoint gen>
//       parses both files, rebuilds the bytes of the generation each claims and compares
//       them byte for byte; prints "<model generation> <checkpoint generation> <temporaries>".
//       Exit status 1 when a file is missing, torn, unparseable or older than its minimum.
#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/io/model_info.h"
#include "ddpm/io/safetensors.h"

using namespace ddpm::io;

namespace {

struct Source {
  std::vector<std::uint8_t> bytes;
  SafetensorsView view;
  ModelInfo info;
};

Source load_source(const std::string& path) {
  Source s;
  s.bytes = read_file(path, std::size_t(1) << 30);
  s.view = parse_safetensors(s.bytes.data(), s.bytes.size(), path);
  s.info = model_info_from_metadata(s.view.metadata, path);
  return s;
}

std::vector<std::uint8_t> model_bytes(const Source& s, long generation) {
  ModelInfo info = s.info;
  info.training_step = generation;
  std::vector<TensorToWrite> tensors;
  for (const auto& t : s.view.tensors) {
    tensors.push_back({t.name, t.dtype, t.shape, s.view.bytes_of(t), t.end - t.begin});
  }
  return encode_safetensors(tensors, to_metadata(info));
}

std::vector<std::uint8_t> checkpoint_bytes(const Source& s, long generation) {
  ModelInfo info = s.info;
  info.training_step = generation;
  auto metadata = to_metadata(info);
  metadata["kind"] = "training-checkpoint";
  metadata["optimizer"] =
      R"({"amsgrad":false,"beta1":0.9,"beta2":0.999,"eps":1e-08,"lr":0.0003,"weight_decay":0.01})";
  metadata["trainer"] = "{\"generation\": " + std::to_string(generation) + "}";
  static std::vector<std::int64_t> steps;  // outlives the encode call
  steps.assign(s.view.tensors.size(), generation);
  static std::uint8_t rng[16];
  for (int i = 0; i < 16; ++i) rng[i] = static_cast<std::uint8_t>(generation * 31 + i);
  std::vector<TensorToWrite> tensors;
  std::size_t k = 0;
  for (const auto& t : s.view.tensors) {
    const void* p = s.view.bytes_of(t);
    const std::size_t n = t.end - t.begin;
    tensors.push_back({"model." + t.name, t.dtype, t.shape, p, n});
    tensors.push_back({"ema." + t.name, t.dtype, t.shape, p, n});
    tensors.push_back({"optim." + t.name + ".step", DType::I64, {}, &steps[k++], 8});
    tensors.push_back({"optim." + t.name + ".exp_avg", t.dtype, t.shape, p, n});
    tensors.push_back({"optim." + t.name + ".exp_avg_sq", t.dtype, t.shape, p, n});
  }
  tensors.push_back({"rng.cpu", DType::U8, {16}, rng, 16});
  return encode_safetensors(tensors, metadata);
}

// The generation a file claims, after checking it parses and equals, byte for byte, what the
// writer produces for that generation. -1 when it does not.
long verify(const std::string& path, const Source& s, bool checkpoint) {
  std::vector<std::uint8_t> bytes;
  long generation = -1;
  try {
    bytes = read_file(path, std::size_t(1) << 31);
    const SafetensorsView view = parse_safetensors(bytes.data(), bytes.size(), path);
    const ModelInfo info = model_info_from_metadata(view.metadata, path);
    generation = static_cast<long>(info.training_step);
    if (checkpoint && view.metadata.at("kind") != "training-checkpoint") {
      std::fprintf(stderr, "%s: not a training checkpoint\n", path.c_str());
      return -1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), e.what());
    return -1;
  }
  const auto expected = checkpoint ? checkpoint_bytes(s, generation) : model_bytes(s, generation);
  if (expected != bytes) {
    std::fprintf(stderr, "%s: generation %ld differs from what was written\n", path.c_str(), generation);
    return -1;
  }
  return generation;
}

int temporaries(const std::string& dir) {
  int n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) n += std::strstr(e->d_name, ".tmp.") != nullptr;
    ::closedir(d);
  }
  return n;
}

}  // namespace

static int check_files(int argc, char** argv);

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "check-file") return check_files(argc, argv);
  if (argc < 4) {
    std::fprintf(stderr, "usage: kill_writer write|check <dir> <model.safetensors> [n]\n");
    return 2;
  }
  const std::string mode = argv[1], dir = argv[2];
  const std::string model = dir + "/model.safetensors", ckpt = dir + "/checkpoint.safetensors";
  try {
    const Source s = load_source(argv[3]);
    if (mode == "write") {
      long g = 1;
      try {
        const auto b = read_file(model, std::size_t(1) << 31);
        g = static_cast<long>(
                model_info_from_metadata(parse_safetensors(b.data(), b.size(), model).metadata, model)
                    .training_step) + 1;
      } catch (const ddpm::Error&) {
      }
      const long last = argc > 4 ? g + std::stol(argv[4]) - 1 : -1;
      // KILL_WRITER_IN_PLACE=1: the negative control, a plain truncate-and-write, which the
      // test must catch (torn files).
      const bool in_place = std::getenv("KILL_WRITER_IN_PLACE") != nullptr;
      const auto save = [&](const std::string& path, const std::vector<std::uint8_t>& bytes) {
        if (!in_place) return write_file_atomic(path, bytes);
        std::FILE* f = std::fopen(path.c_str(), "wb");
        if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f)) {
          throw ddpm::Error("cannot write '" + path + "'");
        }
      };
      for (; last < 0 || g <= last; ++g) {
        save(model, model_bytes(s, g));
        save(ckpt, checkpoint_bytes(s, g));
      }
      return 0;
    }
    if (mode == "check") {
      const long min_model = argc > 4 ? std::stol(argv[4]) : 0;
      const long min_ckpt = argc > 5 ? std::stol(argv[5]) : 0;
      const long gm = verify(model, s, false), gc = verify(ckpt, s, true);
      std::printf("%ld %ld %d\n", gm, gc, temporaries(dir));
      // Each file is whole and never older than it was before the kill.
      return gm >= min_model && gc >= min_ckpt && gm >= 0 && gc >= 0 ? 0 : 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kill_writer: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "kill_writer: unknown mode '%s'\n", mode.c_str());
  return 2;
}

// kill_writer check-file FILE...: a file written by the real code (the CLI's checkpoints) is
// whole: it parses, its tensors tile the data to the last byte, its description is valid.
// Prints the training step of each; exit status 1 on the first that is not.
static int check_files(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    try {
      const auto b = read_file(argv[i], std::size_t(1) << 33);
      const auto view = parse_safetensors(b.data(), b.size(), argv[i]);
      const ModelInfo info = model_info_from_metadata(view.metadata, argv[i]);
      std::printf("%lld\n", static_cast<long long>(info.training_step));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
  }
  return 0;
  return 2;
}

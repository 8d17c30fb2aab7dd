// The C ABI's params structs (issue 12): random struct_size and field values through the
// ddpm_*_params_init functions and the calls that take the structs (ddpm_generate_start,
// ddpm_stream_open, ddpm_train_start, ddpm_import_checkpoint, ddpm_model_load_ex), on a tiny
// model made once.
// Every call must return a defined status (a message with every failure, a handle exactly on
// OK); accepted jobs are waited for when cheap, else cancelled at once, and always freed, so an
// execution stays in milliseconds.
//
// Input: [kind][flags][size mode][size lo][size hi][12 choice bytes][patches...], a patch being
// [offset][length 1..8][bytes] written into the struct (after struct_size). Pointer fields are
// never taken from the bytes: the harness sets them to NULL, "", a valid or a missing path (or
// buffer), chosen by a choice byte. Sizes that guard the harness's own buffers (init image,
// mask) are kept within them, and values that would make a valid job expensive or blocking
// (training world_size > 1: a rendezvous that waits for peers) are reduced where they are set.
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "ddpm_plugin.h"
#include "fuzz_common.h"

extern char** environ;

namespace {

ddpm_model* g_model;
int g_size, g_channels, g_classes, g_steps;
std::string g_dir, g_assets, g_tiny, g_missing, g_file;

// The input, read front to back; zeros once it runs out.
struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t u8() { return n ? (--n, *p++) : 0; }
  uint16_t u16() { return uint16_t(u8() | (u8() << 8)); }
};

// Choice bytes after the size: pointer fields, buffers and follow-up calls.
constexpr int kChoices = 12;

// Every call's contract: a known status, and a message with every failure.
ddpm_status checked(ddpm_status s) {
  FUZZ_CHECK(s >= DDPM_OK && s <= DDPM_ERR_INTERNAL);
  FUZZ_CHECK(s != DDPM_ERR_INTERNAL);  // INTERNAL means a bug by the ABI's own definition
  if (s != DDPM_OK) FUZZ_CHECK(ddpm_last_error()[0] != '\0');
  return s;
}

// The caller's struct: exactly struct_size bytes on the heap (at least the struct_size field),
// so that AddressSanitizer sees any access past what the caller declared.
struct Block {
  std::vector<uint8_t> bytes;
  size_t size;
  explicit Block(size_t s) : bytes(std::max(s, sizeof(size_t))), size(s) {}
  void* data() { return bytes.data(); }
};

size_t pick_size(Reader& r, size_t native) {
  const uint8_t mode = r.u8();
  const uint16_t v = r.u16();
  switch (mode % 4) {
    case 0: return native;                              // this header's struct
    case 1: return native - v % native;                 // an older (or broken) smaller one
    case 2: return native + v % 512;                    // a newer header's larger one
    default: return v;                                  // anything
  }
}

// Overwrites bytes [sizeof(size_t), limit) of the block with the patches left in the input.
void apply_patches(Reader& r, Block& b, size_t limit) {
  limit = std::min(limit, b.size);
  while (r.n >= 2) {
    const size_t off = r.u8() + sizeof(size_t);
    const size_t len = r.u8() % 8 + 1;
    for (size_t i = 0; i < len; ++i) {
      const uint8_t v = r.u8();
      if (off + i < limit) b.bytes[off + i] = v;
    }
  }
}

// What the library sees: its defaults, then the caller's first struct_size bytes (as every
// ddpm_*_start does). Constraints are applied to this view and written back, so that the
// library's copy of a field cut by struct_size is the constrained value too.
template <class P>
P view_of(Block& b, ddpm_status (*init)(P*, size_t)) {
  P v;
  FUZZ_CHECK(init(&v, sizeof v) == DDPM_OK);
  std::memcpy(&v, b.data(), std::min(b.size, sizeof v));
  return v;
}
template <class P>
void write_back(Block& b, const P& v) {
  std::memcpy(b.data(), &v, std::min(b.size, sizeof v));
  std::memcpy(b.data(), &b.size, sizeof(size_t));
}
// A pointer field the caller's struct holds entirely; one that struct_size cuts gets NULL
// (its bytes from the caller would join the library's default into a garbage pointer).
bool whole(const Block& b, size_t offset) { return offset + sizeof(void*) <= b.size; }

// A path to read: NULL, "", missing, a file where a folder or model is expected, or `valid`.
const char* pick_path(uint8_t c, const char* valid) {
  switch (c % 5) {
    case 0: return nullptr;
    case 1: return "";
    case 2: return g_missing.c_str();
    case 3: return g_file.c_str();
    default: return valid;
  }
}
// A path to write: its "missing" is inside a missing folder and its "wrong kind" is a folder,
// so that no execution creates or overwrites a file a later one reads (runs stay reproducible).
const char* pick_out_path(uint8_t c, const char* valid) {
  static const std::string in_missing = g_missing + "/x.safetensors";
  switch (c % 5) {
    case 2: return in_missing.c_str();
    case 3: return g_assets.c_str();
    default: return pick_path(c, valid);
  }
}

// Keeps values that pass validation inside the harness's buffers; the refused ranges stay.
int small_side(int v) { return v > 64 && v <= 16384 ? 1 + v % 64 : v; }

// ---- generation -----------------------------------------------------------------------------

std::vector<int32_t> g_classes_buf(4096);
std::vector<float> g_image_f32(64 * 64 * 4, 0.5f);
std::vector<uint8_t> g_image_u8(64 * 64 * 4, 128), g_mask(64 * 64, 255);

void step_cb(ddpm_job* job, int, int, const float*, int, int, int, int, void*) {
  int step = 0, total = 0;
  checked(ddpm_job_poll(job, nullptr, 0, &step, &total));
  FUZZ_CHECK(ddpm_job_wait(job, 0) == DDPM_ERR_INVALID_ARGUMENT);  // refused from its callback
}

void fuzz_generate(Reader& r, uint8_t flags) {
  Block b(pick_size(r, sizeof(ddpm_generate_params)));
  const ddpm_status init = checked(ddpm_generate_params_init(
      static_cast<ddpm_generate_params*>(b.data()), b.size));
  if (init != DDPM_OK) std::memset(b.data(), 0, b.bytes.size());
  uint8_t c[kChoices];
  for (auto& x : c) x = r.u8();
  for (size_t i = 0; i < g_classes_buf.size(); ++i) g_classes_buf[i] = int32_t(c[0] % 6) - 2 + int32_t(i % 2);
  apply_patches(r, b, sizeof(ddpm_generate_params));

  ddpm_generate_params v = view_of(b, ddpm_generate_params_init);
  using G = ddpm_generate_params;
  static const char* const samplers[] = {nullptr, "", "ddim", "ddpm", "dpmpp2m", "euler_a", "bogus"};
  v.classes = whole(b, offsetof(G, classes)) && c[1] % 3 == 0 ? g_classes_buf.data() : nullptr;
  v.sampler_name = whole(b, offsetof(G, sampler_name)) ? samplers[c[2] % 7] : nullptr;
  v.init_image_f32 = whole(b, offsetof(G, init_image_f32)) && c[3] % 3 == 1 ? g_image_f32.data() : nullptr;
  v.init_image_rgba8 = whole(b, offsetof(G, init_image_rgba8)) && c[3] % 5 >= 3 ? g_image_u8.data() : nullptr;
  v.mask = whole(b, offsetof(G, mask)) && c[4] % 2 ? g_mask.data() : nullptr;
  static const char* const spacings[] = {nullptr, "", "trailing", "logsnr", "uniform", "leading", "bogus"};
  v.spacing = whole(b, offsetof(G, spacing)) ? spacings[c[5] % 7] : nullptr;
  v.init_width = small_side(v.init_width);
  v.init_height = small_side(v.init_height);
  write_back(b, v);
  if (init != DDPM_OK) b.bytes.assign(b.bytes.size(), 0), std::memcpy(b.data(), &b.size, sizeof(size_t));

  ddpm_job* job = nullptr;
  const ddpm_status s = checked(ddpm_generate_start(g_model, static_cast<G*>(b.data()),
                                                    flags & 2 ? step_cb : nullptr, nullptr, &job));
  FUZZ_CHECK((s == DDPM_OK) == (job != nullptr));
  if (init != DDPM_OK) FUZZ_CHECK(s == DDPM_ERR_INVALID_ARGUMENT);
  if (!job) return;
  int w = 0, h = 0, ch = 0, batch = 0;
  checked(ddpm_job_get_shape(job, &w, &h, &ch, &batch));
  FUZZ_CHECK(batch == v.batch && w == g_size && h == g_size && ch == g_channels);
  // Cheap jobs run to the end; anything else is cancelled at once (the worker checks first).
  // (Steps 0 is the model's default: 25 for the fuzzed undistilled model.)
  const long work = long(batch) * (v.steps == 0 ? 25 : v.steps) * (v.guidance > 0 ? 2 : 1);
  if (work > 24 || flags & 4) checked(ddpm_job_cancel(job));
  const ddpm_status done = checked(ddpm_job_wait(job, -1));
  FUZZ_CHECK(done == DDPM_OK || done == DDPM_ERR_CANCELLED);
  const size_t need = size_t(batch) * w * h;
  std::vector<float> f(need * ch - (flags & 8 ? 1 : 0));
  const ddpm_status rf = checked(ddpm_job_result_f32(job, f.data(), f.size()));
  FUZZ_CHECK(rf == (done != DDPM_OK ? done : flags & 8 ? DDPM_ERR_BUFFER_TOO_SMALL : DDPM_OK));
  std::vector<uint8_t> rgba(need * 4);
  checked(ddpm_job_result_rgba8(job, rgba.data(), rgba.size()));
  std::vector<float> frame(need * ch);
  checked(ddpm_job_poll(job, frame.data(), frame.size(), nullptr, nullptr));
  ddpm_job_free(job);
}

// ---- streams --------------------------------------------------------------------------------

// An output struct whose struct_size is its own or any value up to past the limit of 4096; the
// block holds what it claims (the library writes at most that much).
template <class T>
Block out_struct(uint8_t mode, uint8_t lo, uint8_t hi) {
  const size_t n = mode % 2 ? sizeof(T) : size_t(lo | hi << 8) % 4200;
  Block out(std::max(n, sizeof(size_t)));
  std::memcpy(out.data(), &n, sizeof n);
  return out;
}

void fuzz_stream(Reader& r, uint8_t flags) {
  using S = ddpm_stream_params;
  Block b(pick_size(r, sizeof(S)));
  const ddpm_status init = checked(ddpm_stream_params_init(static_cast<S*>(b.data()), b.size));
  if (init != DDPM_OK) std::memset(b.data(), 0, b.bytes.size());
  uint8_t c[kChoices];
  for (auto& x : c) x = r.u8();
  apply_patches(r, b, sizeof(S));
  S v = view_of(b, ddpm_stream_params_init);
  static const char* const samplers[] = {nullptr, "", "ddim", "ddpm", "dpmpp2m", "euler_a", "bogus"};
  v.sampler_name = whole(b, offsetof(S, sampler_name)) ? samplers[c[0] % 7] : nullptr;
  write_back(b, v);
  if (init != DDPM_OK) b.bytes.assign(b.bytes.size(), 0), std::memcpy(b.data(), &b.size, sizeof(size_t));

  ddpm_stream* s = nullptr;
  const ddpm_status st = checked(ddpm_stream_open(g_model, static_cast<S*>(b.data()), &s));
  FUZZ_CHECK((st == DDPM_OK) == (s != nullptr));
  if (init != DDPM_OK) FUZZ_CHECK(st == DDPM_ERR_INVALID_ARGUMENT);
  if (!s) return;
  if (c[1] % 2) {  // an input image: f32, 8-bit, both or neither, sizes around the limits
    static const int sides[] = {0, 1, 7, 16, 64, 16385, -3};
    const int w = sides[c[2] % 7], h = sides[c[3] % 7];
    checked(ddpm_stream_push_input(s, c[4] & 1 ? g_image_f32.data() : nullptr,
                                   c[4] & 2 ? g_image_u8.data() : nullptr, w, h));
  }
  checked(ddpm_stream_set_class(s, int(c[5] % 6) - 2, c[5] & 8));
  checked(ddpm_stream_set_guidance(s, float(int(c[6]) - 64) / 8, c[6] & 1));
  checked(ddpm_stream_set_seed_path(s, int(c[7] % 4) - 1, c[7], int(c[7] % 3) - 1));
  checked(ddpm_stream_set_blend(s, float(c[6] % 12) / 10));
  for (int i = 0; i < (flags >> 4) % 3; ++i) {
    int ready = 0;
    checked(ddpm_stream_advance(s, &ready));
  }
  if (flags & 8) {  // the worker: started and stopped at once (at most a call or two)
    checked(ddpm_stream_run(s, float(c[2] % 5) * 30 - 30));
    checked(ddpm_stream_pause(s));
  }
  std::vector<float> frame(size_t(g_size) * g_size * g_channels - (flags & 4 ? 1 : 0));
  Block info = out_struct<ddpm_stream_frame>(c[8], c[9], c[10]);
  checked(ddpm_stream_read_frame(s, frame.data(), frame.size(),
                                 static_cast<ddpm_stream_frame*>(info.data())));
  std::vector<uint8_t> rgba(size_t(g_size) * g_size * 4);
  checked(ddpm_stream_read_frame_rgba8(s, rgba.data(), rgba.size(), nullptr));
  int count = 0;
  checked(ddpm_stream_read_slots(s, nullptr, 0, &count));
  std::vector<float> slots(size_t(count) * g_size * g_size * g_channels);
  checked(ddpm_stream_read_slots(s, slots.data(), slots.size(), &count));
  Block stats = out_struct<ddpm_stream_stats>(c[11], c[9], c[8]);
  checked(ddpm_stream_get_stats(s, static_cast<ddpm_stream_stats*>(stats.data())));
  ddpm_stream_close(s);
}

// ---- training -------------------------------------------------------------------------------

void train_cb(ddpm_train_job* job, int64_t, int64_t, double, double, double, const char*, void*) {
  ddpm_train_status st;
  checked(ddpm_train_poll(job, &st));
  FUZZ_CHECK(ddpm_train_wait(job, 0) == DDPM_ERR_INVALID_ARGUMENT);  // refused from its callback
}

void fuzz_train(Reader& r, uint8_t flags) {
  using T = ddpm_train_params;
  // Fields after dist_timeout (newer ones such as local_processes and worker_path, which start
  // processes) are never fuzzed: their bytes stay zero, whatever the input and the header.
  constexpr size_t kFuzzed = offsetof(T, dist_timeout) + sizeof(int);
  Block b(pick_size(r, sizeof(T)));
  const ddpm_status init = checked(ddpm_train_params_init(static_cast<T*>(b.data()), b.size));
  if (init != DDPM_OK) std::memset(b.data(), 0, b.bytes.size());
  uint8_t c[kChoices];
  for (auto& x : c) x = r.u8();
  apply_patches(r, b, kFuzzed);
  T v = view_of(b, ddpm_train_params_init);
  std::memset(reinterpret_cast<uint8_t*>(&v) + kFuzzed, 0, sizeof v - kFuzzed);
  const std::string out = g_dir + "/out.safetensors", ckpt = g_dir + "/ckpt.safetensors";
  static const char* const presets[] = {nullptr, "", "sprite32", "bogus"};
  static const char* const addrs[] = {nullptr, "", "127.0.0.1", "no.such.host.invalid"};
  v.assets = whole(b, offsetof(T, assets)) ? pick_path(c[0], g_assets.c_str()) : nullptr;
  v.preset = whole(b, offsetof(T, preset)) ? presets[c[1] % 4] : nullptr;
  v.init_model = whole(b, offsetof(T, init_model)) ? pick_path(c[2], g_tiny.c_str()) : nullptr;
  v.checkpoint = whole(b, offsetof(T, checkpoint)) ? pick_out_path(c[3], ckpt.c_str()) : nullptr;
  v.out_model = whole(b, offsetof(T, out_model)) ? pick_out_path(c[4], out.c_str()) : nullptr;
  v.sample_dir = whole(b, offsetof(T, sample_dir)) ? pick_out_path(c[5], g_dir.c_str()) : nullptr;
  v.master_addr = whole(b, offsetof(T, master_addr)) ? addrs[c[6] % 4] : nullptr;
  // One process only: a valid world_size > 1 waits for its peers up to dist_timeout seconds.
  if (v.world_size > 1) v.world_size = 1;
  // A valid job is cancelled at once but still loads the images at 1.25x image_size, builds the
  // model and writes it: keep accepted sizes and batches small (refused values stay as they are).
  if (v.image_size > 64 && v.image_size <= 4096) v.image_size = 8 * (1 + v.image_size % 8);
  if (v.batch > 16 && v.batch <= 4096) v.batch = 1 + v.batch % 16;
  write_back(b, v);
  if (b.size > kFuzzed) std::memset(b.bytes.data() + kFuzzed, 0, b.size - kFuzzed);
  if (init != DDPM_OK) b.bytes.assign(b.bytes.size(), 0), std::memcpy(b.data(), &b.size, sizeof(size_t));

  ddpm_train_job* job = nullptr;
  const ddpm_status s = checked(ddpm_train_start(static_cast<T*>(b.data()),
                                                 flags & 2 ? train_cb : nullptr, nullptr, &job));
  FUZZ_CHECK((s == DDPM_OK) == (job != nullptr));
  if (init != DDPM_OK) FUZZ_CHECK(s == DDPM_ERR_INVALID_ARGUMENT);
  if (job) {
    checked(ddpm_train_cancel(job));  // at once: before the first step
    const ddpm_status done = checked(ddpm_train_wait(job, -1));
    FUZZ_CHECK(done != DDPM_OK && done != DDPM_ERR_TIMEOUT);
    ddpm_train_status st;
    checked(ddpm_train_poll(job, &st));
    FUZZ_CHECK(st.done);
    ddpm_train_free(job);
  }
  unlink(out.c_str());  // every execution starts without them (a checkpoint would be resumed)
  unlink(ckpt.c_str());
}

// ---- import ---------------------------------------------------------------------------------

void fuzz_import(Reader& r, uint8_t) {
  using I = ddpm_import_params;
  Block b(pick_size(r, sizeof(I)));
  const ddpm_status init = checked(ddpm_import_params_init(static_cast<I*>(b.data()), b.size));
  if (init != DDPM_OK) std::memset(b.data(), 0, b.bytes.size());
  uint8_t c[kChoices];
  for (auto& x : c) x = r.u8();
  apply_patches(r, b, sizeof(I));
  I v = view_of(b, ddpm_import_params_init);
  static const char* const names[] = {"a", "b", "", nullptr};
  static const char* const good[] = {"a", "b", "c", "d"};
  v.class_names = whole(b, offsetof(I, class_names)) && c[0] % 3 ? (c[0] % 3 == 1 ? good : names) : nullptr;
  if (v.class_names && v.class_count > 4 && v.class_count <= 100000) v.class_count = 1 + v.class_count % 4;
  write_back(b, v);
  const std::string pt = std::string(DDPM_SOURCE_DIR) + "/tests/fixtures/reference/ref_w4_cond.pt";
  const std::string out = g_dir + "/import.safetensors";
  const char* pt_path = pick_path(c[1], c[1] % 10 < 5 ? pt.c_str() : g_tiny.c_str());
  const char* out_path = pick_out_path(c[2], out.c_str());
  checked(ddpm_import_checkpoint(pt_path, out_path, c[3] % 4 ? static_cast<I*>(b.data()) : nullptr));
  unlink(out.c_str());
}

// ---- model load -----------------------------------------------------------------------------

void fuzz_model_load(Reader& r, uint8_t) {
  using M = ddpm_model_params;
  Block b(pick_size(r, sizeof(M)));
  const ddpm_status init = checked(ddpm_model_params_init(static_cast<M*>(b.data()), b.size));
  if (init != DDPM_OK) std::memset(b.data(), 0, b.bytes.size());
  uint8_t c[kChoices];
  for (auto& x : c) x = r.u8();
  apply_patches(r, b, sizeof(M));
  M v = view_of(b, ddpm_model_params_init);
  // A GPU's names too: without CUDA in the library (or a GPU) each is refused by name.
  static const char* const devices[] = {nullptr, "", "cpu", "auto", "cuda", "cuda:99", "cuda:x", "tpu"};
  v.device = whole(b, offsetof(M, device)) ? devices[c[0] % 8] : nullptr;
  write_back(b, v);
  ddpm_model* m = nullptr;
  const ddpm_status s = checked(ddpm_model_load_ex(pick_path(c[1], g_tiny.c_str()),
                                                   c[2] % 4 ? static_cast<M*>(b.data()) : nullptr, &m));
  FUZZ_CHECK((s == DDPM_OK) == (m != nullptr));
  ddpm_model_free(m);
}

void log_cb(ddpm_log_level, const char* message, void*) { FUZZ_CHECK(message && *message); }

void put_file(const std::string& path, const std::string& from) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream(path, std::ios::binary) << in.rdbuf();
}

void remove_dir() {
  // Only the files this harness creates, so nothing else is ever deleted.
  for (const char* f : {"/assets/a/x.png", "/assets/b/y.png", "/assets/a", "/assets/b", "/assets",
                        "/tiny.safetensors", "/file.txt", "/out.safetensors", "/ckpt.safetensors",
                        "/import.safetensors"}) {
    remove((g_dir + f).c_str());
  }
  rmdir(g_dir.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/fuzz_abi_params.XXXXXX";
  FUZZ_CHECK(mkdtemp(tmpl));
  g_dir = tmpl;
  g_assets = g_dir + "/assets";
  g_tiny = g_dir + "/tiny.safetensors";
  g_missing = g_dir + "/missing";
  g_file = g_dir + "/file.txt";
  std::ofstream(g_file) << "not a folder, not a model\n";
  // Two classes of one small image each: a valid asset folder that loads in a blink.
  for (const char* d : {"", "/a", "/b"}) mkdir((g_assets + d).c_str(), 0755);
  put_file(g_assets + "/a/x.png", std::string(DDPM_SOURCE_DIR) + "/tests/fuzz/corpus/image/rgba.png");
  put_file(g_assets + "/b/y.png", std::string(DDPM_SOURCE_DIR) + "/tests/fuzz/corpus/image/gray.png");
  // The plugin tests' tiny model (16x16, 3 classes, T = 100), written by their own tool.
  char* argv[] = {const_cast<char*>(DDPM_MAKE_TINY_MODEL), const_cast<char*>(g_tiny.c_str()), nullptr};
  pid_t pid;
  int status = 0;
  FUZZ_CHECK(posix_spawn(&pid, argv[0], nullptr, nullptr, argv, environ) == 0);
  FUZZ_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::atexit(remove_dir);
  FUZZ_CHECK(ddpm_set_threads(1) == DDPM_OK);
  FUZZ_CHECK(ddpm_set_log_callback(log_cb, DDPM_LOG_DEBUG, nullptr) == DDPM_OK);  // one core per execution: cheaper, steadier
  FUZZ_CHECK(ddpm_model_load(g_tiny.c_str(), &g_model) == DDPM_OK);
  FUZZ_CHECK(ddpm_model_get_shape(g_model, &g_size, nullptr, &g_channels, &g_classes, &g_steps) == DDPM_OK);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  const uint8_t kind = r.u8(), flags = r.u8();
  switch (kind % 5) {
    case 0: fuzz_generate(r, flags); break;
    case 1: fuzz_stream(r, flags); break;
    case 2: fuzz_train(r, flags); break;
    case 3: fuzz_import(r, flags); break;
    default: fuzz_model_load(r, flags); break;
  }
  FUZZ_CHECK(access(g_missing.c_str(), F_OK) != 0);  // no call created what must stay missing
  return 0;
}

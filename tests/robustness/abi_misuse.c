/* Every bad input and misuse of the C ABI that the tests try (tests/plugin/test_abi.c, the
 * ctypes and C# tests) plus the hostile files of the fuzz corpora, run against a real plugin
 * and printed as the rows of docs/robustness.md: what was tried, the status expected, the
 * status got and the message. Exit status 1 when a status differs or a message is empty.
 *
 *   cc -Iplugin/include tests/robustness/abi_misuse.c -Lbuild/plugin -lddpm_plugin \
 *      -Wl,-rpath,$PWD/build/plugin -o abi_misuse
 *   ./abi_misuse MODEL SCRATCH_DIR [BAD_MODEL_FILE...]
 * MODEL: a conditional model file (the default assets/emoji32 model); each BAD_MODEL_FILE is
 * loaded and must give DDPM_ERR_BAD_MODEL. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ddpm_plugin.h"

static int g_failures = 0, g_rows = 0;

static void row(const char* what, ddpm_status got, ddpm_status expected) {
  const char* msg = got == DDPM_OK ? "(accepted)" : ddpm_last_error();
  const int ok = got == expected && msg && msg[0];
  char clean[600];
  size_t i, n = 0;
  for (i = 0; msg && msg[i] && n + 5 < sizeof clean; ++i) {
    const unsigned char u = (unsigned char)msg[i];
    if (msg[i] == '|') clean[n++] = '\\';
    if (u < 0x20 || u >= 0x7f) { /* bytes of a hostile file quoted in the message */
      n += (size_t)snprintf(clean + n, sizeof clean - n, "\\x%02x", u);
      continue;
    }
    clean[n++] = msg[i];
  }
  clean[n] = 0;
  printf("| C ABI | %s | %s | %s%s | %s |\n", what, ddpm_status_string(expected),
         ddpm_status_string(got), ok ? "" : " **(unexpected)**", clean);
  ++g_rows;
  if (!ok) ++g_failures;
}
#define ROW(call, expected, what) row(what, (call), (expected))

/* A training error may come up front, or from ddpm_train_wait once the job runs. */
static void train_row(const ddpm_train_params* tp, ddpm_status expected, const char* what) {
  ddpm_train_job* tj = NULL;
  ddpm_status got = ddpm_train_start(tp, NULL, NULL, &tj);
  if (got == DDPM_OK && tj) {
    char from_wait[300];
    snprintf(from_wait, sizeof from_wait, "%s (from wait)", what);
    got = ddpm_train_wait(tj, -1);
    row(from_wait, got, expected);
    ddpm_train_free(tj);
    return;
  }
  row(what, got, expected);
}

static uint32_t next(uint64_t* state) {
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(*state >> 33);
}

/* Random values in every field of ddpm_generate_params (and random struct sizes) through
 * ddpm_generate_start: every call must return a status, and a job it accepts must cancel and
 * free cleanly. Pointer fields are NULL or point to buffers as large as the fields claim, so
 * that only the plugin's own checks are exercised. One summary row. */
static void random_params(ddpm_model* model, int nclasses) {
  enum { N = 3000 };
  static int32_t classes[4096];
  static uint8_t pixels[64 * 64 * 4], mask[64 * 64];
  static float fpixels[64 * 64 * 4];
  static const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 3.0f, 1e30f, -1e30f, NAN, INFINITY, -INFINITY, 1e-30f};
  static const char* names[] = {NULL, "ddpm", "ddim", "dpmpp2m", "euler_a", "", "DDIM", "x"};
  uint64_t st = 42;
  int counts[16] = {0}, i, k;
  char what[200];
  for (i = 0; i < 4096; ++i) classes[i] = (int32_t)(next(&st) % (unsigned)(nclasses + 3)) - 2;
  for (i = 0; i < N; ++i) {
    ddpm_generate_params p;
    ddpm_job* job = NULL;
    ddpm_status s;
    const uint32_t r = next(&st);
    unsigned char* raw = (unsigned char*)&p;
    for (k = 0; k < (int)sizeof p; ++k) raw[k] = (unsigned char)next(&st);
    if (r % 4) ddpm_generate_params_init(&p, sizeof p); /* mostly valid, one field changed */
    p.struct_size = r % 16 == 0 ? (size_t)(next(&st) % 5000) : sizeof p;
    p.classes = NULL;
    p.sampler_name = names[next(&st) % 8];
    p.init_image_f32 = NULL;
    p.init_image_rgba8 = NULL;
    p.mask = NULL;
    switch (next(&st) % 12) {
      case 0: p.batch = (int)(next(&st) % 6) - 1; break;
      case 1: p.class_index = (int)(next(&st) % (unsigned)(nclasses + 4)) - 2; break;
      case 2: p.classes = classes; p.class_count = next(&st) % 2 ? 1 : (size_t)(p.batch > 0 ? p.batch : 1); break;
      case 3: p.guidance = specials[next(&st) % 12]; break;
      case 4: p.steps = (int)(next(&st) % 2000) - 10; break;
      case 5: p.eta = specials[next(&st) % 12]; break;
      case 6: p.preview_every = (int)(next(&st) % 10) - 3; break;
      case 7:
        p.init_width = (int)(next(&st) % 70) - 3;
        p.init_height = (int)(next(&st) % 70) - 3;
        if (p.init_width > 64 || p.init_height > 64) p.init_width = p.init_height = 64;
        if (next(&st) % 2) p.init_image_rgba8 = pixels; else p.init_image_f32 = fpixels;
        if (next(&st) % 2) p.mask = mask;
        p.strength = specials[next(&st) % 12];
        break;
      case 8: p.variation_strength = specials[next(&st) % 12]; break;
      case 9: p.guidance_rescale = specials[next(&st) % 12]; break;
      case 10: p.sampler = (int)(next(&st) % 8) - 2; break;
      default: break; /* all random (or all defaults) */
    }
    if (p.batch > 4 && p.batch <= 4096 && r % 8) p.batch = 1 + p.batch % 4; /* keep jobs small */
    if (p.steps > 4 && r % 8) p.steps = 1 + p.steps % 4;
    if (p.classes && p.class_count > 4096) p.class_count = 4096;
    s = ddpm_generate_start(model, &p, NULL, NULL, &job);
    if (s < 0 || s > DDPM_ERR_INTERNAL) s = DDPM_ERR_INTERNAL;
    ++counts[s];
    if (s == DDPM_OK) {
      ddpm_job_cancel(job);
      s = ddpm_job_wait(job, -1);
      if (s != DDPM_OK && s != DDPM_ERR_CANCELLED) ++counts[DDPM_ERR_INTERNAL];
      ddpm_job_free(job);
    } else if (job) {
      ++counts[DDPM_ERR_INTERNAL]; /* a refused call must not hand out a job */
    }
  }
  snprintf(what, sizeof what,
           "%d random ddpm_generate_params (every field, struct_size 0..4999) -> %d accepted and "
           "cancelled, %d INVALID_ARGUMENT, %d OUT_OF_RANGE, %d INTERNAL",
           N, counts[DDPM_OK], counts[DDPM_ERR_INVALID_ARGUMENT], counts[DDPM_ERR_OUT_OF_RANGE],
           counts[DDPM_ERR_INTERNAL]);
  printf("| C ABI | %s | no crash, no INTERNAL | %s | (one per refusal) |\n", what,
         counts[DDPM_ERR_INTERNAL] ? "INTERNAL errors **(unexpected)**" : "as expected");
  ++g_rows;
  if (counts[DDPM_ERR_INTERNAL] || counts[DDPM_OK] + counts[DDPM_ERR_INVALID_ARGUMENT] + counts[DDPM_ERR_OUT_OF_RANGE] != N) ++g_failures;
}

static void write_file(const char* path, const void* data, size_t n) {
  FILE* f = fopen(path, "wb");
  if (f) {
    fwrite(data, 1, n, f);
    fclose(f);
  }
}

int main(int argc, char** argv) {
  ddpm_model* model = NULL;
  ddpm_model* m = NULL;
  ddpm_job* job = NULL;
  ddpm_generate_params p;
  ddpm_import_params ip;
  ddpm_train_params tp;
  char path[4096], out[4096];
  unsigned char noise[4096];
  int32_t classes[3] = {0, 1, 99};
  const char* two_names[2] = {"a", NULL};
  int w = 0, h = 0, c = 0, nclasses = 0, batch = 0, i;
  float buffer[16];
  uint8_t bytes[16];
  unsigned state = 12345u;

  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL SCRATCH_DIR [BAD_MODEL_FILE...]\n", argv[0]);
    return 2;
  }
  const char* scratch = argv[2];
  /* A real asset folder, so that each training row fails on its own parameter. */
  const char* samples = getenv("DDPM_SAMPLES") ? getenv("DDPM_SAMPLES") : "assets/samples";
  mkdir(scratch, 0755);
  for (i = 0; i < (int)sizeof noise; ++i) {
    state = state * 1103515245u + 12345u;
    noise[i] = (unsigned char)(state >> 16);
  }

  /* --- model files --- */
  snprintf(path, sizeof path, "%s/missing.safetensors", scratch);
  ROW(ddpm_model_load(path, &m), DDPM_ERR_NOT_FOUND, "load a file that does not exist");
  snprintf(path, sizeof path, "%s/noise.safetensors", scratch);
  write_file(path, noise, sizeof noise);
  ROW(ddpm_model_load(path, &m), DDPM_ERR_BAD_MODEL, "load 4 KiB of random bytes");
  snprintf(path, sizeof path, "%s/empty.pt", scratch);
  write_file(path, noise, 0);
  ROW(ddpm_model_load(path, &m), DDPM_ERR_BAD_MODEL, "load an empty .pt file");
  ROW(ddpm_model_load(scratch, &m), DDPM_ERR_IO, "load a folder");
  ROW(ddpm_model_load(NULL, &m), DDPM_ERR_INVALID_ARGUMENT, "load with a NULL path");
  ROW(ddpm_model_load(path, NULL), DDPM_ERR_INVALID_ARGUMENT, "load with a NULL out pointer");
  for (i = 3; i < argc; ++i) {
    char what[600];
    const char* base = strrchr(argv[i], '/');
    snprintf(what, sizeof what, "load `%s`", base ? base + 1 : argv[i]);
    ROW(ddpm_model_load(argv[i], &m), DDPM_ERR_BAD_MODEL, what);
    if (m) ddpm_model_free(m), m = NULL;
  }

  if (ddpm_model_load(argv[1], &model) != DDPM_OK) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], ddpm_last_error());
    return 1;
  }
  ddpm_model_get_shape(model, &w, &h, &c, &nclasses, NULL);
  (void)batch;

  /* --- generation parameters --- */
  ROW(ddpm_generate_params_init(NULL, sizeof p), DDPM_ERR_INVALID_ARGUMENT, "params_init(NULL)");
  ROW(ddpm_generate_params_init(&p, 3), DDPM_ERR_INVALID_ARGUMENT, "params_init with struct_size 3");
  ddpm_generate_params_init(&p, sizeof p);
  ROW(ddpm_generate_start(NULL, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT, "generate with a NULL model");
  ROW(ddpm_generate_start(model, NULL, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT, "generate with NULL params");
  ROW(ddpm_generate_start(model, &p, NULL, NULL, NULL), DDPM_ERR_INVALID_ARGUMENT, "generate with a NULL out job");
  p.struct_size = 8;
  ROW(ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT, "struct_size 8");
  p.struct_size = (size_t)1 << 20;
  ROW(ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT, "struct_size 1 MiB");
#define BAD(field_set, expected, what)                        \
  ddpm_generate_params_init(&p, sizeof p);                    \
  field_set;                                                  \
  ROW(ddpm_generate_start(model, &p, NULL, NULL, &job), expected, what); \
  if (job) ddpm_job_free(job), job = NULL
  BAD(p.class_index = nclasses, DDPM_ERR_OUT_OF_RANGE, "class_index = number of classes");
  BAD(p.class_index = -2, DDPM_ERR_OUT_OF_RANGE, "class_index = -2");
  BAD((p.batch = 3, p.classes = classes, p.class_count = 3), DDPM_ERR_OUT_OF_RANGE, "classes[] holding 99");
  BAD((p.batch = 3, p.classes = classes, p.class_count = 2), DDPM_ERR_INVALID_ARGUMENT, "class_count 2 for batch 3");
  BAD((p.classes = NULL, p.class_count = 1), DDPM_ERR_INVALID_ARGUMENT, "class_count 1 with classes NULL");
  BAD(p.sampler_name = "plms", DDPM_ERR_INVALID_ARGUMENT, "sampler_name \"plms\"");
  BAD(p.sampler = 42, DDPM_ERR_INVALID_ARGUMENT, "sampler 42");
  BAD(p.steps = -1, DDPM_ERR_OUT_OF_RANGE, "steps -1");
  BAD(p.steps = 100000, DDPM_ERR_OUT_OF_RANGE, "steps 100000");
  BAD(p.guidance = -1.0f, DDPM_ERR_INVALID_ARGUMENT, "guidance -1");
  BAD(p.guidance = NAN, DDPM_ERR_INVALID_ARGUMENT, "guidance NaN");
  BAD((p.guidance_min_sigma = 5.0f, p.guidance_max_sigma = 2.0f), DDPM_ERR_INVALID_ARGUMENT,
      "guidance interval [5, 2]");
  BAD(p.guidance_max_sigma = NAN, DDPM_ERR_INVALID_ARGUMENT, "guidance_max_sigma NaN");
  BAD(p.eta = 2.0f, DDPM_ERR_INVALID_ARGUMENT, "eta 2");
  BAD(p.batch = 0, DDPM_ERR_OUT_OF_RANGE, "batch 0");
  BAD(p.batch = 1 << 20, DDPM_ERR_OUT_OF_RANGE, "batch 2^20");
  BAD(p.variation_strength = 1.5f, DDPM_ERR_INVALID_ARGUMENT, "variation_strength 1.5");
  BAD(p.guidance_rescale = -0.5f, DDPM_ERR_INVALID_ARGUMENT, "guidance_rescale -0.5");
  /* strength is checked (0..1) even without an init image: a bad value is refused at once, not
   * on the day an image is added. */
  BAD((p.strength = 2.0f, p.steps = 1), DDPM_ERR_OUT_OF_RANGE, "strength 2 with no init image");
  BAD((p.init_image_rgba8 = bytes, p.init_width = 0, p.init_height = 2), DDPM_ERR_OUT_OF_RANGE,
      "init image 0x2");
  BAD((p.init_image_rgba8 = bytes, p.init_image_f32 = buffer, p.init_width = 2, p.init_height = 2),
      DDPM_ERR_INVALID_ARGUMENT, "init image given as both float and bytes");
  BAD(p.mask = bytes, DDPM_ERR_INVALID_ARGUMENT, "mask without an init image");
  BAD(p.preview_every = -1, DDPM_ERR_OUT_OF_RANGE, "preview_every -1");

  /* --- NULL handles --- */
  ROW(ddpm_job_poll(NULL, NULL, 0, NULL, NULL), DDPM_ERR_INVALID_ARGUMENT, "job_poll(NULL)");
  ROW(ddpm_job_cancel(NULL), DDPM_ERR_INVALID_ARGUMENT, "job_cancel(NULL)");
  ROW(ddpm_job_wait(NULL, 0), DDPM_ERR_INVALID_ARGUMENT, "job_wait(NULL)");
  ROW(ddpm_job_result_rgba8(NULL, NULL, 0), DDPM_ERR_INVALID_ARGUMENT, "job_result_rgba8(NULL)");
  ROW(ddpm_job_result_f32(NULL, NULL, 0), DDPM_ERR_INVALID_ARGUMENT, "job_result_f32(NULL)");
  ROW(ddpm_job_get_shape(NULL, NULL, NULL, NULL, NULL), DDPM_ERR_INVALID_ARGUMENT, "job_get_shape(NULL)");
  ROW(ddpm_model_info_json(NULL, NULL), DDPM_ERR_INVALID_ARGUMENT, "model_info_json(NULL, NULL)");
  ROW(ddpm_model_info_json(model, NULL), DDPM_ERR_INVALID_ARGUMENT, "model_info_json(model, NULL)");
  ROW(ddpm_model_get_shape(NULL, NULL, NULL, NULL, NULL, NULL), DDPM_ERR_INVALID_ARGUMENT, "model_get_shape(NULL)");
  ROW(ddpm_set_threads(-3), DDPM_ERR_OUT_OF_RANGE, "set_threads(-3)");

  /* --- jobs: small buffers, cancelled, not finished --- */
  ddpm_generate_params_init(&p, sizeof p);
  p.steps = 2;
  p.preview_every = 1;
  if (ddpm_generate_start(model, &p, NULL, NULL, &job) == DDPM_OK && ddpm_job_wait(job, -1) == DDPM_OK) {
    ROW(ddpm_job_poll(job, buffer, 1, NULL, NULL), DDPM_ERR_BUFFER_TOO_SMALL, "job_poll into 1 float");
    ROW(ddpm_job_result_rgba8(job, bytes, 1), DDPM_ERR_BUFFER_TOO_SMALL, "job_result_rgba8 into 1 byte");
    ROW(ddpm_job_result_f32(job, buffer, 1), DDPM_ERR_BUFFER_TOO_SMALL, "job_result_f32 into 1 float");
  } else {
    fprintf(stderr, "a 2-step job failed: %s\n", ddpm_last_error());
    ++g_failures;
  }
  ddpm_job_free(job);
  job = NULL;
  ddpm_generate_params_init(&p, sizeof p);
  p.steps = 500;
  p.sampler_name = "ddpm";
  p.batch = 4;
  if (ddpm_generate_start(model, &p, NULL, NULL, &job) == DDPM_OK) {
    ROW(ddpm_job_wait(job, 0), DDPM_ERR_TIMEOUT, "job_wait(0 ms) on a running job");
    ROW(ddpm_job_result_f32(job, buffer, 16), DDPM_ERR_NOT_READY, "job_result_f32 before the end");
    ddpm_job_cancel(job);
    ROW(ddpm_job_wait(job, -1), DDPM_ERR_CANCELLED, "job_wait after job_cancel");
    ROW(ddpm_job_result_rgba8(job, bytes, 16), DDPM_ERR_CANCELLED, "job_result_rgba8 of a cancelled job");
  }
  ddpm_job_free(job);

  /* --- import --- */
  ROW(ddpm_import_params_init(NULL, sizeof ip), DDPM_ERR_INVALID_ARGUMENT, "import_params_init(NULL)");
  ddpm_import_params_init(&ip, sizeof ip);
  snprintf(out, sizeof out, "%s/imported.safetensors", scratch);
  snprintf(path, sizeof path, "%s/missing.pt", scratch);
  ROW(ddpm_import_checkpoint(path, out, &ip), DDPM_ERR_NOT_FOUND, "import a missing .pt");
  ROW(ddpm_import_checkpoint(NULL, out, &ip), DDPM_ERR_INVALID_ARGUMENT, "import with a NULL input path");
  ROW(ddpm_import_checkpoint(argv[1], NULL, &ip), DDPM_ERR_INVALID_ARGUMENT, "import with a NULL output path");
  ROW(ddpm_import_checkpoint(argv[1], out, &ip), DDPM_ERR_BAD_MODEL, "import a model file as a .pt");
  snprintf(path, sizeof path, "%s/noise.safetensors", scratch);
  ROW(ddpm_import_checkpoint(path, out, &ip), DDPM_ERR_BAD_MODEL, "import 4 KiB of random bytes");
  ROW(ddpm_blend_models(argv[1], path, 1, out), DDPM_ERR_BAD_MODEL, "blend 4 KiB of random bytes as a fine-tune");
  ROW(ddpm_widen_model(path, 1, out), DDPM_ERR_BAD_MODEL, "widen 4 KiB of random bytes");
  ROW(ddpm_blend_models(argv[1], argv[1], 0, out), DDPM_ERR_OUT_OF_RANGE, "blend at strength 0");
  snprintf(path, sizeof path, "%s/no_such_dir/blend.safetensors", scratch);
  ROW(ddpm_blend_models(argv[1], argv[1], 1, path), DDPM_ERR_IO, "blend into a missing folder");
  ROW(ddpm_convert_model(argv[1], 1, path), DDPM_ERR_IO, "convert into a missing folder");
  ROW(ddpm_import_checkpoint(argv[1], path, &ip), DDPM_ERR_IO, "import into a missing folder");
  ROW(ddpm_import_checkpoint(argv[1], scratch, &ip), DDPM_ERR_IO, "import onto a folder");
  ip.class_names = two_names;
  ip.class_count = 2;
  ROW(ddpm_import_checkpoint(argv[1], out, &ip), DDPM_ERR_INVALID_ARGUMENT, "class_names holding NULL");
  ip.class_names = NULL;
  ROW(ddpm_import_checkpoint(argv[1], out, &ip), DDPM_ERR_INVALID_ARGUMENT, "class_count 2, class_names NULL");
  ip.class_count = -1;
  ROW(ddpm_import_checkpoint(argv[1], out, &ip), DDPM_ERR_OUT_OF_RANGE, "class_count -1");
  ddpm_import_params_init(&ip, sizeof ip);
  ip.struct_size = 3;
  ROW(ddpm_import_checkpoint(argv[1], out, &ip), DDPM_ERR_INVALID_ARGUMENT, "import struct_size 3");
  ddpm_import_params_init(&ip, sizeof ip);
  ip.image_size = 0;
  ROW(ddpm_import_checkpoint(argv[1], out, &ip), DDPM_ERR_OUT_OF_RANGE, "import image_size 0");

  /* --- training --- */
  ROW(ddpm_train_params_init(NULL, sizeof tp), DDPM_ERR_INVALID_ARGUMENT, "train_params_init(NULL)");
  train_row(NULL, DDPM_ERR_INVALID_ARGUMENT, "train with NULL params");
  ddpm_train_params_init(&tp, sizeof tp);
  snprintf(path, sizeof path, "%s/no_such_folder", scratch);
  snprintf(out, sizeof out, "%s/trained.safetensors", scratch);
  tp.assets = path;
  tp.out_model = out;
  train_row(&tp, DDPM_ERR_NOT_FOUND, "train on a missing folder");
  tp.assets = scratch;
  tp.out_model = NULL;
  train_row(&tp, DDPM_ERR_INVALID_ARGUMENT, "train without out_model");
  tp.out_model = out;
#define TBAD(field_set, expected, what)      \
  ddpm_train_params_init(&tp, sizeof tp);    \
  tp.assets = samples;                       \
  tp.out_model = out;                        \
  tp.steps = 2;                              \
  field_set;                                 \
  train_row(&tp, expected, what)
  TBAD(tp.batch = -1, DDPM_ERR_INVALID_ARGUMENT, "train batch -1");
  TBAD(tp.lora_rank = 300, DDPM_ERR_INVALID_ARGUMENT, "train lora_rank 300");
  TBAD(tp.random_crop = 2, DDPM_ERR_INVALID_ARGUMENT, "train random_crop 2");
  TBAD(tp.bf16 = 2, DDPM_ERR_INVALID_ARGUMENT, "train bf16 2");
  TBAD(tp.strength = 3.0, DDPM_ERR_INVALID_ARGUMENT, "train strength 3");
  TBAD(tp.steps = 0, DDPM_ERR_INVALID_ARGUMENT, "train steps 0");
  TBAD(tp.lr = 2.0, DDPM_ERR_INVALID_ARGUMENT, "train lr 2");
  TBAD(tp.decay_from = 1.5, DDPM_ERR_INVALID_ARGUMENT, "train decay_from 1.5");
  TBAD(tp.ema_decay = 1.0, DDPM_ERR_INVALID_ARGUMENT, "train ema_decay 1");
  TBAD(tp.label_drop = -0.1, DDPM_ERR_INVALID_ARGUMENT, "train label_drop -0.1");
  TBAD(tp.preset = "huge", DDPM_ERR_INVALID_ARGUMENT, "train preset \"huge\"");
  TBAD(tp.image_size = 20, DDPM_ERR_INVALID_ARGUMENT, "train image_size 20 (not a multiple of 8)");
  TBAD(tp.init_model = "/nonexistent/model.safetensors", DDPM_ERR_NOT_FOUND, "fine-tune a missing model");
  TBAD(tp.out_model = "/nonexistent/trained.safetensors", DDPM_ERR_IO, "train into a folder that does not exist");
  TBAD(tp.checkpoint = scratch, DDPM_ERR_IO, "train with a folder as the checkpoint");
  TBAD(tp.struct_size = 5, DDPM_ERR_INVALID_ARGUMENT, "train struct_size 5");
  TBAD(tp.local_processes = 65, DDPM_ERR_OUT_OF_RANGE, "train local_processes 65");
  TBAD((tp.local_processes = 2, tp.world_size = 2), DDPM_ERR_INVALID_ARGUMENT,
       "train local_processes 2 with world_size 2");
  TBAD((tp.local_processes = 2, tp.worker_path = "/nonexistent/ddpm_train_worker"), DDPM_ERR_NOT_FOUND,
       "train local_processes 2 with a missing worker");
  TBAD((tp.local_processes = 2, tp.batch = 3), DDPM_ERR_INVALID_ARGUMENT,
       "train local_processes 2 with batch 3");
  /* A folder whose only class holds no image: refused when the job loads it. */
  snprintf(path, sizeof path, "%s/empty_assets", scratch);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/empty_assets/cls", scratch);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/empty_assets/cls/readme.txt", scratch);
  write_file(path, "not an image", 12);
  snprintf(path, sizeof path, "%s/empty_assets", scratch);
  ddpm_train_params_init(&tp, sizeof tp);
  tp.assets = path;
  tp.out_model = out;
  tp.image_size = 16;
  tp.steps = 2;
  train_row(&tp, DDPM_ERR_INVALID_ARGUMENT, "train on a folder with no image");
  ROW(ddpm_train_poll(NULL, NULL), DDPM_ERR_INVALID_ARGUMENT, "train_poll(NULL)");
  ROW(ddpm_train_cancel(NULL), DDPM_ERR_INVALID_ARGUMENT, "train_cancel(NULL)");
  ROW(ddpm_train_wait(NULL, 0), DDPM_ERR_INVALID_ARGUMENT, "train_wait(NULL)");
  ddpm_job_free(NULL);
  ddpm_model_free(NULL);
  ddpm_train_free(NULL);
  ddpm_string_free(NULL);
  random_params(model, nclasses);
  ddpm_model_free(model);
  fprintf(stderr, "abi_misuse: %d rows, %d unexpected\n", g_rows, g_failures);
  return g_failures ? 1 : 0;
}

/* The C ABI seen from C99 through dlopen, as a game engine would:
 *   test_abi LIBRARY MODEL.safetensors SCRATCH_DIR */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ddpm_plugin.h"

static int g_failures = 0;
static void mkdir_p(const char* path) { (void)mkdir(path, 0755); }
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failures;                                                        \
    }                                                                      \
  } while (0)

/* The functions, resolved with dlsym. */
#define DDPM_FUNCTIONS(X)                                                                    \
  X(int, ddpm_abi_version, (void))                                                           \
  X(const char*, ddpm_version_string, (void))                                                \
  X(const char*, ddpm_last_error, (void))                                                    \
  X(const char*, ddpm_status_string, (ddpm_status))                                          \
  X(ddpm_status, ddpm_set_log_callback, (ddpm_log_fn, ddpm_log_level, void*))                \
  X(ddpm_status, ddpm_set_threads, (int))                                                    \
  X(void, ddpm_string_free, (char*))                                                         \
  X(ddpm_status, ddpm_model_load, (const char*, ddpm_model**))                               \
  X(void, ddpm_model_free, (ddpm_model*))                                                    \
  X(ddpm_status, ddpm_model_info_json, (const ddpm_model*, char**))                          \
  X(ddpm_status, ddpm_model_get_shape, (const ddpm_model*, int*, int*, int*, int*, int*))    \
  X(ddpm_status, ddpm_generate_params_init, (ddpm_generate_params*, size_t))                 \
  X(ddpm_status, ddpm_generate_start,                                                        \
    (ddpm_model*, const ddpm_generate_params*, ddpm_step_fn, void*, ddpm_job**))             \
  X(ddpm_status, ddpm_job_get_shape, (const ddpm_job*, int*, int*, int*, int*))              \
  X(ddpm_status, ddpm_job_poll, (ddpm_job*, float*, size_t, int*, int*))                     \
  X(ddpm_status, ddpm_job_cancel, (ddpm_job*))                                               \
  X(ddpm_status, ddpm_job_wait, (ddpm_job*, int))                                            \
  X(ddpm_status, ddpm_job_result_rgba8, (ddpm_job*, uint8_t*, size_t))                       \
  X(ddpm_status, ddpm_job_result_f32, (ddpm_job*, float*, size_t))                           \
  X(void, ddpm_job_free, (ddpm_job*))                                                         \
  X(ddpm_status, ddpm_import_params_init, (ddpm_import_params*, size_t))                     \
  X(ddpm_status, ddpm_import_checkpoint, (const char*, const char*, const ddpm_import_params*)) \
  X(ddpm_status, ddpm_blend_models, (const char*, const char*, double, const char*))          \
  X(ddpm_status, ddpm_widen_model, (const char*, uint64_t, const char*))                     \
  X(ddpm_status, ddpm_convert_model, (const char*, int, const char*))                        \
  X(ddpm_status, ddpm_train_params_init, (ddpm_train_params*, size_t))                       \
  X(ddpm_status, ddpm_train_start,                                                           \
    (const ddpm_train_params*, ddpm_train_callback, void*, ddpm_train_job**))                \
  X(ddpm_status, ddpm_train_poll, (ddpm_train_job*, ddpm_train_status*))                     \
  X(ddpm_status, ddpm_train_cancel, (ddpm_train_job*))                                       \
  X(ddpm_status, ddpm_train_wait, (ddpm_train_job*, int))                                    \
  X(void, ddpm_train_free, (ddpm_train_job*))

#define DECLARE(ret, name, args) static ret(*p_##name) args;
DDPM_FUNCTIONS(DECLARE)

static int load_functions(void* lib) {
  int ok = 1;
#define RESOLVE(ret, name, args)                                   \
  *(void**)(&p_##name) = dlsym(lib, #name);                        \
  if (!p_##name) {                                                 \
    fprintf(stderr, "missing symbol %s\n", #name);                 \
    ok = 0;                                                        \
  }
  DDPM_FUNCTIONS(RESOLVE)
  return ok;
}

/* Checks that a call failed with `expected` and left a message. */
static void expect_error(ddpm_status got, ddpm_status expected, const char* what, int line) {
  const char* msg = p_ddpm_last_error();
  if (got != expected || !msg || !msg[0]) {
    fprintf(stderr, "line %d: %s: got %s (expected %s), message '%s'\n", line, what,
            p_ddpm_status_string(got), p_ddpm_status_string(expected), msg ? msg : "(null)");
    ++g_failures;
  } else {
    printf("  %-40s -> %s: %s\n", what, p_ddpm_status_string(got), msg);
  }
}
#define EXPECT_ERROR(call, expected) expect_error((call), (expected), #call, __LINE__)

typedef struct {
  int calls, frames, bad, last_step, total;
  int width, height, channels, batch;
} step_counter;

static void on_step(ddpm_job* job, int step, int total, const float* frame, int width, int height,
                    int channels, int batch, void* user_data) {
  step_counter* c = (step_counter*)user_data;
  (void)job;
  c->calls++;
  if (step != c->last_step + 1 || step > total) c->bad++;
  c->last_step = step;
  c->total = total;
  if (width != c->width || height != c->height || channels != c->channels || batch != c->batch) c->bad++;
  if (frame) {
    size_t i, n = (size_t)width * height * channels * batch;
    c->frames++;
    for (i = 0; i < n; ++i) {
      if (!(frame[i] >= 0.0f && frame[i] <= 1.0f)) {
        c->bad++;
        break;
      }
    }
  }
}

static int g_log_messages = 0;
static void on_log(ddpm_log_level level, const char* message, void* user_data) {
  (void)level;
  (void)message;
  (void)user_data;
  g_log_messages++;
}

static void write_file(const char* path, const void* data, size_t size) {
  FILE* f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fwrite(data, 1, size, f);
  fclose(f);
}

static void test_bad_model_files(const char* scratch) {
  static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                      'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0,
                                      0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0, 'I', 'E', 'N', 'D',
                                      0xae, 0x42, 0x60, 0x82};
  unsigned char noise[4096];
  char path[4096];
  ddpm_model* m = (ddpm_model*)1;
  size_t i;
  unsigned state = 12345u;
  for (i = 0; i < sizeof noise; ++i) {
    state = state * 1103515245u + 12345u;
    noise[i] = (unsigned char)(state >> 16);
  }
  snprintf(path, sizeof path, "%s/missing.safetensors", scratch);
  EXPECT_ERROR(p_ddpm_model_load(path, &m), DDPM_ERR_NOT_FOUND);
  CHECK(m == NULL);
  snprintf(path, sizeof path, "%s/image.png", scratch);
  write_file(path, png, sizeof png);
  EXPECT_ERROR(p_ddpm_model_load(path, &m), DDPM_ERR_BAD_MODEL);
  snprintf(path, sizeof path, "%s/noise.safetensors", scratch);
  write_file(path, noise, sizeof noise);
  EXPECT_ERROR(p_ddpm_model_load(path, &m), DDPM_ERR_BAD_MODEL);
  snprintf(path, sizeof path, "%s/empty.pt", scratch);
  write_file(path, noise, 0);
  EXPECT_ERROR(p_ddpm_model_load(path, &m), DDPM_ERR_BAD_MODEL);
  EXPECT_ERROR(p_ddpm_model_load(scratch, &m), DDPM_ERR_IO);
  EXPECT_ERROR(p_ddpm_model_load(NULL, &m), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_model_load(path, NULL), DDPM_ERR_INVALID_ARGUMENT);
}

static void test_bad_params(ddpm_model* model) {
  ddpm_generate_params p;
  ddpm_job* job = (ddpm_job*)1;
  int32_t classes[3] = {0, 1, 7};

  EXPECT_ERROR(p_ddpm_generate_params_init(NULL, sizeof p), DDPM_ERR_INVALID_ARGUMENT);
  p_ddpm_generate_params_init(&p, sizeof p);
  EXPECT_ERROR(p_ddpm_generate_start(NULL, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);
  CHECK(job == NULL);
  EXPECT_ERROR(p_ddpm_generate_start(model, NULL, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, NULL), DDPM_ERR_INVALID_ARGUMENT);

  p.struct_size = 8;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);
  p.struct_size = (size_t)1 << 20;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);

  p_ddpm_generate_params_init(&p, sizeof p);
  p.class_index = 3;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_OUT_OF_RANGE);
  p.class_index = -2;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_OUT_OF_RANGE);
  p_ddpm_generate_params_init(&p, sizeof p);
  p.batch = 3;
  p.classes = classes;
  p.class_count = 3;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_OUT_OF_RANGE);
  p.class_count = 2;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);

  p_ddpm_generate_params_init(&p, sizeof p);
  p.sampler_name = "plms";
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);
  p.sampler_name = NULL;
  p.sampler = 42;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);

  p_ddpm_generate_params_init(&p, sizeof p);
  p.steps = -1;  /* 0 is the model's default */
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_OUT_OF_RANGE);
  p.steps = 100000;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_OUT_OF_RANGE);

  p_ddpm_generate_params_init(&p, sizeof p);
  p.guidance = -1.0f;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);
  p_ddpm_generate_params_init(&p, sizeof p);
  p.eta = 2.0f;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);
  p_ddpm_generate_params_init(&p, sizeof p);
  p.batch = 0;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_OUT_OF_RANGE);
  CHECK(job == NULL);
  p_ddpm_generate_params_init(&p, sizeof p);
  p.variation_strength = 1.5f;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);
  CHECK(strstr(p_ddpm_last_error(), "variation") != NULL);
  p_ddpm_generate_params_init(&p, sizeof p);
  p.strength = 2.0f; /* refused even without an init image: a value the caller means to use */
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_OUT_OF_RANGE);
  CHECK(strstr(p_ddpm_last_error(), "strength") != NULL);
  p_ddpm_generate_params_init(&p, sizeof p);
  p.guidance_rescale = -0.5f;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);
  CHECK(strstr(p_ddpm_last_error(), "rescale") != NULL);
  p_ddpm_generate_params_init(&p, sizeof p);
  CHECK(p.alpha_cutoff < 0); /* the model's own by default */
  p.alpha_cutoff = 1.0f;
  EXPECT_ERROR(p_ddpm_generate_start(model, &p, NULL, NULL, &job), DDPM_ERR_INVALID_ARGUMENT);
  CHECK(strstr(p_ddpm_last_error(), "alpha cutoff") != NULL);

  /* NULL handles everywhere. */
  EXPECT_ERROR(p_ddpm_job_poll(NULL, NULL, 0, NULL, NULL), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_job_cancel(NULL), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_job_wait(NULL, 0), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_job_result_rgba8(NULL, NULL, 0), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_job_result_f32(NULL, NULL, 0), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_job_get_shape(NULL, NULL, NULL, NULL, NULL), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_model_info_json(NULL, NULL), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_model_info_json(model, NULL), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_model_get_shape(NULL, NULL, NULL, NULL, NULL, NULL), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_set_threads(-3), DDPM_ERR_OUT_OF_RANGE);
  p_ddpm_job_free(NULL);
  p_ddpm_model_free(NULL);
  p_ddpm_string_free(NULL);
}

/* An older caller: a struct that ends before the image-to-image fields. */
static void test_old_struct(ddpm_model* model) {
  ddpm_generate_params p;
  ddpm_job* job = NULL;
  uint8_t rgba[16 * 16 * 4];
  p_ddpm_generate_params_init(&p, sizeof p);
  p.struct_size = offsetof(ddpm_generate_params, init_image_f32);
  p.steps = 3;
  p.init_image_rgba8 = (const uint8_t*)8; /* garbage past struct_size: must not be read */
  CHECK(p_ddpm_generate_start(model, &p, NULL, NULL, &job) == DDPM_OK);
  CHECK(p_ddpm_job_wait(job, -1) == DDPM_OK);
  CHECK(p_ddpm_job_result_rgba8(job, rgba, sizeof rgba) == DDPM_OK);
  p_ddpm_job_free(job);
  /* A caller from before the variation fields: garbage there is never read. */
  p_ddpm_generate_params_init(&p, sizeof p);
  p.struct_size = offsetof(ddpm_generate_params, variation_seed);
  p.steps = 3;
  p.variation_strength = 5.0f;
  CHECK(p_ddpm_generate_start(model, &p, NULL, NULL, &job) == DDPM_OK);
  CHECK(p_ddpm_job_wait(job, -1) == DDPM_OK);
  p_ddpm_job_free(job);
}

/* The *_params_init functions write exactly struct_size bytes, whatever the caller's struct. */
#define MARKER 0xA5
#define INIT_BUFFER 8192
typedef union {
  ddpm_generate_params g;
  ddpm_import_params i;
  ddpm_train_params t;
  unsigned char bytes[INIT_BUFFER];
} init_buffer;

/* Counts the bytes in [from, to) of `b` that are not `value`. */
static size_t count_not(const init_buffer* b, size_t from, size_t to, unsigned char value) {
  size_t i, n = 0;
  for (i = from; i < to; ++i) n += b->bytes[i] != value;
  return n;
}

static void expect_size_error(ddpm_status got, size_t size, const char* what, int line) {
  char size_text[32];
  const char* msg = p_ddpm_last_error();
  snprintf(size_text, sizeof size_text, "%lu", (unsigned long)size);
  expect_error(got, DDPM_ERR_INVALID_ARGUMENT, what, line);
  if (!strstr(msg, size_text) || !strstr(msg, "4096")) {
    fprintf(stderr, "line %d: %s: the message '%s' does not name %s and 4096\n", line, what, msg,
            size_text);
    ++g_failures;
  }
}
#define EXPECT_SIZE_ERROR(call, size) expect_size_error((call), (size), #call, __LINE__)

static void test_params_init(ddpm_model* model) {
  static init_buffer b;
  const size_t old_generate = offsetof(ddpm_generate_params, variation_seed);
  const size_t min_generate = offsetof(ddpm_generate_params, init_image_f32);
  const size_t min_import = offsetof(ddpm_import_params, image_size);
  const size_t min_train = offsetof(ddpm_train_params, sample_dir);
  const size_t newer = sizeof(ddpm_generate_params) + 64;
  ddpm_job* job = NULL;
  uint8_t rgba[16 * 16 * 4];

  /* An old caller's struct (before the variation fields) at the start of a larger buffer:
   * the defaults it knows are filled in, nothing past its struct_size is touched. */
  memset(b.bytes, MARKER, sizeof b.bytes);
  CHECK(p_ddpm_generate_params_init(&b.g, old_generate) == DDPM_OK);
  CHECK(count_not(&b, old_generate, sizeof b.bytes, MARKER) == 0);
  CHECK(b.g.struct_size == old_generate && b.g.batch == 1 && b.g.class_index == -1 &&
        b.g.steps == 0 && b.g.guidance == 3.0f && b.g.sampler == DDPM_SAMPLER_AUTO &&
        b.g.strength == 0.75f && b.g.mask == NULL && b.g.init_image_rgba8 == NULL);
  /* ... and it generates: the marker bytes past it (variation_*, clip_x0) are never read. */
  b.g.steps = 3;
  CHECK(p_ddpm_generate_start(model, &b.g, NULL, NULL, &job) == DDPM_OK);
  CHECK(p_ddpm_job_wait(job, -1) == DDPM_OK);
  CHECK(p_ddpm_job_result_rgba8(job, rgba, sizeof rgba) == DDPM_OK);
  p_ddpm_job_free(job);
  job = NULL;
  CHECK(count_not(&b, old_generate, sizeof b.bytes, MARKER) == 0);

  /* The oldest structs each function accepts. */
  memset(b.bytes, MARKER, sizeof b.bytes);
  CHECK(p_ddpm_generate_params_init(&b.g, min_generate) == DDPM_OK);
  CHECK(b.g.struct_size == min_generate && b.g.preview_every == 1);
  CHECK(count_not(&b, min_generate, sizeof b.bytes, MARKER) == 0);
  memset(b.bytes, MARKER, sizeof b.bytes);
  CHECK(p_ddpm_import_params_init(&b.i, min_import) == DDPM_OK);
  CHECK(b.i.struct_size == min_import && b.i.class_names == NULL && b.i.class_count == 0);
  CHECK(count_not(&b, min_import, sizeof b.bytes, MARKER) == 0);
  memset(b.bytes, MARKER, sizeof b.bytes);
  CHECK(p_ddpm_train_params_init(&b.t, min_train) == DDPM_OK);
  CHECK(b.t.struct_size == min_train && b.t.steps > 0 && b.t.batch == 0 && b.t.preset &&
        b.t.assets == NULL && b.t.out_model == NULL);
  CHECK(count_not(&b, min_train, sizeof b.bytes, MARKER) == 0);

  /* Sizes out of range: INVALID_ARGUMENT with a message naming the sizes; nothing written. */
  memset(b.bytes, MARKER, sizeof b.bytes);
  EXPECT_SIZE_ERROR(p_ddpm_generate_params_init(&b.g, 0), (size_t)0);
  EXPECT_SIZE_ERROR(p_ddpm_generate_params_init(&b.g, 8), (size_t)8);
  EXPECT_SIZE_ERROR(p_ddpm_generate_params_init(&b.g, min_generate - 1), min_generate - 1);
  EXPECT_SIZE_ERROR(p_ddpm_generate_params_init(&b.g, 4097), (size_t)4097);
  EXPECT_SIZE_ERROR(p_ddpm_generate_params_init(&b.g, (size_t)1 << 20), (size_t)1 << 20);
  EXPECT_SIZE_ERROR(p_ddpm_import_params_init(&b.i, min_import - 1), min_import - 1);
  EXPECT_SIZE_ERROR(p_ddpm_import_params_init(&b.i, 4097), (size_t)4097);
  EXPECT_SIZE_ERROR(p_ddpm_train_params_init(&b.t, min_train - 1), min_train - 1);
  EXPECT_SIZE_ERROR(p_ddpm_train_params_init(&b.t, 4097), (size_t)4097);
  EXPECT_ERROR(p_ddpm_import_params_init(NULL, sizeof b.i), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_train_params_init(NULL, sizeof b.t), DDPM_ERR_INVALID_ARGUMENT);
  CHECK(count_not(&b, 0, sizeof b.bytes, MARKER) == 0);
  /* A failed call leaves a message, a successful one clears it. */
  CHECK(p_ddpm_generate_params_init(&b.g, sizeof b.g) == DDPM_OK);
  CHECK(strlen(p_ddpm_last_error()) == 0);

  /* A caller newer than the library: zeros past the library's struct, up to struct_size. */
  memset(b.bytes, MARKER, sizeof b.bytes);
  CHECK(p_ddpm_generate_params_init(&b.g, newer) == DDPM_OK);
  CHECK(b.g.struct_size == newer && b.g.clip_x0 == 1 && b.g.steps == 0);
  CHECK(count_not(&b, sizeof b.g, newer, 0) == 0);
  CHECK(count_not(&b, newer, sizeof b.bytes, MARKER) == 0);
  b.g.steps = 2;
  CHECK(p_ddpm_generate_start(model, &b.g, NULL, NULL, &job) == DDPM_OK);
  CHECK(p_ddpm_job_wait(job, -1) == DDPM_OK);
  p_ddpm_job_free(job);
  memset(b.bytes, MARKER, sizeof b.bytes);
  CHECK(p_ddpm_generate_params_init(&b.g, 4096) == DDPM_OK);
  CHECK(count_not(&b, sizeof b.g, 4096, 0) == 0 && count_not(&b, 4096, sizeof b.bytes, MARKER) == 0);
  memset(b.bytes, MARKER, sizeof b.bytes);
  CHECK(p_ddpm_import_params_init(&b.i, sizeof b.i + 40) == DDPM_OK);
  CHECK(b.i.struct_size == sizeof b.i + 40 && b.i.image_size == 64);
  CHECK(count_not(&b, sizeof b.i, sizeof b.i + 40, 0) == 0);
  CHECK(count_not(&b, sizeof b.i + 40, sizeof b.bytes, MARKER) == 0);
  /* ddpm_import_checkpoint takes such a struct too: it goes on to look for the file. */
  EXPECT_ERROR(p_ddpm_import_checkpoint("/nonexistent/ref.pt", "/tmp/unused.safetensors", &b.i),
               DDPM_ERR_NOT_FOUND);
  memset(b.bytes, MARKER, sizeof b.bytes);
  CHECK(p_ddpm_train_params_init(&b.t, sizeof b.t + 24) == DDPM_OK);
  CHECK(b.t.struct_size == sizeof b.t + 24 && b.t.checkpoint_every > 0);
  CHECK(count_not(&b, sizeof b.t, sizeof b.t + 24, 0) == 0);
  CHECK(count_not(&b, sizeof b.t + 24, sizeof b.bytes, MARKER) == 0);
}

/* Runs a deterministic DDIM job and returns its RGBA bytes in `out` (16x16 model). */
static void ddim_rgba(ddpm_model* model, uint64_t seed, uint64_t variation_seed, float variation,
                      uint8_t* out, size_t size) {
  ddpm_generate_params p;
  ddpm_job* job = NULL;
  p_ddpm_generate_params_init(&p, sizeof p);
  p.sampler = DDPM_SAMPLER_DDIM;
  p.steps = 8;
  p.seed = seed;
  p.variation_seed = variation_seed;
  p.variation_strength = variation;
  CHECK(p_ddpm_generate_start(model, &p, NULL, NULL, &job) == DDPM_OK);
  CHECK(p_ddpm_job_wait(job, -1) == DDPM_OK);
  CHECK(p_ddpm_job_result_rgba8(job, out, size) == DDPM_OK);
  p_ddpm_job_free(job);
}

static int max_abs_diff(const uint8_t* a, const uint8_t* b, size_t n) {
  int m = 0;
  for (size_t i = 0; i < n; ++i) {
    const int d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
    if (d > m) m = d;
  }
  return m;
}

/* Variation walks from one seed's image (strength 0) to the other's (strength 1). */
static void test_variation(ddpm_model* model) {
  static uint8_t a[16 * 16 * 4], b[16 * 16 * 4], mid[16 * 16 * 4], end[16 * 16 * 4];
  ddim_rgba(model, 11, 0, 0.0f, a, sizeof a);
  ddim_rgba(model, 12, 0, 0.0f, b, sizeof b);
  ddim_rgba(model, 11, 12, 0.5f, mid, sizeof mid);
  ddim_rgba(model, 11, 12, 1.0f, end, sizeof end);
  CHECK(max_abs_diff(a, b, sizeof a) > 16);  /* two seeds give two images */
  CHECK(max_abs_diff(mid, a, sizeof a) > 4 && max_abs_diff(mid, b, sizeof b) > 4);
  CHECK(max_abs_diff(end, b, sizeof b) <= 2);  /* strength 1 is the other seed's image */
  printf("  variation: |a-b| %d, |mid-a| %d, |end-b| %d\n", max_abs_diff(a, b, sizeof a),
         max_abs_diff(mid, a, sizeof a), max_abs_diff(end, b, sizeof b));
}

/* ddpm_import_checkpoint on the reference fixture, then a load of the result. */
static void test_import(const char* scratch) {
#ifdef DDPM_REF_FIXTURE
  static const char* const names[] = {"red", "green", "blue"};
  static const char* const two_names[] = {"red", "green"};
  ddpm_import_params ip;
  ddpm_model* m = NULL;
  char out[4096];
  char bad[4096];
  char* json = NULL;
  int w = 0, h = 0, c = 0, classes = 0;
  snprintf(out, sizeof out, "%s/imported.safetensors", scratch);
  remove(out);
  EXPECT_ERROR(p_ddpm_import_params_init(NULL, sizeof ip), DDPM_ERR_INVALID_ARGUMENT);
  CHECK(p_ddpm_import_params_init(&ip, sizeof ip) == DDPM_OK);
  CHECK(ip.struct_size == sizeof ip && ip.image_size == 64 && ip.class_count == 0 &&
        ip.class_names == NULL && ip.float16 == 0);
  ip.image_size = 16;
  /* Wrong name count, missing file, NULL paths, bad struct_size, missing output folder. */
  ip.class_names = two_names;
  ip.class_count = 2;
  EXPECT_ERROR(p_ddpm_import_checkpoint(DDPM_REF_FIXTURE, out, &ip), DDPM_ERR_BAD_MODEL);
  ip.class_names = names;
  ip.class_count = 3;
  snprintf(bad, sizeof bad, "%s/missing.pt", scratch);
  EXPECT_ERROR(p_ddpm_import_checkpoint(bad, out, &ip), DDPM_ERR_NOT_FOUND);
  EXPECT_ERROR(p_ddpm_import_checkpoint(NULL, out, &ip), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_import_checkpoint(DDPM_REF_FIXTURE, NULL, &ip), DDPM_ERR_INVALID_ARGUMENT);
  snprintf(bad, sizeof bad, "%s/no_such_dir/x.safetensors", scratch);
  EXPECT_ERROR(p_ddpm_import_checkpoint(DDPM_REF_FIXTURE, bad, &ip), DDPM_ERR_IO);
  ip.struct_size = 3;
  EXPECT_ERROR(p_ddpm_import_checkpoint(DDPM_REF_FIXTURE, out, &ip), DDPM_ERR_INVALID_ARGUMENT);
  ip.struct_size = sizeof ip;
  ip.image_size = 0;
  EXPECT_ERROR(p_ddpm_import_checkpoint(DDPM_REF_FIXTURE, out, &ip), DDPM_ERR_OUT_OF_RANGE);
  ip.image_size = 16;
  /* The real import. */
  CHECK(p_ddpm_import_checkpoint(DDPM_REF_FIXTURE, out, &ip) == DDPM_OK);
  CHECK(strlen(p_ddpm_last_error()) == 0);
  CHECK(p_ddpm_model_load(out, &m) == DDPM_OK);
  if (!m) {
    fprintf(stderr, "cannot load the imported model %s: %s\n", out, p_ddpm_last_error());
    return;
  }
  CHECK(p_ddpm_model_get_shape(m, &w, &h, &c, &classes, NULL) == DDPM_OK);
  CHECK(w == 16 && h == 16 && classes == 3);
  CHECK(p_ddpm_model_info_json(m, &json) == DDPM_OK);
  CHECK(json && strstr(json, "\"red\"") && strstr(json, "\"green\"") && strstr(json, "\"blue\""));
  p_ddpm_string_free(json);
  p_ddpm_model_free(m);
  printf("  import of %s -> %s: ok\n", DDPM_REF_FIXTURE, out);
  /* ddpm_blend_models: a model with itself (a fine-tune of no change) loads with its classes;
   * NULL paths, strength and a missing file are refused by status. */
  snprintf(bad, sizeof bad, "%s/blended.safetensors", scratch);
  CHECK(p_ddpm_blend_models(out, out, 0.5, bad) == DDPM_OK);
  CHECK(p_ddpm_model_load(bad, &m) == DDPM_OK);
  if (m) {
    CHECK(p_ddpm_model_get_shape(m, &w, &h, &c, &classes, NULL) == DDPM_OK && classes == 3);
    p_ddpm_model_free(m);
  }
  EXPECT_ERROR(p_ddpm_blend_models(NULL, out, 0.5, bad), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_blend_models(out, out, 0.5, NULL), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_blend_models(out, out, 0, bad), DDPM_ERR_OUT_OF_RANGE);
  EXPECT_ERROR(p_ddpm_blend_models(out, out, 2.5, bad), DDPM_ERR_OUT_OF_RANGE);
  EXPECT_ERROR(p_ddpm_blend_models(DDPM_REF_FIXTURE ".missing", out, 1, bad), DDPM_ERR_NOT_FOUND);
  /* ddpm_convert_model: the imported model in float16 loads with its classes; ddpm_widen_model
   * (whose results the ctypes test checks) and it refuse NULL paths and a missing file. */
  snprintf(bad, sizeof bad, "%s/half.safetensors", scratch);
  CHECK(p_ddpm_convert_model(out, 1, bad) == DDPM_OK);
  CHECK(p_ddpm_model_load(bad, &m) == DDPM_OK);
  if (m) {
    CHECK(p_ddpm_model_get_shape(m, &w, &h, &c, &classes, NULL) == DDPM_OK && classes == 3);
    p_ddpm_model_free(m);
  }
  EXPECT_ERROR(p_ddpm_convert_model(out, 1, NULL), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_widen_model(NULL, 1, bad), DDPM_ERR_INVALID_ARGUMENT);
  EXPECT_ERROR(p_ddpm_widen_model(DDPM_REF_FIXTURE ".missing", 1, bad), DDPM_ERR_NOT_FOUND);
#else
  (void)scratch;
  printf("  import: skipped (no DDPM_REF_FIXTURE)\n");
#endif
}

/* Training: 4 steps at 16x16 on the committed sample folder, then the error paths. */
typedef struct {
  int steps, messages;
  int64_t last_step, total;
} train_counter;

static void on_train(ddpm_train_job* job, int64_t step, int64_t total, double loss, double ips,
                     double eta, const char* message, void* user_data) {
  train_counter* t = (train_counter*)user_data;
  ddpm_train_status st;
  (void)loss;
  (void)ips;
  (void)eta;
  CHECK(p_ddpm_train_poll(job, &st) == DDPM_OK);
  if (message) {
    ++t->messages;
  } else {
    ++t->steps;
    t->last_step = step;
    t->total = total;
  }
}

static void test_train(const char* scratch) {
#ifdef DDPM_SAMPLES_DIR
  ddpm_train_params tp;
  ddpm_train_job* tj = NULL;
  ddpm_train_status st;
  train_counter counter;
  ddpm_model* trained = NULL;
  char out[1024], empty[1024], missing[1024];
  char* json = NULL;
  int size = 0, classes = 0;
  memset(&counter, 0, sizeof counter);
  snprintf(out, sizeof out, "%s/trained.safetensors", scratch);
  snprintf(empty, sizeof empty, "%s/empty_assets", scratch);
  snprintf(missing, sizeof missing, "%s/no_such_folder", scratch);
  remove(out);

  CHECK(p_ddpm_train_params_init(&tp, sizeof tp) == DDPM_OK);
  CHECK(tp.struct_size == sizeof tp && tp.steps > 0 && tp.batch == 0 && tp.lr == 0 && tp.preset);
  tp.assets = DDPM_SAMPLES_DIR;
  tp.out_model = out;
  tp.image_size = 16;
  tp.steps = 4;
  tp.batch = 4;
  CHECK(tp.decay_from == -1.0 && tp.grad_clip == -1.0 && tp.lora_rank == -1 && tp.strength == -1.0 && tp.label_drop > 0 && tp.checkpoint_every > 0 && !tp.flip);
  tp.warmup = 2;
  tp.decay_from = 0.5;
  tp.grad_clip = 1.0;
  tp.flip = 1;
  CHECK(p_ddpm_train_start(&tp, on_train, &counter, &tj) == DDPM_OK);
  CHECK(p_ddpm_train_wait(tj, -1) == DDPM_OK);
  CHECK(p_ddpm_train_poll(tj, &st) == DDPM_OK);
  CHECK(st.done && st.step == 4 && st.total == 4 && st.loss > 0);
  p_ddpm_train_free(tj);
  CHECK(counter.steps >= 4 && counter.last_step == 4 && counter.total == 4);
  printf("  training: %d step callbacks, %d messages\n", counter.steps, counter.messages);
  CHECK(p_ddpm_model_load(out, &trained) == DDPM_OK);
  CHECK(p_ddpm_model_get_shape(trained, &size, NULL, NULL, &classes, NULL) == DDPM_OK);
  CHECK(size == 16 && classes == 3);
  CHECK(p_ddpm_model_info_json(trained, &json) == DDPM_OK);
  CHECK(json && strstr(json, "animals") && strstr(json, "smileys") && strstr(json, "travel"));
  p_ddpm_string_free(json);
  p_ddpm_model_free(trained);

  /* Errors: up front (missing folder, no out_model, bad values) or from wait (no images). */
  tp.assets = missing;
  EXPECT_ERROR(p_ddpm_train_start(&tp, NULL, NULL, &tj), DDPM_ERR_NOT_FOUND);
  CHECK(tj == NULL && strstr(p_ddpm_last_error(), "no_such_folder"));
  tp.assets = DDPM_SAMPLES_DIR;
  tp.out_model = NULL;
  EXPECT_ERROR(p_ddpm_train_start(&tp, NULL, NULL, &tj), DDPM_ERR_INVALID_ARGUMENT);
  {  /* output paths that could not be written are refused before the run, not after it */
    char unwritable[1100];
    snprintf(unwritable, sizeof unwritable, "%s/model.safetensors", missing);
    tp.out_model = unwritable;
    EXPECT_ERROR(p_ddpm_train_start(&tp, NULL, NULL, &tj), DDPM_ERR_IO);
    CHECK(tj == NULL && strstr(p_ddpm_last_error(), "no_such_folder") && strstr(p_ddpm_last_error(), "does not exist"));
    tp.out_model = scratch;
    EXPECT_ERROR(p_ddpm_train_start(&tp, NULL, NULL, &tj), DDPM_ERR_IO);
    CHECK(tj == NULL && strstr(p_ddpm_last_error(), "is a folder"));
    tp.out_model = out;
    tp.checkpoint = unwritable;
    EXPECT_ERROR(p_ddpm_train_start(&tp, NULL, NULL, &tj), DDPM_ERR_IO);
    CHECK(tj == NULL && strstr(p_ddpm_last_error(), "training checkpoint"));
    tp.checkpoint = NULL;
    /* sample grids into a path that is a file: the run stops before its first step, and the
     * model written above stays as it was */
    tp.sample_dir = out;
    snprintf(unwritable, sizeof unwritable, "%s/other.safetensors", scratch);
    tp.out_model = unwritable;
    CHECK(p_ddpm_train_start(&tp, NULL, NULL, &tj) == DDPM_OK);
    EXPECT_ERROR(p_ddpm_train_wait(tj, -1), DDPM_ERR_INVALID_ARGUMENT);
    CHECK(strstr(p_ddpm_last_error(), "sample grids") != NULL);
    CHECK(p_ddpm_train_poll(tj, &st) == DDPM_OK && st.step == 0);
    p_ddpm_train_free(tj);
    tj = NULL;
    tp.sample_dir = NULL;
    CHECK(p_ddpm_model_load(out, &trained) == DDPM_OK);
    p_ddpm_model_free(trained);
  }
  tp.out_model = out;
  tp.batch = -1;  /* 0 is automatic */
  EXPECT_ERROR(p_ddpm_train_start(&tp, NULL, NULL, &tj), DDPM_ERR_INVALID_ARGUMENT);
  CHECK(strstr(p_ddpm_last_error(), "batch") != NULL);
  tp.batch = 4;
  tp.decay_from = 1.5;
  EXPECT_ERROR(p_ddpm_train_start(&tp, NULL, NULL, &tj), DDPM_ERR_INVALID_ARGUMENT);
  CHECK(strstr(p_ddpm_last_error(), "decay_from") != NULL);
  tp.decay_from = 1.0;
  tp.ema_decay = 1.0;
  EXPECT_ERROR(p_ddpm_train_start(&tp, NULL, NULL, &tj), DDPM_ERR_INVALID_ARGUMENT);
  CHECK(strstr(p_ddpm_last_error(), "ema_decay") != NULL);
  tp.ema_decay = 0.995;
  EXPECT_ERROR(p_ddpm_train_start(NULL, NULL, NULL, &tj), DDPM_ERR_INVALID_ARGUMENT);
  mkdir_p(empty);
  {  /* a class subfolder holding no image */
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/cls", empty);
    mkdir_p(sub);
    snprintf(sub, sizeof sub, "%s/cls/readme.txt", empty);
    write_file(sub, "not an image", 12);
  }
  tp.assets = empty;
  CHECK(p_ddpm_train_start(&tp, NULL, NULL, &tj) == DDPM_OK);
  EXPECT_ERROR(p_ddpm_train_wait(tj, -1), DDPM_ERR_INVALID_ARGUMENT);
  CHECK(strstr(p_ddpm_last_error(), "empty_assets") != NULL);
  p_ddpm_train_free(tj);
  p_ddpm_train_free(NULL);
#else
  (void)scratch;
  printf("  training: skipped (no DDPM_SAMPLES_DIR)\n");
#endif
}

int main(int argc, char** argv) {
  void* lib;
  ddpm_model* model = NULL;
  ddpm_job* job = NULL;
  ddpm_job* job2 = NULL;
  ddpm_generate_params p;
  step_counter counter;
  char* json = NULL;
  int w = 0, h = 0, c = 0, classes = 0, T = 0, step = -1, total = -1;
  float* frame;
  float* result_f;
  uint8_t* result_b;
  size_t n, i;
  clock_t start = clock();

  if (argc != 4) {
    fprintf(stderr, "usage: %s LIBRARY MODEL SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  if (!load_functions(lib)) return 1;
  CHECK(p_ddpm_abi_version() == DDPM_ABI_VERSION);
  CHECK(strlen(p_ddpm_version_string()) > 0);
  CHECK(p_ddpm_set_log_callback(on_log, DDPM_LOG_DEBUG, NULL) == DDPM_OK);
  CHECK(p_ddpm_set_threads(2) == DDPM_OK);

  printf("bad model files:\n");
  test_bad_model_files(argv[3]);
  printf("import:\n");
  test_import(argv[3]);

  CHECK(p_ddpm_model_load(argv[2], &model) == DDPM_OK);
  if (!model) {
    fprintf(stderr, "cannot load %s: %s\n", argv[2], p_ddpm_last_error());
    return 1;
  }
  CHECK(strlen(p_ddpm_last_error()) == 0);
  CHECK(g_log_messages > 0);
  CHECK(p_ddpm_model_get_shape(model, &w, &h, &c, &classes, &T) == DDPM_OK);
  CHECK(w == 16 && h == 16 && c == 4 && classes == 3 && T == 100);
  CHECK(p_ddpm_model_info_json(model, &json) == DDPM_OK);
  CHECK(json && strstr(json, "\"samplers\"") && strstr(json, "euler_a") && strstr(json, "green"));
  p_ddpm_string_free(json);

  printf("bad parameters:\n");
  test_bad_params(model);
  test_old_struct(model);
  printf("params init:\n");
  test_params_init(model);
  test_variation(model);

  /* A generation with a step callback. */
  p_ddpm_generate_params_init(&p, sizeof p);
  p.batch = 2;
  p.class_index = 1;
  p.sampler_name = "ddim";
  p.steps = 6;
  p.preview_every = 2;
  p.seed = 7;
  memset(&counter, 0, sizeof counter);
  counter.width = 16;
  counter.height = 16;
  counter.channels = 4;
  counter.batch = 2;
  CHECK(p_ddpm_generate_start(model, &p, on_step, &counter, &job) == DDPM_OK);
  CHECK(p_ddpm_job_wait(job, -1) == DDPM_OK);
  CHECK(counter.calls == 6 && counter.frames == 3 && counter.bad == 0 && counter.total == 6);
  n = (size_t)2 * 16 * 16 * 4;
  frame = (float*)malloc(n * sizeof *frame);
  result_f = (float*)malloc(n * sizeof *result_f);
  result_b = (uint8_t*)malloc(n);
  CHECK(p_ddpm_job_poll(job, frame, n, &step, &total) == DDPM_OK);
  CHECK(step == 6 && total == 6);
  EXPECT_ERROR(p_ddpm_job_poll(job, frame, n - 1, &step, &total), DDPM_ERR_BUFFER_TOO_SMALL);
  CHECK(p_ddpm_job_result_f32(job, result_f, n) == DDPM_OK);
  CHECK(p_ddpm_job_result_rgba8(job, result_b, n) == DDPM_OK);
  EXPECT_ERROR(p_ddpm_job_result_rgba8(job, result_b, n - 1), DDPM_ERR_BUFFER_TOO_SMALL);
  for (i = 0; i < n; ++i) {
    /* The last frame (latent after the last step) is the result. */
    if (frame[i] != result_f[i]) {
      CHECK(!"last frame differs from the result");
      break;
    }
    if (abs((int)result_b[i] - (int)(result_f[i] * 255.0f + 0.5f)) > 1) {
      CHECK(!"rgba8 result differs from the float result");
      break;
    }
  }

  /* A second job, cancelled: wait reports CANCELLED and there is no result. */
  p.steps = 100;
  p.sampler_name = "ddpm";
  p.preview_every = 0;
  CHECK(p_ddpm_generate_start(model, &p, NULL, NULL, &job2) == DDPM_OK);
  CHECK(p_ddpm_job_cancel(job2) == DDPM_OK);
  EXPECT_ERROR(p_ddpm_job_wait(job2, -1), DDPM_ERR_CANCELLED);
  EXPECT_ERROR(p_ddpm_job_result_rgba8(job2, result_b, n), DDPM_ERR_CANCELLED);
  CHECK(p_ddpm_job_poll(job2, NULL, 0, &step, &total) == DDPM_OK);
  CHECK(step == 0 && total == 100);
  p_ddpm_job_free(job2);

  /* Wait with a timeout on a long job, then free it while it runs (free cancels). */
  p.batch = 4;
  CHECK(p_ddpm_generate_start(model, &p, NULL, NULL, &job2) == DDPM_OK);
  EXPECT_ERROR(p_ddpm_job_wait(job2, 0), DDPM_ERR_TIMEOUT);
  EXPECT_ERROR(p_ddpm_job_result_f32(job2, result_f, n), DDPM_ERR_NOT_READY);

  /* The model may be freed while jobs still hold it. */
  p_ddpm_model_free(model);
  CHECK(p_ddpm_job_result_f32(job, result_f, n) == DDPM_OK);
  p_ddpm_job_free(job2);
  p_ddpm_job_free(job);

  test_train(argv[3]);

  free(frame);
  free(result_f);
  free(result_b);
  CHECK(p_ddpm_set_log_callback(NULL, DDPM_LOG_ERROR, NULL) == DDPM_OK);
  dlclose(lib);
  printf("%s (%.1f s CPU)\n", g_failures ? "FAILED" : "passed", (double)(clock() - start) / CLOCKS_PER_SEC);
  return g_failures ? 1 : 0;
}

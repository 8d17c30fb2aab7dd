/* ddpm_plugin.h: the C ABI of the DDPM realtime generator (libddpm_plugin).
 *
 * Plain C99; compiles as C and as C++. Conventions:
 *  - Opaque handles (ddpm_model, ddpm_job).
 *  - Every function returns a ddpm_status (except the few trivial queries documented so);
 *    on failure ddpm_last_error() gives a thread-local, human-readable message.
 *  - No C++ exception ever crosses this boundary.
 *  - *_params structs begin with `size_t struct_size` and must be initialised with the
 *    matching *_default_params() function: a static inline wrapper in this header that calls
 *    the exported ddpm_*_params_init(params, sizeof *params), so the caller's own struct size
 *    is compiled in. The init functions write exactly struct_size bytes (the library's
 *    defaults, zeros past the fields the library knows) and set params->struct_size. A caller
 *    built against an older, smaller struct keeps working: nothing past its struct_size is
 *    written or read, and the library uses its defaults for the fields it did not get.
 *    Programs that bind by symbol name (dlopen/dlsym, ctypes, P/Invoke) call the
 *    ddpm_*_params_init functions themselves, with their own struct size; the library exports
 *    no ddpm_*_default_params symbols.
 *  - Callbacks carry a `void* user_data` given back untouched.
 *  - Whoever allocates frees: every string or buffer handed out has a free function.
 *  - The plugin never prints: messages go to the callback of ddpm_set_log_callback().
 *
 * Image layouts: pixels are interleaved, rows top to bottom, image after image
 * ([batch][height][width][channels]). Float frames are in [0, 1].
 */
#ifndef DDPM_PLUGIN_H
#define DDPM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(DDPM_PLUGIN_BUILD)
#    define DDPM_API __declspec(dllexport)
#  else
#    define DDPM_API __declspec(dllimport)
#  endif
#else
#  define DDPM_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Incremented on every incompatible change of this header. */
#define DDPM_ABI_VERSION 2

typedef enum ddpm_status {
  DDPM_OK = 0,
  DDPM_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, bad struct_size, unknown name, bad value */
  DDPM_ERR_NOT_FOUND = 2,        /* a file that does not exist */
  DDPM_ERR_IO = 3,               /* a file that cannot be read */
  DDPM_ERR_BAD_MODEL = 4,        /* a file that is not a valid model */
  DDPM_ERR_OUT_OF_RANGE = 5,     /* a number outside its allowed range (class, steps) */
  DDPM_ERR_CANCELLED = 6,        /* the job was cancelled */
  DDPM_ERR_TIMEOUT = 7,          /* ddpm_job_wait ran out of time */
  DDPM_ERR_NOT_READY = 8,        /* the job has not finished yet */
  DDPM_ERR_BUFFER_TOO_SMALL = 9, /* the caller's buffer is smaller than needed */
  DDPM_ERR_OUT_OF_MEMORY = 10,
  DDPM_ERR_INTERNAL = 11         /* anything unexpected (a bug): the message says what */
} ddpm_status;

typedef struct ddpm_model ddpm_model;
typedef struct ddpm_job ddpm_job;

/* ---- Library --------------------------------------------------------------------------- */

/* Thread-safe. Returns DDPM_ABI_VERSION of the library (compare with the header's). */
DDPM_API int ddpm_abi_version(void);
/* Thread-safe. A static string such as "0.1.0"; never free it. */
DDPM_API const char* ddpm_version_string(void);
/* Thread-safe. The message of the last failed call on the calling thread ("" if none).
 * Valid until the next ddpm_* call on this thread; never free it. */
DDPM_API const char* ddpm_last_error(void);
/* Thread-safe. A static name for a status ("DDPM_ERR_TIMEOUT"); never free it. */
DDPM_API const char* ddpm_status_string(ddpm_status status);

typedef enum ddpm_log_level {
  DDPM_LOG_DEBUG = 0,
  DDPM_LOG_INFO = 1,
  DDPM_LOG_WARN = 2,
  DDPM_LOG_ERROR = 3
} ddpm_log_level;
/* May be called from any thread (job workers included), one call at a time; `message` is valid
 * during the call. It must not call ddpm_set_log_callback. */
typedef void (*ddpm_log_fn)(ddpm_log_level level, const char* message, void* user_data);
/* Thread-safe. Messages at `min_level` or above go to `fn` (NULL: drop all messages). */
DDPM_API ddpm_status ddpm_set_log_callback(ddpm_log_fn fn, ddpm_log_level min_level,
                                           void* user_data);
/* Thread-safe. LibTorch's intra-op thread count. 0 (the default, applied at the first model
 * load if never called): automatic: all cores while they are free, fewer while other threads
 * (the engine's, other jobs) keep cores busy; each split forward measures the CPU time its
 * parts got, and one that waits for a core runs on one thread until a probe every 0.5 s finds
 * the cores free again. Images do not depend on it. n > 0: exactly n. A model's `threads`
 * (ddpm_model_params) overrides it for that model's jobs and streams, and a job's or a stream's
 * own `threads` field for that job. On the CPU every guided or batched forward is
 * split over these threads (one part of the batch on each, one intra-op thread a part), so the
 * count also bounds the cores a job occupies. */
DDPM_API ddpm_status ddpm_set_threads(int threads);
/* Thread-safe. The number format of CPU inference's convolutions, for the network calls made
 * from now on: "auto" (the default: "bf16" where the CPU multiplies bfloat16 natively,
 * AVX512-BF16, else "float32"), "float32", or "bf16" (bfloat16 products accumulated in float32:
 * on the default model the same scores on the quality bench and 1.2-1.7x the speed,
 * tests/bench/NOTES.md). An image depends on the precision, still not on its batch: pin
 * "float32" where images must match across CPUs. INVALID_ARGUMENT for NULL, an unknown name,
 * or "bf16" on a CPU without native bfloat16 products, where it would be slower. */
DDPM_API ddpm_status ddpm_set_precision(const char* name);
/* Thread-safe. The precision in effect ("float32" or "bf16"; "auto" resolved), a static string. */
DDPM_API const char* ddpm_get_precision(void);

/* Thread-safe. Frees a string handed out by the plugin (NULL is allowed). */
DDPM_API void ddpm_string_free(char* str);

/* ---- Models ------------------------------------------------------------------------------ */

/* Thread-safe. Loads a model file (safetensors written by this project, or a reference
 * PyTorch `.pt` checkpoint) on the CPU. Errors: INVALID_ARGUMENT (NULL), NOT_FOUND, IO,
 * BAD_MODEL. On failure *out is set to NULL. */
DDPM_API ddpm_status ddpm_model_load(const char* path, ddpm_model** out);

typedef struct ddpm_model_params {
  size_t struct_size; /* sizeof(ddpm_model_params), set by the init function */
  const char* device; /* where the model's jobs and streams run: NULL or "cpu" (default), "cuda",
                         "cuda:N", or "auto" (CUDA when this library was built with it and a GPU
                         is present, else the CPU). On CUDA the network runs in float32 (the
                         precision of ddpm_set_precision is the CPU's) and ddpm_set_threads and a
                         job's `threads` have no effect; noise still comes from the seed on the
                         CPU, so a seed gives the same image on every device up to rounding.
                         Callbacks, polls and results hand out CPU memory as on the CPU. */
  int threads;        /* CPU threads of this model's jobs and streams whose own `threads` is 0:
                         0 (default) the ddpm_set_threads setting (automatic unless set), else
                         1..1024. An engine that keeps a core busy may give each model fewer. */
} ddpm_model_params;

/* Thread-safe. Fills the first struct_size bytes of *params: the library's defaults for the
 * fields it knows, zeros past its own struct, and params->struct_size = struct_size.
 * Errors: INVALID_ARGUMENT (NULL, struct_size below the first published struct or above 4096). */
DDPM_API ddpm_status ddpm_model_params_init(ddpm_model_params* params, size_t struct_size);
/* Fills *params with the defaults and struct_size = sizeof *params (the caller's size). */
static inline ddpm_status ddpm_model_default_params(ddpm_model_params* params) {
  return ddpm_model_params_init(params, sizeof *params);
}
/* Thread-safe. ddpm_model_load with a choice of device (`params` may be NULL: the defaults).
 * The device the model ended on is "device" in ddpm_model_info_json. Errors: those of
 * ddpm_model_load, INVALID_ARGUMENT for a bad struct_size, an unknown device name, "cuda"
 * where this library has no CUDA or no GPU is present, or a GPU index past the last GPU, and
 * OUT_OF_RANGE for `threads` outside 0..1024. */
DDPM_API ddpm_status ddpm_model_load_ex(const char* path, const ddpm_model_params* params,
                                        ddpm_model** out);
/* Thread-safe for distinct models; a model may be freed while its jobs still run (they keep
 * it alive until they are freed). NULL is allowed. */
DDPM_API void ddpm_model_free(ddpm_model* model);
/* Thread-safe. The model's description as JSON (architecture, schedule, class names,
 * "samplers": the sampler names, and "device": where it runs, e.g. "cpu" or "cuda:0"). Free
 * *out_json with ddpm_string_free. */
DDPM_API ddpm_status ddpm_model_info_json(const ddpm_model* model, char** out_json);
/* Thread-safe. Image size, channels (1, 3 or 4), class count (0: unconditional) and the
 * schedule's T; any output pointer may be NULL. */
DDPM_API ddpm_status ddpm_model_get_shape(const ddpm_model* model, int* width, int* height,
                                          int* channels, int* num_classes, int* timesteps);

/* ---- Generation -------------------------------------------------------------------------- */

typedef enum ddpm_sampler {
  DDPM_SAMPLER_AUTO = -1,   /* the model's choice: a distilled model's own sampler, else
                               DPM-Solver++ 2M SDE (jobs and streams alike) */
  DDPM_SAMPLER_DDPM = 0,    /* "ddpm": ancestral, Algorithm 2 */
  DDPM_SAMPLER_DDIM = 1,    /* "ddim" */
  DDPM_SAMPLER_DPMPP2M = 2, /* "dpmpp2m": DPM-Solver++ 2M */
  DDPM_SAMPLER_EULER_A = 3, /* "euler_a": Euler ancestral */
  DDPM_SAMPLER_DPMPP2M_SDE = 4 /* "dpmpp2m_sde": DPM-Solver++ 2M SDE (fresh noise every step) */
} ddpm_sampler;

typedef struct ddpm_generate_params {
  size_t struct_size;      /* sizeof(ddpm_generate_params), set by the init function */
  int batch;               /* images per job, 1..4096 (default 1) */
  int class_index;         /* -1: none (default); else 0..num_classes-1 for every image */
  const int32_t* classes;  /* optional: one class per image (-1 none); overrides class_index */
  size_t class_count;      /* entries in `classes`: 1 or batch */
  float guidance;          /* classifier-free guidance scale, >= 0 (default 3) */
  int sampler;             /* a ddpm_sampler (default DDPM_SAMPLER_AUTO: DPM-Solver++ 2M SDE, or
                              a distilled model's own) */
  const char* sampler_name;/* optional: a name ("ddpm", "ddim", "dpmpp2m", "euler_a",
                              "dpmpp2m_sde");
                              overrides `sampler` when not NULL */
  int steps;               /* 1..T denoising steps; 0 (default): the model's: the step count a
                              distilled model was distilled for, else the sampler's default:
                              10 dpmpp2m_sde, 25 ddim, 20 dpmpp2m, 30 euler_a, T ddpm */
  float eta;               /* DDIM: 0 deterministic .. 1 ancestral (default 0) */
  uint64_t seed;           /* image i uses seed + i (default 0) */
  int preview_every;       /* a frame every N steps (and at the last); 0: no frames (default 1) */
  int preview_x0;          /* non-zero: frames show the clean-image estimate, else the latent */
  int tiling;              /* non-zero: seamless (circular) textures */
  /* Optional init image for image-to-image, RGBA, init_width x init_height: give either
   * float32 values in [0, 1] or 8-bit values (not both). Resized to the model's size. */
  const float* init_image_f32;
  const uint8_t* init_image_rgba8;
  int init_width, init_height;
  float strength;          /* 0..1: 1 starts from the grid's noisiest level (pure noise but
                              for the few-step tuned grid's 6-8 % of the image), 0 returns the
                              image (default 0.75) */
  /* Optional inpainting mask, init_width x init_height bytes: 255 where the init image is
   * kept, 0 where new pixels are generated. Needs an init image. */
  const uint8_t* mask;
  /* Variation and seed interpolation: image i starts from
   * slerp(noise(seed + i), noise(variation_seed + i), variation_strength), and stochastic
   * samplers' step noise is interpolated alike; moving the strength from 0 to 1 walks from one
   * seed's image to the other's, under every sampler. */
  uint64_t variation_seed;  /* default 0 */
  float variation_strength; /* 0..1 (default 0: no variation) */
  float guidance_rescale;   /* 0..1: pulls a guided prediction's spread back to the conditional
                               one's, against over-saturation at high guidance (default 0) */
  int clip_x0;              /* non-zero (default): clamp the clean-image estimate to [-1, 1] at
                               every step; keeps few-step samplers (DDIM, DPM-Solver++) from
                               overshooting the colour range. 0: the raw network output */
  int threads;              /* CPU threads of this job's forwards, 0..1024; 0 (default): the
                               model's (ddpm_model_params.threads), else the ddpm_set_threads
                               setting (automatic unless set: fewer threads while the engine's
                               own keep a core busy); n > 0: exactly n */
  const char* spacing;      /* which timesteps the steps visit: "trailing" (T-1 down in equal
                               steps), "logsnr" (equal steps of the log signal-to-noise ratio),
                               "tuned" (noise levels searched best at 1 to 5 steps, starting
                               below T-1; logsnr at other counts), "uniform" or "leading"; NULL
                               (default): tuned up to 5 steps for dpmpp2m_sde, dpmpp2m and ddim,
                               then logsnr for dpmpp2m_sde and trailing for the others; ddpm and
                               euler_a trailing (measured best: at 8 logsnr steps the default
                               model's images beat 20 trailing ones; at 4 tuned steps its
                               distance 2.54 -> 1.45, the student's 2.52 -> 1.14); a
                               step-distilled model always takes the grid it was distilled on
                               (its file's distilled.spacing; another is replaced, with a
                               warning) */
  /* Guidance in an interval of noise levels: steps whose sigma = sqrt((1 - alpha_bar) /
   * alpha_bar) lies outside [guidance_min_sigma, guidance_max_sigma] take the conditional
   * prediction alone (no unconditional twin: one network image instead of two). 0 for a bound:
   * none (both 0: guidance at every step). Negative (default): the sampler's, 0 and 20 for
   * dpmpp2m_sde (its noisiest steps unguided: on the default model at 8 steps, class accuracy
   * 0.879 -> 0.908 and distance 1.73 -> 1.41 on the quality bench, fewer network images; the
   * least noisy guided: fine-tunes' distance 4 % lower at 10 steps), none for the others (their
   * 8-step images got worse). Ignored by models with guidance distilled in. */
  float guidance_min_sigma;
  float guidance_max_sigma;
  /* The finished images' pixels whose alpha is below this (0..1) become fully transparent
   * (colour and alpha 0); 0: none. Negative (default): the model's, "alpha_cutoff" in
   * ddpm_model_info_json (absent: 0), which training sets to 0.05 where its images have exactly
   * transparent backgrounds: a short fine-tune's samples otherwise keep a faint haze there
   * (alpha 1-12 of 255 on a third of the pixels of a 10-minute OpenMoji fine-tune). Frames of
   * earlier steps are not cut. Values of 1 or more: INVALID_ARGUMENT. */
  float alpha_cutoff;
} ddpm_generate_params;

/* Thread-safe. Fills the first struct_size bytes of *params: the library's defaults for the
 * fields it knows that fit, zeros past the library's own struct (a caller built against a newer
 * header), and params->struct_size = struct_size. Nothing past struct_size is written.
 * Errors: INVALID_ARGUMENT (NULL, struct_size smaller than the oldest published struct or larger
 * than 4096). */
DDPM_API ddpm_status ddpm_generate_params_init(ddpm_generate_params* params, size_t struct_size);
/* Fills *params with the defaults and struct_size = sizeof *params (the caller's size). */
static inline ddpm_status ddpm_generate_default_params(ddpm_generate_params* params) {
  return ddpm_generate_params_init(params, sizeof *params);
}

/* Called on the job's worker thread after each denoising step. `frame` is NULL on steps
 * without a preview, else batch x height x width x channels floats in [0, 1], valid ONLY
 * during the call (copy it). The callback may call ddpm_job_cancel and ddpm_job_poll on
 * `job`, but never ddpm_job_free or ddpm_job_wait on it. */
typedef void (*ddpm_step_fn)(ddpm_job* job, int step, int total, const float* frame, int width,
                             int height, int channels, int batch, void* user_data);

/* Thread-safe (also on one model from many threads). Validates the params and starts a job
 * on its own worker thread. Errors: INVALID_ARGUMENT (NULL, bad struct_size, unknown sampler,
 * bad values), OUT_OF_RANGE (class, steps, batch). `callback` may be NULL. */
DDPM_API ddpm_status ddpm_generate_start(ddpm_model* model, const ddpm_generate_params* params,
                                         ddpm_step_fn callback, void* user_data, ddpm_job** out);

/* Thread-safe. Image geometry of the job's frames and results; any pointer may be NULL. */
DDPM_API ddpm_status ddpm_job_get_shape(const ddpm_job* job, int* width, int* height,
                                        int* channels, int* batch);
/* Thread-safe. Copies the latest preview frame (batch*height*width*channels floats) into
 * `buffer` when it is not NULL, and reports the step it came from and the total. *step is 0
 * before the first frame. Errors: BUFFER_TOO_SMALL. */
DDPM_API ddpm_status ddpm_job_poll(ddpm_job* job, float* buffer, size_t buffer_floats,
                                   int* step, int* total);
/* Thread-safe, callable any time (even before the worker starts): the job stops before its
 * next step. Never undone. */
DDPM_API ddpm_status ddpm_job_cancel(ddpm_job* job);
/* Thread-safe. Waits up to timeout_ms (< 0: forever, 0: just check). Returns OK (finished),
 * TIMEOUT (still running), CANCELLED, or the status of the job's failure (with its message). */
DDPM_API ddpm_status ddpm_job_wait(ddpm_job* job, int timeout_ms);
/* Thread-safe. The finished images as RGBA bytes (batch*height*width*4, gray and RGB models
 * are expanded, alpha 255). Errors: NOT_READY, CANCELLED, the job's failure, BUFFER_TOO_SMALL. */
DDPM_API ddpm_status ddpm_job_result_rgba8(ddpm_job* job, uint8_t* buffer, size_t buffer_bytes);
/* Thread-safe. The finished images as floats in [0, 1] with the model's channels
 * (batch*height*width*channels). Errors as ddpm_job_result_rgba8. */
DDPM_API ddpm_status ddpm_job_result_f32(ddpm_job* job, float* buffer, size_t buffer_floats);
/* Not thread-safe for the same job (call once, after other calls on it returned). Cancels,
 * waits for the worker and frees the job. NULL is allowed. */
DDPM_API void ddpm_job_free(ddpm_job* job);

/* ---- Import ------------------------------------------------------------------------------ */

typedef struct ddpm_import_params {
  size_t struct_size;             /* sizeof(ddpm_import_params), set by the init function */
  const char* const* class_names; /* optional: class_count names (NULL: class_0 .. class_{n-1}) */
  int class_count;                /* entries in class_names; must match the checkpoint's classes */
  int image_size;                 /* the size the checkpoint was trained at (default 64) */
  int float16;                    /* non-zero: store the weights as float16 (half the file) */
} ddpm_import_params;

/* Thread-safe. Fills the first struct_size bytes of *params: the library's defaults for the
 * fields it knows that fit, zeros past the library's own struct (a caller built against a newer
 * header), and params->struct_size = struct_size. Nothing past struct_size is written.
 * Errors: INVALID_ARGUMENT (NULL, struct_size smaller than the oldest published struct or larger
 * than 4096). */
DDPM_API ddpm_status ddpm_import_params_init(ddpm_import_params* params, size_t struct_size);
/* Fills *params with the defaults and struct_size = sizeof *params (the caller's size). */
static inline ddpm_status ddpm_import_default_params(ddpm_import_params* params) {
  return ddpm_import_params_init(params, sizeof *params);
}

/* Thread-safe (distinct output paths). Converts a reference PyTorch checkpoint
 * (`torch.save(model.state_dict())` of UNet or UNet_conditional) into a model file at
 * `out_path` (written atomically). `params` may be NULL (defaults). Errors: INVALID_ARGUMENT
 * (NULL path, bad struct_size, NULL or empty class name), OUT_OF_RANGE (image_size, class_count),
 * NOT_FOUND, BAD_MODEL (not a checkpoint of the reference UNet, or a class name count that
 * differs from its class count), IO (the output folder is missing or cannot be written). */
DDPM_API ddpm_status ddpm_import_checkpoint(const char* pt_path, const char* out_path,
                                            const ddpm_import_params* params);

/* Thread-safe (distinct output paths). Writes `out_path` (atomically): the fine-tune in
 * `tuned_path` blended with its base `base_path` in weight space, base + strength * (tuned -
 * base), strength in (0, 2]: 1 copies the fine-tune, lower keeps more of the base, above 1
 * extrapolates. Rows of classes the base lacks stay the fine-tune's. A fine-tune written by a
 * training job at ddpm_train_params.strength a (0.85 by default for fine-tunes through adapters)
 * holds base + a * change, so blending it again at s gives base + s * a * change: 1 / a gives
 * back the run's unblended weights. Errors: INVALID_ARGUMENT (NULL path; models that are not a
 * fine-tune and its base: another architecture, or classes that do not start with the base's),
 * OUT_OF_RANGE (strength), NOT_FOUND, BAD_MODEL (not a model file), IO (an input is a folder or
 * unreadable, or the output folder is missing or cannot be written). */
DDPM_API ddpm_status ddpm_blend_models(const char* base_path, const char* tuned_path, double strength,
                                       const char* out_path);

/* Thread-safe (distinct output paths). Writes `out_path` (atomically): the model in
 * `model_path` grown to twice its width (base_channels doubled: about four times the weights,
 * 2.6x the time of an image and 3.6x that of a training step for the default model) that draws
 * the same images to float rounding, to train further from what the model already draws
 * (`ddpm train FOLDER --init OUT`) rather than from noise. Every channel becomes two copies whose
 * weights on the layer below split the original unevenly (drawn from `seed`), so that training
 * separates them. Errors: INVALID_ARGUMENT (NULL path), NOT_FOUND, BAD_MODEL (not a model file),
 * OUT_OF_RANGE (the doubled width is past the architecture's limit, 1024), IO (the input is a
 * folder or unreadable, or the output folder is missing or cannot be written). */
DDPM_API ddpm_status ddpm_widen_model(const char* model_path, uint64_t seed, const char* out_path);

/* Thread-safe (distinct output paths). Writes `out_path` (atomically): the model in
 * `model_path` with its weights stored in float16 (`float16` non-zero: half the file; loading
 * converts them back to float32, images differ by float16's rounding) or float32. Errors: as
 * ddpm_widen_model's, without OUT_OF_RANGE. */
DDPM_API ddpm_status ddpm_convert_model(const char* model_path, int float16, const char* out_path);

/* ---- Training ---------------------------------------------------------------------------- */

typedef struct ddpm_train_job ddpm_train_job;

typedef struct ddpm_train_params {
  size_t struct_size;      /* sizeof(ddpm_train_params), set by the init function */
  const char* assets;      /* required: the asset folder, one subfolder of images per class */
  const char* preset;      /* network preset of a new model (default "sprite32"); NULL: default */
  int image_size;          /* 0: the preset's (default); else the new model's size */
  const char* init_model;  /* optional: fine-tune this model file (NULL: a new model) */
  int64_t steps;           /* optimizer steps in all, 1..1e8 (default 1000); not used when
                              minutes > 0 */
  /* The recipe: 0 (batch, lr) or -1 (the rest) is automatic, decided by the kind of run: a new
   * model, a fine-tune (init_model), a LoRA fine-tune, a distillation (tests/bench/NOTES.md). */
  int batch;               /* 1..4096; 0 (default): 32 for fine-tunes and distillation, 16
                              otherwise */
  double lr;               /* learning rate, (0, 1); 0 (default): 3e-4 for a new model, 5e-4 for
                              fine-tunes of every weight, 2e-3 for fine-tunes through LoRA
                              adapters, 5e-5 for distillation */
  uint64_t seed;           /* default 0 */
  const char* checkpoint;  /* optional: training checkpoint, resumed from when it exists */
  const char* out_model;   /* required: the model file written at the end (EMA weights) */
  const char* sample_dir;  /* optional: sample grids of the folder's classes are written here
                              every sample_every steps, and one of the final model; a fine-tune
                              starts with one of init_model (step_0.png) */
  int64_t sample_every;    /* 0: only the final one (default) */
  /* The optimisation schedule. A caller built against an older header passes a smaller
   * struct_size and gets the defaults for these. */
  int64_t warmup;           /* linear learning-rate warm-up steps; -1 (default): 0 for a new
                               model trained for `steps`, 50 (at most steps / 4) for fine-tunes
                               (init_model) and time budgets (minutes) */
  double decay_from;        /* fraction of the steps after which the learning rate falls linearly
                               to 0 at the end, [0, 1]; 1 = constant; -1 (default): 0.5 for
                               fine-tunes, 1 otherwise */
  double grad_clip;         /* max gradient norm; 0 = off; -1 (default): 1 for fine-tunes, off
                               otherwise */
  double label_drop;        /* probability of training a label as "no class", the unconditional
                               half of classifier-free guidance, [0, 1] (default 0.1) */
  double ema_decay;         /* EMA of the weights, [0, 1) (default 0.995) */
  int64_t ema_start;        /* the EMA copies the weights until this step; -1 (default): 2000 for
                               a new model trained for `steps`, 0 with ema_warmup for fine-tunes
                               (init_model) and time budgets (minutes) */
  int64_t checkpoint_every; /* steps between checkpoint writes, >= 1 (default 500) */
  int flip;                 /* non-zero: random horizontal flips (default 0) */
  int pixel_art;            /* non-zero: nearest-neighbour fit, no crop (default 0) */
  int freeze;               /* fine-tuning only: train just the class embedding and the last
                               layers (default 0) */
  /* Data-parallel training over several processes (LibTorch c10d, Gloo over TCP): world_size
   * processes run the same params with ranks 0..world_size-1; each computes its slice of every
   * batch (`batch` is the global batch, divisible by world_size), gradients are averaged, and
   * rank 0 alone writes the checkpoint, grids and out_model. All ranks must see the same asset
   * folder and checkpoint path. A rank that stops makes the others fail with
   * DDPM_ERR_IO within dist_timeout seconds. */
  int world_size;           /* 1: one process (default) */
  int rank;                 /* 0..world_size-1 (default 0) */
  const char* master_addr;  /* rank 0's address (default "127.0.0.1"); NULL: default */
  int master_port;          /* rank 0's TCP port for the rendezvous (default 29500) */
  int dist_timeout;         /* seconds before a silent rank is reported lost (default 60) */
  /* A local multi-process run started by this job (POSIX): local_processes > 1 makes this job
   * rank 0 of local_processes ranks on 127.0.0.1 (a free port is taken; master_addr and
   * master_port are not used) and starts ranks 1.. as child processes of the training worker,
   * each with ddpm_set_threads' count divided among the ranks. world_size and rank must be left
   * at 1 and 0. Cancelling the job stops every rank after the same step; a worker that fails
   * or dies makes the job fail with DDPM_ERR_IO naming it; ddpm_train_free reaps the workers. */
  int local_processes;      /* 0 or 1: this process only (default); at most 64 */
  const char* worker_path;  /* the ddpm_train_worker executable; NULL: the one beside this
                               library (installed with it) */
  /* The recipe (tests/bench/NOTES.md measures each choice). */
  double snr_gamma;         /* > 0: min-SNR-gamma loss weighting (Hang et al. 2023), 5 is the
                               paper's; 0: plain noise MSE (default). Sampling is unchanged. */
  int ema_warmup;           /* non-zero: after ema_start the EMA decay rises as
                               min(ema_decay, (1 + n) / (10 + n)), so short runs average too
                               (default 0) */
  double minutes;           /* > 0: a time budget instead of `steps`: the job measures its speed,
                               picks the step count (re-planned every step; status.total follows)
                               and ends, model written, within this many minutes of its start;
                               at most 1e6. 0: train for `steps` (default) */
  const char* device;       /* "cpu", "cuda" or "cuda:N"; NULL or "auto" (default): CUDA when this
                               library was built with it and a GPU is present, else the CPU
                               (data-parallel runs always train on the CPU). Noise comes from the
                               seed on the CPU, and checkpoints resume on any device. */
  /* Distillation: non-zero `distill` trains a student of init_model (the teacher, class-
   * conditional) on the asset folder's images instead of fine-tuning it. The student takes the
   * guidance scale as an input: a guided step costs one forward instead of two, with any
   * sampler. distill_steps > 0 distils the steps too (progressive distillation on the DDIM
   * grid: rounds chain, a student for N steps teaches one for N / 2). Every other field works
   * as for a fine-tune. */
  int distill;                /* non-zero: distil (default 0). The automatic lr is 5e-5, lower
                                 than for fine-tuning (measured best, tests/bench/NOTES.md) */
  int distill_steps;          /* 0: guidance only (default); 1..1000 DDIM steps */
  int distill_substeps;       /* the teacher's DDIM steps per student step, 1..64 (default 2) */
  double distill_guidance_min;/* the student's guidance range, 1 <= min <= max <= 100 */
  double distill_guidance_max;/*   (default 1 to 5) */
  int distill_stochastic;     /* non-zero: distil DPM-Solver++ SDE steps (first order, fresh noise
                                 each step) instead of DDIM steps (default 0) */
  /* Fine-tuning through low-rank adapters (LoRA): every 3x3 convolution and attention
   * projection W of init_model trains as W + up * down of this rank while W stays frozen (its
   * weight gradients are skipped); the out_model holds the merged weights, an ordinary model.
   * Fine-tunes of every weight now score level or better per CPU minute and run 1.1x the
   * images a second (tests/bench/NOTES.md), so they are the default; adapters train fewer
   * parameters and are blended at 0.85. (This int sits where older structs had padding, which
   * ddpm_train_params_init zeroed: their callers train every weight.) */
  int lora_rank;              /* -1 (default): 0, or a resumed checkpoint's rank; 0: train
                                 every weight; 1..256 */
  /* Augmentation: the reference's random resized crops (scale 0.8-1, aspect 3/4-4/3) zoom and
   * stretch the images, and a fine-tune's samples copy that (tests/bench/NOTES.md). */
  int random_crop;            /* -1 (default): off for fine-tunes and distillation (each image
                                 whole), on otherwise; 0: off; 1: on. Pixel art is never cropped */
  /* bf16 mixed precision on the CPU: convolutions and products in bfloat16, weights, optimizer
   * and loss in float32; 1.5x the images per second of float32 at the same scores on a CPU with
   * AVX512-BF16 (tests/bench/NOTES.md). (This int sits where older structs had padding, which
   * ddpm_train_params_init set; a zeroed older struct trains in float32.) */
  int bf16;                   /* -1 (default): on where the CPU has AVX512-BF16, off for
                                 world_size > 1 and on CUDA; 0: float32;
                                 1: bf16 (refused where the CPU lacks AVX512-BF16, and on
                                 CUDA) */
  int live_student;           /* fine-tunes: non-zero (default) writes OUT.student.safetensors
                                 beside out_model OUT.safetensors when init_model has a Live
                                 student (INIT.student.safetensors, else student.safetensors beside
                                 it): that student moved by the fine-tune's change of every weight,
                                 so the new style streams at one forward a stage at once (FD 2.7
                                 where the base's student gave 14.4 and the model 1.9 on an
                                 OpenMoji fine-tune; `distill` for 3 minutes reaches the model's,
                                 tests/bench/NOTES.md). Announced by a message; 0: none */
  double strength;            /* fine-tunes: out_model (and the sample grids) hold init_model +
                                 strength * (tuned - init_model), the tuned EMA weights blended
                                 with the init model's, (0, 2]; 1: the tuned weights; below 1 keeps
                                 more of the init model, above 1 extrapolates. The checkpoint
                                 keeps the tuned weights. -1 (default): 0.85 for fine-tunes through
                                 adapters (FD 1.84 -> 1.63 on a 10-minute OpenMoji fine-tune,
                                 tests/bench/NOTES.md), 1 otherwise. Must be -1 or 1 unless
                                 init_model is given and distill is off */
} ddpm_train_params;

typedef struct ddpm_train_status {
  int64_t step, total;        /* the step reached and the run's total */
  double loss;                /* the last step's loss */
  double loss_smoothed;       /* its exponential moving average */
  double images_per_second;
  double eta_seconds;
  int done;                   /* non-zero once the job finished (ok, cancelled or failed) */
} ddpm_train_status;

/* Thread-safe. Fills the first struct_size bytes of *params: the library's defaults for the
 * fields it knows that fit, zeros past the library's own struct (a caller built against a newer
 * header), and params->struct_size = struct_size. Nothing past struct_size is written.
 * Errors: INVALID_ARGUMENT (NULL, struct_size smaller than the oldest published struct or larger
 * than 4096). */
DDPM_API ddpm_status ddpm_train_params_init(ddpm_train_params* params, size_t struct_size);
/* Fills *params with the defaults and struct_size = sizeof *params (the caller's size). */
static inline ddpm_status ddpm_train_default_params(ddpm_train_params* params) {
  return ddpm_train_params_init(params, sizeof *params);
}

/* Called on the job's worker thread after each step and for messages (`message` non-NULL,
 * e.g. "loaded 60 images in 3 classes"; valid only during the call). Each sample grid written
 * is announced by a message "sample grid: PATH". It may call
 * ddpm_train_cancel and ddpm_train_poll on `job`, never ddpm_train_wait or ddpm_train_free. */
typedef void (*ddpm_train_callback)(ddpm_train_job* job, int64_t step, int64_t total, double loss,
                              double images_per_second, double eta_seconds, const char* message,
                              void* user_data);

/* Thread-safe. Checks the params and starts training on its own worker thread. Errors found up
 * front: INVALID_ARGUMENT (NULL, bad struct_size, missing out_model, bad values), NOT_FOUND (the
 * asset folder or init model does not exist), IO (out_model or checkpoint could not be written:
 * a folder, or in a folder that does not exist or is not writable). Errors found while running (a folder without
 * images, an unknown preset...) come back from ddpm_train_wait. `callback` may be NULL. */
DDPM_API ddpm_status ddpm_train_start(const ddpm_train_params* params, ddpm_train_callback callback,
                                      void* user_data, ddpm_train_job** out);
/* Thread-safe. The latest progress; status->done tells whether the job finished. */
DDPM_API ddpm_status ddpm_train_poll(ddpm_train_job* job, ddpm_train_status* status);
/* Thread-safe, any time: training stops before its next step, then still writes the checkpoint
 * (if any) and out_model; ddpm_train_wait then returns CANCELLED. */
DDPM_API ddpm_status ddpm_train_cancel(ddpm_train_job* job);
/* Thread-safe. As ddpm_job_wait: OK, TIMEOUT, CANCELLED, or the failure's status and message. */
DDPM_API ddpm_status ddpm_train_wait(ddpm_train_job* job, int timeout_ms);
/* Not thread-safe for the same job. Cancels, waits for the worker and frees. NULL is allowed. */
DDPM_API void ddpm_train_free(ddpm_train_job* job);

/* ---- Live streams ------------------------------------------------------------------------
 *
 * A stream keeps `steps` images in flight, each at its own stage of a fast sampler's schedule.
 * One call of ddpm_stream_advance enters a new image (noise from the seed path, or the latest
 * pushed input noised to `strength`), advances every image in flight by one stage in ONE
 * batched network call (guided images with their unconditional twins in the same batch), and
 * the image that made its last stage leaves as a finished frame. After a warm-up of
 * `latency` calls (see ddpm_stream_stats), every call finishes one frame.
 *
 * Each entering image takes the class, guidance and seed path in force when it enters; a
 * change therefore reaches the output exactly `latency` calls later (the first frame with the
 * new class is the one finished by the latency-th advance after the change). With
 * apply_to_inflight the new class or guidance also applies to the images already in flight
 * from their next stage on (the output changes at the next call, its first stages having run
 * with the old values). Steering never stops or rebuilds the stream.
 *
 * Speed: a guided stage of an ordinary model inside its sampler's guidance interval costs two
 * network images (the image and its unconditional twin). A guidance-distilled student
 * (`ddpm train --distill`; the default model ships one beside it as student.safetensors) takes
 * the scale as an input: one network image a stage. For display rate on a CPU, open the stream
 * on the student (8 stages: 60 frames/s on a 2-core AVX512-BF16 CPU, the model's 38-46).
 *
 * Thread safety: all functions are thread-safe on one stream, except ddpm_stream_close (call
 * once, after other calls returned). Steering and reading calls never wait for a network call
 * in progress. ddpm_stream_advance fails with INVALID_ARGUMENT while the stream's own worker
 * runs (ddpm_stream_run). */

typedef struct ddpm_stream ddpm_stream;

typedef enum ddpm_seed_path {
  DDPM_SEED_FIXED = 0, /* every image enters from noise(seed): a still picture for a fixed class
                          with a deterministic sampler */
  DDPM_SEED_WALK = 1,  /* a slow spherical walk: entry j starts from slerp(noise(seed + k),
                          noise(seed + k + 1), f) with k = j / period, f = (j % period) / period,
                          so consecutive frames differ a little */
  DDPM_SEED_NEW = 2    /* entry j starts from noise(seed + j): a new picture every frame */
} ddpm_seed_path;

typedef struct ddpm_stream_params {
  size_t struct_size;       /* sizeof(ddpm_stream_params), set by the init function */
  int sampler;              /* a ddpm_sampler (default DDPM_SAMPLER_AUTO: a distilled model's
                               own, else DPM-Solver++ 2M SDE) */
  const char* sampler_name; /* optional: overrides `sampler` when not NULL */
  int steps;                /* stages of the schedule, 1..min(T, 256); 0 (default): the model's,
                               8, or the step count a distilled model was distilled for. The
                               stages sit on the grid a job's NULL spacing gives (see
                               ddpm_generate_params.spacing), so frames equal jobs' images */
  float eta;                /* DDIM: 0 deterministic .. 1 ancestral (default 0) */
  int class_index;          /* -1: none (default) */
  float guidance;           /* classifier-free guidance scale, >= 0 (default 3) */
  float guidance_rescale;   /* 0..1 (default 0) */
  int seed_path;            /* a ddpm_seed_path (default DDPM_SEED_WALK) */
  uint64_t seed;            /* default 0 */
  int seed_period;          /* DDPM_SEED_WALK: entries from one seed to the next, >= 1 (default 32) */
  int image_input;          /* non-zero: image-to-image stream; every entry is the latest input
                               given to ddpm_stream_push_input, noised to `strength` (default 0) */
  float strength;           /* image input: 0 < strength <= 1, the fraction of the stages run;
                               round(strength * steps) stages, at least 1 (default 0.5) */
  float blend;              /* 0..1: each output frame is blend * previous output + (1 - blend) *
                               the finished image, against flicker (default 0) */
  int clip_x0;              /* non-zero (default): clamp the clean-image estimate to [-1, 1] */
  int tiling;               /* non-zero: seamless (circular) textures */
  int threads;              /* CPU threads of the stream's forwards, 0..1024; 0 (default): the
                               model's (ddpm_model_params.threads), else the ddpm_set_threads
                               setting (automatic unless set) */
  float guidance_min_sigma; /* as in ddpm_generate_params, per stage (default -1: the sampler's) */
  float guidance_max_sigma;
} ddpm_stream_params;

typedef struct ddpm_stream_frame {
  size_t struct_size;       /* set by the caller to sizeof(ddpm_stream_frame) */
  int64_t number;           /* 1-based count of frames the stream has finished (0: none yet) */
  int64_t call;             /* the advance call (1-based) that finished it */
  int64_t entered_call;     /* the advance call in which it entered */
  int latency_calls;        /* call - entered_call + 1: calls from entry to output */
  int class_index;          /* its class when it finished (-1 none) */
  float guidance;           /* its guidance when it finished */
  uint64_t seed;            /* the seed it entered with (the walk's current keyframe seed) */
} ddpm_stream_frame;

typedef struct ddpm_stream_stats {
  size_t struct_size;       /* set by the caller to sizeof(ddpm_stream_stats) */
  int64_t calls;            /* advance calls so far */
  int64_t frames;           /* frames finished so far */
  int in_flight;            /* images in flight now */
  int latency;              /* calls from an image's entry to its output (the stages) */
  int running;              /* non-zero while the stream's worker runs */
  double calls_per_second;  /* measured over the last second of calls */
  double last_call_ms;      /* duration of the latest advance */
} ddpm_stream_stats;

/* Thread-safe. Fills the first struct_size bytes of *params (as ddpm_generate_params_init). */
DDPM_API ddpm_status ddpm_stream_params_init(ddpm_stream_params* params, size_t struct_size);
static inline ddpm_status ddpm_stream_default_params(ddpm_stream_params* params) {
  return ddpm_stream_params_init(params, sizeof *params);
}
/* Thread-safe. Opens a stream on a model (the stream keeps the model alive). Errors:
 * INVALID_ARGUMENT (NULL, bad struct_size, unknown sampler, bad values), OUT_OF_RANGE (class,
 * steps). */
DDPM_API ddpm_status ddpm_stream_open(ddpm_model* model, const ddpm_stream_params* params,
                                      ddpm_stream** out);
/* Sets the input of an image-to-image stream: RGBA, width x height, either float32 in [0, 1]
 * or 8-bit (not both); other sizes are resized to the model's. Images entering from the next
 * advance on use it. Errors: INVALID_ARGUMENT (not an image-input stream, NULL, both or neither
 * pointer, zero or huge size). */
DDPM_API ddpm_status ddpm_stream_push_input(ddpm_stream* stream, const float* rgba_f32,
                                            const uint8_t* rgba8, int width, int height);
/* The class (-1 none) of entering images; apply_to_inflight non-zero: also of those in flight.
 * Errors: OUT_OF_RANGE. */
DDPM_API ddpm_status ddpm_stream_set_class(ddpm_stream* stream, int class_index,
                                           int apply_to_inflight);
/* The guidance scale (>= 0) of entering images (and in-flight ones with apply_to_inflight). */
DDPM_API ddpm_status ddpm_stream_set_guidance(ddpm_stream* stream, float guidance,
                                              int apply_to_inflight);
/* The seed path of entering images; restarts the path's entry count at 0. period >= 1. */
DDPM_API ddpm_status ddpm_stream_set_seed_path(ddpm_stream* stream, int seed_path, uint64_t seed,
                                               int period);
/* The output blend factor, 0..1. */
DDPM_API ddpm_status ddpm_stream_set_blend(ddpm_stream* stream, float blend);
/* Enters one image and advances all in flight by one stage, on the calling thread; *frame_ready
 * (may be NULL) tells whether this call finished a frame. Errors: INVALID_ARGUMENT (the worker
 * runs), NOT_READY (an image-input stream without an input yet). */
DDPM_API ddpm_status ddpm_stream_advance(ddpm_stream* stream, int* frame_ready);
/* Starts the stream's worker thread, which advances by itself: as fast as it can with
 * target_fps = 0, else at most target_fps calls per second. Calling it again changes the
 * rate. A failure stops the worker; ddpm_stream_pause then returns its status and message. */
DDPM_API ddpm_status ddpm_stream_run(ddpm_stream* stream, float target_fps);
/* Stops the worker after its current call and waits for it; OK if none ran. */
DDPM_API ddpm_status ddpm_stream_pause(ddpm_stream* stream);
/* Copies the latest output frame (height*width*channels floats in [0, 1], blended) and its
 * description (`info` may be NULL). Errors: NOT_READY (no frame yet), BUFFER_TOO_SMALL. */
DDPM_API ddpm_status ddpm_stream_read_frame(ddpm_stream* stream, float* buffer,
                                            size_t buffer_floats, ddpm_stream_frame* info);
/* As ddpm_stream_read_frame, as RGBA bytes (height*width*4). */
DDPM_API ddpm_status ddpm_stream_read_frame_rgba8(ddpm_stream* stream, uint8_t* buffer,
                                                  size_t buffer_bytes, ddpm_stream_frame* info);
/* The clean-image estimates of the images in flight after the latest call, most advanced first
 * (*count of them, each height*width*channels floats in [0, 1]), for a view of the pipeline.
 * buffer may be NULL to ask only for *count. Errors: BUFFER_TOO_SMALL. */
DDPM_API ddpm_status ddpm_stream_read_slots(ddpm_stream* stream, float* buffer,
                                            size_t buffer_floats, int* count);
/* Counters and timing. */
DDPM_API ddpm_status ddpm_stream_get_stats(ddpm_stream* stream, ddpm_stream_stats* stats);
/* Stops the worker and frees the stream. NULL is allowed. */
DDPM_API void ddpm_stream_close(ddpm_stream* stream);

#ifdef __cplusplus
}
#endif

#endif /* DDPM_PLUGIN_H */

"""ctypes binding of libddpm_plugin (the C ABI in plugin/include/ddpm_plugin.h).

Standard library only, so it runs inside Blender, TouchDesigner or any embedded Python:

    import ddpm_plugin
    lib = ddpm_plugin.Library("/path/to/libddpm_plugin.so")
    with lib.load_model("model.safetensors") as model:
        job = model.generate(steps=20, class_index=1, on_step=lambda s, t, frame: None)
        rgba = job.result_rgba8()   # bytes, batch*h*w*4
"""
import ctypes
import json
import os

ABI_VERSION = 2

OK = 0
STATUS_NAMES = {
    0: "OK", 1: "INVALID_ARGUMENT", 2: "NOT_FOUND", 3: "IO", 4: "BAD_MODEL", 5: "OUT_OF_RANGE",
    6: "CANCELLED", 7: "TIMEOUT", 8: "NOT_READY", 9: "BUFFER_TOO_SMALL", 10: "OUT_OF_MEMORY",
    11: "INTERNAL",
}
SAMPLERS = {"ddpm": 0, "ddim": 1, "dpmpp2m": 2, "euler_a": 3, "dpmpp2m_sde": 4}


class DDPMError(RuntimeError):
    """A failed call: .status is the numeric ddpm_status, .name its name."""

    def __init__(self, status, message):
        self.status = status
        self.name = STATUS_NAMES.get(status, str(status))
        super().__init__("%s: %s" % (self.name, message))


class GenerateParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("batch", ctypes.c_int),
        ("class_index", ctypes.c_int),
        ("classes", ctypes.POINTER(ctypes.c_int32)),
        ("class_count", ctypes.c_size_t),
        ("guidance", ctypes.c_float),
        ("sampler", ctypes.c_int),
        ("sampler_name", ctypes.c_char_p),
        ("steps", ctypes.c_int),
        ("eta", ctypes.c_float),
        ("seed", ctypes.c_uint64),
        ("preview_every", ctypes.c_int),
        ("preview_x0", ctypes.c_int),
        ("tiling", ctypes.c_int),
        ("init_image_f32", ctypes.POINTER(ctypes.c_float)),
        ("init_image_rgba8", ctypes.POINTER(ctypes.c_uint8)),
        ("init_width", ctypes.c_int),
        ("init_height", ctypes.c_int),
        ("strength", ctypes.c_float),
        ("mask", ctypes.POINTER(ctypes.c_uint8)),
        ("variation_seed", ctypes.c_uint64),
        ("variation_strength", ctypes.c_float),
        ("guidance_rescale", ctypes.c_float),
        ("clip_x0", ctypes.c_int),
        ("threads", ctypes.c_int),
        ("spacing", ctypes.c_char_p),
        ("guidance_min_sigma", ctypes.c_float),
        ("guidance_max_sigma", ctypes.c_float),
        ("alpha_cutoff", ctypes.c_float),
    ]


class StreamParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("sampler", ctypes.c_int),
        ("sampler_name", ctypes.c_char_p),
        ("steps", ctypes.c_int),
        ("eta", ctypes.c_float),
        ("class_index", ctypes.c_int),
        ("guidance", ctypes.c_float),
        ("guidance_rescale", ctypes.c_float),
        ("seed_path", ctypes.c_int),
        ("seed", ctypes.c_uint64),
        ("seed_period", ctypes.c_int),
        ("image_input", ctypes.c_int),
        ("strength", ctypes.c_float),
        ("blend", ctypes.c_float),
        ("clip_x0", ctypes.c_int),
        ("tiling", ctypes.c_int),
        ("threads", ctypes.c_int),
        ("guidance_min_sigma", ctypes.c_float),
        ("guidance_max_sigma", ctypes.c_float),
    ]


class StreamFrame(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("number", ctypes.c_int64),
        ("call", ctypes.c_int64),
        ("entered_call", ctypes.c_int64),
        ("latency_calls", ctypes.c_int),
        ("class_index", ctypes.c_int),
        ("guidance", ctypes.c_float),
        ("seed", ctypes.c_uint64),
    ]


class StreamStats(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("calls", ctypes.c_int64),
        ("frames", ctypes.c_int64),
        ("in_flight", ctypes.c_int),
        ("latency", ctypes.c_int),
        ("running", ctypes.c_int),
        ("calls_per_second", ctypes.c_double),
        ("last_call_ms", ctypes.c_double),
    ]


SEED_PATHS = {"fixed": 0, "walk": 1, "new": 2}


class ModelParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("device", ctypes.c_char_p), ("threads", ctypes.c_int)]


class ImportParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("class_names", ctypes.POINTER(ctypes.c_char_p)),
        ("class_count", ctypes.c_int),
        ("image_size", ctypes.c_int),
        ("float16", ctypes.c_int),
    ]


STEP_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                           ctypes.POINTER(ctypes.c_float), ctypes.c_int, ctypes.c_int,
                           ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class TrainParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("assets", ctypes.c_char_p), ("preset", ctypes.c_char_p),
        ("image_size", ctypes.c_int), ("init_model", ctypes.c_char_p), ("steps", ctypes.c_int64),
        ("batch", ctypes.c_int), ("lr", ctypes.c_double), ("seed", ctypes.c_uint64),
        ("checkpoint", ctypes.c_char_p), ("out_model", ctypes.c_char_p),
        ("sample_dir", ctypes.c_char_p), ("sample_every", ctypes.c_int64),
        ("warmup", ctypes.c_int64), ("decay_from", ctypes.c_double), ("grad_clip", ctypes.c_double),
        ("label_drop", ctypes.c_double), ("ema_decay", ctypes.c_double),
        ("ema_start", ctypes.c_int64), ("checkpoint_every", ctypes.c_int64),
        ("flip", ctypes.c_int), ("pixel_art", ctypes.c_int), ("freeze", ctypes.c_int),
        ("world_size", ctypes.c_int), ("rank", ctypes.c_int), ("master_addr", ctypes.c_char_p),
        ("master_port", ctypes.c_int), ("dist_timeout", ctypes.c_int),
        ("local_processes", ctypes.c_int), ("worker_path", ctypes.c_char_p),
        ("snr_gamma", ctypes.c_double), ("ema_warmup", ctypes.c_int),
        ("minutes", ctypes.c_double), ("device", ctypes.c_char_p),
        ("distill", ctypes.c_int), ("distill_steps", ctypes.c_int), ("distill_substeps", ctypes.c_int),
        ("distill_guidance_min", ctypes.c_double), ("distill_guidance_max", ctypes.c_double),
        ("distill_stochastic", ctypes.c_int), ("lora_rank", ctypes.c_int),
        ("random_crop", ctypes.c_int), ("bf16", ctypes.c_int), ("live_student", ctypes.c_int),
        ("strength", ctypes.c_double),
    ]


class TrainStatus(ctypes.Structure):
    _fields_ = [
        ("step", ctypes.c_int64), ("total", ctypes.c_int64), ("loss", ctypes.c_double),
        ("loss_smoothed", ctypes.c_double), ("images_per_second", ctypes.c_double),
        ("eta_seconds", ctypes.c_double), ("done", ctypes.c_int),
    ]


TRAIN_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_double,
                            ctypes.c_double, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p)


class Library:
    def __init__(self, path=None):
        path = path or os.environ.get("DDPM_PLUGIN_LIBRARY", "libddpm_plugin.so")
        self.lib = lib = ctypes.CDLL(path)
        vp, ip, st = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int
        sigs = {
            "ddpm_abi_version": (ctypes.c_int, []),
            "ddpm_version_string": (ctypes.c_char_p, []),
            "ddpm_last_error": (ctypes.c_char_p, []),
            "ddpm_set_log_callback": (st, [LOG_FN, ctypes.c_int, vp]),
            "ddpm_set_threads": (st, [ctypes.c_int]),
            "ddpm_set_precision": (st, [ctypes.c_char_p]),
            "ddpm_get_precision": (ctypes.c_char_p, []),
            "ddpm_string_free": (None, [vp]),
            "ddpm_model_load": (st, [ctypes.c_char_p, ctypes.POINTER(vp)]),
            "ddpm_model_params_init": (st, [ctypes.POINTER(ModelParams), ctypes.c_size_t]),
            "ddpm_model_load_ex": (st, [ctypes.c_char_p, ctypes.POINTER(ModelParams), ctypes.POINTER(vp)]),
            "ddpm_model_free": (None, [vp]),
            "ddpm_model_info_json": (st, [vp, ctypes.POINTER(vp)]),
            "ddpm_model_get_shape": (st, [vp, ip, ip, ip, ip, ip]),
            "ddpm_generate_params_init": (st, [ctypes.POINTER(GenerateParams), ctypes.c_size_t]),
            "ddpm_generate_start": (st, [vp, ctypes.POINTER(GenerateParams), STEP_FN, vp,
                                         ctypes.POINTER(vp)]),
            "ddpm_job_get_shape": (st, [vp, ip, ip, ip, ip]),
            "ddpm_job_poll": (st, [vp, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ip, ip]),
            "ddpm_job_cancel": (st, [vp]),
            "ddpm_job_wait": (st, [vp, ctypes.c_int]),
            "ddpm_job_result_rgba8": (st, [vp, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t]),
            "ddpm_job_result_f32": (st, [vp, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t]),
            "ddpm_job_free": (None, [vp]),
            "ddpm_import_params_init": (st, [ctypes.POINTER(ImportParams), ctypes.c_size_t]),
            "ddpm_import_checkpoint": (st, [ctypes.c_char_p, ctypes.c_char_p,
                                            ctypes.POINTER(ImportParams)]),
            "ddpm_blend_models": (st, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_char_p]),
            "ddpm_widen_model": (st, [ctypes.c_char_p, ctypes.c_uint64, ctypes.c_char_p]),
            "ddpm_convert_model": (st, [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]),
            "ddpm_train_params_init": (st, [ctypes.POINTER(TrainParams), ctypes.c_size_t]),
            "ddpm_train_start": (st, [ctypes.POINTER(TrainParams), TRAIN_FN, vp, ctypes.POINTER(vp)]),
            "ddpm_train_poll": (st, [vp, ctypes.POINTER(TrainStatus)]),
            "ddpm_train_cancel": (st, [vp]),
            "ddpm_train_wait": (st, [vp, ctypes.c_int]),
            "ddpm_train_free": (None, [vp]),
            "ddpm_stream_params_init": (st, [ctypes.POINTER(StreamParams), ctypes.c_size_t]),
            "ddpm_stream_open": (st, [vp, ctypes.POINTER(StreamParams), ctypes.POINTER(vp)]),
            "ddpm_stream_push_input": (st, [vp, ctypes.POINTER(ctypes.c_float),
                                            ctypes.POINTER(ctypes.c_uint8), ctypes.c_int, ctypes.c_int]),
            "ddpm_stream_set_class": (st, [vp, ctypes.c_int, ctypes.c_int]),
            "ddpm_stream_set_guidance": (st, [vp, ctypes.c_float, ctypes.c_int]),
            "ddpm_stream_set_seed_path": (st, [vp, ctypes.c_int, ctypes.c_uint64, ctypes.c_int]),
            "ddpm_stream_set_blend": (st, [vp, ctypes.c_float]),
            "ddpm_stream_advance": (st, [vp, ip]),
            "ddpm_stream_run": (st, [vp, ctypes.c_float]),
            "ddpm_stream_pause": (st, [vp]),
            "ddpm_stream_read_frame": (st, [vp, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t,
                                            ctypes.POINTER(StreamFrame)]),
            "ddpm_stream_read_frame_rgba8": (st, [vp, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t,
                                                  ctypes.POINTER(StreamFrame)]),
            "ddpm_stream_read_slots": (st, [vp, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ip]),
            "ddpm_stream_get_stats": (st, [vp, ctypes.POINTER(StreamStats)]),
            "ddpm_stream_close": (None, [vp]),
        }
        for name, (res, args) in sigs.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        if lib.ddpm_abi_version() != ABI_VERSION:
            raise DDPMError(1, "library ABI %d, binding ABI %d" % (lib.ddpm_abi_version(), ABI_VERSION))
        self._log_fn = None

    @property
    def version(self):
        return self.lib.ddpm_version_string().decode()

    def check(self, status):
        if status != OK:
            raise DDPMError(status, self.lib.ddpm_last_error().decode(errors="replace"))

    def set_log_callback(self, fn, level=1):
        """fn(level, message) or None; called from any thread."""
        self._log_fn = LOG_FN(lambda lv, msg, _: fn(lv, msg.decode(errors="replace"))) if fn else LOG_FN()
        self.check(self.lib.ddpm_set_log_callback(self._log_fn, level, None))

    def set_threads(self, threads):
        """0 (default): automatic (all cores while no other thread keeps one busy); n: exactly n."""
        self.check(self.lib.ddpm_set_threads(threads))

    def set_precision(self, name):
        """"auto" (default: bf16 where the CPU has AVX512-BF16), "float32" or "bf16": the
        convolutions' number format for CPU inference."""
        self.check(self.lib.ddpm_set_precision(name.encode()))

    def get_precision(self):
        """The precision in effect: "float32" or "bf16"."""
        return self.lib.ddpm_get_precision().decode()

    def import_checkpoint(self, pt_path, out_path, class_names=None, image_size=64, float16=False):
        """Converts a reference PyTorch checkpoint (.pt) into a model file at out_path."""
        p = ImportParams()
        self.check(self.lib.ddpm_import_params_init(ctypes.byref(p), ctypes.sizeof(p)))
        names = None
        if class_names:
            names = (ctypes.c_char_p * len(class_names))(*[n.encode() for n in class_names])
            p.class_names = ctypes.cast(names, ctypes.POINTER(ctypes.c_char_p))
            p.class_count = len(class_names)
        p.image_size = image_size
        p.float16 = 1 if float16 else 0
        self.check(self.lib.ddpm_import_checkpoint(os.fsencode(pt_path), os.fsencode(out_path),
                                                   ctypes.byref(p)))
        del names

    def blend_models(self, base_path, tuned_path, strength, out_path):
        """Writes out_path: the fine-tune tuned_path blended with its base base_path,
        base + strength * (tuned - base), strength in (0, 2] (1: the fine-tune itself)."""
        self.check(self.lib.ddpm_blend_models(os.fsencode(base_path), os.fsencode(tuned_path),
                                              float(strength), os.fsencode(out_path)))

    def widen_model(self, model_path, out_path, seed=1):
        """Writes out_path: the model grown to twice its width, drawing the same images (to
        train further with more capacity); seed draws the split that lets training separate
        each channel's two copies."""
        self.check(self.lib.ddpm_widen_model(os.fsencode(model_path), int(seed), os.fsencode(out_path)))

    def convert_model(self, model_path, out_path, float16=True):
        """Writes out_path: the same model with its weights stored in float16 (half the file)
        or float32."""
        self.check(self.lib.ddpm_convert_model(os.fsencode(model_path), 1 if float16 else 0,
                                               os.fsencode(out_path)))

    def train(self, assets, out_model, on_progress=None, **options):
        """Starts a training job on the folder `assets`, writing `out_model`. options: the other
        fields of ddpm_train_params (preset, image_size, init_model, steps, batch, lr, seed,
        checkpoint, sample_dir, sample_every, warmup, decay_from, grad_clip, label_drop,
        ema_decay, ema_start, checkpoint_every, flip, pixel_art, freeze, world_size, rank,
        master_addr, master_port, dist_timeout, local_processes, worker_path, snr_gamma,
        ema_warmup, minutes, device, distill, distill_steps, distill_substeps, distill_guidance_min,
        distill_guidance_max, distill_stochastic, lora_rank, random_crop, bf16, live_student, strength);
        local_processes=N trains with N local processes (this job is rank 0).
        on_progress(step, total, loss, images_per_second, eta_seconds, message_or_None) runs on
        the worker thread."""
        return TrainJob(self, assets, out_model, on_progress, options)

    def load_model(self, path, device=None, threads=0):
        """device: "cpu" (None: the default), "cuda", "cuda:N" or "auto"; Model.device says
        where it went. threads: CPU threads of the model's jobs and streams that name none (0:
        the set_threads setting)."""
        handle = ctypes.c_void_p()
        p = ModelParams()
        self.check(self.lib.ddpm_model_params_init(ctypes.byref(p), ctypes.sizeof(p)))
        p.device = device.encode() if device is not None else None
        p.threads = threads
        self.check(self.lib.ddpm_model_load_ex(os.fsencode(path), ctypes.byref(p), ctypes.byref(handle)))
        return Model(self, handle)


class _Closing:
    """Handles free their native object on close(), on garbage collection, or with `with`."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Model(_Closing):
    def __init__(self, library, handle):
        self.library, self.lib, self.handle = library, library.lib, handle
        w, h, c, n, t = (ctypes.c_int() for _ in range(5))
        library.check(self.lib.ddpm_model_get_shape(handle, *(ctypes.byref(v) for v in (w, h, c, n, t))))
        self.width, self.height, self.channels = w.value, h.value, c.value
        self.num_classes, self.timesteps = n.value, t.value
        self.device = self.info().get("device", "cpu")

    def info(self):
        out = ctypes.c_void_p()
        self.library.check(self.lib.ddpm_model_info_json(self.handle, ctypes.byref(out)))
        try:
            return json.loads(ctypes.string_at(out).decode())
        finally:
            self.lib.ddpm_string_free(out)

    def generate(self, on_step=None, **options):
        """Starts a job. options: the fields of ddpm_generate_params (sampler may be a name,
        classes a list). on_step(step, total, frame) runs on the worker thread; frame is None
        or a list of floats copied out of the plugin's buffer."""
        p = GenerateParams()
        self.library.check(self.lib.ddpm_generate_params_init(ctypes.byref(p), ctypes.sizeof(p)))
        keep = []
        for key, value in options.items():
            if key == "sampler" and isinstance(value, str):
                value = value.encode()
                keep.append(value)
                p.sampler_name = value
            elif key == "spacing":  # None: the plugin's choice
                value = value.encode() if value is not None else None
                keep.append(value)
                p.spacing = value
            elif key == "classes":
                arr = (ctypes.c_int32 * len(value))(*value)
                keep.append(arr)
                p.classes, p.class_count = arr, len(value)
            elif key == "init_image_rgba8":
                arr = (ctypes.c_uint8 * len(value)).from_buffer_copy(bytes(value))
                keep.append(arr)
                p.init_image_rgba8 = arr
            elif key == "mask":
                arr = (ctypes.c_uint8 * len(value)).from_buffer_copy(bytes(value))
                keep.append(arr)
                p.mask = arr
            else:
                setattr(p, key, value)
        return Job(self, p, on_step, keep)

    def stream(self, **options):
        """Opens a live stream. options: the fields of ddpm_stream_params (sampler and
        seed_path may be names)."""
        return Stream(self, options)

    def close(self):
        if self.handle:
            self.lib.ddpm_model_free(self.handle)
            self.handle = None

    __del__ = close


class Job(_Closing):
    def __init__(self, model, params, on_step, keep):
        self.library, self.lib = model.library, model.lib
        self.model = model  # the plugin keeps the model alive anyway; this keeps ours
        self._keep = keep  # arrays the params point to, alive until the job starts
        if on_step:
            def trampoline(job, step, total, frame, w, h, c, b, _):
                values = frame[: w * h * c * b] if frame else None
                on_step(step, total, values)
            self._callback = STEP_FN(trampoline)
        else:
            self._callback = STEP_FN()
        self.handle = ctypes.c_void_p()
        self.library.check(self.lib.ddpm_generate_start(model.handle, ctypes.byref(params),
                                                        self._callback, None,
                                                        ctypes.byref(self.handle)))
        w, h, c, b = (ctypes.c_int() for _ in range(4))
        self.library.check(self.lib.ddpm_job_get_shape(self.handle, *(ctypes.byref(v) for v in (w, h, c, b))))
        self.width, self.height, self.channels, self.batch = w.value, h.value, c.value, b.value

    def cancel(self):
        self.library.check(self.lib.ddpm_job_cancel(self.handle))

    def wait(self, timeout_ms=-1):
        """True when finished, False on timeout; raises DDPMError on cancel or failure."""
        status = self.lib.ddpm_job_wait(self.handle, timeout_ms)
        if status == 7:
            return False
        self.library.check(status)
        return True

    def poll(self):
        """(step, total, frame floats)."""
        step, total, buf = self.poll_array()
        return step, total, list(buf)

    def poll_array(self):
        """(step, total, ctypes float array of the frame): no per-value Python objects, for
        hosts that hand the frame to numpy (numpy.ctypeslib.as_array) every step."""
        n = self.width * self.height * self.channels * self.batch
        buf = (ctypes.c_float * n)()
        step, total = ctypes.c_int(), ctypes.c_int()
        self.library.check(self.lib.ddpm_job_poll(self.handle, buf, n, ctypes.byref(step), ctypes.byref(total)))
        return step.value, total.value, buf

    def result_rgba8(self):
        self.wait()
        n = self.width * self.height * 4 * self.batch
        buf = (ctypes.c_uint8 * n)()
        self.library.check(self.lib.ddpm_job_result_rgba8(self.handle, buf, n))
        return bytes(buf)

    def result_f32(self):
        self.wait()
        n = self.width * self.height * self.channels * self.batch
        buf = (ctypes.c_float * n)()
        self.library.check(self.lib.ddpm_job_result_f32(self.handle, buf, n))
        return list(buf)

    def close(self):
        if self.handle:
            self.lib.ddpm_job_free(self.handle)
            self.handle = None

    __del__ = close


class Stream(_Closing):
    """A live stream: advance() (or run() for the plugin's own thread), then read_rgba8()."""

    def __init__(self, model, options):
        self.library, self.lib, self.model = model.library, model.lib, model
        p = StreamParams()
        self.library.check(self.lib.ddpm_stream_params_init(ctypes.byref(p), ctypes.sizeof(p)))
        name = None
        for key, value in options.items():
            if key == "sampler" and isinstance(value, str):
                name = value.encode()
                p.sampler_name = name
            elif key == "seed_path" and isinstance(value, str):
                p.seed_path = SEED_PATHS[value]
            else:
                setattr(p, key, value)
        self.handle = ctypes.c_void_p()
        self.library.check(self.lib.ddpm_stream_open(model.handle, ctypes.byref(p), ctypes.byref(self.handle)))
        self.width, self.height, self.channels = model.width, model.height, model.channels

    def advance(self):
        """One call; True when it finished a frame."""
        ready = ctypes.c_int()
        self.library.check(self.lib.ddpm_stream_advance(self.handle, ctypes.byref(ready)))
        return bool(ready.value)

    def run(self, target_fps=0.0):
        self.library.check(self.lib.ddpm_stream_run(self.handle, target_fps))

    def pause(self):
        self.library.check(self.lib.ddpm_stream_pause(self.handle))

    def set_class(self, class_index, in_flight=False):
        self.library.check(self.lib.ddpm_stream_set_class(self.handle, class_index, int(in_flight)))

    def set_guidance(self, guidance, in_flight=False):
        self.library.check(self.lib.ddpm_stream_set_guidance(self.handle, guidance, int(in_flight)))

    def set_seed_path(self, path, seed=0, period=32):
        path = SEED_PATHS[path] if isinstance(path, str) else path
        self.library.check(self.lib.ddpm_stream_set_seed_path(self.handle, path, seed, period))

    def set_blend(self, blend):
        self.library.check(self.lib.ddpm_stream_set_blend(self.handle, blend))

    def push_input_rgba8(self, rgba, width, height):
        arr = (ctypes.c_uint8 * len(rgba)).from_buffer_copy(bytes(rgba))
        self.library.check(self.lib.ddpm_stream_push_input(self.handle, None, arr, width, height))

    def read_rgba8(self):
        """(RGBA bytes, frame description dict), or None before the first frame."""
        n = self.width * self.height * 4
        buf, info = (ctypes.c_uint8 * n)(), StreamFrame()
        info.struct_size = ctypes.sizeof(info)
        status = self.lib.ddpm_stream_read_frame_rgba8(self.handle, buf, n, ctypes.byref(info))
        if status == 8:
            return None
        self.library.check(status)
        return bytes(buf), {name: getattr(info, name) for name, _ in StreamFrame._fields_[1:]}

    def stats(self):
        s = StreamStats()
        s.struct_size = ctypes.sizeof(s)
        self.library.check(self.lib.ddpm_stream_get_stats(self.handle, ctypes.byref(s)))
        return {name: getattr(s, name) for name, _ in StreamStats._fields_[1:]}

    def close(self):
        if self.handle:
            self.lib.ddpm_stream_close(self.handle)
            self.handle = None

    __del__ = close


class TrainJob(_Closing):
    def __init__(self, library, assets, out_model, on_progress, options):
        self.library, self.lib = library, library.lib
        p = TrainParams()
        library.check(self.lib.ddpm_train_params_init(ctypes.byref(p), ctypes.sizeof(p)))
        keep = []

        def text(value):
            b = os.fsencode(value)
            keep.append(b)
            return b
        p.assets, p.out_model = text(assets), text(out_model)
        for key, value in options.items():
            if key in ("preset", "init_model", "checkpoint", "sample_dir", "master_addr", "worker_path"):
                value = text(value) if value is not None else None
            setattr(p, key, value)
        if on_progress:
            def trampoline(job, step, total, loss, ips, eta, message, _):
                on_progress(step, total, loss, ips, eta,
                            message.decode(errors="replace") if message else None)
            self._callback = TRAIN_FN(trampoline)
        else:
            self._callback = TRAIN_FN()
        self.handle = ctypes.c_void_p()
        library.check(self.lib.ddpm_train_start(ctypes.byref(p), self._callback, None,
                                                ctypes.byref(self.handle)))

    def cancel(self):
        self.library.check(self.lib.ddpm_train_cancel(self.handle))

    def wait(self, timeout_ms=-1):
        """True when finished, False on timeout; raises DDPMError on cancel or failure."""
        status = self.lib.ddpm_train_wait(self.handle, timeout_ms)
        if status == 7:
            return False
        self.library.check(status)
        return True

    def poll(self):
        """A dict: step, total, loss, loss_smoothed, images_per_second, eta_seconds, done."""
        s = TrainStatus()
        self.library.check(self.lib.ddpm_train_poll(self.handle, ctypes.byref(s)))
        return {name: getattr(s, name) for name, _ in TrainStatus._fields_}

    def close(self):
        if self.handle:
            self.lib.ddpm_train_free(self.handle)
            self.handle = None

    __del__ = close

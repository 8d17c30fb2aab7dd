// DdpmPlugin.cs: C# binding of libddpm_plugin (the C ABI in plugin/include/ddpm_plugin.h),
// for Unity, Godot (C#) or any Mono/.NET program. One file, no dependencies; compiles with
// Mono's `mcs` (C# 6/7) and newer compilers.
//
//   using Ddpm;
//   using (var model = Model.Load("model.safetensors")) {
//       var opts = new GenerateOptions { ClassIndex = 1, Steps = 20, Seed = 7 };
//       byte[] rgba = model.Generate(opts, (step, total, frame) => { });  // batch*h*w*4 bytes
//       using (var stream = model.OpenStream(new StreamOptions { Steps = 4, ClassIndex = 1 })) {
//           StreamFrameInfo info;
//           if (stream.Advance()) rgba = stream.ReadRgba8(out info);  // a live frame per call
//       }
//   }
//
// Two layers:
//  - DdpmNative: the raw [DllImport] declarations; the structs mirror the C structs field by
//    field (same names, same order) and tests/plugin/test_csharp.sh checks every offset and
//    size against the header with a C compiler.
//  - DdpmLibrary, Model, Job, GenerateOptions, Stream, StreamOptions, DdpmException: a small
//    safe wrapper; failures are thrown as DdpmException carrying the status and ddpm_last_error().
//
// Type mapping (C -> C#): size_t -> UIntPtr (pointer-sized and unsigned, like size_t on every
// platform the plugin targets; `nuint` would need C# 9), int/enum -> int, int64_t -> long,
// uint64_t -> ulong, double/float -> double/float, any pointer (const char* included) -> IntPtr.
// Strings inside structs are IntPtr filled with Marshal.StringToHGlobalAnsi (UTF-8 on Mono and
// .NET on Linux/macOS, the ANSI code page on Windows, as the plugin's narrow-char paths expect)
// and freed by the caller after the call. Strings handed out by the plugin are returned as
// IntPtr (never as `string`: the marshaller would try to free the plugin's static strings).
//
// Callbacks run on the plugin's worker threads: do not call engine APIs (UnityEngine, Godot
// nodes) from them; copy what you need and hand it to the main thread.
using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

#if UNITY_5_3_OR_NEWER
using AOT;  // MonoPInvokeCallbackAttribute: IL2CPP needs it on every method called from C
#endif

namespace Ddpm
{
#if !UNITY_5_3_OR_NEWER
    /// <summary>Marks static methods called from native code. Unity's IL2CPP (and Xamarin's
    /// AOT) recognise the attribute by its name; outside Unity it only documents.</summary>
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type delegateType) { DelegateType = delegateType; }
        public Type DelegateType { get; private set; }
    }
#endif

    public enum DdpmStatus : int
    {
        Ok = 0,
        InvalidArgument = 1,
        NotFound = 2,
        IO = 3,
        BadModel = 4,
        OutOfRange = 5,
        Cancelled = 6,
        Timeout = 7,
        NotReady = 8,
        BufferTooSmall = 9,
        OutOfMemory = 10,
        Internal = 11,
    }

    public enum DdpmLogLevel : int { Debug = 0, Info = 1, Warn = 2, Error = 3 }

    /// <summary>ddpm_sampler. Auto: a distilled model's own sampler, else DpmPP2MSde (jobs and streams).</summary>
    public enum DdpmSampler : int { Auto = -1, Ddpm = 0, Ddim = 1, DpmPP2M = 2, EulerA = 3, DpmPP2MSde = 4 }

    /// <summary>ddpm_seed_path: where a stream's entering images take their noise from.</summary>
    public enum DdpmSeedPath : int
    {
        Fixed = 0,  // every image from noise(seed): a still picture for a fixed class (deterministic sampler)
        Walk = 1,   // a slow spherical walk from seed to seed + 1 to ... over `period` entries each
        New = 2,    // entry j from noise(seed + j): a new picture every frame
    }

    /// <summary>ddpm_generate_params. Initialise with DdpmLibrary.GenerateDefaults().</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct DdpmGenerateParams
    {
        public UIntPtr struct_size;
        public int batch;
        public int class_index;
        public IntPtr classes;          // const int32_t*
        public UIntPtr class_count;
        public float guidance;
        public int sampler;             // a DdpmSampler
        public IntPtr sampler_name;     // const char*
        public int steps;
        public float eta;               // (4 bytes of padding follow in C: seed is 8-aligned)
        public ulong seed;
        public int preview_every;
        public int preview_x0;
        public int tiling;              // (4 bytes of padding follow)
        public IntPtr init_image_f32;   // const float*
        public IntPtr init_image_rgba8; // const uint8_t*
        public int init_width;
        public int init_height;
        public float strength;          // (4 bytes of padding follow)
        public IntPtr mask;             // const uint8_t*
        public ulong variation_seed;
        public float variation_strength;
        public float guidance_rescale;
        public int clip_x0;
        public int threads;             // 0: the ddpm_set_threads count
        public IntPtr spacing;          // const char*; null: the plugin's choice
        public float guidance_min_sigma;
        public float guidance_max_sigma;
        public float alpha_cutoff;      // negative: the model's
    }

    /// <summary>ddpm_model_params. Initialise with DdpmLibrary.ModelDefaults().</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct DdpmModelParams
    {
        public UIntPtr struct_size;
        public IntPtr device;           // const char*: "cpu", "cuda", "cuda:N", "auto"; IntPtr.Zero: the CPU
        public int threads;             // CPU threads of jobs and streams that name none; 0: SetThreads' (4 bytes of padding follow)
    }

    /// <summary>ddpm_import_params. Initialise with DdpmLibrary.ImportDefaults().</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct DdpmImportParams
    {
        public UIntPtr struct_size;
        public IntPtr class_names;      // const char* const*: an array of class_count char*
        public int class_count;
        public int image_size;
        public int float16;             // (4 bytes of tail padding follow)
    }

    /// <summary>ddpm_train_params. Initialise with DdpmLibrary.TrainDefaults().</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct DdpmTrainParams
    {
        public UIntPtr struct_size;
        public IntPtr assets;           // const char*, required
        public IntPtr preset;           // const char*; the default points at the plugin's "sprite32"
        public int image_size;          // (4 bytes of padding follow)
        public IntPtr init_model;       // const char*
        public long steps;
        public int batch;               // (4 bytes of padding follow)
        public double lr;
        public ulong seed;
        public IntPtr checkpoint;       // const char*
        public IntPtr out_model;        // const char*, required
        public IntPtr sample_dir;       // const char*
        public long sample_every;
        public long warmup;             // -1: auto (0 for a new model, 50 for fine-tunes and budgets)
        public double decay_from;
        public double grad_clip;
        public double label_drop;
        public double ema_decay;
        public long ema_start;
        public long checkpoint_every;
        public int flip;
        public int pixel_art;
        public int freeze;
        // Data-parallel training (c10d Gloo): see ddpm_plugin.h.
        public int world_size;
        public int rank;
        public IntPtr master_addr;      // const char*; IntPtr.Zero: "127.0.0.1"
        public int master_port;
        public int dist_timeout;
        // A local multi-process run started by the job (this process is rank 0).
        public int local_processes;
        public IntPtr worker_path;      // const char*; IntPtr.Zero: ddpm_train_worker beside the library
        // The recipe: min-SNR-gamma loss weighting (0: off) and the EMA warm-up flag.
        public double snr_gamma;
        public int ema_warmup;          // (4 bytes of padding follow)
        // A time budget in minutes instead of steps (0: use steps).
        public double minutes;
        // "cpu", "cuda", "cuda:N"; IntPtr.Zero: auto (CUDA when present, else the CPU).
        public IntPtr device;           // const char*
        // Distillation: non-zero trains a student of init_model (guidance as an input); with
        // distill_steps > 0 for that many DDIM steps too.
        public int distill;
        public int distill_steps;
        public int distill_substeps;    // teacher DDIM steps per student step (default 2); (4 bytes of padding follow)
        public double distill_guidance_min;  // the student's guidance range (default 1 to 5)
        public double distill_guidance_max;
        public int distill_stochastic;  // non-zero: SDE steps instead of DDIM
        // > 0: fine-tune through low-rank adapters of this rank (the model file holds the merged
        // weights); 0: every weight; -1 (default): 0, or a resumed checkpoint's rank.
        public int lora_rank;
        // Random resized crops: -1 (default) off for fine-tunes, on otherwise; 0 off; 1 on.
        public int random_crop;
        // bf16 mixed precision on the CPU: -1 (default) on where the CPU has AVX512-BF16, 0
        // float32, 1 bf16.
        public int bf16;
        // Fine-tunes: non-zero (default) writes OUT.student.safetensors, the init model's Live
        // student moved by the fine-tune, when it has one; 0: none.
        public int live_student;
        // Fine-tunes: the model written is init + strength * (tuned - init), (0, 2]; 1 the tuned
        // weights; -1 (default): 0.85 for fine-tunes through adapters, 1 otherwise.
        public double strength;
    }

    /// <summary>ddpm_train_status (no struct_size: filled by ddpm_train_poll).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct DdpmTrainStatus
    {
        public long step;
        public long total;
        public double loss;
        public double loss_smoothed;
        public double images_per_second;
        public double eta_seconds;
        public int done;                // (4 bytes of tail padding follow)
    }

    /// <summary>ddpm_stream_params. Initialise with DdpmLibrary.StreamDefaults().</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct DdpmStreamParams
    {
        public UIntPtr struct_size;
        public int sampler;             // a DdpmSampler (4 bytes of padding follow)
        public IntPtr sampler_name;     // const char*
        public int steps;
        public float eta;
        public int class_index;
        public float guidance;
        public float guidance_rescale;
        public int seed_path;           // a DdpmSeedPath
        public ulong seed;
        public int seed_period;
        public int image_input;
        public float strength;
        public float blend;
        public int clip_x0;
        public int tiling;
        public int threads;             // 0: the ddpm_set_threads count
        public float guidance_min_sigma;
        public float guidance_max_sigma;
    }

    /// <summary>ddpm_stream_frame: the description of a stream's output frame. The caller sets
    /// struct_size = Marshal.SizeOf(DdpmStreamFrame) before the read (DdpmStreamFrame.Create()).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct DdpmStreamFrame
    {
        public UIntPtr struct_size;
        public long number;
        public long call;
        public long entered_call;
        public int latency_calls;
        public int class_index;
        public float guidance;          // (4 bytes of padding follow)
        public ulong seed;

        /// <summary>A zeroed struct with struct_size set, ready for the read functions.</summary>
        public static DdpmStreamFrame Create()
        {
            return new DdpmStreamFrame { struct_size = DdpmLibrary.StructSize(typeof(DdpmStreamFrame)) };
        }
    }

    /// <summary>ddpm_stream_stats. The caller sets struct_size = Marshal.SizeOf(DdpmStreamStats)
    /// (DdpmStreamStats.Create()).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct DdpmStreamStats
    {
        public UIntPtr struct_size;
        public long calls;
        public long frames;
        public int in_flight;
        public int latency;
        public int running;             // (4 bytes of padding follow)
        public double calls_per_second;
        public double last_call_ms;

        /// <summary>A zeroed struct with struct_size set, ready for ddpm_stream_get_stats.</summary>
        public static DdpmStreamStats Create()
        {
            return new DdpmStreamStats { struct_size = DdpmLibrary.StructSize(typeof(DdpmStreamStats)) };
        }
    }

    // The function pointer types. A delegate passed to the plugin must stay reachable for as
    // long as the plugin may call it: the marshaller's native thunk dies with the delegate, and
    // a call through a collected thunk crashes the process. The wrapper below keeps its
    // delegates in static fields for that reason; raw callers must do the same.
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void DdpmLogFn(DdpmLogLevel level, IntPtr message, IntPtr userData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void DdpmStepFn(IntPtr job, int step, int total, IntPtr frame, int width,
                                    int height, int channels, int batch, IntPtr userData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void DdpmTrainCallback(IntPtr job, long step, long total, double loss,
                                           double imagesPerSecond, double etaSeconds,
                                           IntPtr message, IntPtr userData);

    /// <summary>The raw C ABI. Handles (ddpm_model*, ddpm_job*, ddpm_train_job*, ddpm_stream*) are IntPtr.</summary>
    public static class DdpmNative
    {
#if UNITY_IOS && !UNITY_EDITOR
        public const string Library = "__Internal";  // statically linked on iOS
#else
        public const string Library = "ddpm_plugin";  // libddpm_plugin.so / ddpm_plugin.dll / .dylib
#endif
        public const int AbiVersion = 2;  // DDPM_ABI_VERSION of the header this file mirrors
        private const CallingConvention Cdecl = CallingConvention.Cdecl;

        [DllImport(Library, CallingConvention = Cdecl)] public static extern int ddpm_abi_version();
        [DllImport(Library, CallingConvention = Cdecl)] public static extern IntPtr ddpm_version_string();
        [DllImport(Library, CallingConvention = Cdecl)] public static extern IntPtr ddpm_last_error();
        [DllImport(Library, CallingConvention = Cdecl)] public static extern IntPtr ddpm_status_string(DdpmStatus status);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_set_log_callback(DdpmLogFn fn, DdpmLogLevel minLevel, IntPtr userData);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern DdpmStatus ddpm_set_threads(int threads);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern DdpmStatus ddpm_set_precision(string name);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern IntPtr ddpm_get_precision();
        [DllImport(Library, CallingConvention = Cdecl)] public static extern void ddpm_string_free(IntPtr str);

        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_model_load([MarshalAs(UnmanagedType.LPStr)] string path, out IntPtr model);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_model_params_init(ref DdpmModelParams p, UIntPtr structSize);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_model_params_init(IntPtr p, UIntPtr structSize);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_model_load_ex([MarshalAs(UnmanagedType.LPStr)] string path,
                                                           ref DdpmModelParams p, out IntPtr model);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern void ddpm_model_free(IntPtr model);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_model_info_json(IntPtr model, out IntPtr json);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_model_get_shape(IntPtr model, out int width, out int height,
                                                             out int channels, out int numClasses, out int timesteps);

        // The ddpm_*_params_init functions write exactly structSize bytes (the library's
        // defaults, zeros past the fields the library knows) and set struct_size = structSize:
        // pass Marshal.SizeOf of the struct (the C header's inline ddpm_*_default_params pass
        // sizeof). An older or newer library then reads only what this file's structs hold. The
        // IntPtr overloads take a raw buffer of at least structSize bytes.
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_generate_params_init(ref DdpmGenerateParams p, UIntPtr structSize);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_generate_params_init(IntPtr p, UIntPtr structSize);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_generate_start(IntPtr model, ref DdpmGenerateParams p, DdpmStepFn callback,
                                                            IntPtr userData, out IntPtr job);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_job_get_shape(IntPtr job, out int width, out int height, out int channels,
                                                           out int batch);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_job_poll(IntPtr job, [Out] float[] buffer, UIntPtr bufferFloats,
                                                      out int step, out int total);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern DdpmStatus ddpm_job_cancel(IntPtr job);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern DdpmStatus ddpm_job_wait(IntPtr job, int timeoutMs);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_job_result_rgba8(IntPtr job, [Out] byte[] buffer, UIntPtr bufferBytes);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_job_result_f32(IntPtr job, [Out] float[] buffer, UIntPtr bufferFloats);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern void ddpm_job_free(IntPtr job);

        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_import_params_init(ref DdpmImportParams p, UIntPtr structSize);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_import_params_init(IntPtr p, UIntPtr structSize);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_import_checkpoint([MarshalAs(UnmanagedType.LPStr)] string ptPath,
                                                               [MarshalAs(UnmanagedType.LPStr)] string outPath,
                                                               ref DdpmImportParams p);
        /// <summary>The same function with params NULL (the defaults) or a raw pointer.</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_import_checkpoint([MarshalAs(UnmanagedType.LPStr)] string ptPath,
                                                               [MarshalAs(UnmanagedType.LPStr)] string outPath,
                                                               IntPtr p);

        /// <summary>base + strength * (tuned - base), written to outPath; strength in (0, 2].</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_blend_models([MarshalAs(UnmanagedType.LPStr)] string basePath,
                                                          [MarshalAs(UnmanagedType.LPStr)] string tunedPath,
                                                          double strength,
                                                          [MarshalAs(UnmanagedType.LPStr)] string outPath);

        /// <summary>The model grown to twice its width, drawing the same images, written to outPath.</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_widen_model([MarshalAs(UnmanagedType.LPStr)] string modelPath, ulong seed,
                                                         [MarshalAs(UnmanagedType.LPStr)] string outPath);

        /// <summary>The model with its weights stored in float16 (float16 != 0) or float32, written to outPath.</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_convert_model([MarshalAs(UnmanagedType.LPStr)] string modelPath, int float16,
                                                           [MarshalAs(UnmanagedType.LPStr)] string outPath);

        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_train_params_init(ref DdpmTrainParams p, UIntPtr structSize);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_train_params_init(IntPtr p, UIntPtr structSize);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_train_start(ref DdpmTrainParams p, DdpmTrainCallback callback,
                                                         IntPtr userData, out IntPtr job);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_train_poll(IntPtr job, out DdpmTrainStatus status);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern DdpmStatus ddpm_train_cancel(IntPtr job);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern DdpmStatus ddpm_train_wait(IntPtr job, int timeoutMs);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern void ddpm_train_free(IntPtr job);

        // Live streams (ddpm_stream*). The frame and stats structs are written up to the
        // struct_size the caller set in them (DdpmStreamFrame.Create(), DdpmStreamStats.Create()).
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_params_init(ref DdpmStreamParams p, UIntPtr structSize);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_params_init(IntPtr p, UIntPtr structSize);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_open(IntPtr model, ref DdpmStreamParams p, out IntPtr stream);
        /// <summary>Either rgbaF32 or rgba8 (the other null), width*height*4 values.</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_push_input(IntPtr stream, [In] float[] rgbaF32, [In] byte[] rgba8,
                                                               int width, int height);
        /// <summary>The same function with raw pointers (IntPtr.Zero for the one not given).</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_push_input(IntPtr stream, IntPtr rgbaF32, IntPtr rgba8, int width,
                                                               int height);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_set_class(IntPtr stream, int classIndex, int applyToInflight);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_set_guidance(IntPtr stream, float guidance, int applyToInflight);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_set_seed_path(IntPtr stream, DdpmSeedPath seedPath, ulong seed,
                                                                  int period);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_set_blend(IntPtr stream, float blend);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_advance(IntPtr stream, out int frameReady);
        /// <summary>The same function with frame_ready NULL (or a raw int*).</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_advance(IntPtr stream, IntPtr frameReady);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_run(IntPtr stream, float targetFps);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern DdpmStatus ddpm_stream_pause(IntPtr stream);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_read_frame(IntPtr stream, [Out] float[] buffer, UIntPtr bufferFloats,
                                                               ref DdpmStreamFrame info);
        /// <summary>The same function with info NULL (or a raw ddpm_stream_frame*).</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_read_frame(IntPtr stream, [Out] float[] buffer, UIntPtr bufferFloats,
                                                               IntPtr info);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_read_frame_rgba8(IntPtr stream, [Out] byte[] buffer,
                                                                     UIntPtr bufferBytes, ref DdpmStreamFrame info);
        /// <summary>The same function with info NULL (or a raw ddpm_stream_frame*).</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_read_frame_rgba8(IntPtr stream, [Out] byte[] buffer,
                                                                     UIntPtr bufferBytes, IntPtr info);
        /// <summary>buffer may be null (with bufferFloats 0) to ask only for the count.</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_read_slots(IntPtr stream, [Out] float[] buffer, UIntPtr bufferFloats,
                                                               out int count);
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_get_stats(IntPtr stream, ref DdpmStreamStats stats);
        /// <summary>The same function with a raw ddpm_stream_stats* (its struct_size set).</summary>
        [DllImport(Library, CallingConvention = Cdecl)]
        public static extern DdpmStatus ddpm_stream_get_stats(IntPtr stream, IntPtr stats);
        [DllImport(Library, CallingConvention = Cdecl)] public static extern void ddpm_stream_close(IntPtr stream);
    }

    /// <summary>A failed call: Status and the plugin's message (ddpm_last_error()).</summary>
    public class DdpmException : Exception
    {
        public DdpmStatus Status { get; private set; }
        public DdpmException(DdpmStatus status, string message, Exception inner = null)
            : base(status + ": " + message, inner)
        {
            Status = status;
        }
    }

    /// <summary>Library-wide calls and helpers.</summary>
    public static class DdpmLibrary
    {
        /// <summary>The largest struct_size the plugin accepts.</summary>
        public const int MaxParamsSize = 4096;

        public static int AbiVersion { get { return DdpmNative.ddpm_abi_version(); } }
        public static string Version { get { return PtrToStringUtf8(DdpmNative.ddpm_version_string()); } }
        public static string LastError { get { return PtrToStringUtf8(DdpmNative.ddpm_last_error()); } }

        /// <summary>Throws unless the loaded library speaks the ABI this file mirrors.</summary>
        public static void CheckAbi()
        {
            int abi = DdpmNative.ddpm_abi_version();
            if (abi != DdpmNative.AbiVersion)
                throw new DdpmException(DdpmStatus.InvalidArgument, "the library has ABI " + abi +
                                        ", DdpmPlugin.cs was written for ABI " + DdpmNative.AbiVersion);
        }

        /// <summary>Throws a DdpmException with ddpm_last_error() unless status is Ok. Call it
        /// right after the failed call, on the same thread (the message is thread-local).</summary>
        public static void Check(DdpmStatus status)
        {
            if (status != DdpmStatus.Ok) throw new DdpmException(status, LastError);
        }

        /// <summary>0 (default): automatic (all cores while no other thread keeps one busy); n: exactly n.</summary>
        public static void SetThreads(int threads) { Check(DdpmNative.ddpm_set_threads(threads)); }
        /// <summary>"auto" (default: bf16 where the CPU has AVX512-BF16), "float32" or "bf16": the
        /// convolutions' number format for CPU inference.</summary>
        public static void SetPrecision(string name) { Check(DdpmNative.ddpm_set_precision(name)); }
        /// <summary>The precision in effect: "float32" or "bf16".</summary>
        public static string Precision { get { return PtrToStringUtf8(DdpmNative.ddpm_get_precision()); } }

        /// <summary>Sends the plugin's messages at minLevel or above to handler (null: none). The
        /// handler runs on any thread (job workers included), one call at a time.</summary>
        public static void SetLogCallback(Action<DdpmLogLevel, string> handler, DdpmLogLevel minLevel = DdpmLogLevel.Info)
        {
            logHandler = handler;
            Check(DdpmNative.ddpm_set_log_callback(handler != null ? LogThunk : null, minLevel, IntPtr.Zero));
        }

        /// <summary>The plugin's defaults, struct_size = Marshal.SizeOf(DdpmGenerateParams).</summary>
        public static DdpmGenerateParams GenerateDefaults()
        {
            var p = new DdpmGenerateParams();
            Check(DdpmNative.ddpm_generate_params_init(ref p, StructSize(typeof(DdpmGenerateParams))));
            return p;
        }

        /// <summary>The plugin's defaults, struct_size = Marshal.SizeOf(DdpmModelParams).</summary>
        public static DdpmModelParams ModelDefaults()
        {
            var p = new DdpmModelParams();
            Check(DdpmNative.ddpm_model_params_init(ref p, StructSize(typeof(DdpmModelParams))));
            return p;
        }

        /// <summary>The plugin's defaults, struct_size = Marshal.SizeOf(DdpmImportParams).</summary>
        public static DdpmImportParams ImportDefaults()
        {
            var p = new DdpmImportParams();
            Check(DdpmNative.ddpm_import_params_init(ref p, StructSize(typeof(DdpmImportParams))));
            return p;
        }

        /// <summary>The plugin's defaults, struct_size = Marshal.SizeOf(DdpmTrainParams).</summary>
        public static DdpmTrainParams TrainDefaults()
        {
            var p = new DdpmTrainParams();
            Check(DdpmNative.ddpm_train_params_init(ref p, StructSize(typeof(DdpmTrainParams))));
            return p;
        }

        /// <summary>The plugin's defaults, struct_size = Marshal.SizeOf(DdpmStreamParams).</summary>
        public static DdpmStreamParams StreamDefaults()
        {
            var p = new DdpmStreamParams();
            Check(DdpmNative.ddpm_stream_params_init(ref p, StructSize(typeof(DdpmStreamParams))));
            return p;
        }

        /// <summary>Marshal.SizeOf(type) as a size_t, the struct_size argument of the init functions.</summary>
        public static UIntPtr StructSize(Type type)
        {
            return new UIntPtr((uint)Marshal.SizeOf(type));
        }

        /// <summary>A NUL-terminated UTF-8 string of the plugin as a string ("" for NULL).</summary>
        public static string PtrToStringUtf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return "";
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return Encoding.UTF8.GetString(bytes);
        }

        // Kept in a static field: the plugin calls it until the callback is replaced (see the
        // note on the delegate types).
        private static readonly DdpmLogFn LogThunk = OnLog;
        private static volatile Action<DdpmLogLevel, string> logHandler;

        [MonoPInvokeCallback(typeof(DdpmLogFn))]
        private static void OnLog(DdpmLogLevel level, IntPtr message, IntPtr userData)
        {
            try
            {
                var h = logHandler;
                if (h != null) h(level, PtrToStringUtf8(message));
            }
            catch (Exception)
            {
                // An exception must never unwind into the plugin's C frames.
            }
        }
    }

    public struct ModelShape
    {
        public int Width, Height, Channels, NumClasses, Timesteps;
    }

    /// <summary>Called on the job's worker thread after each step. frame is null on steps
    /// without a preview, else a copy of batch*height*width*channels floats in [0, 1].</summary>
    public delegate void StepHandler(int step, int total, float[] frame);

    /// <summary>Generation settings; a null field keeps the plugin's default.</summary>
    public class GenerateOptions
    {
        public int? Batch;
        public int? ClassIndex;          // -1: none
        public int[] Classes;            // one per image, or one for all (-1: none)
        public float? Guidance;
        public string Sampler;           // "ddpm", "ddim", "dpmpp2m", "euler_a", "dpmpp2m_sde" (null: the model's, DPM-Solver++ 2M SDE)
        public int? Steps;               // null: the model's (10 for dpmpp2m_sde)
        public float? Eta;
        public ulong? Seed;
        public int? PreviewEvery;        // 0: no frames
        public bool? PreviewX0;
        public bool? Tiling;
        public byte[] InitImageRgba8;    // InitWidth*InitHeight*4 bytes
        public int InitWidth, InitHeight;
        public float? Strength;
        public byte[] Mask;              // InitWidth*InitHeight bytes, 255 = keep
        public ulong? VariationSeed;
        public float? VariationStrength;
        public float? GuidanceRescale;
        public float? GuidanceMinSigma;  // guidance only at noise levels in [min, max] (default: the sampler's; 0: no bound)
        public float? GuidanceMaxSigma;
        public bool? ClipX0;
        public int? Threads;             // the job's intra-op threads (0: the plugin's setting, automatic unless set)
        public string Spacing;           // "trailing", "logsnr", "tuned", "uniform", "leading" (null: the plugin's choice)
    }

    /// <summary>Live-stream settings; a null field keeps the plugin's default.</summary>
    public class StreamOptions
    {
        public string Sampler;           // "ddpm", "ddim", "dpmpp2m", "euler_a", "dpmpp2m_sde" (null: the model's, DPM-Solver++ 2M SDE)
        public int? Steps;               // stages of the schedule = the latency in calls (default 0: the model's, 8 or a distilled model's)
        public float? Eta;
        public int? ClassIndex;          // -1: none (default)
        public float? Guidance;          // default 3
        public float? GuidanceRescale;
        public float? GuidanceMinSigma;  // as GenerateOptions'
        public float? GuidanceMaxSigma;
        public DdpmSeedPath? SeedPath;   // default Walk
        public ulong? Seed;
        public int? SeedPeriod;          // Walk: entries from one seed to the next (default 32)
        public bool? ImageInput;         // image-to-image: every entry is the latest PushInput*
        public float? Strength;          // image input: the fraction of the stages run (default 0.5)
        public float? Blend;             // 0..1: output = blend * previous + (1 - blend) * new
        public bool? ClipX0;
        public bool? Tiling;
        public int? Threads;             // the stream worker's intra-op threads (0: the plugin's setting, automatic unless set)
    }

    /// <summary>The description of a stream's output frame (ddpm_stream_frame).</summary>
    public struct StreamFrameInfo
    {
        public long Number;        // 1-based count of frames the stream has finished
        public long Call;          // the Advance call (1-based) that finished it
        public long EnteredCall;   // the call in which it entered
        public int LatencyCalls;   // Call - EnteredCall + 1
        public int ClassIndex;     // its class when it finished (-1 none)
        public float Guidance;     // its guidance when it finished
        public ulong Seed;         // the seed it entered with

        internal StreamFrameInfo(DdpmStreamFrame f)
        {
            Number = f.number; Call = f.call; EnteredCall = f.entered_call; LatencyCalls = f.latency_calls;
            ClassIndex = f.class_index; Guidance = f.guidance; Seed = f.seed;
        }
    }

    /// <summary>A stream's counters and timing (ddpm_stream_stats).</summary>
    public struct StreamStats
    {
        public long Calls;             // Advance calls so far (the worker's included)
        public long Frames;            // frames finished so far
        public int InFlight;           // images in flight now
        public int Latency;            // calls from an image's entry to its output
        public bool Running;           // the stream's worker runs (Run)
        public double CallsPerSecond;  // over the last second of calls
        public double LastCallMs;      // duration of the latest call
    }

    /// <summary>A loaded model (ddpm_model*). Thread-safe; Dispose when done.</summary>
    public sealed class Model : IDisposable
    {
        private IntPtr handle;

        private Model(IntPtr handle)
        {
            this.handle = handle;
            int w, h, c, n, t;
            DdpmLibrary.Check(DdpmNative.ddpm_model_get_shape(handle, out w, out h, out c, out n, out t));
            Shape = new ModelShape { Width = w, Height = h, Channels = c, NumClasses = n, Timesteps = t };
        }

        /// <summary>Loads a model file (.safetensors of this project, or a reference .pt) on the
        /// CPU, or on `device` ("cpu", "cuda", "cuda:N", "auto"; InfoJson's "device" says where it
        /// went); `threads`: CPU threads of its jobs and streams that name none (0: SetThreads').</summary>
        public static Model Load(string path, string device = null, int threads = 0)
        {
            DdpmLibrary.CheckAbi();
            IntPtr h;
            var p = DdpmLibrary.ModelDefaults();
            p.device = device == null ? IntPtr.Zero : Marshal.StringToHGlobalAnsi(device);
            p.threads = threads;
            try { DdpmLibrary.Check(DdpmNative.ddpm_model_load_ex(path, ref p, out h)); }
            finally { if (p.device != IntPtr.Zero) Marshal.FreeHGlobal(p.device); }
            try
            {
                return new Model(h);
            }
            catch
            {
                DdpmNative.ddpm_model_free(h);
                throw;
            }
        }

        public IntPtr Handle { get { return handle; } }
        public ModelShape Shape { get; private set; }

        /// <summary>The model's description as JSON (architecture, schedule, class names, samplers,
        /// and "device": where it runs).</summary>
        public string InfoJson
        {
            get
            {
                IntPtr json;
                DdpmLibrary.Check(DdpmNative.ddpm_model_info_json(Live(), out json));
                try { return DdpmLibrary.PtrToStringUtf8(json); }
                finally { DdpmNative.ddpm_string_free(json); }
            }
        }

        /// <summary>Starts a job on a worker thread; poll or wait on it, then Dispose it.</summary>
        public Job Start(GenerateOptions options = null, StepHandler onStep = null)
        {
            return new Job(this, options ?? new GenerateOptions(), onStep);
        }

        /// <summary>Generates and returns the RGBA bytes (batch*height*width*4). On timeout the
        /// job is cancelled and a DdpmException(Timeout) thrown.</summary>
        public byte[] Generate(GenerateOptions options = null, StepHandler onStep = null, int timeoutMs = -1)
        {
            using (var job = Start(options, onStep))
            {
                if (!job.Wait(timeoutMs))
                {
                    job.Cancel();
                    throw new DdpmException(DdpmStatus.Timeout, "generation did not finish in " + timeoutMs + " ms");
                }
                return job.ResultRgba8();
            }
        }

        /// <summary>Opens a live stream on this model (the stream keeps the model alive); Dispose it.</summary>
        public Stream OpenStream(StreamOptions options = null)
        {
            return new Stream(this, options ?? new StreamOptions());
        }

        internal IntPtr Live()
        {
            if (handle == IntPtr.Zero) throw new ObjectDisposedException("Model");
            return handle;
        }

        public void Dispose()
        {
            Free();
            GC.SuppressFinalize(this);
        }

        ~Model() { Free(); }

        // The plugin keeps the model alive for its running jobs, so this is safe at any time.
        private void Free()
        {
            IntPtr h = Interlocked.Exchange(ref handle, IntPtr.Zero);
            if (h != IntPtr.Zero) DdpmNative.ddpm_model_free(h);
        }
    }

    /// <summary>A generation job (ddpm_job*). Dispose cancels it and waits for its worker.</summary>
    public sealed class Job : IDisposable
    {
        // What the worker thread's callback needs; reached through user_data (a GCHandle), so the
        // callback can be a static method (IL2CPP supports no other) and this Job can still be
        // finalized while the handle exists.
        private sealed class CallbackState
        {
            public StepHandler Handler;
            public volatile Exception Error;
        }

        // Kept in a static field so the native thunk outlives every job (see the delegate types).
        private static readonly DdpmStepFn StepThunk = OnStep;

        private IntPtr handle;
        private GCHandle stateHandle;
        private readonly CallbackState state;

        public int Width { get; private set; }
        public int Height { get; private set; }
        public int Channels { get; private set; }
        public int Batch { get; private set; }

        internal Job(Model model, GenerateOptions o, StepHandler onStep)
        {
            DdpmGenerateParams p = DdpmLibrary.GenerateDefaults();
            if (o.Batch.HasValue) p.batch = o.Batch.Value;
            if (o.ClassIndex.HasValue) p.class_index = o.ClassIndex.Value;
            if (o.Guidance.HasValue) p.guidance = o.Guidance.Value;
            if (o.Steps.HasValue) p.steps = o.Steps.Value;
            if (o.Eta.HasValue) p.eta = o.Eta.Value;
            if (o.Seed.HasValue) p.seed = o.Seed.Value;
            if (o.PreviewEvery.HasValue) p.preview_every = o.PreviewEvery.Value;
            if (o.PreviewX0.HasValue) p.preview_x0 = o.PreviewX0.Value ? 1 : 0;
            if (o.Tiling.HasValue) p.tiling = o.Tiling.Value ? 1 : 0;
            if (o.Strength.HasValue) p.strength = o.Strength.Value;
            if (o.VariationSeed.HasValue) p.variation_seed = o.VariationSeed.Value;
            if (o.VariationStrength.HasValue) p.variation_strength = o.VariationStrength.Value;
            if (o.GuidanceRescale.HasValue) p.guidance_rescale = o.GuidanceRescale.Value;
            if (o.GuidanceMinSigma.HasValue) p.guidance_min_sigma = o.GuidanceMinSigma.Value;
            if (o.GuidanceMaxSigma.HasValue) p.guidance_max_sigma = o.GuidanceMaxSigma.Value;
            if (o.ClipX0.HasValue) p.clip_x0 = o.ClipX0.Value ? 1 : 0;
            if (o.Threads.HasValue) p.threads = o.Threads.Value;
            p.init_width = o.InitWidth;
            p.init_height = o.InitHeight;

            state = new CallbackState { Handler = onStep };
            // The plugin copies everything the params point to inside ddpm_generate_start, so
            // the arrays are pinned and the sampler name allocated only for that call.
            GCHandle classes = default(GCHandle), init = default(GCHandle), mask = default(GCHandle);
            IntPtr samplerName = IntPtr.Zero, spacingName = IntPtr.Zero;
            try
            {
                if (o.Classes != null)
                {
                    classes = GCHandle.Alloc(o.Classes, GCHandleType.Pinned);
                    p.classes = classes.AddrOfPinnedObject();
                    p.class_count = new UIntPtr((uint)o.Classes.Length);
                }
                if (o.InitImageRgba8 != null)
                {
                    init = GCHandle.Alloc(o.InitImageRgba8, GCHandleType.Pinned);
                    p.init_image_rgba8 = init.AddrOfPinnedObject();
                }
                if (o.Mask != null)
                {
                    mask = GCHandle.Alloc(o.Mask, GCHandleType.Pinned);
                    p.mask = mask.AddrOfPinnedObject();
                }
                if (o.Sampler != null)
                {
                    samplerName = Marshal.StringToHGlobalAnsi(o.Sampler);
                    p.sampler_name = samplerName;
                }
                if (o.Spacing != null)
                {
                    spacingName = Marshal.StringToHGlobalAnsi(o.Spacing);
                    p.spacing = spacingName;
                }
                if (onStep != null) stateHandle = GCHandle.Alloc(state);
                IntPtr h;
                DdpmStatus s = DdpmNative.ddpm_generate_start(model.Live(), ref p, onStep != null ? StepThunk : null,
                                                              onStep != null ? GCHandle.ToIntPtr(stateHandle) : IntPtr.Zero,
                                                              out h);
                if (s != DdpmStatus.Ok)
                {
                    string message = DdpmLibrary.LastError;  // before any other plugin call
                    if (stateHandle.IsAllocated) stateHandle.Free();
                    throw new DdpmException(s, message);
                }
                handle = h;
            }
            finally
            {
                if (classes.IsAllocated) classes.Free();
                if (init.IsAllocated) init.Free();
                if (mask.IsAllocated) mask.Free();
                if (samplerName != IntPtr.Zero) Marshal.FreeHGlobal(samplerName);
                if (spacingName != IntPtr.Zero) Marshal.FreeHGlobal(spacingName);
            }
            int w, hh, c, b;
            DdpmLibrary.Check(DdpmNative.ddpm_job_get_shape(handle, out w, out hh, out c, out b));
            Width = w; Height = hh; Channels = c; Batch = b;
        }

        public IntPtr Handle { get { return handle; } }

        public void Cancel() { DdpmLibrary.Check(DdpmNative.ddpm_job_cancel(Live())); }

        /// <summary>True when finished, false on timeout (timeoutMs &lt; 0: forever). Throws
        /// DdpmException on failure or cancel; when the step handler threw, the job was
        /// cancelled and the exception comes back here as the InnerException.</summary>
        public bool Wait(int timeoutMs = -1)
        {
            DdpmStatus s = DdpmNative.ddpm_job_wait(Live(), timeoutMs);
            if (s == DdpmStatus.Timeout) return false;
            Exception error = state.Error;
            if (error != null)
                throw new DdpmException(DdpmStatus.Cancelled, "the step handler threw: " + error.Message, error);
            DdpmLibrary.Check(s);
            return true;
        }

        /// <summary>The latest preview's step (0: none yet) and total; copies the frame into
        /// buffer (batch*height*width*channels floats) when it is not null.</summary>
        public int Poll(float[] buffer, out int total)
        {
            int step;
            UIntPtr n = new UIntPtr((uint)(buffer != null ? buffer.Length : 0));
            DdpmLibrary.Check(DdpmNative.ddpm_job_poll(Live(), buffer, n, out step, out total));
            return step;
        }

        /// <summary>Waits, then returns the images as RGBA bytes (batch*height*width*4).</summary>
        public byte[] ResultRgba8()
        {
            Wait();
            var bytes = new byte[Batch * Height * Width * 4];
            DdpmLibrary.Check(DdpmNative.ddpm_job_result_rgba8(handle, bytes, new UIntPtr((uint)bytes.Length)));
            return bytes;
        }

        /// <summary>Waits, then returns the images as floats in [0, 1] (batch*height*width*channels).</summary>
        public float[] ResultF32()
        {
            Wait();
            var floats = new float[Batch * Height * Width * Channels];
            DdpmLibrary.Check(DdpmNative.ddpm_job_result_f32(handle, floats, new UIntPtr((uint)floats.Length)));
            return floats;
        }

        private IntPtr Live()
        {
            if (handle == IntPtr.Zero) throw new ObjectDisposedException("Job");
            return handle;
        }

        public void Dispose()
        {
            Free();
            GC.SuppressFinalize(this);
        }

        ~Job() { Free(); }

        private void Free()
        {
            IntPtr h = Interlocked.Exchange(ref handle, IntPtr.Zero);
            // ddpm_job_free cancels and joins the worker: no callback runs after it returns, so
            // only then may the state the callback reaches be released.
            if (h != IntPtr.Zero) DdpmNative.ddpm_job_free(h);
            if (stateHandle.IsAllocated) stateHandle.Free();
        }

        [MonoPInvokeCallback(typeof(DdpmStepFn))]
        private static void OnStep(IntPtr job, int step, int total, IntPtr frame, int width, int height,
                                   int channels, int batch, IntPtr userData)
        {
            // An exception must never unwind into the plugin's C frames: keep it for Wait().
            CallbackState st = null;
            try
            {
                st = (CallbackState)GCHandle.FromIntPtr(userData).Target;
                float[] copy = null;
                if (frame != IntPtr.Zero)  // valid only during this call
                {
                    copy = new float[batch * height * width * channels];
                    Marshal.Copy(frame, copy, 0, copy.Length);
                }
                st.Handler(step, total, copy);
            }
            catch (Exception e)
            {
                if (st != null && st.Error == null) st.Error = e;
                DdpmNative.ddpm_job_cancel(job);
            }
        }
    }

    /// <summary>A live stream (ddpm_stream*): `steps` images in flight at staggered stages, one
    /// batched network call per Advance, one finished frame per call after a warm-up of Latency
    /// calls. Steer it with SetClass/SetGuidance/SetSeedPath/SetBlend at any time (from any
    /// thread); read the latest frame with ReadRgba8. Either call Advance yourself (e.g. once per
    /// engine frame) or let the plugin's worker thread advance it with Run(fps) until Pause().
    /// All methods are thread-safe except Dispose (call it once, after the others returned).
    /// The name collides with System.IO.Stream: with both namespaces imported, write Ddpm.Stream
    /// (or `var`, or `using DdpmStream = Ddpm.Stream;`).</summary>
    public sealed class Stream : IDisposable
    {
        private IntPtr handle;

        public int Width { get; private set; }
        public int Height { get; private set; }
        public int Channels { get; private set; }

        internal Stream(Model model, StreamOptions o)
        {
            DdpmStreamParams p = DdpmLibrary.StreamDefaults();
            if (o.Steps.HasValue) p.steps = o.Steps.Value;
            if (o.Eta.HasValue) p.eta = o.Eta.Value;
            if (o.ClassIndex.HasValue) p.class_index = o.ClassIndex.Value;
            if (o.Guidance.HasValue) p.guidance = o.Guidance.Value;
            if (o.GuidanceRescale.HasValue) p.guidance_rescale = o.GuidanceRescale.Value;
            if (o.GuidanceMinSigma.HasValue) p.guidance_min_sigma = o.GuidanceMinSigma.Value;
            if (o.GuidanceMaxSigma.HasValue) p.guidance_max_sigma = o.GuidanceMaxSigma.Value;
            if (o.SeedPath.HasValue) p.seed_path = (int)o.SeedPath.Value;
            if (o.Seed.HasValue) p.seed = o.Seed.Value;
            if (o.SeedPeriod.HasValue) p.seed_period = o.SeedPeriod.Value;
            if (o.ImageInput.HasValue) p.image_input = o.ImageInput.Value ? 1 : 0;
            if (o.Strength.HasValue) p.strength = o.Strength.Value;
            if (o.Blend.HasValue) p.blend = o.Blend.Value;
            if (o.ClipX0.HasValue) p.clip_x0 = o.ClipX0.Value ? 1 : 0;
            if (o.Tiling.HasValue) p.tiling = o.Tiling.Value ? 1 : 0;
            if (o.Threads.HasValue) p.threads = o.Threads.Value;
            // The plugin reads the sampler name inside ddpm_stream_open only.
            IntPtr samplerName = IntPtr.Zero;
            try
            {
                if (o.Sampler != null)
                {
                    samplerName = Marshal.StringToHGlobalAnsi(o.Sampler);
                    p.sampler_name = samplerName;
                }
                IntPtr h;
                DdpmLibrary.Check(DdpmNative.ddpm_stream_open(model.Live(), ref p, out h));
                handle = h;
            }
            finally
            {
                if (samplerName != IntPtr.Zero) Marshal.FreeHGlobal(samplerName);
            }
            ModelShape s = model.Shape;
            Width = s.Width; Height = s.Height; Channels = s.Channels;
        }

        public IntPtr Handle { get { return handle; } }

        /// <summary>Enters one image and advances all in flight by one stage, on this thread (one
        /// network call). True when this call finished a frame. Throws InvalidArgument while the
        /// worker runs (Run), NotReady on an image-input stream without an input yet.</summary>
        public bool Advance()
        {
            int ready;
            DdpmLibrary.Check(DdpmNative.ddpm_stream_advance(Live(), out ready));
            return ready != 0;
        }

        /// <summary>Starts (or re-rates) the plugin's worker thread: targetFps calls per second at
        /// most, 0 as fast as it can.</summary>
        public void Run(float targetFps = 0f) { DdpmLibrary.Check(DdpmNative.ddpm_stream_run(Live(), targetFps)); }

        /// <summary>Stops the worker after its current call and waits for it (no-op if none ran);
        /// throws the worker's failure if it stopped on one.</summary>
        public void Pause() { DdpmLibrary.Check(DdpmNative.ddpm_stream_pause(Live())); }

        /// <summary>The class (-1 none) of entering images; it reaches the output Latency calls
        /// later. inFlight: also the images already in flight, from their next stage on.</summary>
        public void SetClass(int classIndex, bool inFlight = false)
        {
            DdpmLibrary.Check(DdpmNative.ddpm_stream_set_class(Live(), classIndex, inFlight ? 1 : 0));
        }

        /// <summary>The guidance scale (>= 0) of entering images (and of those in flight).</summary>
        public void SetGuidance(float guidance, bool inFlight = false)
        {
            DdpmLibrary.Check(DdpmNative.ddpm_stream_set_guidance(Live(), guidance, inFlight ? 1 : 0));
        }

        /// <summary>The seed path of entering images; restarts its entry count. period >= 1.</summary>
        public void SetSeedPath(DdpmSeedPath path, ulong seed = 0, int period = 32)
        {
            DdpmLibrary.Check(DdpmNative.ddpm_stream_set_seed_path(Live(), path, seed, period));
        }

        /// <summary>The output blend factor, 0..1 (against flicker).</summary>
        public void SetBlend(float blend) { DdpmLibrary.Check(DdpmNative.ddpm_stream_set_blend(Live(), blend)); }

        /// <summary>The input of an image-input stream: width*height RGBA bytes, any size (resized
        /// to the model's). Copied by the plugin; images entering from the next call on use it.</summary>
        public void PushInputRgba8(byte[] rgba, int width, int height)
        {
            CheckInput(rgba == null ? -1 : rgba.Length, width, height);
            DdpmLibrary.Check(DdpmNative.ddpm_stream_push_input(Live(), null, rgba, width, height));
        }

        /// <summary>As PushInputRgba8, with width*height*4 floats in [0, 1].</summary>
        public void PushInputF32(float[] rgba, int width, int height)
        {
            CheckInput(rgba == null ? -1 : rgba.Length, width, height);
            DdpmLibrary.Check(DdpmNative.ddpm_stream_push_input(Live(), rgba, null, width, height));
        }

        // The plugin reads width*height*4 values: never let it read past a managed array.
        private static void CheckInput(long length, int width, int height)
        {
            if (length < 0) throw new DdpmException(DdpmStatus.InvalidArgument, "the input image is null");
            if (width > 0 && height > 0 && (long)width * height * 4 > length)
                throw new DdpmException(DdpmStatus.InvalidArgument, "the input holds " + length + " values: " + width +
                                        "x" + height + " RGBA needs " + (long)width * height * 4);
        }

        /// <summary>The latest output frame as RGBA bytes (Height*Width*4, gray and RGB models are
        /// expanded, alpha 255) and its description; null before the first frame.</summary>
        public byte[] ReadRgba8(out StreamFrameInfo info)
        {
            var bytes = new byte[Height * Width * 4];
            return ReadRgba8(bytes, out info) ? bytes : null;
        }

        public byte[] ReadRgba8()
        {
            StreamFrameInfo info;
            return ReadRgba8(out info);
        }

        /// <summary>As ReadRgba8, into the caller's buffer (at least Height*Width*4 bytes, reusable
        /// from frame to frame); false before the first frame.</summary>
        public bool ReadRgba8(byte[] buffer, out StreamFrameInfo info)
        {
            if (buffer == null) throw new ArgumentNullException("buffer");
            DdpmStreamFrame f = DdpmStreamFrame.Create();
            DdpmStatus s = DdpmNative.ddpm_stream_read_frame_rgba8(Live(), buffer, new UIntPtr((uint)buffer.Length), ref f);
            return Done(s, f, out info);
        }

        /// <summary>The latest output frame as floats in [0, 1] with the model's channels
        /// (Height*Width*Channels); null before the first frame.</summary>
        public float[] ReadF32(out StreamFrameInfo info)
        {
            var floats = new float[Height * Width * Channels];
            DdpmStreamFrame f = DdpmStreamFrame.Create();
            DdpmStatus s = DdpmNative.ddpm_stream_read_frame(Live(), floats, new UIntPtr((uint)floats.Length), ref f);
            return Done(s, f, out info) ? floats : null;
        }

        private static bool Done(DdpmStatus s, DdpmStreamFrame f, out StreamFrameInfo info)
        {
            info = default(StreamFrameInfo);
            if (s == DdpmStatus.NotReady) return false;
            DdpmLibrary.Check(s);
            info = new StreamFrameInfo(f);
            return true;
        }

        /// <summary>The clean-image estimates of the images in flight, most advanced first: count
        /// images of Height*Width*Channels floats, one after the other.</summary>
        public float[] ReadSlots(out int count)
        {
            // The count may grow between the two calls (a worker that runs): retry on a small buffer.
            for (;;)
            {
                DdpmLibrary.Check(DdpmNative.ddpm_stream_read_slots(Live(), null, UIntPtr.Zero, out count));
                var floats = new float[count * Height * Width * Channels];
                DdpmStatus s = DdpmNative.ddpm_stream_read_slots(Live(), floats, new UIntPtr((uint)floats.Length), out count);
                if (s == DdpmStatus.BufferTooSmall) continue;
                DdpmLibrary.Check(s);
                if (count * Height * Width * Channels < floats.Length)
                    Array.Resize(ref floats, count * Height * Width * Channels);
                return floats;
            }
        }

        /// <summary>Counters and timing.</summary>
        public StreamStats Stats()
        {
            DdpmStreamStats s = DdpmStreamStats.Create();
            DdpmLibrary.Check(DdpmNative.ddpm_stream_get_stats(Live(), ref s));
            return new StreamStats { Calls = s.calls, Frames = s.frames, InFlight = s.in_flight, Latency = s.latency,
                                     Running = s.running != 0, CallsPerSecond = s.calls_per_second,
                                     LastCallMs = s.last_call_ms };
        }

        private IntPtr Live()
        {
            if (handle == IntPtr.Zero) throw new ObjectDisposedException("Stream");
            return handle;
        }

        /// <summary>Stops the worker (if it runs) and frees the stream.</summary>
        public void Dispose()
        {
            Free();
            GC.SuppressFinalize(this);
        }

        ~Stream() { Free(); }

        private void Free()
        {
            IntPtr h = Interlocked.Exchange(ref handle, IntPtr.Zero);
            if (h != IntPtr.Zero) DdpmNative.ddpm_stream_close(h);
        }
    }
}

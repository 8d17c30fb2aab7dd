// The plugin through its C# binding (plugin/csharp/DdpmPlugin.cs), run with Mono by
// tests/plugin/test_csharp.sh:
//   mono TestDdpm.exe --layout HEADER   prints the C# layout of the structs, after checking that
//                                       their fields are the header's, in the header's order
//   mono TestDdpm.exe MODEL SOURCE_DIR SCRATCH_DIR   the behaviour tests
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Ddpm;

static class TestDdpm
{
    static readonly Type[] Structs = {
        typeof(DdpmModelParams), typeof(DdpmGenerateParams), typeof(DdpmImportParams), typeof(DdpmTrainParams),
        typeof(DdpmTrainStatus), typeof(DdpmStreamParams), typeof(DdpmStreamFrame), typeof(DdpmStreamStats) };
    static readonly string[] CNames = {
        "ddpm_model_params", "ddpm_generate_params", "ddpm_import_params", "ddpm_train_params",
        "ddpm_train_status", "ddpm_stream_params", "ddpm_stream_frame", "ddpm_stream_stats" };

    static void Expect(bool ok, string what)
    {
        if (!ok) throw new Exception("check failed: " + what);
    }

    static int Main(string[] args)
    {
        try
        {
            if (args.Length == 2 && args[0] == "--layout") return Layout(args[1]);
            if (args.Length != 3)
            {
                Console.Error.WriteLine("usage: TestDdpm.exe --layout HEADER | MODEL SOURCE_DIR SCRATCH_DIR");
                return 2;
            }
            Run(args[0], args[1], args[2]);
            Console.WriteLine("passed");
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine("FAILED: " + e);
            return 1;
        }
    }

    // ---- Layout ------------------------------------------------------------------------------

    static FieldInfo[] FieldsByOffset(Type t)
    {
        FieldInfo[] f = t.GetFields(BindingFlags.Public | BindingFlags.Instance);
        Array.Sort(f, (a, b) => Marshal.OffsetOf(t, a.Name).ToInt64().CompareTo(Marshal.OffsetOf(t, b.Name).ToInt64()));
        return f;
    }

    // The member names of `typedef struct NAME { ... } NAME;` in the header, in order.
    static List<string> HeaderFields(string header, string name)
    {
        var text = new StringBuilder();  // the header without comments
        for (int i = 0; i < header.Length; i++)
        {
            if (header[i] == '/' && i + 1 < header.Length && header[i + 1] == '*')
            {
                int end = header.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end + 1;
                text.Append(' ');
            }
            else text.Append(header[i]);
        }
        string s = text.ToString();
        string open = "typedef struct " + name + " {";
        int start = s.IndexOf(open, StringComparison.Ordinal);
        Expect(start >= 0, "the header declares " + name);
        start += open.Length;
        int close = s.IndexOf('}', start);
        var names = new List<string>();
        foreach (string decl in s.Substring(start, close - start).Split(';'))
        {
            string d = decl.Trim();
            if (d.Length == 0) continue;
            string[] parts = d.Split(',');
            for (int k = 0; k < parts.Length; k++)
            {
                string p = parts[k].Trim();
                int cut = Math.Max(p.LastIndexOf(' '), p.LastIndexOf('*'));
                names.Add(p.Substring(cut + 1));  // int x / const char* const* x / int a, b
            }
        }
        return names;
    }

    static int Layout(string headerPath)
    {
        string header = File.ReadAllText(headerPath);
        for (int i = 0; i < Structs.Length; i++)
        {
            Type t = Structs[i];
            FieldInfo[] fields = FieldsByOffset(t);
            var cs = new List<string>();
            foreach (FieldInfo f in fields) cs.Add(f.Name);
            List<string> c = HeaderFields(header, CNames[i]);
            Expect(string.Join(",", cs) == string.Join(",", c),
                   t.Name + " fields are the header's " + CNames[i] + ":\n  C#: " + string.Join(",", cs) +
                       "\n  C:  " + string.Join(",", c));
            foreach (FieldInfo f in fields)
            {
                Console.WriteLine("{0} {1} {2} {3}", CNames[i], f.Name, Marshal.OffsetOf(t, f.Name).ToInt64(),
                                  Marshal.SizeOf(f.FieldType));
            }
            Console.WriteLine("{0} sizeof {1}", CNames[i], Marshal.SizeOf(t));
        }
        return 0;
    }

    // ---- Behaviour ---------------------------------------------------------------------------

    const byte Sentinel = 0xA5;

    // Calls a ddpm_*_params_init function on sentinel-filled buffers: with Marshal.SizeOf(t) it
    // must report that struct_size and write nothing past it; with a larger size (a caller newer
    // than the library) it writes zeros past Marshal.SizeOf(t), which holds when the library's
    // struct is no larger than the C# one; sizes out of range fail with InvalidArgument and write
    // nothing. Returns the struct read back from the first call.
    static object LibraryDefaults(Type t, Func<IntPtr, UIntPtr, DdpmStatus> init, string name)
    {
        const int n = DdpmLibrary.MaxParamsSize + 64;
        int size = Marshal.SizeOf(t);
        IntPtr buffer = Marshal.AllocHGlobal(n);
        try
        {
            var fillBytes = new byte[n];
            for (int i = 0; i < n; i++) fillBytes[i] = Sentinel;
            var back = new byte[n];

            Marshal.Copy(fillBytes, 0, buffer, n);
            Expect(init(buffer, new UIntPtr((uint)size)) == DdpmStatus.Ok, name + " returns OK");
            long reported = Marshal.ReadIntPtr(buffer).ToInt64();  // struct_size: offset 0
            Expect(reported == size, name + " sets struct_size " + reported + ", Marshal.SizeOf(" + t.Name +
                                         ") is " + size);
            Marshal.Copy(buffer, back, 0, n);
            for (int i = size; i < n; i++)
                Expect(back[i] == Sentinel, name + " wrote past struct_size " + size + " (byte " + i + ")");
            object result = Marshal.PtrToStructure(buffer, t);

            int larger = size + 64;
            Marshal.Copy(fillBytes, 0, buffer, n);
            Expect(init(buffer, new UIntPtr((uint)larger)) == DdpmStatus.Ok, name + " with a larger struct_size");
            Expect(Marshal.ReadIntPtr(buffer).ToInt64() == larger, name + " sets the larger struct_size");
            Marshal.Copy(buffer, back, 0, n);
            for (int i = size; i < larger; i++)
                Expect(back[i] == 0, "ABI layout: " + name + " wrote a non-zero byte " + i + " past Marshal.SizeOf(" +
                                         t.Name + ") " + size + ": the library's struct is larger");
            for (int i = larger; i < n; i++)
                Expect(back[i] == Sentinel, name + " wrote past struct_size " + larger + " (byte " + i + ")");

            Marshal.Copy(fillBytes, 0, buffer, n);
            foreach (int bad in new[] { 0, 8, DdpmLibrary.MaxParamsSize + 1 })
            {
                Expect(init(buffer, new UIntPtr((uint)bad)) == DdpmStatus.InvalidArgument &&
                           DdpmLibrary.LastError.Contains(bad.ToString()),
                       name + " rejects struct_size " + bad + ": " + DdpmLibrary.LastError);
            }
            Marshal.Copy(buffer, back, 0, n);
            for (int i = 0; i < n; i++)
                Expect(back[i] == Sentinel, name + " wrote on a failed call (byte " + i + ")");
            return result;
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
        }
    }

    // Calls a function that fills a caller-sized output struct (ddpm_stream_frame,
    // ddpm_stream_stats) on a sentinel-filled buffer: with struct_size = Marshal.SizeOf(t) it must
    // keep that struct_size and write nothing past it; with a larger struct_size (a caller newer
    // than the library) it still writes nothing past Marshal.SizeOf(t), which holds when the
    // library's struct is no larger than the C# one; struct_size 0 is refused. Returns the struct.
    static object LibraryOutput(Type t, Func<IntPtr, DdpmStatus> fill, string name)
    {
        int size = Marshal.SizeOf(t);
        int n = size + 128;
        IntPtr buffer = Marshal.AllocHGlobal(n);
        try
        {
            var fillBytes = new byte[n];
            for (int i = 0; i < n; i++) fillBytes[i] = Sentinel;
            var back = new byte[n];
            object result = null;
            foreach (int given in new[] { size, size + 64 })
            {
                Marshal.Copy(fillBytes, 0, buffer, n);
                Marshal.WriteIntPtr(buffer, new IntPtr(given));  // struct_size: offset 0
                Expect(fill(buffer) == DdpmStatus.Ok, name + " with struct_size " + given + ": " + DdpmLibrary.LastError);
                Expect(Marshal.ReadIntPtr(buffer).ToInt64() == given, name + " keeps struct_size " + given);
                Marshal.Copy(buffer, back, 0, n);
                for (int i = size; i < n; i++)
                    Expect(back[i] == Sentinel, "ABI layout: " + name + " with struct_size " + given + " wrote byte " + i +
                                                    " past Marshal.SizeOf(" + t.Name + ") " + size);
                if (given == size) result = Marshal.PtrToStructure(buffer, t);
            }
            Marshal.Copy(fillBytes, 0, buffer, n);
            Marshal.WriteIntPtr(buffer, IntPtr.Zero);
            Expect(fill(buffer) == DdpmStatus.InvalidArgument && DdpmLibrary.LastError.Contains("struct_size"),
                   name + " refuses struct_size 0: " + DdpmLibrary.LastError);
            return result;
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
        }
    }

    static bool Near(double a, double b) { return Math.Abs(a - b) < 1e-6; }

    static DdpmException Throws(Action action, string what)
    {
        try
        {
            action();
        }
        catch (DdpmException e)
        {
            return e;
        }
        throw new Exception("check failed: " + what + " did not throw a DdpmException");
    }

    static readonly object logLock = new object();
    static readonly List<string> logs = new List<string>();

    // Training callback: a static delegate in a static field, alive as long as the plugin may call it.
    static readonly DdpmTrainCallback TrainThunk = OnTrain;
    static long trainSteps, trainLastStep, trainMessages;

    [MonoPInvokeCallback(typeof(DdpmTrainCallback))]
    static void OnTrain(IntPtr job, long step, long total, double loss, double ips, double eta, IntPtr message,
                        IntPtr user)
    {
        if (message != IntPtr.Zero)
        {
            Interlocked.Increment(ref trainMessages);
        }
        else
        {
            Interlocked.Increment(ref trainSteps);
            Interlocked.Exchange(ref trainLastStep, step);
        }
    }

    // A live stream on the tiny model: warm-up and latency, the frame equal to an ordinary job,
    // steering, bad values, the worker thread, the raw output structs, and image input.
    static void StreamTests(Model model)
    {
        const int Rgba = 16 * 16 * 4;
        DdpmException e;
        StreamFrameInfo info;
        Ddpm.Stream kept;  // the name needs its namespace next to System.IO's Stream
        using (Ddpm.Stream stream = model.OpenStream(new StreamOptions { Steps = 3, ClassIndex = 1, Guidance = 2f,
                                                                         SeedPath = DdpmSeedPath.Fixed, Seed = 5 }))
        {
            kept = stream;
            Expect(stream.Width == 16 && stream.Height == 16 && stream.Channels == 4, "stream shape");
            Expect(stream.ReadRgba8(out info) == null && info.Number == 0, "no frame before the warm-up");
            Expect(stream.ReadF32(out info) == null, "no float frame before the warm-up");
            var ready = new List<bool>();
            for (int i = 0; i < 3; i++) ready.Add(stream.Advance());
            Expect(string.Join(",", ready) == "False,False,True", "frames ready: " + string.Join(",", ready));
            byte[] frame = stream.ReadRgba8(out info);
            Expect(frame != null && frame.Length == Rgba, "the first frame");
            Expect(info.Number == 1 && info.Call == 3 && info.EnteredCall == 1 && info.LatencyCalls == 3 &&
                       info.ClassIndex == 1 && info.Guidance == 2f && info.Seed == 5,
                   "frame info: number " + info.Number + " call " + info.Call + " entered " + info.EnteredCall +
                       " latency " + info.LatencyCalls + " class " + info.ClassIndex + " guidance " + info.Guidance +
                       " seed " + info.Seed);
            byte[] job = model.Generate(new GenerateOptions { ClassIndex = 1, Guidance = 2f, Seed = 5, Steps = 3,
                                                              PreviewEvery = 0 }, null, 120000);
            Expect(Convert.ToBase64String(job) == Convert.ToBase64String(frame),
                   "the stream's frame is the job's image (class 1, guidance 2, seed 5, 3 steps, both no sampler named)");
            StreamFrameInfo floatInfo;
            float[] floats = stream.ReadF32(out floatInfo);
            Expect(floats.Length == Rgba && floatInfo.Number == 1 && floatInfo.Seed == 5, "the float frame");
            for (int i = 0; i < Rgba; i++)
                Expect(Math.Abs(frame[i] - Math.Round(floats[i] * 255.0)) <= 1, "stream rgba8 agrees with f32 at " + i);
            var reused = new byte[Rgba + 7];
            Expect(stream.ReadRgba8(reused, out info) && info.Number == 1, "a read into the caller's buffer");
            for (int i = 0; i < Rgba; i++) Expect(reused[i] == frame[i], "the caller's buffer holds the frame at " + i);
            e = Throws(() => stream.ReadRgba8(new byte[10], out info), "a read into a small buffer");
            Expect(e.Status == DdpmStatus.BufferTooSmall, "small buffer: " + e.Message);

            StreamStats st = stream.Stats();
            Expect(st.Calls == 3 && st.Frames == 1 && st.Latency == 3 && st.InFlight == 2 && !st.Running &&
                       st.LastCallMs > 0, "stats after the warm-up: calls " + st.Calls + " frames " + st.Frames +
                                              " latency " + st.Latency + " in flight " + st.InFlight);

            // A class change reaches the output exactly `latency` calls later.
            stream.SetClass(2);
            var classes = new List<int>();
            for (int i = 0; i < 3; i++)
            {
                Expect(stream.Advance(), "every call after the warm-up finishes a frame");
                stream.ReadRgba8(out info);
                classes.Add(info.ClassIndex);
            }
            Expect(string.Join(",", classes) == "1,1,2", "classes after SetClass(2): " + string.Join(",", classes));
            st = stream.Stats();
            Expect(st.Calls == 6 && st.Frames == 4 && st.Latency == 3, "stats after 6 calls: calls " + st.Calls +
                                                                              " frames " + st.Frames);
            int count;
            float[] slots = stream.ReadSlots(out count);
            Expect(count == 2 && slots.Length == 2 * Rgba, "slots: " + count + ", " + slots.Length + " floats");
            foreach (float v in slots) Expect(v >= 0f && v <= 1f, "slot values in [0, 1]");

            // Steering: good values pass, bad ones throw with their status and keep the stream.
            e = Throws(() => stream.SetClass(5), "SetClass(5)");
            Expect(e.Status == DdpmStatus.OutOfRange && e.Message.Contains("class 5"), "class 5: " + e.Message);
            e = Throws(() => stream.SetGuidance(-1f), "SetGuidance(-1)");
            Expect(e.Status == DdpmStatus.InvalidArgument, "guidance -1: " + e.Message);
            e = Throws(() => stream.SetSeedPath(DdpmSeedPath.Walk, 9, 0), "SetSeedPath period 0");
            Expect(e.Status == DdpmStatus.OutOfRange, "period 0: " + e.Message);
            e = Throws(() => stream.SetBlend(1.5f), "SetBlend(1.5)");
            Expect(e.Status == DdpmStatus.OutOfRange, "blend 1.5: " + e.Message);
            e = Throws(() => stream.Run(-1f), "Run(-1)");
            Expect(e.Status == DdpmStatus.OutOfRange, "fps -1: " + e.Message);
            e = Throws(() => stream.PushInputRgba8(new byte[Rgba], 16, 16), "input to a stream without image input");
            Expect(e.Status == DdpmStatus.InvalidArgument, "input to a text stream: " + e.Message);
            stream.SetClass(0, true);
            stream.SetGuidance(1.5f, true);
            stream.SetSeedPath(DdpmSeedPath.New, 11, 4);
            stream.SetBlend(0.25f);
            Expect(stream.Advance(), "a call after steering");
            stream.ReadRgba8(out info);
            Expect(info.ClassIndex == 0 && info.Guidance == 1.5f, "in-flight steering reached the next frame: class " +
                                                                       info.ClassIndex + " guidance " + info.Guidance);

            // The stream's own worker: Run(0) advances by itself, Advance is refused meanwhile, and
            // Pause stops it.
            long before = stream.Stats().Calls;
            stream.Run(0f);
            e = Throws(() => stream.Advance(), "Advance while the worker runs");
            Expect(e.Status == DdpmStatus.InvalidArgument, "advance while running: " + e.Message);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (stream.Stats().Calls < before + 5 && clock.ElapsedMilliseconds < 30000) Thread.Sleep(5);
            st = stream.Stats();
            Expect(st.Running && st.Calls >= before + 5, "the worker advanced: " + (st.Calls - before) + " calls");
            Expect(stream.ReadRgba8(out info) != null && info.Number > 0, "a frame read while the worker runs");
            stream.Pause();
            st = stream.Stats();
            Thread.Sleep(20);
            Expect(!st.Running && stream.Stats().Calls == st.Calls, "paused: no calls after Pause");
            stream.Pause();  // none runs: OK
            Expect(stream.Advance(), "Advance after Pause");

            // The raw calls with sentinel-filled output structs: the library writes exactly the C#
            // struct, and the fields read back agree with the wrapper's.
            IntPtr h = stream.Handle;
            var rf = (DdpmStreamFrame)LibraryOutput(typeof(DdpmStreamFrame),
                                                    p => DdpmNative.ddpm_stream_read_frame_rgba8(h, new byte[Rgba],
                                                                                                 new UIntPtr(Rgba), p),
                                                    "ddpm_stream_read_frame_rgba8");
            stream.ReadRgba8(out info);
            Expect(rf.number == info.Number && rf.call == info.Call && rf.entered_call == info.EnteredCall &&
                       rf.latency_calls == 3 && rf.class_index == info.ClassIndex && rf.guidance == info.Guidance &&
                       rf.seed == info.Seed && rf.call - rf.entered_call + 1 == rf.latency_calls,
                   "raw ddpm_stream_frame fields");
            var rs = (DdpmStreamStats)LibraryOutput(typeof(DdpmStreamStats), p => DdpmNative.ddpm_stream_get_stats(h, p),
                                                    "ddpm_stream_get_stats");
            st = stream.Stats();
            Expect(rs.calls == st.Calls && rs.frames == st.Frames && rs.in_flight == 2 && rs.latency == 3 &&
                       rs.running == 0 && rs.calls_per_second >= 0 && rs.last_call_ms > 0, "raw ddpm_stream_stats fields");
            Expect(DdpmNative.ddpm_stream_read_frame(h, new float[Rgba], new UIntPtr(Rgba), IntPtr.Zero) == DdpmStatus.Ok,
                   "a read with info NULL");
            Expect(DdpmNative.ddpm_stream_advance(h, IntPtr.Zero) == DdpmStatus.Ok, "an advance with frame_ready NULL");
        }
        try
        {
            kept.Advance();
            throw new Exception("check failed: Advance on a disposed stream did not throw");
        }
        catch (ObjectDisposedException)
        {
        }
        kept.Dispose();  // a second Dispose is harmless

        // Bad options: the status and message of ddpm_stream_open.
        e = Throws(() => model.OpenStream(new StreamOptions { ClassIndex = 3 }), "a stream of class 3");
        Expect(e.Status == DdpmStatus.OutOfRange && e.Message.Contains("class 3"), "stream class 3: " + e.Message);
        e = Throws(() => model.OpenStream(new StreamOptions { Steps = -1 }), "a stream of -1 steps");  // 0: the model's
        Expect(e.Status == DdpmStatus.OutOfRange, "stream steps -1: " + e.Message);
        e = Throws(() => model.OpenStream(new StreamOptions { Sampler = "plms" }), "a stream with sampler plms");
        Expect(e.Status == DdpmStatus.InvalidArgument && e.Message.Contains("plms"), "stream sampler: " + e.Message);
        DdpmStreamParams bad = DdpmLibrary.StreamDefaults();
        bad.struct_size = new UIntPtr(8);
        IntPtr none;
        Expect(DdpmNative.ddpm_stream_open(model.Handle, ref bad, out none) == DdpmStatus.InvalidArgument &&
                   none == IntPtr.Zero, "raw stream open with struct_size 8");

        // An image-input stream: NotReady until an input is pushed (any size, resized), then a
        // frame after round(strength * steps) calls; a short array is refused before the call.
        using (var stream = model.OpenStream(new StreamOptions { Steps = 10, ImageInput = true, Strength = 0.3f,
                                                                 SeedPath = DdpmSeedPath.Fixed, ClassIndex = 1,
                                                                 Sampler = "ddim" }))
        {
            e = Throws(() => stream.Advance(), "Advance without an input");
            Expect(e.Status == DdpmStatus.NotReady, "no input: " + e.Message);
            var input = new byte[32 * 32 * 4];
            for (int i = 0; i < input.Length; i++) input[i] = (byte)(i % 4 == 3 ? 255 : (i * 7) % 251);
            e = Throws(() => stream.PushInputRgba8(input, 64, 32), "an input array shorter than 64x32");
            Expect(e.Status == DdpmStatus.InvalidArgument, "short input: " + e.Message);
            stream.PushInputRgba8(input, 32, 32);
            var ready = new List<bool>();
            for (int i = 0; i < 4; i++) ready.Add(stream.Advance());
            Expect(string.Join(",", ready) == "False,False,True,True", "image stream frames: " + string.Join(",", ready));
            Expect(stream.ReadRgba8(out info) != null && info.LatencyCalls == 3 && info.Number == 2,
                   "image stream latency " + info.LatencyCalls + " (round(0.3 * 10))");
            var floatsIn = new float[16 * 16 * 4];
            for (int i = 0; i < floatsIn.Length; i++) floatsIn[i] = 0.5f;
            stream.PushInputF32(floatsIn, 16, 16);
            Expect(stream.Advance(), "a call after a float input");
        }
    }

    static void Run(string modelPath, string sourceDir, string scratch)
    {
        // ABI version and the library's strings.
        Expect(DdpmLibrary.AbiVersion == 2 && DdpmNative.AbiVersion == 2, "abi version is 2");
        DdpmLibrary.CheckAbi();
        Expect(DdpmLibrary.Version.Length > 0, "version string");
        Expect(DdpmLibrary.PtrToStringUtf8(DdpmNative.ddpm_status_string(DdpmStatus.OutOfRange)) ==
                   "DDPM_ERR_OUT_OF_RANGE", "ddpm_status_string");

        // ABI layout at run time: the init functions write exactly the C# struct's size, the
        // library's struct is no larger, and the defaults land in the right fields (a shifted
        // field reads the wrong default).
        var g = (DdpmGenerateParams)LibraryDefaults(typeof(DdpmGenerateParams), DdpmNative.ddpm_generate_params_init,
                                                    "ddpm_generate_params_init");
        Expect(g.batch == 1 && g.class_index == -1 && g.classes == IntPtr.Zero && g.class_count == UIntPtr.Zero &&
                   g.guidance == 3.0f && g.sampler == (int)DdpmSampler.Auto && g.sampler_name == IntPtr.Zero &&
                   g.steps == 0 && g.eta == 0f && g.seed == 0 && g.preview_every == 1 && g.preview_x0 == 0 &&
                   g.tiling == 0 && g.init_image_f32 == IntPtr.Zero && g.init_image_rgba8 == IntPtr.Zero &&
                   g.init_width == 0 && g.init_height == 0 && g.strength == 0.75f && g.mask == IntPtr.Zero &&
                   g.variation_seed == 0 && g.variation_strength == 0f && g.guidance_rescale == 0f && g.clip_x0 == 1 &&
                   g.threads == 0 && g.spacing == IntPtr.Zero && g.guidance_min_sigma == -1f && g.guidance_max_sigma == -1f &&
                   g.alpha_cutoff == -1f,
               "ddpm_generate_params defaults read back field by field");
        var mp = (DdpmModelParams)LibraryDefaults(typeof(DdpmModelParams), DdpmNative.ddpm_model_params_init,
                                                  "ddpm_model_params_init");
        Expect(mp.device == IntPtr.Zero && mp.threads == 0, "ddpm_model_params defaults");
        var im = (DdpmImportParams)LibraryDefaults(typeof(DdpmImportParams), DdpmNative.ddpm_import_params_init,
                                                   "ddpm_import_params_init");
        Expect(im.class_names == IntPtr.Zero && im.class_count == 0 && im.image_size == 64 && im.float16 == 0,
               "ddpm_import_params defaults");
        var tp = (DdpmTrainParams)LibraryDefaults(typeof(DdpmTrainParams), DdpmNative.ddpm_train_params_init,
                                                  "ddpm_train_params_init");
        Expect(tp.assets == IntPtr.Zero && DdpmLibrary.PtrToStringUtf8(tp.preset) == "sprite32" &&
                   tp.image_size == 0 && tp.init_model == IntPtr.Zero && tp.steps == 1000 && tp.batch == 0 &&
                   tp.lr == 0 && tp.checkpoint == IntPtr.Zero && tp.out_model == IntPtr.Zero &&
                   tp.sample_dir == IntPtr.Zero && tp.sample_every == 0 && Near(tp.decay_from, -1.0) && Near(tp.grad_clip, -1.0) && tp.lora_rank == -1 &&
                   Near(tp.label_drop, 0.1) && Near(tp.ema_decay, 0.995) && tp.ema_start == -1 && tp.warmup == -1 && tp.minutes == 0 &&
                   tp.checkpoint_every == 500 && tp.world_size == 1 && tp.rank == 0 &&
                   tp.master_addr == IntPtr.Zero && tp.master_port == 29500 && tp.dist_timeout == 60 &&
                   tp.local_processes == 0 && tp.worker_path == IntPtr.Zero && tp.random_crop == -1 && tp.bf16 == -1 && tp.live_student == 1 &&
                   Near(tp.strength, -1.0),
               "ddpm_train_params defaults read back field by field");
        var sp = (DdpmStreamParams)LibraryDefaults(typeof(DdpmStreamParams), DdpmNative.ddpm_stream_params_init,
                                                   "ddpm_stream_params_init");
        Expect(sp.sampler == (int)DdpmSampler.Auto && sp.sampler_name == IntPtr.Zero && sp.steps == 0 && sp.eta == 0f &&
                   sp.class_index == -1 && sp.guidance == 3.0f && sp.guidance_rescale == 0f &&
                   sp.seed_path == (int)DdpmSeedPath.Walk && sp.seed == 0 && sp.seed_period == 32 && sp.image_input == 0 &&
                   sp.strength == 0.5f && sp.blend == 0f && sp.clip_x0 == 1 && sp.tiling == 0 && sp.threads == 0 &&
                   sp.guidance_min_sigma == -1f && sp.guidance_max_sigma == -1f,
               "ddpm_stream_params defaults read back field by field");
        // The `ref` overloads and the wrapper's helpers.
        var gr = new DdpmGenerateParams();
        Expect(DdpmNative.ddpm_generate_params_init(ref gr, DdpmLibrary.StructSize(typeof(DdpmGenerateParams))) ==
                       DdpmStatus.Ok &&
                   gr.struct_size.ToUInt64() == (ulong)Marshal.SizeOf(typeof(DdpmGenerateParams)) && gr.clip_x0 == 1,
               "ddpm_generate_params_init(ref)");
        Expect(DdpmLibrary.GenerateDefaults().struct_size == g.struct_size &&
                   DdpmLibrary.ImportDefaults().struct_size == im.struct_size &&
                   DdpmLibrary.TrainDefaults().struct_size == tp.struct_size &&
                   DdpmLibrary.StreamDefaults().struct_size == sp.struct_size, "the wrapper's defaults");

        DdpmLibrary.SetLogCallback((level, message) => { lock (logLock) logs.Add(level + " " + message); },
                                   DdpmLogLevel.Debug);
        DdpmLibrary.SetThreads(2);
        DdpmException pe = Throws(() => DdpmLibrary.SetPrecision("fp8"), "an unknown precision");
        Expect(pe.Status == DdpmStatus.InvalidArgument && pe.Message.Contains("'fp8'"), "precision fp8 is named: " + pe.Message);
        DdpmLibrary.SetPrecision("float32");

        // A missing file: NOT_FOUND, through the wrapper and the raw call.
        DdpmException e = Throws(() => Model.Load("/nonexistent/model.safetensors"), "loading a missing file");
        Expect(e.Status == DdpmStatus.NotFound && e.Message.Contains("does not exist") &&
                   e.Message.Contains("/nonexistent/model.safetensors"), "missing file: " + e.Message);
        IntPtr raw;
        Expect(DdpmNative.ddpm_model_load("/nonexistent/model.safetensors", out raw) == DdpmStatus.NotFound &&
                   raw == IntPtr.Zero && DdpmLibrary.LastError.Contains("does not exist"), "raw missing file");

        // The device choice: "cpu" by name; a GPU index past the last one is refused by name.
        using (Model onCpu = Model.Load(modelPath, "cpu"))
        {
            Expect(onCpu.InfoJson.Contains("\"device\": \"cpu\""), "device cpu in the info: " + onCpu.InfoJson);
        }
        DdpmException te = Throws(() => Model.Load(modelPath, null, -1), "a model of -1 threads");
        Expect(te.Status == DdpmStatus.OutOfRange && te.Message.Contains("threads -1"), "threads -1 is named: " + te.Message);
        DdpmException de = Throws(() => Model.Load(modelPath, "cuda:99"), "loading on cuda:99");
        Expect(de.Status == DdpmStatus.InvalidArgument && de.Message.Contains("'cuda:99'"), "cuda:99 is named: " + de.Message);

        int mainThread = Thread.CurrentThread.ManagedThreadId;
        byte[] rgba;
        using (Model model = Model.Load(modelPath))
        {
            lock (logLock) Expect(logs.Count > 0, "a log message on load");
            ModelShape s = model.Shape;
            Expect(s.Width == 16 && s.Height == 16 && s.Channels == 4 && s.NumClasses == 3 && s.Timesteps > 0,
                   "shape " + s.Width + "x" + s.Height + "x" + s.Channels + ", " + s.NumClasses + " classes");
            string info = model.InfoJson;
            Expect(info.StartsWith("{") && info.Contains("\"samplers\"") && info.Contains("\"dpmpp2m\""), "info json: " + info);

            // A generation with a step callback, across a garbage collection.
            var seen = new List<string>();
            var threads = new List<int>();
            int frameFloats = 2 * 16 * 16 * 4;
            bool framesOk = true;
            StepHandler onStep = (step, total, frame) =>
            {
                lock (seen)
                {
                    seen.Add(step + "/" + total + (frame != null ? "F" : "-"));
                    threads.Add(Thread.CurrentThread.ManagedThreadId);
                    if (frame != null)
                    {
                        if (frame.Length != frameFloats) framesOk = false;
                        foreach (float v in frame) if (!(v >= 0f && v <= 1f)) framesOk = false;
                    }
                }
            };
            var opts = new GenerateOptions { Batch = 2, Classes = new[] { 0, 2 }, Sampler = "dpmpp2m", Steps = 5, Seed = 3,
                                             PreviewEvery = 2, PreviewX0 = true };
            float[] floats;
            int polled, polledTotal;
            using (Job job = model.Start(opts, onStep))
            {
                Expect(job.Width == 16 && job.Height == 16 && job.Channels == 4 && job.Batch == 2, "job shape");
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                Expect(job.Wait(120000), "the job finished");
                rgba = job.ResultRgba8();
                floats = job.ResultF32();
                polled = job.Poll(new float[frameFloats], out polledTotal);
            }
            Expect(string.Join(" ", seen) == "1/5- 2/5F 3/5- 4/5F 5/5F", "step callbacks: " + string.Join(" ", seen));
            Expect(framesOk, "preview frames hold batch*h*w*c floats in [0, 1]");
            Expect(!threads.Contains(mainThread), "callbacks run on the worker thread");
            Expect(polled == 5 && polledTotal == 5, "poll after the end");
            Expect(rgba.Length == 2 * 16 * 16 * 4 && floats.Length == 2 * 16 * 16 * 4, "result sizes");
            for (int i = 0; i < rgba.Length; i++)
                Expect(Math.Abs(rgba[i] - Math.Round(floats[i] * 255.0)) <= 1, "rgba8 agrees with f32 at " + i);

            // The same seed gives the same bytes; another seed others.
            byte[] again = model.Generate(new GenerateOptions { Batch = 2, Classes = new[] { 0, 2 }, Sampler = "dpmpp2m",
                                                                Steps = 5, Seed = 3 }, null, 120000);
            Expect(Convert.ToBase64String(again) == Convert.ToBase64String(rgba), "same seed, same image");
            byte[] other = model.Generate(new GenerateOptions { Batch = 2, Classes = new[] { 0, 2 }, Sampler = "dpmpp2m",
                                                                Steps = 5, Seed = 4 }, null, 120000);
            Expect(Convert.ToBase64String(other) != Convert.ToBase64String(rgba), "another seed, another image");

            // Bad values.
            e = Throws(() => model.Generate(new GenerateOptions { ClassIndex = 5 }), "class 5");
            Expect(e.Status == DdpmStatus.OutOfRange && e.Message.Contains("class 5") && e.Message.Contains("out of range"),
                   "class out of range: " + e.Message);
            e = Throws(() => model.Generate(new GenerateOptions { Batch = 2, Classes = new[] { 0, 7 } }), "classes {0, 7}");
            Expect(e.Status == DdpmStatus.OutOfRange && e.Message.Contains("class 7"), "classes out of range: " + e.Message);
            e = Throws(() => model.Generate(new GenerateOptions { Steps = -1 }), "steps -1");  // 0: the model's
            Expect(e.Status == DdpmStatus.OutOfRange && e.Message.Contains("steps"), "steps -1: " + e.Message);
            e = Throws(() => model.Generate(new GenerateOptions { Sampler = "nope" }), "sampler nope");
            Expect(e.Status == DdpmStatus.InvalidArgument && e.Message.Contains("nope"), "unknown sampler: " + e.Message);
            DdpmGenerateParams bad = DdpmLibrary.GenerateDefaults();
            bad.class_index = 5;
            IntPtr badJob;
            Expect(DdpmNative.ddpm_generate_start(model.Handle, ref bad, null, IntPtr.Zero, out badJob) ==
                       DdpmStatus.OutOfRange && badJob == IntPtr.Zero && DdpmLibrary.LastError.Contains("class 5"),
                   "raw class out of range");

            // Cancel.
            using (Job job = model.Start(new GenerateOptions { Steps = 100, Sampler = "ddpm", Batch = 4 }))
            {
                job.Cancel();
                e = Throws(() => job.Wait(), "waiting on a cancelled job");
                Expect(e.Status == DdpmStatus.Cancelled, "cancelled: " + e.Message);
            }

            // A throwing step handler cancels its job and comes back from Wait.
            int calls = 0;
            using (Job job = model.Start(new GenerateOptions { Steps = 10, PreviewEvery = 0 }, (step, total, frame) =>
            {
                Interlocked.Increment(ref calls);
                if (step == 2) throw new InvalidOperationException("boom");
            }))
            {
                e = Throws(() => job.Wait(120000), "a throwing handler");
                Expect(e.Status == DdpmStatus.Cancelled && e.InnerException is InvalidOperationException &&
                           e.InnerException.Message == "boom", "handler exception: " + e);
            }
            Expect(calls == 2, "the job stopped after the throwing step (" + calls + " calls)");

            StreamTests(model);
        }

        // Training through the raw API: string fields, int64/double fields and ddpm_train_status.
        string samples = Path.Combine(Path.Combine(sourceDir, "assets"), "samples");
        string trained = Path.Combine(scratch, "csharp_trained.safetensors");
        File.Delete(trained);
        DdpmTrainParams t = DdpmLibrary.TrainDefaults();
        t.assets = Marshal.StringToHGlobalAnsi(samples);
        t.out_model = Marshal.StringToHGlobalAnsi(trained);
        t.image_size = 16;
        t.steps = 3;
        t.batch = 4;
        t.seed = 1;
        try
        {
            IntPtr tj;
            DdpmLibrary.Check(DdpmNative.ddpm_train_start(ref t, TrainThunk, IntPtr.Zero, out tj));
            try
            {
                DdpmLibrary.Check(DdpmNative.ddpm_train_wait(tj, -1));
                DdpmTrainStatus st;
                DdpmLibrary.Check(DdpmNative.ddpm_train_poll(tj, out st));
                Expect(st.done != 0 && st.step == 3 && st.total == 3 && st.loss > 0 && !double.IsNaN(st.loss_smoothed),
                       "train status: step " + st.step + "/" + st.total + " done " + st.done + " loss " + st.loss);
            }
            finally
            {
                DdpmNative.ddpm_train_free(tj);
            }
            Expect(Interlocked.Read(ref trainLastStep) == 3 && Interlocked.Read(ref trainSteps) >= 3 &&
                       Interlocked.Read(ref trainMessages) > 0, "training callbacks");
            using (Model m = Model.Load(trained))
                Expect(m.Shape.Width == 16 && m.Shape.NumClasses == 3 && m.InfoJson.Contains("\"smileys\""), "trained model");
            Marshal.FreeHGlobal(t.assets);
            t.assets = Marshal.StringToHGlobalAnsi(Path.Combine(scratch, "nowhere"));
            IntPtr none;
            Expect(DdpmNative.ddpm_train_start(ref t, null, IntPtr.Zero, out none) == DdpmStatus.NotFound &&
                       none == IntPtr.Zero && DdpmLibrary.LastError.Contains("nowhere"), "training on a missing folder");
        }
        finally
        {
            Marshal.FreeHGlobal(t.assets);
            Marshal.FreeHGlobal(t.out_model);
            File.Delete(trained);
        }

        // Import with NULL params: a missing checkpoint.
        Expect(DdpmNative.ddpm_import_checkpoint(Path.Combine(scratch, "missing.pt"), Path.Combine(scratch, "x.safetensors"),
                                                 IntPtr.Zero) == DdpmStatus.NotFound &&
                   DdpmLibrary.LastError.Contains("missing.pt"), "import of a missing checkpoint");

        // A model blended with itself at half strength is written; strength 3 is out of range.
        string blended = Path.Combine(scratch, "csharp_blended.safetensors");
        Expect(DdpmNative.ddpm_blend_models(modelPath, modelPath, 0.5, blended) == DdpmStatus.Ok && File.Exists(blended),
               "a model blended with itself");
        Expect(DdpmNative.ddpm_blend_models(modelPath, modelPath, 3.0, blended) == DdpmStatus.OutOfRange &&
                   DdpmLibrary.LastError.Contains("strength 3"), "a blend at strength 3");
        // The model in float16 is about half the file; a missing one is refused by name.
        string half = Path.Combine(scratch, "csharp_half.safetensors");
        Expect(DdpmNative.ddpm_convert_model(modelPath, 1, half) == DdpmStatus.Ok &&
                   new FileInfo(half).Length < 0.6 * new FileInfo(modelPath).Length, "a model in float16");
        Expect(DdpmNative.ddpm_widen_model(half + ".missing", 1, blended) == DdpmStatus.NotFound &&
                   DdpmLibrary.LastError.Contains(".missing"), "a missing model widened");

        DdpmLibrary.SetLogCallback(null);
    }
}

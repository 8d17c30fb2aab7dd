"""The plugin through its ctypes binding, as Blender or TouchDesigner scripts would use it.
   python3 test_ctypes.py LIBRARY MODEL BINDING_DIR DISTILLED_MODEL"""
import os
import sys
import tempfile
import time
import threading

sys.path.insert(0, sys.argv[3])
import ddpm_plugin  # noqa: E402


def images_by_spacing(model, spacings, **options):
    """One job's RGBA8 image per spacing name (None: the plugin's choice), the same options else."""
    images = {}
    for spacing in spacings:
        with model.generate(spacing=spacing, **options) as job:
            images[spacing] = job.result_rgba8()
    return images


def main():
    lib = ddpm_plugin.Library(sys.argv[1])
    assert lib.version
    logs = []
    lib.set_log_callback(lambda level, msg: logs.append((level, msg)), level=0)
    lib.set_threads(2)
    # The default precision is "auto": bf16 exactly where the CPU says it has AVX512-BF16.
    with open("/proc/cpuinfo") as f:
        native_bf16 = any(line.startswith("flags") and " avx512_bf16" in line for line in f)
    assert lib.get_precision() == ("bf16" if native_bf16 else "float32"), lib.get_precision()

    try:
        lib.load_model("/nonexistent/model.safetensors")
        raise AssertionError("loading a missing file succeeded")
    except ddpm_plugin.DDPMError as e:
        assert e.name == "NOT_FOUND" and "does not exist" in str(e), e

    # The device choice: the CPU by default and by name; a GPU index past the last one (or any
    # CUDA device where the library has none) is refused by name.
    with lib.load_model(sys.argv[2], device="cpu") as on_cpu:
        assert on_cpu.device == "cpu" and on_cpu.info()["device"] == "cpu", on_cpu.device
        cpu_image = on_cpu.generate(seed=4, steps=3, class_index=2).result_rgba8()
    try:
        lib.load_model(sys.argv[2], threads=2000)
        raise AssertionError("a model of 2000 threads was accepted")
    except ddpm_plugin.DDPMError as e:
        assert e.name == "OUT_OF_RANGE" and "threads 2000" in str(e), e
    for bad in ["cuda:99", "tpu"]:
        try:
            lib.load_model(sys.argv[2], device=bad)
            raise AssertionError("device %r accepted" % bad)
        except ddpm_plugin.DDPMError as e:
            assert e.name == "INVALID_ARGUMENT" and ("'%s'" % bad) in str(e), e

    with lib.load_model(sys.argv[2]) as model:
        assert model.device == "cpu", model.device
        assert model.generate(seed=4, steps=3, class_index=2).result_rgba8() == cpu_image
        assert logs, "no log message on load"
        assert (model.width, model.height, model.channels, model.num_classes) == (16, 16, 4, 3)
        info = model.info()
        assert info["samplers"] == ["ddpm", "ddim", "dpmpp2m", "euler_a", "dpmpp2m_sde"], info
        for bad, name in [({"class_index": 5}, "OUT_OF_RANGE"), ({"sampler": "nope"}, "INVALID_ARGUMENT"),
                          ({"steps": -1}, "OUT_OF_RANGE")]:
            try:
                model.generate(**bad)
                raise AssertionError("accepted %r" % bad)
            except ddpm_plugin.DDPMError as e:
                assert e.name == name, (bad, e)

        steps_seen = []
        worker_threads = set()

        def on_step(step, total, frame):
            steps_seen.append((step, total, frame is not None))
            worker_threads.add(threading.get_ident())
            if frame is not None:
                assert len(frame) == 2 * 16 * 16 * 4 and all(0.0 <= v <= 1.0 for v in frame)

        with model.generate(on_step=on_step, batch=2, classes=[0, 2], sampler="dpmpp2m", steps=5,
                            seed=3, preview_every=2, preview_x0=1) as job:
            assert job.wait(60000)
            rgba = job.result_rgba8()
            floats = job.result_f32()
            step, total, frame = job.poll()
        assert [s for s, _, _ in steps_seen] == [1, 2, 3, 4, 5], steps_seen
        assert [f for _, _, f in steps_seen] == [False, True, False, True, True], steps_seen
        assert threading.get_ident() not in worker_threads
        assert (step, total) == (5, 5)
        assert len(rgba) == 2 * 16 * 16 * 4 and len(floats) == 2 * 16 * 16 * 4
        assert all(abs(rgba[i] - round(floats[i] * 255)) <= 1 for i in range(len(rgba)))

        # Same seed, same image; image-to-image and inpainting run too.
        with model.generate(batch=2, classes=[0, 2], sampler="dpmpp2m", steps=5, seed=3) as again:
            assert again.result_rgba8() == rgba
        # The per-job thread count reaches the library (the struct field sits where C has it).
        with model.generate(batch=2, classes=[0, 2], sampler="dpmpp2m", steps=5, seed=3, threads=1) as one:
            assert all(abs(a - b) <= 1 for a, b in zip(one.result_rgba8(), rgba))
        try:
            model.generate(threads=-1)
            raise AssertionError("threads -1 accepted")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "OUT_OF_RANGE" and "threads -1" in str(e), e
        # The timestep spacing (the last field): unset, DPM-Solver++ 2M SDE from 6 steps takes
        # the logsnr grid, other samplers trailing; a wrong name is named back.
        sde = dict(class_index=1, sampler="dpmpp2m_sde", steps=10, seed=4)
        images = images_by_spacing(model, (None, "logsnr", "trailing"), **sde)
        assert images[None] == images["logsnr"] and images["logsnr"] != images["trailing"]
        # bf16 convolutions: near the float32 image where the CPU has them, else refused by name.
        lib.set_precision("float32")
        assert lib.get_precision() == "float32"
        with model.generate(**sde) as job:
            high = job.result_rgba8()
        try:
            lib.set_precision("bf16")
            assert native_bf16 and lib.get_precision() == "bf16"
            with model.generate(**sde) as job:
                low = job.result_rgba8()
            diffs = [abs(a - b) for a, b in zip(low, high)]
            assert low != high and sum(diffs) / len(diffs) < 8, sum(diffs) / len(diffs)
        except ddpm_plugin.DDPMError as e:
            assert not native_bf16 and e.name == "INVALID_ARGUMENT" and "AVX512-BF16" in str(e), e
        assert (high == images[None]) != native_bf16  # the default was bf16 exactly where native
        lib.set_precision("auto")
        try:
            lib.set_precision("fp8")
            raise AssertionError("precision fp8 accepted")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "INVALID_ARGUMENT" and "'fp8'" in str(e) and "bf16" in str(e), e
        assert lib.lib.ddpm_set_precision(None) == 1  # NULL: INVALID_ARGUMENT
        with model.generate(**sde) as job:
            assert job.result_rgba8() == images[None]
        # Naming nothing gets the model's choice: DPM-Solver++ 2M SDE, 10 steps, logsnr grid.
        totals = []
        with model.generate(class_index=1, seed=4, on_step=lambda s, t, f: totals.append(t)) as job:
            assert job.result_rgba8() == images[None] and set(totals) == {10}, totals
        # A stream of the same sampler and stages sits on the same grid: its frame is the job's.
        with model.stream(steps=10, sampler="dpmpp2m_sde", class_index=1, seed_path="fixed", seed=4) as stream:
            assert [stream.advance() for _ in range(10)][-1]
            frame = stream.read_rgba8()[0]
        assert all(abs(a - b) <= 1 for a, b in zip(frame, images[None]))
        assert any(abs(a - b) > 1 for a, b in zip(frame, images["trailing"]))
        with model.generate(class_index=1, sampler="ddim", steps=8, seed=4) as a, \
                model.generate(class_index=1, sampler="ddim", steps=8, seed=4, spacing="trailing") as b:
            assert a.result_rgba8() == b.result_rgba8()
        # An alpha cutoff clears the finished pixels below it (colour too) and keeps the others.
        with model.generate(class_index=1, seed=4, alpha_cutoff=0) as a, \
                model.generate(class_index=1, seed=4, alpha_cutoff=0.5) as b:
            kept, cut = a.result_rgba8(), b.result_rgba8()
        faint = [i for i in range(0, len(kept), 4) if kept[i + 3] < 127]
        assert faint and all(cut[i:i + 4] == bytes(4) for i in faint), "faint pixels not cleared"
        assert all(cut[i:i + 4] == kept[i:i + 4] for i in range(0, len(kept), 4) if kept[i + 3] > 128)
        # Guidance in an interval of noise levels: DPM-Solver++ 2M SDE guides only at sigma up to
        # 20 unless told (every step of this model, whose 100-step schedule stays below 20; the
        # CLI's test shows the bound on a 1000-step schedule); both bounds 0: every step; a lower
        # bound leaves the least noisy steps unguided; bad bounds are named.
        guided = dict(class_index=1, sampler="dpmpp2m_sde", steps=8, seed=4, guidance=3.0)
        with model.generate(**guided) as a, \
                model.generate(guidance_min_sigma=0, guidance_max_sigma=20, **guided) as b, \
                model.generate(guidance_min_sigma=0, guidance_max_sigma=0, **guided) as c, \
                model.generate(guidance_min_sigma=0.2, guidance_max_sigma=20, **guided) as d:
            assert a.result_rgba8() == b.result_rgba8() == c.result_rgba8() != d.result_rgba8()
        with model.generate(**dict(guided, sampler="ddim")) as a, \
                model.generate(guidance_min_sigma=0, guidance_max_sigma=0, **dict(guided, sampler="ddim")) as b:
            assert a.result_rgba8() == b.result_rgba8()  # the deterministic samplers guide every step
        try:
            model.generate(guidance_min_sigma=5, guidance_max_sigma=2, **guided)
            raise AssertionError("an empty guidance interval accepted")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "INVALID_ARGUMENT" and "guidance interval" in str(e), e
        # A stream names no sampler: DPM-Solver++ 2M SDE with the same interval, the job's image.
        with model.stream(steps=8, class_index=1, seed_path="fixed", seed=4, guidance=3.0) as stream:
            assert [stream.advance() for _ in range(8)][-1]
            frame = stream.read_rgba8()[0]
        with model.generate(**guided) as a:
            assert all(abs(x - y) <= 1 for x, y in zip(frame, a.result_rgba8()))
        try:
            model.generate(spacing="sideways")
            raise AssertionError("spacing 'sideways' accepted")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "INVALID_ARGUMENT" and "'sideways'" in str(e) and "logsnr" in str(e), e
        with model.generate(steps=10, init_image_rgba8=rgba[: 16 * 16 * 4], init_width=16,
                            init_height=16, strength=0.5, mask=bytes([255] * 128 + [0] * 128)) as job:
            assert job.wait(60000)
            assert len(job.result_rgba8()) == 16 * 16 * 4
        with model.generate(steps=10, init_image_rgba8=rgba[: 16 * 16 * 4], init_width=16,
                            init_height=16, strength=0.5) as job:
            job.wait(60000)
            assert job.poll()[1] == 5

        with model.generate(steps=100, sampler="ddpm", batch=4) as job:
            job.cancel()
            try:
                job.wait()
                raise AssertionError("cancelled job finished")
            except ddpm_plugin.DDPMError as e:
                assert e.name == "CANCELLED", e

        # A live stream: the struct layouts agree with the library (a frame after `steps` calls,
        # its latency and class as set), steering, and the same image as a job for its seed.
        with model.stream(steps=3, class_index=1, guidance=2.0, seed_path="fixed", seed=5) as stream:
            assert [stream.advance() for _ in range(3)] == [False, False, True]
            rgba, info = stream.read_rgba8()
            assert (info["number"], info["latency_calls"], info["class_index"], info["seed"]) == (1, 3, 1, 5), info
            with model.generate(steps=3, class_index=1, guidance=2.0, seed=5) as job:
                assert job.result_rgba8() == rgba
            stream.set_class(2)
            for _ in range(3):
                stream.advance()
            assert stream.read_rgba8()[1]["class_index"] == 2
            stats = stream.stats()
            assert (stats["calls"], stats["frames"], stats["latency"]) == (6, 4, 3), stats
            try:
                stream.set_class(5)
                raise AssertionError("class 5 accepted")
            except ddpm_plugin.DDPMError as e:
                assert e.name == "OUT_OF_RANGE", e

    # A model distilled for 4 steps: jobs and streams take its steps and sampler when asked for
    # none, a job's scale must be in its range, and a job equals a stream image of its seed.
    with lib.load_model(sys.argv[4]) as model:
        info = model.info()
        assert info["distilled"] == {"steps": 4, "guidance_min": 1.0, "guidance_max": 5.0, "sampler": "ddim"}, info
        assert info["unet"]["guidance_input"] is True, info
        totals = []
        with model.generate(on_step=lambda s, t, f: totals.append(t), class_index=1, seed=2) as job:
            assert job.wait(60000)
            rgba = job.result_rgba8()
        assert totals == [4, 4, 4, 4], totals
        del logs[:]
        with model.generate(class_index=1, seed=2, sampler="dpmpp2m_sde") as job:
            assert job.result_rgba8() == rgba  # the same DDIM run
        assert any("replaced by ddim" in m for _, m in logs), logs
        for bad in (7.0, 0.5):
            try:
                model.generate(class_index=1, guidance=bad)
                raise AssertionError("guidance %g accepted" % bad)
            except ddpm_plugin.DDPMError as e:
                assert e.name == "INVALID_ARGUMENT" and "allowed 0 (unconditional) or 1 to 5" in str(e), e
        with model.stream(class_index=1, guidance=3.0, seed_path="fixed", seed=2) as stream:
            assert [stream.advance() for _ in range(4)] == [False, False, False, True]
            assert stream.read_rgba8()[0] == rgba
            try:
                stream.set_guidance(9.0)
                raise AssertionError("stream guidance 9 accepted")
            except ddpm_plugin.DDPMError as e:
                assert e.name == "INVALID_ARGUMENT", e

    # The shipped guidance student: DPM-Solver++ 2M SDE with no spacing named takes the tuned
    # grid at 4 steps (searched for it) and logsnr at 8, and a 4-stage stream sits on the same
    # grid as the job (its image of a fixed seed is the job's).
    student = os.path.join(sys.argv[3], "..", "..", "assets", "emoji32", "student.safetensors")
    with lib.load_model(student) as model:
        assert model.info()["unet"]["guidance_input"] is True
        four = dict(class_index=6, sampler="dpmpp2m_sde", steps=4, seed=2)
        images = images_by_spacing(model, (None, "tuned", "trailing"), **four)
        assert images[None] == images["tuned"] and images["tuned"] != images["trailing"]
        eight = images_by_spacing(model, (None, "logsnr"), **dict(four, steps=8))
        assert eight[None] == eight["logsnr"]
        with model.stream(class_index=6, sampler="dpmpp2m_sde", steps=4, seed_path="fixed", seed=2) as stream:
            assert [stream.advance() for _ in range(4)] == [False, False, False, True]
            assert stream.read_rgba8()[0] == images[None]

    # Import of the reference fixture, then a load of the result.
    ref = os.path.join(sys.argv[3], "..", "..", "tests", "fixtures", "reference", "ref_w4_cond.pt")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "imported.safetensors")
        try:
            lib.import_checkpoint(ref, out, class_names=["a", "b"], image_size=16)
            raise AssertionError("import with the wrong class count succeeded")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "BAD_MODEL" and "class" in str(e), e
        try:
            lib.import_checkpoint(os.path.join(tmp, "missing.pt"), out)
            raise AssertionError("import of a missing file succeeded")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "NOT_FOUND" and "missing.pt" in str(e), e
        lib.import_checkpoint(ref, out, class_names=["cat", "dog", "fox"], image_size=16, float16=True)
        with lib.load_model(out) as model:
            assert (model.width, model.num_classes) == (16, 3)
            assert model.info()["class_names"] == ["cat", "dog", "fox"], model.info()
    # A short training run on the committed sample folder, then a bad folder.
    samples = os.path.join(sys.argv[3], "..", "..", "assets", "samples")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "trained.safetensors")
        seen = []
        with lib.train(samples, out, on_progress=lambda *a: seen.append(a), image_size=16, steps=3,
                       batch=4, seed=1) as job:
            assert job.wait()
            st = job.poll()
        assert st["done"] and st["step"] == 3 and st["total"] == 3, st
        assert [a[0] for a in seen if a[5] is None][-1] == 3, seen
        with lib.load_model(out) as model:
            assert (model.width, model.num_classes) == (16, 3)
            assert model.info()["class_names"] == ["animals", "smileys", "travel"], model.info()
        # Distillation of that model through the same call: a 2-step student that says so.
        student = os.path.join(tmp, "student.safetensors")
        with lib.train(samples, student, init_model=out, distill=1, distill_steps=2, distill_guidance_max=4.0,
                       distill_stochastic=1, steps=2, batch=4, seed=1) as job:
            assert job.wait()
        with lib.load_model(student) as model:
            assert model.info()["distilled"] == {"steps": 2, "guidance_min": 1.0, "guidance_max": 4.0,
                                                 "sampler": "dpmpp2m_sde", "spacing": "tuned"}, model.info()
            with model.generate(class_index=0) as job:
                assert job.wait(60000) and job.poll()[1] == 2
        # A fine-tune trains every weight by default and lora_rank picks adapters instead; its
        # grids start with the model before it (step_0.png); the file is an ordinary model.
        for rank, said in ((None, "fine-tuning every weight"), (2, "LoRA adapters of rank 2")):
            tuned = os.path.join(tmp, "tuned%s.safetensors" % rank)
            grids = os.path.join(tmp, "tune-grids%s" % rank)
            seen.clear()
            extra = {} if rank is None else {"lora_rank": rank}
            with lib.train(samples, tuned, on_progress=lambda *a: seen.append(a), init_model=out, steps=2,
                           batch=4, seed=1, sample_dir=grids, **extra) as job:
                assert job.wait()
            assert any(a[5] and said in a[5] for a in seen), seen
            # ... and one through adapters is written blended with the model it started from (0.85).
            blended = any(a[5] and "blended with %s at strength 0.85" % out in a[5] for a in seen)
            assert blended == (rank is not None), seen
            assert sorted(os.listdir(grids)) == ["step_0.png", "step_2.png"], os.listdir(grids)
            with lib.load_model(tuned) as model:
                assert model.info()["class_names"] == ["animals", "smileys", "travel"], model.info()
        try:
            lib.train(samples, os.path.join(tmp, "x.safetensors"), lora_rank=4)
            raise AssertionError("adapters without a model to fine-tune were accepted")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "INVALID_ARGUMENT" and "give the init model" in str(e), e
        # ddpm_blend_models: the fine-tune turned down to half, then doubled, draws its own images;
        # the half one draws others. Pairs that do not belong together are refused by name.
        tuned = os.path.join(tmp, "tunedNone.safetensors")
        half, back = os.path.join(tmp, "half.safetensors"), os.path.join(tmp, "back.safetensors")
        lib.blend_models(out, tuned, 0.5, half)
        lib.blend_models(out, half, 2, back)

        def image(path):
            with lib.load_model(path) as model:
                with model.generate(batch=2, classes=[0, 2], sampler="dpmpp2m", steps=5, seed=3) as job:
                    return job.result_f32()
        lib.set_precision("float32")  # bf16 would round the two copies' weights apart
        mine, doubled, halved = image(tuned), image(back), image(half)
        lib.set_precision("auto")
        emoji = os.path.join(sys.argv[3], "..", "..", "assets", "emoji32", "model.safetensors")
        assert max(abs(a - b) for a, b in zip(mine, doubled)) < 1e-3
        assert max(abs(a - b) for a, b in zip(mine, halved)) > 0.05
        for args, status, said in (((out, tuned, 0, half), "OUT_OF_RANGE", "strength 0 is out of range"),
                                   ((out, tuned, 2.5, half), "OUT_OF_RANGE", "allowed more than 0 up to 2"),
                                   ((os.path.join(tmp, "none.safetensors"), tuned, 1, half), "NOT_FOUND", "does not exist"),
                                   ((emoji, tuned, 1, half), "INVALID_ARGUMENT", "do not start with its base's"),
                                   ((out, tuned, 1, os.path.join(tmp, "no", "x.safetensors")), "IO", "x.safetensors")):
            try:
                lib.blend_models(*args)
                raise AssertionError("blend_models%r was accepted" % (args,))
            except ddpm_plugin.DDPMError as e:
                assert e.name == status and said in str(e), (args, e)
        # ddpm_widen_model: twice the width, four times the weights, the same images; then
        # ddpm_convert_model: the wide model in float16 is about half the file and draws them to
        # float16's rounding.
        wide, wide16 = os.path.join(tmp, "wide.safetensors"), os.path.join(tmp, "wide16.safetensors")
        lib.widen_model(tuned, wide, seed=5)
        lib.convert_model(wide, wide16)
        with lib.load_model(tuned) as narrow_model, lib.load_model(wide16) as wide_model:
            narrow_info, wide_info = narrow_model.info(), wide_model.info()
        assert wide_info["unet"]["base_channels"] == 2 * narrow_info["unet"]["base_channels"], wide_info
        assert wide_info["class_names"] == narrow_info["class_names"], wide_info
        assert 3.5 < os.path.getsize(wide) / os.path.getsize(tuned) < 4.5
        assert 0.45 < os.path.getsize(wide16) / os.path.getsize(wide) < 0.55
        lib.set_precision("float32")
        widened, halved_bits = image(wide), image(wide16)
        lib.set_precision("auto")
        assert max(abs(a - b) for a, b in zip(mine, widened)) < 1e-3
        assert 0 < max(abs(a - b) for a, b in zip(widened, halved_bits)) < 0.05
        for call, args, status, said in (
                (lib.widen_model, (os.path.join(tmp, "none.safetensors"), wide), "NOT_FOUND", "does not exist"),
                (lib.widen_model, (tuned, os.path.join(tmp, "no", "x.safetensors")), "IO", "x.safetensors"),
                (lib.convert_model, (samples, wide16), "IO", "is a directory"),
                (lib.convert_model, (os.path.join(tmp, "tune-gridsNone", "step_0.png"), wide16), "BAD_MODEL", "step_0.png")):
            try:
                call(*args)
                raise AssertionError("%s%r was accepted" % (call.__name__, args))
            except ddpm_plugin.DDPMError as e:
                assert e.name == status and said in str(e), (args, e)
        try:
            lib.train(samples, os.path.join(tmp, "x.safetensors"), strength=0.5)
            raise AssertionError("a blend without a model to fine-tune was accepted")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "INVALID_ARGUMENT" and "strength = 0.5" in str(e) and "init model" in str(e), e
        # A time budget instead of steps (2 s): the job plans its steps and ends on time with
        # the model and the final model's grid of the folder's classes.
        budget = os.path.join(tmp, "budget.safetensors")
        grids = os.path.join(tmp, "grids")
        started = time.monotonic()
        with lib.train(samples, budget, image_size=16, batch=4, seed=1, minutes=2 / 60,
                       sample_dir=grids) as job:
            assert job.wait()
            st = job.poll()
        took = time.monotonic() - started
        # More than one step: the plan came from the measured speed (a loaded machine, a full
        # build beside it, gave this tiny job only 2 steps in its 2 s).
        assert st["step"] > 1 and st["total"] == st["step"], st
        assert 1.0 < took < 2 + 10, took  # slack for the final grid on a loaded machine
        assert os.listdir(grids) == ["step_%d.png" % st["step"]], os.listdir(grids)
        # Two local processes: this job is rank 0, ddpm_train_worker beside the library rank 1.
        seen.clear()
        out2 = os.path.join(tmp, "two.safetensors")
        with lib.train(samples, out2, on_progress=lambda *a: seen.append(a), image_size=16, steps=2,
                       batch=4, seed=1, local_processes=2) as job:
            assert job.wait()
        assert any(a[5] and "rank 0 of 2 joined" in a[5] for a in seen), seen
        with lib.load_model(out2) as model:
            assert model.num_classes == 3
        try:
            lib.train(samples, out2, steps=2, local_processes=2, worker_path="/nowhere/worker")
            raise AssertionError("a local run without its worker started")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "NOT_FOUND" and "/nowhere/worker" in str(e), e
        try:
            lib.train(os.path.join(tmp, "nowhere"), out, steps=2)
            raise AssertionError("training on a missing folder started")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "NOT_FOUND" and "nowhere" in str(e), e
        try:  # an output path it could not write is refused before the run
            lib.train(samples, os.path.join(tmp, "nowhere", "m.safetensors"), steps=2)
            raise AssertionError("training into a missing folder started")
        except ddpm_plugin.DDPMError as e:
            assert e.name == "IO" and "does not exist" in str(e), e
    lib.set_log_callback(None)
    print("passed")


if __name__ == "__main__":
    main()

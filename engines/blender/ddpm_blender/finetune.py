"""Fine-tune: trains the panel's model on an asset folder, progress in the status bar.

The plugin trains on its own worker thread; a window timer polls it (Esc cancels). A cancelled
run still writes its model file (the plugin saves on cancel) but the panel keeps its model.
"""
import os

import bpy

from . import ddpm_plugin, runtime
from .polled_operator import PolledOperator

POLL_SECONDS = 0.25
_active = None  # (TrainJob, output path)


def output_path(settings):
    if settings.train_output:
        return os.path.abspath(bpy.path.abspath(settings.train_output))
    folder = os.path.abspath(bpy.path.abspath(settings.train_folder)).rstrip(os.sep)
    return folder + ".safetensors"


def start(context, settings):
    folder = os.path.abspath(bpy.path.abspath(settings.train_folder)) if settings.train_folder else ""
    if not folder:
        raise runtime.UserError("choose an asset folder to fine-tune on (one subfolder per class)")
    if not os.path.isdir(folder):
        raise runtime.UserError("asset folder not found: %s" % folder)
    init = runtime.model_path(settings.model_path)
    if not os.path.isfile(init):
        raise runtime.UserError("model file not found: %s" % init)
    out = output_path(settings)
    if not os.path.isdir(os.path.dirname(out)):
        raise runtime.UserError("output folder not found: %s" % os.path.dirname(out))
    lib = runtime.library(context)
    steps = settings.train_steps
    try:
        # Batch and learning rate 0 take the plugin's fine-tuning recipe; so do the warm-up, the
        # decay and the EMA (which averages from the first step, so short runs end averaged).
        job = lib.train(folder, out, init_model=init, steps=steps, batch=settings.train_batch,
                        lr=settings.train_lr)
    except ddpm_plugin.DDPMError as e:
        raise runtime.UserError(str(e)) from None
    settings.training, settings.train_progress = True, 0.0
    return job, out


def progress_text(status):
    text = "DDPM fine-tune: step %d/%d" % (status["step"], status["total"])
    if status["step"] > 0:
        text += ", loss %.4f, %.0f s left" % (status["loss_smoothed"], status["eta_seconds"])
    return text + " (Esc cancels)"


class DDPM_OT_finetune(PolledOperator, bpy.types.Operator):
    """Fine-tune the panel's model on an asset folder (one subfolder of images per class)"""
    bl_idname = "ddpm.finetune"
    bl_label = "Fine-tune"
    poll_seconds = POLL_SECONDS

    def begin(self, context):
        global _active
        if _active is not None:
            self.report({"ERROR"}, "a fine-tune is already running")
            return False
        try:
            _active = start(context, context.scene.ddpm)
        except runtime.UserError as e:
            self.report({"ERROR"}, str(e))
            return False
        return True

    def step(self, context):
        """Polls the job; True once it has ended."""
        status = _active[0].poll()
        context.scene.ddpm.train_progress = 100.0 * status["step"] / max(status["total"], 1)
        self.last_text = progress_text(status)
        return bool(status["done"])

    def end(self, context):
        global _active
        (job, out), _active = _active, None
        settings = context.scene.ddpm
        settings.training = False
        try:
            job.wait()
        except ddpm_plugin.DDPMError as e:
            if e.name == "CANCELLED":
                self.report({"WARNING"}, "fine-tune cancelled; the partial model is in %s" % out)
            else:
                self.report({"ERROR"}, "fine-tune failed: %s" % e)
            return {"CANCELLED"}
        finally:
            job.close()
        settings.model_path = out
        settings.train_progress = 100.0
        self.report({"INFO"}, "fine-tuned model %s loaded" % out)
        return {"FINISHED"}

    def active(self):
        return _active is not None

    def escape(self, _context):
        _active[0].cancel()  # the worker saves, then the next timer tick ends the operator
        return None

    def printed_progress(self):
        return self.last_text  # scripts and `blender -b`: progress on stdout

    def modal_begin(self, context):
        context.window_manager.progress_begin(0, 100)

    def modal_tick(self, context):
        context.workspace.status_text_set(self.last_text)
        context.window_manager.progress_update(context.scene.ddpm.train_progress)
        for area in context.screen.areas:
            area.tag_redraw()

    def modal_end(self, context):
        context.window_manager.progress_end()
        context.workspace.status_text_set(None)


class DDPM_OT_finetune_cancel(bpy.types.Operator):
    """Stop the fine-tune (the model trained so far is still written)"""
    bl_idname = "ddpm.finetune_cancel"
    bl_label = "Cancel Fine-tune"

    @classmethod
    def poll(cls, _context):
        return _active is not None

    def execute(self, _context):
        _active[0].cancel()
        return {"FINISHED"}


def shutdown():
    global _active
    if _active is not None:
        _active[0].close()  # cancels and waits; the plugin writes the model first
        _active = None


CLASSES = (DDPM_OT_finetune, DDPM_OT_finetune_cancel)

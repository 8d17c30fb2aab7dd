"""Generate: a plugin job that fills Blender images live, step by step, without blocking the UI.

The job runs on the plugin's worker thread. Nothing here is called from that thread: the modal
operator polls the job from a window timer (the UI stays responsive), and from a script or
`blender -b` the same polling runs in a loop until the job ends.
"""
import bpy

from . import ddpm_plugin, pixels, properties, runtime
from .polled_operator import PolledOperator

POLL_SECONDS = 1.0 / 30.0
_active = None  # the running GenerationTask (one at a time)


def request(settings):
    return dict(batch=settings.count, class_index=properties.class_index(settings),
                guidance=settings.guidance, sampler=settings.sampler, steps=settings.steps,
                seed=settings.seed, tiling=int(settings.tiling), preview_every=1, preview_x0=1)


def image_name(base, i):
    return base if i == 0 else "%s %d" % (base, i + 1)


class GenerationTask:
    def __init__(self, context, settings):
        self.settings = settings
        model = runtime.model(settings.model_path, context)
        if settings.steps > model.timesteps:
            raise runtime.UserError("steps %d is more than the model's %d timesteps"
                                    % (settings.steps, model.timesteps))
        try:
            self.job = model.generate(**request(settings))
        except ddpm_plugin.DDPMError as e:
            raise runtime.UserError(str(e)) from None
        self.width, self.height, self.channels = model.width, model.height, model.channels
        self.images = [pixels.ensure_image(image_name(settings.image_name or "DDPM", i),
                                           self.width, self.height)
                       for i in range(settings.count)]
        self.shown_step = 0
        settings.running, settings.progress = True, 0.0

    def pump(self):
        """Shows the newest preview; True once the job has ended (then call finish)."""
        step, total, frame = self.job.poll_array()
        if step > self.shown_step:
            self.shown_step = step
            rgba = pixels.frames_to_rgba(frame, len(self.images), self.height, self.width,
                                         self.channels)
            for image, picture in zip(self.images, rgba):
                pixels.write(image, picture)
            self.settings.progress = 100.0 * step / max(total, 1)
        try:
            return self.job.wait(0)
        except ddpm_plugin.DDPMError:
            return True  # failed or cancelled: finish() reports it

    def finish(self):
        """Writes the final images (exact bytes) and packs them into the .blend."""
        try:
            data = self.job.result_rgba8()
        except ddpm_plugin.DDPMError as e:
            raise runtime.UserError(str(e)) from None
        finally:
            self.settings.running = False
        for image, picture in zip(self.images, pixels.rgba8_to_rgba(
                data, len(self.images), self.height, self.width)):
            pixels.write(image, picture)
            image.pack()
        self.settings.progress = 100.0
        self.job.close()
        return self.images

    def cancel(self):
        self.job.cancel()
        self.settings.running = False
        self.job.close()


def redraw(context):
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"IMAGE_EDITOR", "NODE_EDITOR", "VIEW_3D"}:
                area.tag_redraw()


def show(context, image):
    space = context.space_data
    if space is not None and space.type == "IMAGE_EDITOR":
        space.image = image


def make_material(context, image):
    """A material whose base colour is `image` (nearest-neighbour: generated pictures are small),
    given to the active mesh."""
    material = bpy.data.materials.get("DDPM " + image.name) or bpy.data.materials.new(
        "DDPM " + image.name)
    material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None) or nodes.new(
        "ShaderNodeBsdfPrincipled")
    tex = next((n for n in nodes if n.type == "TEX_IMAGE"), None) or nodes.new("ShaderNodeTexImage")
    tex.image, tex.interpolation, tex.location = image, "Closest", (bsdf.location.x - 300,
                                                                     bsdf.location.y)
    links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    obj = context.active_object
    if obj is not None and obj.type == "MESH":
        if obj.data.materials:
            obj.data.materials[0] = material
        else:
            obj.data.materials.append(material)
    return material


class DDPM_OT_generate(PolledOperator, bpy.types.Operator):
    """Generate images with the DDPM plugin (live preview; Esc or Cancel stops)"""
    bl_idname = "ddpm.generate"
    bl_label = "Generate"
    poll_seconds = POLL_SECONDS

    def begin(self, context):
        global _active
        if _active is not None:
            self.report({"ERROR"}, "a generation is already running")
            return False
        try:
            _active = GenerationTask(context, context.scene.ddpm)
        except runtime.UserError as e:
            self.report({"ERROR"}, str(e))
            return False
        show(context, _active.images[0])
        return True

    def step(self, _context):
        return _active.pump()

    def active(self):
        return _active is not None

    def end(self, context):
        global _active
        task, _active = _active, None
        try:
            images = task.finish()
        except runtime.UserError as e:
            self.report({"WARNING"} if "CANCELLED" in str(e) else {"ERROR"}, str(e))
            return {"CANCELLED"}
        if context.scene.ddpm.make_material:
            make_material(context, images[0])
        self.report({"INFO"}, "generated %s" % ", ".join(i.name for i in images))
        return {"FINISHED"}

    def escape(self, _context):
        global _active
        _active.cancel()
        _active = None
        self.report({"WARNING"}, "generation cancelled")
        return {"CANCELLED"}

    def modal_tick(self, context):
        redraw(context)

    def modal_end(self, context):
        redraw(context)


class DDPM_OT_cancel(bpy.types.Operator):
    """Stop the running generation"""
    bl_idname = "ddpm.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, _context):
        return _active is not None

    def execute(self, _context):
        global _active
        _active.cancel()
        _active = None
        return {"FINISHED"}


class DDPM_OT_make_material(bpy.types.Operator):
    """Make a material that uses the generated image and give it to the active object"""
    bl_idname = "ddpm.make_material"
    bl_label = "Create Material"

    def execute(self, context):
        image = bpy.data.images.get(context.scene.ddpm.image_name or "DDPM")
        if image is None:
            self.report({"ERROR"}, "no image %r yet: generate one first"
                        % context.scene.ddpm.image_name)
            return {"CANCELLED"}
        material = make_material(context, image)
        self.report({"INFO"}, "material %s" % material.name)
        return {"FINISHED"}


def shutdown():
    global _active
    if _active is not None:
        _active.cancel()
        _active = None


CLASSES = (DDPM_OT_generate, DDPM_OT_cancel, DDPM_OT_make_material)

"""The panel's settings (per scene, saved with the .blend) and the add-on's preferences."""
import bpy

from . import ddpm_plugin, runtime

SAMPLER_LABELS = {
    "ddim": "DDIM", "dpmpp2m": "DPM-Solver++ 2M", "dpmpp2m_sde": "DPM-Solver++ 2M SDE",
    "euler_a": "Euler ancestral", "ddpm": "DDPM (ancestral, all steps)",
}
NO_CLASS = "__none__"
_class_items = []  # Blender needs the item strings kept alive while the enum is shown


def class_items(settings, _context):
    names = runtime.class_names(settings.model_path)
    items = [(NO_CLASS, "Any (unconditional)", "No class: guidance has no effect", 0)]
    if names is None:
        items = [(NO_CLASS, "(model not loaded)", "The model file cannot be loaded", 0)]
    else:
        items += [(name, name, "Class %d of the model" % i, i + 1) for i, name in enumerate(names)]
    _class_items[:] = items
    return _class_items


class DDPMSettings(bpy.types.PropertyGroup):
    model_path: bpy.props.StringProperty(
        name="Model", subtype="FILE_PATH",
        description="Model file (.safetensors); empty: the emoji model bundled with the add-on")
    class_name: bpy.props.EnumProperty(name="Class", items=class_items,
                                       description="What to generate")
    guidance: bpy.props.FloatProperty(
        name="Guidance", default=3.0, min=0.0, soft_max=10.0,
        description="Classifier-free guidance scale: higher follows the class more strictly")
    sampler: bpy.props.EnumProperty(
        name="Sampler", default="dpmpp2m_sde",
        items=[(k, SAMPLER_LABELS.get(k, k), "") for k in ddpm_plugin.SAMPLERS])
    steps: bpy.props.IntProperty(name="Steps", default=10, min=1, max=1000,
                                 description="Denoising steps (network calls per image)")
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0,
                                description="Image i of a batch uses seed + i")
    count: bpy.props.IntProperty(name="Count", default=1, min=1, max=64,
                                 description="Images per job, one Blender image each")
    tiling: bpy.props.BoolProperty(
        name="Tileable texture", default=False,
        description="Seamless (circular) texture that repeats without visible edges")
    make_material: bpy.props.BoolProperty(
        name="Create material", default=False,
        description="After generating, make a material that uses the image and give it to the "
                    "active object")
    image_name: bpy.props.StringProperty(
        name="Image", default="DDPM",
        description="Blender image written (further images of a batch get a number)")
    # Fine-tuning
    train_folder: bpy.props.StringProperty(
        name="Folder", subtype="DIR_PATH",
        description="Asset folder: one subfolder of images per class")
    train_output: bpy.props.StringProperty(
        name="Output", subtype="FILE_PATH",
        description="Model file to write; empty: <folder>.safetensors beside the folder")
    train_steps: bpy.props.IntProperty(name="Steps", default=500, min=1, max=1000000)
    # 0: the plugin's fine-tuning recipe (every weight, batch 32, learning rate 5e-4: measured
    # best per CPU minute)
    train_batch: bpy.props.IntProperty(name="Batch", default=0, min=0, max=256,
                                       description="Images per step; 0: automatic (32)")
    train_lr: bpy.props.FloatProperty(name="Learning rate", default=0, min=0, max=0.1,
                                      precision=5, description="0: automatic (5e-4 for a fine-tune)")
    # Shown while a job runs (set by the operators, not by the user)
    running: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"})
    progress: bpy.props.FloatProperty(name="Progress", subtype="PERCENTAGE", min=0, max=100,
                                      options={"SKIP_SAVE"})
    training: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"})
    train_progress: bpy.props.FloatProperty(name="Progress", subtype="PERCENTAGE", min=0,
                                            max=100, options={"SKIP_SAVE"})


class DDPMPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    library_path: bpy.props.StringProperty(
        name="Library", subtype="FILE_PATH",
        description="libddpm_plugin (empty: the one inside the add-on folder)",
        update=runtime.preferences_changed)
    device: bpy.props.EnumProperty(
        name="Device", default="cpu",
        items=[("cpu", "CPU", "Generate on the CPU"),
               ("cuda", "CUDA", "Generate on the first NVIDIA GPU (a plugin built with CUDA)"),
               ("auto", "Automatic", "CUDA when the plugin has it and a GPU is present, else the CPU")],
        description="Where models run; takes effect at the next generation",
        update=runtime.device_changed)
    threads: bpy.props.IntProperty(
        name="Threads", default=0, min=0, max=1024,
        description="CPU threads for generation (0: all cores); takes effect on the next start "
                    "of Blender")

    def draw(self, _context):
        self.layout.prop(self, "library_path")
        self.layout.prop(self, "device")
        self.layout.prop(self, "threads")
        try:
            self.layout.label(text="Using " + runtime.library_path())
        except runtime.UserError as e:
            self.layout.label(text=str(e), icon="ERROR")


def class_index(settings):
    """The selected class as the plugin's index (-1: none)."""
    names = runtime.class_names(settings.model_path) or []
    return names.index(settings.class_name) if settings.class_name in names else -1


CLASSES = (DDPMSettings, DDPMPreferences)

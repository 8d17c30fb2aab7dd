"""The DDPM sidebar tab, in the Image Editor and in the Shader Editor (N panel)."""
import bpy

from . import finetune, generate, runtime


def draw_generate(layout, context):
    s = context.scene.ddpm
    layout.prop(s, "model_path")
    if runtime.class_names(s.model_path) is None:
        layout.label(text=runtime.model_error(s.model_path), icon="ERROR")
    layout.prop(s, "class_name")
    col = layout.column(align=True)
    col.prop(s, "guidance")
    col.prop(s, "sampler")
    col.prop(s, "steps")
    col.prop(s, "seed")
    col.prop(s, "count")
    layout.prop(s, "image_name")
    row = layout.row()
    row.prop(s, "tiling")
    sub = row.row()
    sub.active = s.tiling
    sub.prop(s, "make_material")
    if s.running:
        layout.prop(s, "progress", slider=True)
        layout.operator(generate.DDPM_OT_cancel.bl_idname, icon="CANCEL")
    else:
        layout.operator(generate.DDPM_OT_generate.bl_idname, icon="IMAGE_DATA")
    layout.operator(generate.DDPM_OT_make_material.bl_idname, icon="MATERIAL")


def draw_finetune(layout, context):
    s = context.scene.ddpm
    layout.prop(s, "train_folder")
    layout.prop(s, "train_output")
    col = layout.column(align=True)
    col.prop(s, "train_steps")
    col.prop(s, "train_batch")
    col.prop(s, "train_lr")
    if s.training:
        layout.prop(s, "train_progress", slider=True)
        layout.operator(finetune.DDPM_OT_finetune_cancel.bl_idname, icon="CANCEL")
    else:
        layout.operator(finetune.DDPM_OT_finetune.bl_idname, icon="MOD_SMOOTH")


def panels(space):
    """A Generate panel and a Fine-tune sub-panel for one editor type."""
    generate_id = "DDPM_PT_generate_" + space.lower()

    class Generate(bpy.types.Panel):
        bl_idname = generate_id
        bl_label = "DDPM Generate"
        bl_space_type = space
        bl_region_type = "UI"
        bl_category = "DDPM"

        def draw(self, context):
            draw_generate(self.layout, context)

    class FineTune(bpy.types.Panel):
        bl_idname = "DDPM_PT_finetune_" + space.lower()
        bl_label = "Fine-tune"
        bl_space_type = space
        bl_region_type = "UI"
        bl_category = "DDPM"
        bl_parent_id = generate_id
        bl_options = {"DEFAULT_CLOSED"}

        def draw(self, context):
            draw_finetune(self.layout, context)

    return Generate, FineTune


CLASSES = panels("IMAGE_EDITOR") + panels("NODE_EDITOR")

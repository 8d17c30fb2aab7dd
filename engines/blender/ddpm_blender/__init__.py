"""DDPM Textures: generates images and tileable textures with the DDPM realtime plugin
(libddpm_plugin, through its C ABI and the ctypes binding), live at every denoising step, and
fine-tunes its model on an asset folder."""
bl_info = {
    "name": "DDPM Textures",
    "author": "DDPM realtime plugin",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Image Editor / Shader Editor > Sidebar (N) > DDPM",
    "description": "Class-conditional diffusion images and seamless textures, with live preview",
    "category": "Image",
}

import bpy  # noqa: E402

from . import finetune, generate, panels, properties, runtime  # noqa: E402

CLASSES = properties.CLASSES + generate.CLASSES + finetune.CLASSES + panels.CLASSES


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.ddpm = bpy.props.PointerProperty(type=properties.DDPMSettings)


def unregister():
    generate.shutdown()
    finetune.shutdown()
    runtime.forget_models()
    del bpy.types.Scene.ddpm
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)

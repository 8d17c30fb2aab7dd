"""Plugin images to Blender image pixels.

The plugin hands out rows top to bottom ([batch][height][width][channels]); Blender's
Image.pixels are RGBA floats with the bottom row first. Blender stores a byte image's floats
as round(value * 255), so results given as bytes / 255 keep the plugin's exact bytes.
"""
import numpy as np

import bpy


def frames_to_rgba(frame, batch, height, width, channels):
    """Float frames in [0, 1] (any channel count) -> float32 [batch][height][width][4]."""
    # frombuffer, not asarray: a ctypes array's buffer says "<f", which Blender's foreach_set
    # refuses; numpy's own float32 says "f".
    a = np.frombuffer(frame, dtype=np.float32).reshape(batch, height, width, channels)
    if channels == 4:
        return a
    rgb = np.repeat(a, 3, axis=3) if channels == 1 else a
    alpha = np.ones((batch, height, width, 1), dtype=np.float32)
    return np.concatenate([rgb, alpha], axis=3)


def rgba8_to_rgba(data, batch, height, width):
    """RGBA bytes from ddpm_job_result_rgba8 -> float32 [batch][height][width][4]."""
    a = np.frombuffer(data, dtype=np.uint8).reshape(batch, height, width, 4)
    return a.astype(np.float32) / 255.0


def write(image, rgba):
    """One [height][width][4] picture (top row first) into a Blender image."""
    image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())
    image.update()


def ensure_image(name, width, height):
    """The byte RGBA image `name` at the model's size, reused (so materials keep it) or made."""
    image = bpy.data.images.get(name)
    if image is None or image.is_float:  # Blender names a new one "name.001" beside a float one
        return bpy.data.images.new(name, width, height, alpha=True)
    if tuple(image.size) != (width, height):
        image.scale(width, height)
    return image

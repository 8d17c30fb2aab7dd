"""The plugin library and model files, found and loaded once per Blender session.

Every failure a user can cause (a wrong library path, a missing or corrupt model) becomes a
UserError whose message names the problem; operators report it through Blender.
"""
import os
import sys

import bpy

from . import ddpm_plugin

LIBRARY_FILE = {"win32": "ddpm_plugin.dll", "darwin": "libddpm_plugin.dylib"}.get(
    sys.platform, "libddpm_plugin.so")
BUNDLED_MODEL = os.path.join("models", "emoji32.safetensors")

_library = None      # (path, ddpm_plugin.Library)
_models = {}         # absolute path -> ((mtime, size, device), ddpm_plugin.Model, its info dict)
_model_errors = {}   # absolute path -> ((mtime, size) or None, message): not retried every redraw


class UserError(Exception):
    """A problem the user can fix; the message says which."""


def addon_dir():
    return os.path.dirname(os.path.abspath(__file__))


def preferences(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def library_path(context=None):
    """The preferences' path when set (it must exist), else the library beside the add-on."""
    prefs = preferences(context)
    configured = bpy.path.abspath(prefs.library_path) if prefs and prefs.library_path else ""
    if configured:
        if not os.path.isfile(configured):
            raise UserError("DDPM plugin library not found: %s (Preferences > Add-ons > DDPM "
                            "Textures > Library)" % configured)
        return configured
    beside = os.path.join(addon_dir(), LIBRARY_FILE)
    if os.path.isfile(beside):
        return beside
    raise UserError("DDPM plugin library not found: set its path in Preferences > Add-ons > DDPM "
                    "Textures, or install the add-on zip that carries %s" % LIBRARY_FILE)


def library(context=None):
    global _library
    path = library_path(context)
    if _library and _library[0] == path:
        return _library[1]
    try:
        lib = ddpm_plugin.Library(path)
    except OSError as e:  # a missing dependency (LibTorch) or a file that is no library
        raise UserError("cannot load the DDPM plugin %s: %s" % (path, e)) from None
    except ddpm_plugin.DDPMError as e:  # the binding's ABI check
        raise UserError("the DDPM plugin %s does not match this add-on: %s" % (path, e)) from None
    prefs = preferences(context)
    if prefs and prefs.threads:
        lib.set_threads(prefs.threads)
    _library = (path, lib)
    return lib


def model_path(setting):
    """The absolute model path of a panel setting; empty means the model bundled with the add-on."""
    if setting:
        return os.path.abspath(bpy.path.abspath(setting))
    return os.path.join(addon_dir(), BUNDLED_MODEL)


def _stamp(path):
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return None


def model(setting, context=None):
    """The loaded model of a panel setting, reloaded when the file changed (after a fine-tune)."""
    return _entry(setting, context)[1]


def model_info(setting, context=None):
    return _entry(setting, context)[2]


def device(context=None):
    prefs = preferences(context)
    return prefs.device if prefs else "cpu"


def device_changed(_prefs, _context):
    """A new device preference: models load again there on their next use."""
    _model_errors.clear()


def _entry(setting, context):
    path = model_path(setting)
    file_stamp = _stamp(path)
    if file_stamp is None:
        raise UserError("model file not found: %s" % path)
    stamp = file_stamp + (device(context),)
    cached = _models.get(path)
    if cached and cached[0] == stamp:
        return cached
    lib = library(context)
    try:
        loaded = lib.load_model(path, device=stamp[2])
    except ddpm_plugin.DDPMError as e:
        raise UserError("cannot load model %s: %s" % (path, e)) from None
    if cached:
        cached[1].close()  # running jobs keep their model alive inside the plugin
    _models[path] = (stamp, loaded, loaded.info())
    _model_errors.pop(path, None)
    return _models[path]


def class_names(setting):
    """The model's class names, or None while it cannot be loaded (cheap: called on redraw)."""
    path = model_path(setting)
    failed = _model_errors.get(path)
    if failed and failed[0] == _stamp(path):
        return None
    try:
        return model_info(setting).get("class_names") or []
    except UserError as e:
        _model_errors[path] = (_stamp(path), str(e))
        return None


def model_error(setting):
    """Why the model of a setting cannot be loaded (after class_names returned None)."""
    failed = _model_errors.get(model_path(setting))
    return failed[1] if failed else None


def preferences_changed(_prefs, _context):
    """A new library path: the next generation loads the library and its models again."""
    forget_models()


def forget_models():
    """Frees every loaded model (add-on disabled)."""
    global _library
    for _, loaded, _ in _models.values():
        loaded.close()
    _models.clear()
    _model_errors.clear()
    _library = None

-- The plugin through LuaJIT's FFI: declarations from ddpm_cdef.lua (generated from the C header),
-- library and model checks with messages a user can act on, and a small stream wrapper.
-- Every function that can fail returns nil and a message instead of raising.
local ffi = require("ffi")
local header = require("ddpm_cdef")

ffi.cdef(header.cdef)

local M = {}

local function last_error(lib, status)
  local message = ffi.string(lib.ddpm_last_error())
  if message == "" then message = ffi.string(lib.ddpm_status_string(status)) end
  return message
end

-- Opens the library at `path` and checks that it is the plugin with this header's ABI.
function M.open(path)
  local f = io.open(path, "rb")
  if not f then return nil, "no plugin library at " .. path end
  f:close()
  local ok, lib = pcall(ffi.load, path)
  if not ok then return nil, "cannot load " .. path .. ": " .. tostring(lib) end
  local has, abi = pcall(function() return lib.ddpm_abi_version() end)
  if not has then return nil, path .. " is not libddpm_plugin (no ddpm_abi_version)" end
  if abi ~= header.abi_version then
    return nil, string.format("%s has ABI version %d; this game was made for version %d: "
      .. "rebuild the plugin from the same sources, or regenerate ddpm_cdef.lua", path, abi,
      header.abi_version)
  end
  return { lib = lib }
end

-- Loads a model on `device` (nil: the CPU): its size and class names, or nil and the plugin's
-- message.
function M.load_model(plugin, path, device)
  local lib = plugin.lib
  local out = ffi.new("ddpm_model*[1]")
  local params = ffi.new("ddpm_model_params")
  lib.ddpm_model_params_init(params, ffi.sizeof(params))
  params.device = device  -- a Lua string stays alive for the call
  local status = lib.ddpm_model_load_ex(path, params, out)
  if status ~= 0 then return nil, last_error(lib, status) end
  local model = ffi.gc(out[0], lib.ddpm_model_free)
  local w, h = ffi.new("int[1]"), ffi.new("int[1]")
  lib.ddpm_model_get_shape(model, w, h, nil, nil, nil)
  local json = ffi.new("char*[1]")
  status = lib.ddpm_model_info_json(model, json)
  if status ~= 0 then return nil, last_error(lib, status) end
  local info = ffi.string(json[0])
  lib.ddpm_string_free(json[0])
  -- The info is JSON; only the class names are needed, a flat list of strings.
  local names = {}
  local list = info:match('"class_names"%s*:%s*%[(.-)%]') or ""
  for name in list:gmatch('"(.-)"') do names[#names + 1] = name end
  return { handle = model, width = w[0], height = h[0], class_names = names }
end

local Stream = {}
Stream.__index = Stream

-- Opens a stream; options are fields of ddpm_stream_params (sampler_name a string).
function M.open_stream(plugin, model, options)
  local lib = plugin.lib
  local params = ffi.new("ddpm_stream_params")
  lib.ddpm_stream_params_init(params, ffi.sizeof(params))
  for key, value in pairs(options) do params[key] = value end
  local out = ffi.new("ddpm_stream*[1]")
  local status = lib.ddpm_stream_open(model.handle, params, out)
  if status ~= 0 then return nil, last_error(lib, status) end
  local self = setmetatable({ lib = lib, handle = out[0], model = model }, Stream)
  self.info = ffi.new("ddpm_stream_frame")
  self.info.struct_size = ffi.sizeof(self.info)
  self.stats_buf = ffi.new("ddpm_stream_stats")
  self.stats_buf.struct_size = ffi.sizeof(self.stats_buf)
  return self
end

function Stream:check(status)
  if status ~= 0 then return nil, last_error(self.lib, status) end
  return true
end

-- Starts the plugin's own worker thread (0: as fast as it can).
function Stream:run(target_fps) return self:check(self.lib.ddpm_stream_run(self.handle, target_fps)) end
function Stream:pause() return self:check(self.lib.ddpm_stream_pause(self.handle)) end
function Stream:set_class(index) return self:check(self.lib.ddpm_stream_set_class(self.handle, index, 1)) end
function Stream:set_guidance(g) return self:check(self.lib.ddpm_stream_set_guidance(self.handle, g, 1)) end
function Stream:set_seed_path(path, seed, period)
  return self:check(self.lib.ddpm_stream_set_seed_path(self.handle, path, seed, period))
end

-- Copies the latest frame (RGBA bytes, rows top to bottom, as LOVE's ImageData) into `pointer`;
-- returns its description, or nil before the first frame.
function Stream:read_rgba8(pointer, bytes)
  local status = self.lib.ddpm_stream_read_frame_rgba8(self.handle, ffi.cast("uint8_t*", pointer),
                                                       bytes, self.info)
  if status == 8 then return nil end
  local ok, message = self:check(status)
  if not ok then return nil, message end
  return self.info
end

function Stream:stats()
  self.lib.ddpm_stream_get_stats(self.handle, self.stats_buf)
  return self.stats_buf
end

function Stream:close()
  if self.handle ~= nil then self.lib.ddpm_stream_close(self.handle) end
  self.handle = nil
end

return M

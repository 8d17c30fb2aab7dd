-- Command-line options (after the game folder: love engines/love --class smileys ...) and where
-- the library and the model are looked for when they are not given.
local Options = {}

local USAGE = [[
love GAME_DIR [options]
  --library PATH     libddpm_plugin.so (default: $DDPM_PLUGIN_LIBRARY, then beside the game,
                     then the repository's build/plugin/)
  --model PATH       model file (default: model.safetensors beside the game, then the
                     repository's assets/emoji32/model.safetensors)
  --device NAME      where the model runs: cpu (default), cuda, cuda:N or auto
  --no-student       stream with the model itself, not its Live student (MODEL.student.safetensors
                     or student.safetensors beside it: one network image a stage, not two)
  --class NAME       starting class (default: the first)
  --seed N           seed of the stream's seed path (default 1)
  --seed-path P      walk (default), new or fixed
  --steps N          stages in flight (default 8)
  --guidance G       classifier-free guidance (default 3)
  --threads N        the stream's threads (default: processors - 1, at least 1)
  --frames N         scripted: run N frames after the first sprite arrived, then quit
  --screenshot FILE  scripted: save the last frame as PNG before quitting
  --switch-to NAME   scripted: switch to this class once the first sprite is on screen (as
                     the number keys do) and run until the switch reached the screen
  --autoplay         the basket plays by itself (on in scripted mode)]]

local NUMBERS = { seed = true, steps = true, guidance = true, threads = true, frames = true }
local STRINGS = { library = true, model = true, device = true, class = true, ["seed-path"] = true,
                  screenshot = true, ["switch-to"] = true }

-- ddpm_seed_path's values and their names on the command line and on screen.
Options.SEED_PATHS = { [0] = "fixed", "walk", "new" }

-- Returns the options table, or nil and a message.
function Options.parse(args)
  local o = { seed = 1, ["seed-path"] = "walk", steps = 8, guidance = 3 }
  local i = 1
  while i <= #args do
    local key = args[i]:match("^%-%-(.+)$")
    if not key then return nil, "unexpected argument '" .. args[i] .. "'\n" .. USAGE end
    if key == "autoplay" then
      o.autoplay = true
      i = i + 1
    elseif key == "no-student" then
      o.no_student = true
      i = i + 1
    elseif key == "help" then
      return { help = USAGE }
    else
      local value = args[i + 1]
      if not (STRINGS[key] or NUMBERS[key]) then return nil, "unknown option --" .. key .. "\n" .. USAGE end
      if value == nil then return nil, "--" .. key .. " needs a value" end
      if NUMBERS[key] then
        value = tonumber(value)
        if not value then return nil, "--" .. key .. " needs a number, not '" .. args[i + 1] .. "'" end
      end
      o[key] = value
      i = i + 2
    end
  end
  for value, name in pairs(Options.SEED_PATHS) do
    if name == o["seed-path"] then o.seed_path = value end
  end
  if not o.seed_path then return nil, "--seed-path must be walk, new or fixed" end
  if o.frames and o.frames < 1 then return nil, "--frames must be at least 1" end
  o.scripted = o.frames ~= nil
  o.autoplay = o.autoplay or o.scripted
  return o
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The folder the game was started from (its folder, or the folder holding a .love file).
local function game_dir()
  local source = love.filesystem.getSource()
  if source:match("%.love$") then return love.filesystem.getSourceBaseDirectory() end
  return source
end

-- The first candidate that exists, or the first one (so the message names a path) and the list.
local function first(candidates)
  for _, path in ipairs(candidates) do
    if exists(path) then return path, candidates end
  end
  return candidates[1], candidates
end

function Options.library(o)
  if o.library then return o.library, { o.library } end
  local dir = game_dir()
  local env = os.getenv("DDPM_PLUGIN_LIBRARY")
  local list = {}
  if env and env ~= "" then list[#list + 1] = env end
  list[#list + 1] = dir .. "/libddpm_plugin.so"
  list[#list + 1] = dir .. "/../../build/plugin/libddpm_plugin.so"
  return first(list)
end

-- The model's Live student, as the studio looks for it: MODEL.student.safetensors, else the
-- folder's student.safetensors; nil when there is none (or --no-student).
function Options.student(o, model_path)
  if o.no_student then return nil end
  local own = model_path:gsub("%.safetensors$", "") .. ".student.safetensors"
  local shared = (model_path:match("^(.*)/[^/]*$") or ".") .. "/student.safetensors"
  if exists(own) then return own end
  if shared ~= model_path and exists(shared) then return shared end
  return nil
end

function Options.model(o)
  if o.model then return o.model, { o.model } end
  local dir = game_dir()
  return first({ dir .. "/model.safetensors", dir .. "/../../assets/emoji32/model.safetensors" })
end

return Options

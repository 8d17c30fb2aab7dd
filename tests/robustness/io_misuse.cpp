// The torch-free rows of docs/robustness.md: hostile bytes and misuse given straight to the
// core/io readers (what the unit tests of tests/unit try, in brief), each of which must be
// refused with a ddpm::Error that names the input. Prints one markdown row per case; exit
// status 1 when a case is accepted, throws anything else, or gives a message without the name.
//   io_misuse SOURCE_DIR
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "ddpm/io/asset_folder.h"
#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/io/model_info.h"
#include "ddpm/io/pickle_reader.h"
#include "ddpm/io/png.h"
#include "ddpm/io/safetensors.h"
#include "ddpm/io/torch_checkpoint.h"
#include "ddpm/io/zip_reader.h"

using namespace ddpm::io;
namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

int g_rows = 0, g_bad = 0;
std::string g_tmp;  // replaced by <tmp> in the messages printed

void row(const std::string& area, const std::string& what, const std::string& name,
         const std::function<void()>& f) {
  std::string msg, status;
  try {
    f();
    status = "accepted **(unexpected)**";
    ++g_bad;
  } catch (const ddpm::Error& e) {
    msg = e.what();
    status = "ddpm::Error";
    if (msg.find(name) == std::string::npos) {
      status += " **(does not name '" + name + "')**";
      ++g_bad;
    }
  } catch (const std::exception& e) {
    msg = e.what();
    status = "other exception **(unexpected)**";
    ++g_bad;
  }
  for (std::size_t at; !g_tmp.empty() && (at = msg.find(g_tmp)) != std::string::npos;) {
    msg.replace(at, g_tmp.size(), "<tmp>");
  }
  std::string clean;
  for (const char c : msg) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '|') clean += "\\|";
    else if (c == '\n') clean += ' ';
    else if (u < 0x20 || u >= 0x7f) {  // bytes of the hostile input quoted in the message
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      clean += hex;
    } else clean += c;
  }
  if (clean.size() > 300) clean = clean.substr(0, 297) + "...";
  std::printf("| %s | %s | %s | %s |\n", area.c_str(), what.c_str(), status.c_str(), clean.c_str());
  ++g_rows;
}

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes safetensors_of(const std::string& header, std::size_t data, std::uint64_t length = ~0ull) {
  Bytes b(8);
  const std::uint64_t n = length == ~0ull ? header.size() : length;
  for (int i = 0; i < 8; ++i) b[i] = std::uint8_t(n >> (8 * i));
  b.insert(b.end(), header.begin(), header.end());
  b.resize(b.size() + data, 0);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: io_misuse SOURCE_DIR\n");
    return 2;
  }
  const std::string src = argv[1];
  const auto read = [&](const std::string& rel) { return read_file(src + "/" + rel, 1 << 24); };
  const fs::path tmp = fs::temp_directory_path() / ("ddpm_io_misuse_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  g_tmp = tmp.string();

  // --- safetensors (model files and training checkpoints) ---
  const auto st = [&](const std::string& what, const Bytes& b) {
    row("safetensors", what, "m.safetensors", [&] { parse_safetensors(b.data(), b.size(), "m.safetensors"); });
  };
  const std::string e = R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  st("3-byte file", {1, 0, 0});
  st("header length 2^64-2", safetensors_of("{}", 0, ~0ull - 1));
  st("header length past the end", safetensors_of("{}", 0, 3000));
  st("header that is a JSON array", safetensors_of("[1,2]", 0));
  st("5000 nested arrays", safetensors_of(std::string(5000, '[') + std::string(5000, ']'), 0));
  st("truncated JSON", safetensors_of("{\"a\":", 0));
  st("unknown dtype F33", safetensors_of(R"({"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4));
  st("negative shape", safetensors_of(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,4]}})", 4));
  st("shape whose byte count overflows 64 bits",
     safetensors_of(R"({"a":{"dtype":"U8","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,4]}})", 4));
  st("17 dimensions", safetensors_of(R"({"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})", 1));
  st("offsets past the data", safetensors_of(R"({"a":{"dtype":"F32","shape":[25],"data_offsets":[0,100]}})", 8));
  st("offsets that disagree with the shape", safetensors_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4));
  st("two tensors sharing bytes", safetensors_of("{" + e + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", 6));
  st("bytes that belong to no tensor", safetensors_of("{" + e + "}", 8));
  st("a tensor named twice", safetensors_of("{" + e + "," + e + "}", 4));
  st("an unknown tensor field", safetensors_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4));
  st("a metadata value that is not a string", safetensors_of(R"({"__metadata__":{"k":1}})", 0));
  st("invalid UTF-8 in the header", safetensors_of("{\"a\":{\"dtype\":\"\xff\"}}", 0));

  // --- model description JSON (in every model file and training checkpoint) ---
  const auto good = read("tests/fuzz/corpus/model_json/emoji32.json");
  const std::string info(good.begin(), good.end());
  const auto mj = [&](const std::string& what, const std::string& from, const std::string& to) {
    std::string t = info;
    if (!from.empty()) t.replace(t.find(from), from.size(), to);
    row("model JSON", what, "m.safetensors", [&] { model_info_from_json(t, "m.safetensors"); });
  };
  mj("not JSON", "{", "");
  mj("in_channels 1e300", "\"in_channels\": 4", "\"in_channels\": 1e300");
  mj("time_dim 128.5", "\"time_dim\": 128", "\"time_dim\": 128.5");
  mj("time_dim \"128\"", "\"time_dim\": 128", "\"time_dim\": \"128\"");
  mj("guidance 1e300", "\"guidance\": 3.0", "\"guidance\": 1e300");
  mj("training_step -5", "\"training_step\": ", "\"training_step\": -5, \"x\": ");
  mj("image_size 33", "\"image_size\": 32", "\"image_size\": 33");
  mj("num_classes 4 with 9 names", "\"num_classes\": 9", "\"num_classes\": 4");
  mj("attention_heads 3 (divides no width)", "\"attention_heads\": 4", "\"attention_heads\": 3");
  std::string ones;
  for (int k = 0; k < 65; ++k) ones += "1,";
  mj("channel_mult of 65 more entries", "\"channel_mult\": [", "\"channel_mult\": [" + ones);
  mj("schedule kind \"sigmoid\"", "\"linear\"", "\"sigmoid\"");
  mj("a class name of 300 characters", "\"activities\"", "\"" + std::string(300, 'x') + "\"");
  mj("weights \"both\"", "\"ema\"", "\"both\"");
  mj("format_version 2", "\"format_version\": 1", "\"format_version\": 2");
  mj("nested 100000 deep", "\"unet\": {", "\"deep\": " + std::string(100000, '[') + ", \"unet\": {");
  row("model JSON", "a safetensors file without a description", "m.safetensors",
      [&] { model_info_from_metadata({{"format", "ddpm-realtime"}}, "m.safetensors"); });

  // --- PyTorch .pt: zip, pickle, legacy ---
  const auto pt = [&](const std::string& what, const Bytes& b) {
    row("PyTorch .pt", what, "x.pt", [&] { parse_torch_checkpoint(b.data(), b.size(), "x.pt"); });
  };
  for (const char* f : {"os_system.pt", "not_a_tensor.pt", "beyond_storage.pt", "truncated_storage.pt"}) {
    const std::string name = std::string("fixture ") + f;
    pt(name, read(std::string("tests/fixtures/torch/") + f));
  }
  const Bytes mixed = read("tests/fixtures/torch/mixed.pt");
  pt("zip cut in half", Bytes(mixed.begin(), mixed.begin() + std::ptrdiff_t(mixed.size() / 2)));
  {
    Bytes flipped = mixed;
    const ZipArchive z = parse_zip(mixed.data(), mixed.size(), "mixed.pt");
    flipped[z.find("mixed/data/0")->offset + 1] ^= 0x40;
    pt("zip with a flipped data bit (CRC)", flipped);
    std::size_t eocd = mixed.size() - 22;
    while (!(mixed[eocd] == 'P' && mixed[eocd + 1] == 'K' && mixed[eocd + 2] == 5 && mixed[eocd + 3] == 6)) --eocd;
    const std::size_t cd = mixed[eocd + 16] | mixed[eocd + 17] << 8 | mixed[eocd + 18] << 16 | std::size_t(mixed[eocd + 19]) << 24;
    Bytes deflated = mixed;
    deflated[cd + 10] = 8;
    pt("zip with a compressed entry", deflated);
    Bytes zip64 = mixed;
    zip64[eocd + 16] = zip64[eocd + 17] = zip64[eocd + 18] = zip64[eocd + 19] = 0xff;
    pt("zip64 end record", zip64);
  }
  const Bytes legacy = read("tests/fixtures/torch/mixed_legacy.pt");
  pt("legacy file missing its last 3 bytes", Bytes(legacy.begin(), legacy.end() - 3));
  pt("legacy file cut inside a pickle", Bytes(legacy.begin(), legacy.begin() + 300));
  pt("a tar archive (PyTorch < 0.4)", [] { Bytes b(600, 0); std::copy_n("ustar", 5, b.begin() + 257); return b; }());
  pt("text", bytes_of("hello, not a checkpoint"));
  const auto pk = [&](const std::string& what, const std::string& p) {
    const Bytes b = bytes_of(p);
    row("pickle", what, "p.pkl", [&] { read_pickle(b.data(), b.size(), {"collections.OrderedDict"}, "p.pkl"); });
  };
  pk("GLOBAL builtins.eval", "\x80\x02" "cbuiltins\neval\n.");
  pk("STACK_GLOBAL os.system", "\x80\x04\x8c\x02os\x8c\x06system\x93.");
  pk("INST opcode", "\x80\x02(ios\nsystem\n.");
  pk("protocol 9", "\x80\x09N.");
  pk("1025 nested MARKs", "\x80\x02" + std::string(1025, '(') + ".");
  pk("string length 2^63", std::string("\x80\x04\x8d", 3) + std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + ".");
  pk("memo key never stored", "\x80\x02h\x07.");
  pk("POP on an empty stack", "\x80\x02" "0.");
  pk("no STOP", "\x80\x02N");

  // --- images ---
  const auto im = [&](const std::string& what, const Bytes& b) {
    row("image", what, "i.png", [&] { decode_image(b.data(), b.size(), "i.png"); });
  };
  im("empty file", {});
  im("text", bytes_of("not an image"));
  im("PNG cut in half", [&] { Bytes b = read("tests/fuzz/corpus/image/rgba.png"); b.resize(b.size() / 2); return b; }());
  im("PNG declaring 9000x9000", [&] {
    Bytes b = read("tests/fuzz/corpus/image/rgba.png");
    b[16] = 0, b[17] = 0, b[18] = 0x23, b[19] = 0x28, b[20] = 0, b[21] = 0, b[22] = 0x23, b[23] = 0x28;
    return b;
  }());
  im("69-byte PNG declaring 8192x8192", read("tests/fuzz/corpus/image/regress_forged_size.png"));
  im("JPEG with a 512-code Huffman table", read("tests/fuzz/corpus/image/regress_jpeg_dht_overflow.jpg"));
  im("Photoshop PSD", bytes_of(std::string("8BPS\0\1\0\0\0\0\0\0\0\3", 14)));
  im("binary PPM", bytes_of(std::string("P6\n2 1\n255\n\1\2\3\4\5\6", 17)));
  im("Radiance HDR", bytes_of("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\n\x80\x80\x80\x80"));
  row("image", "a file that does not exist", "missing.png", [&] { read_image((tmp / "missing.png").string()); });
  row("image", "a folder", "ddpm_io_misuse", [&] { read_image(tmp.string()); });

  // --- files, folders, saves ---
  row("files", "read a missing file", "nope.bin", [&] { read_file((tmp / "nope.bin").string(), 100); });
  {
    std::ofstream(tmp / "big.bin") << std::string(200, 'x');
    row("files", "read a file over its size limit", "big.bin", [&] { read_file((tmp / "big.bin").string(), 100); });
  }
  row("files", "atomic write into a missing folder", "no_dir", [&] {
    write_file_atomic((tmp / "no_dir" / "m.safetensors").string(), Bytes{1});
  });
  row("files", "atomic write over a folder", "ddpm_io_misuse", [&] { write_file_atomic(tmp.string(), Bytes{1}); });
  row("files", "atomic write with an empty path", "empty path", [&] { write_file_atomic("", Bytes{1}); });
  row("asset folder", "missing folder", "no_assets", [&] { load_asset_folder((tmp / "no_assets").string()); });
  row("asset folder", "a file, not a folder", "big.bin", [&] { load_asset_folder((tmp / "big.bin").string()); });
  row("asset folder", "no class subfolders", "ddpm_io_misuse", [&] { load_asset_folder(tmp.string()); });
  {
    fs::create_directories(tmp / "assets" / "cls");
    std::ofstream(tmp / "assets" / "cls" / "a.png") << "not a png";
    row("asset folder", "a class whose only file does not decode", "assets",
        [&] { load_asset_folder((tmp / "assets").string()); });
    AssetFolderOptions o;
    o.size = 100000;
    row("asset folder", "image size 100000", "100000", [&] { load_asset_folder((tmp / "assets").string(), o); });
  }
  fs::remove_all(tmp);
  std::fprintf(stderr, "io_misuse: %d rows, %d unexpected\n", g_rows, g_bad);
  return g_bad ? 1 : 0;
}

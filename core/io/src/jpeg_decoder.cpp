#include "jpeg_decoder.h"

// jpeglib.h uses FILE and size_t without including their headers.
#include <cstdio>
#include <csetjmp>
#include <cstring>
#include <vector>

#include <jerror.h>
#include <jpeglib.h>

#include "decode_limits.h"
#include "ddpm/io/error.h"

namespace ddpm::io::detail {
namespace {

// A progressive file may hold any number of scans, each a pass over the whole image: a few KB
// of them cost minutes of CPU (libjpeg-turbo's own fuzzers bound them the same way).
constexpr int kMaxScans = 500;
// Warnings libjpeg recovers from by guessing pixels: the file is damaged, and a damaged
// training image is worse than a missing one.
constexpr int kCorruptionWarnings[] = {JWRN_HIT_MARKER, JWRN_JPEG_EOF, JWRN_MUST_RESYNC,
                                       JWRN_NOT_SEQUENTIAL, JWRN_BOGUS_PROGRESSION,
                                       JWRN_HUFF_BAD_CODE};
// Backing-store budget for progressive coefficient buffers (libjpeg errors past it).
constexpr long kMaxDecoderMemory = 512L << 20;

// libjpeg reports errors through a callback that must not return: it jumps back to decode_jpeg,
// which throws from there (no exception crosses libjpeg's C frames).
struct ErrorManager {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  for (int code : kCorruptionWarnings) {
    if (cinfo->err->msg_code == code) fail(cinfo);
  }
}

void on_progress(j_common_ptr cinfo) {
  const auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxScans) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message, "more than %d progressive scans", kMaxScans);
    std::longjmp(err->jump, 1);
  }
}

// Adobe writes CMYK inverted (0 = full ink); other writers do not.
void cmyk_to_rgb(const std::uint8_t* cmyk, std::uint8_t* rgb, int n, bool inverted) {
  for (int i = 0; i < n; ++i, cmyk += 4, rgb += 3) {
    const int k = inverted ? cmyk[3] : 255 - cmyk[3];
    for (int c = 0; c < 3; ++c) {
      const int v = inverted ? cmyk[c] : 255 - cmyk[c];
      rgb[c] = std::uint8_t((v * k + 127) / 255);
    }
  }
}

// Owns the decompressor, so that every way out (return, throw, longjmp then throw) frees it.
struct Decompressor {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  jpeg_progress_mgr progress;
  volatile bool created = false;  // set after setjmp, read after a longjmp
  ~Decompressor() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

}  // namespace

Image decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name) {
  Decompressor d;
  Image out;
  std::vector<std::uint8_t> row;
  jpeg_decompress_struct& cinfo = d.cinfo;
  cinfo.err = jpeg_std_error(&d.err.mgr);
  d.err.mgr.error_exit = fail;
  d.err.mgr.emit_message = on_message;
  d.err.message[0] = '\0';
  d.progress.progress_monitor = on_progress;
  // libjpeg's errors land here. Only libjpeg's C frames lie between, and every C++ object of
  // this function was constructed before this point, so the jump skips no destructor.
  if (setjmp(d.err.jump)) {
    throw Error("image '" + name + "' cannot be decoded: corrupt JPEG (" + d.err.message + ")");
  }
  jpeg_create_decompress(&cinfo);
  d.created = true;
  cinfo.progress = &d.progress;
  cinfo.mem->max_memory_to_use = kMaxDecoderMemory;
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  if (cinfo.num_components != 1 && cinfo.num_components != 3 && !cmyk) {
    throw Error("image '" + name + "' is a JPEG with " + std::to_string(cinfo.num_components) +
                " components: only gray, colour and CMYK files are read");
  }
  check_declared_size(cinfo.image_width, cinfo.image_height, size, name);
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const int w = int(cinfo.output_width);
  const int c = cinfo.num_components == 1 ? 1 : 3;
  out = Image(w, int(cinfo.output_height), c);
  row.resize(std::size_t(w) * cinfo.output_components);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW rows[1] = {row.data()};
    const int y = int(cinfo.output_scanline);
    jpeg_read_scanlines(&cinfo, rows, 1);
    if (cmyk) {
      cmyk_to_rgb(row.data(), out.at(0, y), w, cinfo.saw_Adobe_marker);
    } else {
      std::memcpy(out.at(0, y), row.data(), std::size_t(w) * c);
    }
  }
  jpeg_finish_decompress(&cinfo);
  return out;
}

}  // namespace ddpm::io::detail

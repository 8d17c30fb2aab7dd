#include "direct_conv.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#ifdef DDPM_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace ddpm {

#ifdef DDPM_WITH_ONEDNN

namespace {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// A weight reordered into a kernel's layout, and which tensor and version it was made from.
struct Reordered {
  dnnl::memory weights;
  const void* data = nullptr;
  uint32_t version = 0;
  bool from(const torch::Tensor& w, uint32_t v) const { return data == w.data_ptr() && version == v; }
};

// One shape's primitive with the weight in the layout it chose. Entries are never changed once
// made (a changed weight makes a new one), so a call may run one while another thread replaces it.
struct Entry {
  std::optional<dnnl::convolution_forward> primitive;  // empty: reference kernel only
  Reordered weight;
  dnnl::memory::desc scratchpad;
};

// batch, channels, height, width, outputs, kernel, pad, bfloat16
using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;

}  // namespace

struct DirectConv::Impl {
  std::mutex mutex;  // jobs and a split forward's parts share one model
  std::map<Key, std::shared_ptr<const Entry>> entries;
  // The reordered weights, shared by the batch sizes whose kernels want the same layout (a
  // split forward's parts come in many sizes; one copy each would hold the weight many times).
  std::vector<Reordered> weights;

  Reordered weight_for(const dnnl::memory::desc& desc, const torch::Tensor& weight, uint32_t version) {
    for (const Reordered& w : weights) {
      if (w.weights.get_desc() == desc && w.from(weight, version)) return w;
    }
    weights.erase(std::remove_if(weights.begin(), weights.end(),
                                 [&](const Reordered& w) { return w.weights.get_desc() == desc; }),  // stale
                  weights.end());
    const dnnl::memory::dims dims = desc.dims();
    const torch::Tensor plain = weight.detach().to(torch::kFloat32).contiguous();
    dnnl::memory user({dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::oihw}, cpu_engine(),
                      plain.data_ptr());
    Reordered made{dnnl::memory(desc, cpu_engine()), weight.data_ptr(), version};
    dnnl::stream s(cpu_engine());
    dnnl::reorder(user, made.weights).execute(s, user, made.weights);
    s.wait();
    weights.push_back(made);
    return made;
  }
};

DirectConv::DirectConv() : impl_(std::make_unique<Impl>()) {}
DirectConv::~DirectConv() = default;
bool DirectConv::available() { return true; }

std::size_t DirectConv::weight_copies() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->weights.size();
}

std::optional<torch::Tensor> DirectConv::run(const torch::Tensor& input, const torch::Tensor& weight, int64_t pad) {
  using dnnl::memory;
  const bool bf16 = input.scalar_type() == torch::kBFloat16;
  if (!channels_last(input) || !input.device().is_cpu() || (!bf16 && input.scalar_type() != torch::kFloat32) ||
      weight.dim() != 4 || weight.size(1) != input.size(1) || weight.size(2) != weight.size(3)) {
    return std::nullopt;
  }
  const int64_t B = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const int64_t O = weight.size(0), k = weight.size(2);
  const int64_t Ho = H + 2 * pad - k + 1, Wo = W + 2 * pad - k + 1;
  if (Ho < 1 || Wo < 1) return std::nullopt;
  const uint32_t version = weight.is_inference() ? 0 : weight._version();
  const memory::data_type type = bf16 ? memory::data_type::bf16 : memory::data_type::f32;

  std::shared_ptr<const Entry> entry;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto& slot = impl_->entries[Key{B, C, H, W, O, k, pad, bf16}];
    if (!slot || !slot->weight.from(weight, version)) {
      auto made = std::make_shared<Entry>();
      made->weight = Reordered{{}, weight.data_ptr(), version};  // marks a declined shape as seen for this weight
      try {
        const memory::desc src({B, C, H, W}, type, memory::format_tag::nhwc);
        const memory::desc dst({B, O, Ho, Wo}, type, memory::format_tag::nhwc);
        const memory::desc wei_any({O, C, k, k}, type, memory::format_tag::any);
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // concurrent calls each bring their own
        const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                                   dnnl::algorithm::convolution_direct, src, wei_any, dst, {1, 1},
                                                   {pad, pad}, {pad, pad});
        const dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu_engine());
        const std::string impl = pd.impl_info_str();
        if (impl.rfind("ref", 0) != 0 && impl.find("gemm:") == std::string::npos) {
          made->weight = impl_->weight_for(pd.weights_desc(), weight, version);
          made->scratchpad = pd.scratchpad_desc();
          made->primitive.emplace(pd);
        }
      } catch (const dnnl::error&) {
        made->primitive.reset();  // a shape oneDNN refuses: LibTorch's path, as for a reference kernel
      }
      slot = std::move(made);
    }
    entry = slot;
  }
  if (!entry->primitive) return std::nullopt;

  torch::Tensor out = torch::empty({B, O, Ho, Wo}, input.options().memory_format(at::MemoryFormat::ChannelsLast));
  torch::Tensor scratch =
      torch::empty({static_cast<int64_t>(entry->scratchpad.get_size())}, input.options().dtype(torch::kUInt8));
  const memory src({{B, C, H, W}, type, memory::format_tag::nhwc}, cpu_engine(), input.data_ptr());
  const memory dst({{B, O, Ho, Wo}, type, memory::format_tag::nhwc}, cpu_engine(), out.data_ptr());
  const memory scratchpad(entry->scratchpad, cpu_engine(), scratch.data_ptr());
  static thread_local dnnl::stream stream(cpu_engine());
  entry->primitive->execute(stream, {{DNNL_ARG_SRC, src},
                                     {DNNL_ARG_WEIGHTS, entry->weight.weights},
                                     {DNNL_ARG_DST, dst},
                                     {DNNL_ARG_SCRATCHPAD, scratchpad}});
  stream.wait();
  return out;
}

#else  // built without oneDNN's headers: LibTorch's path everywhere

struct DirectConv::Impl {};
DirectConv::DirectConv() = default;
DirectConv::~DirectConv() = default;
bool DirectConv::available() { return false; }
std::size_t DirectConv::weight_copies() const { return 0; }
std::optional<torch::Tensor> DirectConv::run(const torch::Tensor&, const torch::Tensor&, int64_t) {
  return std::nullopt;
}

#endif

}  // namespace ddpm

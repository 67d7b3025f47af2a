#include "quantizer/pack/pack_model.h"

#include <map>

#include "base/error.h"
#include "base/checked_math.h"

namespace sop {

namespace {

class PackModelReader : public ModelReader {
 public:
  explicit PackModelReader(PackFile pack) : pack_(std::move(pack)) {
    for (std::size_t i = 0; i < pack_.layers().size(); ++i) layer_of_[pack_.layers()[i].name] = i;
    for (std::size_t i = 0; i < pack_.tensors().size(); ++i) tensor_of_[pack_.tensors()[i].name] = i;
    // Source order, from the model section (PackFile::open checked it agrees with the sections).
    for (const auto& t : pack_.info().tensors) {
      if (t.stored == PackedAs::Omitted) continue;
      TensorInfo info;
      info.name = t.name;
      info.dtype = DType::F32;
      info.dtype_label = "F32";
      if (t.stored == PackedAs::Quantized) {
        const PackedLayerView& l = pack_.layers()[layer_of_.at(t.name)];
        info.shape = t.shape;
        // A quantized matrix's recorded shape must hold exactly its rows x cols weights.
        uint64_t count = 0;
        if (t.shape.empty() || !detail::checked_element_count(t.shape.data(), t.shape.size(), &count) ||
            count != static_cast<uint64_t>(l.rows * l.cols)) {
          throw Error(pack_.path(), "MODL section: " + t.name, "shape does not match the layer's rows x cols");
        }
      } else {
        info.shape = pack_.tensors()[tensor_of_.at(t.name)].shape;
      }
      tensors_.push_back(std::move(info));
    }
  }

  const std::string& path() const override { return pack_.path(); }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }

  Tensor read(const std::string& name) const override {
    Tensor t;
    t.name = name;
    if (const auto it = layer_of_.find(name); it != layer_of_.end()) {
      const PackedLayerView& l = pack_.layers()[it->second];
      t.values = dequantize_layer(l);
      for (const auto& info : tensors_) {
        if (info.name == name) t.shape = info.shape;
      }
      return t;
    }
    if (const auto it = tensor_of_.find(name); it != tensor_of_.end()) {
      const PackedTensorView& v = pack_.tensors()[it->second];
      t.shape = v.shape;
      t.values = tensor_values(v);
      return t;
    }
    throw Error(pack_.path(), name, "no such tensor in the pack");
  }

 private:
  PackFile pack_;
  std::map<std::string, std::size_t> layer_of_;
  std::map<std::string, std::size_t> tensor_of_;
  std::vector<TensorInfo> tensors_;
};

}  // namespace

std::unique_ptr<ModelReader> open_pack_as_model(const std::string& path) {
  return std::make_unique<PackModelReader>(PackFile::open(path));
}

}  // namespace sop

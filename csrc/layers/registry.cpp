// make_layer<T>: Keras's class name -> the layer kind's factory (layers/kinds.h).
#include <stdexcept>

#include "layers/kinds.h"

namespace fastmlp {

template <typename T>
std::unique_ptr<Layer<T>> make_layer(const LayerSpec& spec) {
  const std::string& k = spec.kind;
  if (k == "Dense") return make_dense<T>(spec);
  if (k == "Flatten") return make_flatten<T>(spec);
  if (k == "Activation") return make_activation<T>(spec);
  if (k == "Dropout") return make_dropout<T>(spec);
  if (k == "Conv1D") return make_conv1d<T>(spec);
  if (k == "Conv2D") return make_conv2d<T>(spec);
  if (k == "MaxPooling1D") return make_max_pooling1d<T>(spec);
  if (k == "MaxPooling2D") return make_max_pooling2d<T>(spec);
  if (k == "AveragePooling1D") return make_average_pooling1d<T>(spec);
  if (k == "AveragePooling2D") return make_average_pooling2d<T>(spec);
  if (k == "GlobalMaxPooling1D") return make_global_max_pooling1d<T>(spec);
  if (k == "GlobalMaxPooling2D") return make_global_max_pooling2d<T>(spec);
  if (k == "GlobalAveragePooling1D") return make_global_average_pooling1d<T>(spec);
  if (k == "GlobalAveragePooling2D") return make_global_average_pooling2d<T>(spec);
  if (k == "BatchNormalization") return make_batch_normalization<T>(spec);
  if (k == "GRU") return make_gru<T>(spec);
  if (k == "LSTM") return make_lstm<T>(spec);
  if (k == "Bidirectional") return make_bidirectional<T>(spec);
  if (k == "LastStep") return make_last_step<T>(spec);
  if (k == "Embedding") return make_embedding<T>(spec);
  if (k == "PositionEmbedding") return make_position_embedding<T>(spec);
  if (k == "LayerNormalization") return make_layer_normalization<T>(spec);
  if (k == "MultiHeadAttention") return make_multi_head_attention<T>(spec);
  if (k == "TransformerEncoder") return make_transformer_encoder<T>(spec);
  if (k == "Cropping1D") return make_cropping1d<T>(spec);
  if (k == "Sampling") return make_sampling<T>(spec);
  if (k == "UpSampling1D") return make_up_sampling1d<T>(spec);
  if (k == "UpSampling2D") return make_up_sampling2d<T>(spec);
  if (k == "Reshape") return make_reshape<T>(spec);
  throw std::invalid_argument("unknown layer kind '" + k + "'");
}

template std::unique_ptr<Layer<float>> make_layer<float>(const LayerSpec&);
template std::unique_ptr<Layer<double>> make_layer<double>(const LayerSpec&);

}  // namespace fastmlp

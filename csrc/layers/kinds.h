// The factory of each layer kind, defined in the kind's own file; layers/registry.cpp maps
// Keras's class names to them. A new kind adds one line here and one in registry.cpp.
#pragma once
#include <memory>

#include "layers/layer.h"

namespace fastmlp {

template <typename T> std::unique_ptr<Layer<T>> make_dense(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_flatten(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_activation(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_dropout(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_conv1d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_conv2d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_max_pooling1d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_max_pooling2d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_average_pooling1d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_average_pooling2d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_global_max_pooling1d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_global_max_pooling2d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_global_average_pooling1d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_global_average_pooling2d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_batch_normalization(const LayerSpec& spec);
// recurrent layers (issue 14)
template <typename T> std::unique_ptr<Layer<T>> make_gru(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_lstm(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_bidirectional(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_last_step(const LayerSpec& spec);
// token input and attention (issue 14)
template <typename T> std::unique_ptr<Layer<T>> make_embedding(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_position_embedding(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_layer_normalization(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_multi_head_attention(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_transformer_encoder(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_cropping1d(const LayerSpec& spec);
// generative models (issue 15)
template <typename T> std::unique_ptr<Layer<T>> make_sampling(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_up_sampling1d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_up_sampling2d(const LayerSpec& spec);
template <typename T> std::unique_ptr<Layer<T>> make_reshape(const LayerSpec& spec);

}  // namespace fastmlp

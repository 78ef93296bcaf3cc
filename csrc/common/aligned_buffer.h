// Owning, 64-byte aligned, uninitialised storage for workspaces. Grows on demand and
// never shrinks, so a workspace sized once per fit costs nothing per batch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

namespace fastmlp {

template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { reserve(n); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept { swap(o); }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept { swap(o); return *this; }
  ~AlignedBuffer() { std::free(data_); }

  // Throws std::bad_alloc (MemoryError in Python) when the request cannot be met.
  void reserve(size_t n) {
    if (n <= capacity_) return;
    if (n > (SIZE_MAX - 63) / sizeof(T)) throw std::bad_alloc();
    size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    std::free(data_);
    data_ = static_cast<T*>(p);
    capacity_ = n;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t capacity() const { return capacity_; }

 private:
  void swap(AlignedBuffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(capacity_, o.capacity_);
  }
  T* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace fastmlp

// HugePageAllocator: a std::allocator replacement for large, short-lived arrays
// (compaction's list of live entries, its layout), which asks the kernel for
// transparent huge pages. Tens of megabytes of fresh 4 KiB pages cost one page fault
// each, about a quarter of the time it takes to fill them; in 2 MiB pages the faults
// all but disappear. Small requests go to operator new as usual.
//
// Thread-safety: stateless; any thread may allocate and free.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace simd_r_drive::engine {

template <class T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr std::size_t kMappedFrom = 4u << 20;  // below this, operator new

  HugePageAllocator() noexcept = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  T* allocate(std::size_t count) {
    const std::size_t bytes = count * sizeof(T);
    if (bytes < kMappedFrom) return static_cast<T*>(::operator new(bytes));
    void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    (void)::madvise(memory, bytes, MADV_HUGEPAGE);  // advice only
    return static_cast<T*>(memory);
  }
  void deallocate(T* pointer, std::size_t count) noexcept {
    const std::size_t bytes = count * sizeof(T);
    if (bytes < kMappedFrom) {
      ::operator delete(pointer);
    } else {
      ::munmap(pointer, bytes);
    }
  }
  // Default-initializes: a vector of plain structs sized up front is not zeroed
  // first (mapped memory arrives zeroed anyway), and its pages are first touched by
  // whoever fills them, which may be several threads.
  template <class U>
  void construct(U* pointer) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(pointer)) U;
  }
  template <class U, class... Args>
  void construct(U* pointer, Args&&... args) {
    ::new (static_cast<void*>(pointer)) U(std::forward<Args>(args)...);
  }

  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace simd_r_drive::engine

// FunctionRef: a non-owning reference to a callable, for the read callbacks of the
// Backend interface. std::function could allocate and is harder for the compiler
// to see through; a read callback runs once per get, millions of times per
// workload, so the harness keeps it to one indirect call.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace srd_bench {

template <class Signature>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  // The callable must outlive the FunctionRef (it is always a caller's local).
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, Args...>)
  FunctionRef(F&& callable) noexcept  // NOLINT(google-explicit-constructor)
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(callable)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace srd_bench

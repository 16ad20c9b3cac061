// detail::function_ref: a non-owning, non-allocating reference to a callable.
#pragma once

#include <type_traits>
#include <utility>

namespace statix {

namespace detail {
/// A non-owning reference to a callable: how code that is not a template (the planner's
/// find-compute-remember, the thread pool) calls back into typed code. The callable must outlive it.
template <class Signature>
class function_ref;
template <class R, class... Args>
class function_ref<R(Args...)> {
 public:
  // Implicit, as a function pointer converts: the callers pass a lambda.
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, function_ref>)
  function_ref(F&& f)
      : object_(const_cast<void*>(static_cast<const void*>(&f))), call_([](void* o, Args... a) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(a)...);
        }) {}
  R operator()(Args... a) const { return call_(object_, std::forward<Args>(a)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};
}  // namespace detail

}  // namespace statix

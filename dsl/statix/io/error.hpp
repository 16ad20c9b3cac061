// sx::io_error: what every reader and writer in sx::io throws on a bad, mismatched or unreadable file.
#pragma once

#include <stdexcept>
#include <string>

namespace statix {

class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace statix

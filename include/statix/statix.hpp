// statix: a header-only tensor DSL. Tensors carry dtype and static shape in their type; operations build
// lazy expression trees that evaluate as fused SIMD loops.
#pragma once

#include "dtype.hpp"
#include "eval/fuse.hpp"
#include "eval/kernel.hpp"
#include "expr.hpp"
#include "generators.hpp"
#include "map.hpp"
#include "ops/elementwise.hpp"
#include "shape.hpp"
#include "simd.hpp"
#include "tensor.hpp"

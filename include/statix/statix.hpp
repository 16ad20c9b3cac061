// statix: a header-only tensor DSL. Tensors carry dtype and static shape in their type; operations build
// lazy expression trees that evaluate as fused SIMD loops.
#pragma once

#include "autodiff/grad.hpp"
#include "autodiff/symbolic.hpp"
#include "dtype.hpp"
#include "eval/fuse.hpp"
#include "eval/kernel.hpp"
#include "eval/plan.hpp"
#include "expr.hpp"
#include "generators.hpp"
#include "map.hpp"
#include "ops/conv.hpp"
#include "ops/elementwise.hpp"
#include "ops/layout.hpp"
#include "ops/matmul.hpp"
#include "ops/reduce.hpp"
#include "primitive.hpp"
#include "shape.hpp"
#include "shared.hpp"
#include "simd.hpp"
#include "tensor.hpp"

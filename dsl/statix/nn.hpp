// sx::nn: layers, sequential models and losses, written in the DSL.
#pragma once

#include "nn/layers.hpp"
#include "nn/losses.hpp"
#include "nn/sequential.hpp"

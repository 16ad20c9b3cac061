// sx::io: reading datasets (IDX), batching them, and saving and loading models (safetensors).
#pragma once

#include "io/error.hpp"
#include "io/idx.hpp"
#include "io/loader.hpp"
#include "io/safetensors.hpp"

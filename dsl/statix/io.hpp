// sx::io: reading datasets (IDX) and batching them.
#pragma once

#include "io/error.hpp"
#include "io/idx.hpp"
#include "io/loader.hpp"

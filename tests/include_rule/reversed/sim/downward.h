// Fixture: a downward include (allowed).
#pragma once
#include "quantizer/upward.h"

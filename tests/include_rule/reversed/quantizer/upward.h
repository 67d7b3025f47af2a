// Fixture: a quantizer header that includes the sim layer (the check must refuse it).
#pragma once
#include "sim/sweep.h"

"""`effdl.quant`, the stable import path of the quantization API (a contract): it is `effdl.compress.quant` itself."""

import sys

from effdl.compress import quant as _quant

sys.modules[__name__] = _quant

"""Compression methods: post-training quantization (with bit packing), pruning (masks, schedule, slim export), LoRA."""

"""The seed's ConvNet layer table, torch-free: the models are built from it, pruning and slim export follow it."""

# (in_channels, out_channels, stride) of the 9 conv blocks (spec §1.2). effdl.models.convnet builds ConvNet from
# it, effdl.compress (the sparse ConvNet, its slim export) mirrors it, and the sparsity table names its columns
# after it; here, outside both packages, so neither imports the other for it (and a table needs no torch).
CONVNET_LAYERS = (
    (3, 32, 1),
    (32, 32, 1),
    (32, 64, 2),
    (64, 64, 1),
    (64, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 256, 1),
    (256, 256, 1),
)

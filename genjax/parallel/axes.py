"""Logical axis names. Models name their parameters' axes with these; `config.sharding.rules`
maps each name to mesh axes (`data`, `fsdp`, `tensor`) or to None (replicated)."""

BATCH = "batch"  # examples in a batch
EMBED = "embed"  # model width (d_model, hidden channels of MLPs)
MLP = "mlp"  # feed-forward hidden width
HEADS = "heads"  # attention heads
KV = "kv"  # per-head feature size
VOCAB = "vocab"  # token vocabulary / class embeddings
CONV_IN = "conv_in"  # input channels of a convolution kernel
CONV_OUT = "conv_out"  # output channels of a convolution kernel
NORM = "norm"  # scale/bias vectors of normalisation layers
LAYERS = "layers"  # the stacked layers of a scanned block (genjax.nn.remat.scan_layers)

ALL = (BATCH, EMBED, MLP, HEADS, KV, VOCAB, CONV_IN, CONV_OUT, NORM, LAYERS)

# Mesh axes, in mesh order.
MESH_AXES = ("data", "fsdp", "tensor")
# The batch is split over these mesh axes.
BATCH_AXES = ("data", "fsdp")
